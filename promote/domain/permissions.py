"""Least privilege: the AWS actions each command needs, and the IAM policy that grants just those.

Every command declares its actions beside the code that needs them (`AWS_ACTIONS` in its domain
module, Cloud Custodian style); this module gathers them.
`promote iam-policy [COMMAND ...]` turns them into one policy document, scoped to the ami-ids
secret and the evidence bucket where the API allows resource-level permissions. EC2 and Auto
Scaling reads and writes are on `*` (most of those actions support no narrower resource); envs
with a `role_arn` add `sts:AssumeRole` on exactly those roles, and the role in the env's account
needs the `ec2:`/`autoscaling:` part of the same policy.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from promote.config import Config
from promote.domain import (
    build,
    fleet,
    gate,
    history,
    pins,
    prune,
    publish,
    releases,
    revoke,
    rollout,
    set_ids,
    status,
)
from promote.errors import usage_error

ACTIONS: dict[str, tuple[str, ...]] = {
    command: actions
    for module in (
        *(status, fleet, gate, rollout, releases, build),
        *(set_ids, pins, publish, revoke, prune, history),
    )
    for command, actions in module.AWS_ACTIONS.items()
}

_ALWAYS_STAR = ("ec2:", "autoscaling:", "iam:")


@dataclass(frozen=True)
class PolicyReport:
    """The least-privilege policy document for some commands."""

    commands: list[str]
    policy: dict[str, Any]


def actions_for(commands: list[str]) -> list[str]:
    """The sorted union of the actions of COMMANDS (every command when empty)."""
    unknown = sorted(set(commands) - set(ACTIONS))
    if unknown:
        raise usage_error(
            f"no IAM actions are declared for: {', '.join(unknown)}",
            f"commands that call AWS: {', '.join(sorted(ACTIONS))}",
        )
    chosen = commands or sorted(ACTIONS)
    return sorted({action for command in chosen for action in ACTIONS[command]})


def policy(config: Config, commands: list[str]) -> dict[str, Any]:
    """An IAM policy document granting exactly what COMMANDS need, scoped where AWS allows."""
    actions = actions_for(commands)
    secret_arn = f"arn:aws:secretsmanager:{config.region}:*:secret:{config.secret_id}-*"
    bucket_arn = f"arn:aws:s3:::{config.evidence_bucket}"
    roles = sorted({env.role_arn for env in config.envs.values() if env.role_arn})
    statements: list[dict[str, Any]] = []

    def add(sid: str, chosen: list[str], resources: list[str]) -> None:
        if chosen and resources:
            statements.append(
                {"Sid": sid, "Effect": "Allow", "Action": chosen, "Resource": resources}
            )

    add("AmiIdsSecret", [a for a in actions if a.startswith("secretsmanager:")], [secret_arn])
    add("EvidenceBucket", [a for a in actions if a == "s3:ListBucket"], [bucket_arn])
    add(
        "EvidenceObjects",
        [a for a in actions if a.startswith("s3:") and a != "s3:ListBucket"],
        [f"{bucket_arn}/*"],
    )
    add("Fleet", [a for a in actions if a.startswith(_ALWAYS_STAR)], ["*"])
    add("EnvRoles", [a for a in actions if a == "sts:AssumeRole"], roles)
    return {"Version": "2012-10-17", "Statement": statements}
