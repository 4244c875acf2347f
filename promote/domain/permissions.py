"""Least privilege: the AWS actions each command needs, and the IAM policy that grants just those.

Every command declares its actions beside the code that needs them (`AWS_ACTIONS` in its domain
module, Cloud Custodian style); this module gathers them.
`promote iam-policy [COMMAND ...]` turns them into one policy document, scoped to the ami-ids
secret and the evidence bucket where the API allows resource-level permissions. EC2 and Auto
Scaling reads and writes are on `*` (most of those actions support no narrower resource); envs
with a `role_arn` add `sts:AssumeRole` on exactly those roles, and the role in the env's account
needs the `ec2:`/`autoscaling:` part of the same policy.

KMS: `kms:Sign` is granted on the evidence key to the commands that sign evidence (validate,
rollout's closing validate) and on the event key to the commands that record events;
`kms:GetPublicKey` on both. A key named by alias is matched with `kms:ResourceAliases`.
`--bucket-policy` prints the resource policies that make this hold whoever holds what: the
bucket policy (only the validator writes `evidence/`, only the promoter and release manager
write `events/`, nobody deletes) and each key's policy (only those principals sign with it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from promote.config import Config
from promote.domain import (
    audit,
    build,
    fleet,
    gate,
    history,
    hooks,
    init,
    metrics,
    pins,
    prune,
    publish,
    releases,
    revoke,
    rollback,
    rollout,
    set_ids,
    status,
)
from promote.errors import usage_error

ACTIONS: dict[str, tuple[str, ...]] = {
    command: actions
    for module in (
        *(status, fleet, gate, rollout, rollback, releases, build),
        *(set_ids, pins, publish, revoke, prune, history, audit, metrics, hooks, init),
    )
    for command, actions in module.AWS_ACTIONS.items()
}

_ALWAYS_STAR = ("ec2:", "autoscaling:", "iam:")
# S3 actions on the bucket itself (listing); every other s3: action is on its objects.
_BUCKET_LEVEL = ("s3:ListBucket", "s3:ListBucketVersions")
# The commands whose kms:Sign is on the evidence key (every other signer signs events).
SIGNS_EVIDENCE = ("validate", "rollout", "rollback")
# The commands that sign both: a rollout records its start/done events and its closing validate.
SIGNS_BOTH = ("rollout", "rollback")


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
    places = config.secret_locations()
    # Secrets the caller reaches itself; an env's secret behind a role is the role's to grant.
    secret_arns = [secret_arn(p.region, "*", p.secret_id) for p in places if not p.role_arn]
    bucket_arn = f"arn:aws:s3:::{config.evidence_bucket}"
    roles = sorted({env.role_arn for env in config.envs.values() if env.role_arn})
    secret_roles = sorted({p.role_arn for p in places if p.role_arn})
    statements: list[dict[str, Any]] = []

    def add(sid: str, chosen: list[str], resources: list[str]) -> None:
        if chosen and resources:
            statements.append(
                {"Sid": sid, "Effect": "Allow", "Action": chosen, "Resource": resources}
            )

    add("AmiIdsSecret", [a for a in actions if a.startswith("secretsmanager:")], secret_arns)
    add("EvidenceBucket", [a for a in actions if a in _BUCKET_LEVEL], [bucket_arn])
    add(
        "EvidenceObjects",
        [a for a in actions if a.startswith("s3:") and a not in _BUCKET_LEVEL],
        [f"{bucket_arn}/*"],
    )
    add("Fleet", [a for a in actions if a.startswith(_ALWAYS_STAR)], ["*"])
    chosen = commands or sorted(ACTIONS)
    for sid, key, signers in (
        ("SignEvidence", config.evidence_signing_key, [c for c in chosen if c in SIGNS_EVIDENCE]),
        (
            "SignEvents",
            config.event_signing_key,
            [c for c in chosen if c not in SIGNS_EVIDENCE or c in SIGNS_BOTH],
        ),
    ):
        if any("kms:Sign" in ACTIONS[c] for c in signers):
            statements.append(key_statement(sid, ["kms:Sign"], [key], config.region))
    if "kms:GetPublicKey" in actions:
        keys = [config.evidence_signing_key, config.event_signing_key]
        statements.append(key_statement("PublicKeys", ["kms:GetPublicKey"], keys, config.region))
    add("EnvRoles", [a for a in actions if a == "sts:AssumeRole"], roles)
    # An env's own secret is reached through its secret_role_arn by whoever reads the secret.
    reads_secret = any(a.startswith("secretsmanager:") for a in actions)
    add("SecretRoles", ["sts:AssumeRole"] if reads_secret else [], secret_roles)
    return {"Version": "2012-10-17", "Statement": statements}


def secret_arn(region: str, account: str, secret_id: str) -> str:
    """A secret's ARN pattern: Secrets Manager appends six random characters to the name."""
    return f"arn:aws:secretsmanager:{region}:{account}:secret:{secret_id}-??????"


def role_policy(config: Config, commands: list[str], role_arn: str) -> dict[str, Any]:
    """What ROLE_ARN (an env's role_arn or secret_role_arn, in that env's account) needs for
    COMMANDS: the fleet's actions for an env role, its secret's for a secret role."""
    actions = actions_for(commands)
    account = role_arn.split(":")[4]
    statements: list[dict[str, Any]] = []
    if any(env.role_arn == role_arn for env in config.envs.values()):
        fleet = [a for a in actions if a.startswith(_ALWAYS_STAR)]
        if fleet:
            statements.append(
                {"Sid": "Fleet", "Effect": "Allow", "Action": fleet, "Resource": ["*"]}
            )
    secrets = [
        secret_arn(p.region, account, p.secret_id)
        for p in config.secret_locations()
        if p.role_arn == role_arn
    ]
    chosen = [a for a in actions if a.startswith("secretsmanager:")]
    if secrets and chosen:
        statements.append(
            {"Sid": "AmiIdsSecret", "Effect": "Allow", "Action": chosen, "Resource": secrets}
        )
    known = {e.role_arn for e in config.envs.values()} | {
        p.role_arn for p in config.secret_locations()
    }
    if role_arn not in known:
        raise usage_error(
            f"{role_arn} is neither an env's role_arn nor its secret_role_arn in {config.origin}",
            "name a role the config names, or leave --role out for the caller's own policy",
        )
    return {"Version": "2012-10-17", "Statement": statements}


def key_statement(sid: str, actions: list[str], keys: list[str], region: str) -> dict[str, Any]:
    """Allow ACTIONS on KEYS (ARNs as they are, key ids as key ARNs, aliases by condition)."""
    aliases = [k for k in keys if k.startswith("alias/")]
    resources = [k if k.startswith("arn:") else f"arn:aws:kms:{region}:*:key/{k}" for k in keys]
    resources = [r for r, k in zip(resources, keys, strict=True) if not k.startswith("alias/")]
    statement: dict[str, Any] = {"Sid": sid, "Effect": "Allow", "Action": actions}
    if aliases and not resources:
        statement["Resource"] = [f"arn:aws:kms:{region}:*:key/*"]
        statement["Condition"] = {"ForAnyValue:StringEquals": {"kms:ResourceAliases": aliases}}
    else:
        statement["Resource"] = resources + [f"arn:aws:kms:{region}:*:{a}" for a in aliases]
    return statement


@dataclass(frozen=True)
class Principals:
    """Who may write what: the validator signs evidence; promoters and release managers
    record events."""

    validator: str
    writers: tuple[str, ...]

    @property
    def account(self) -> str:
        """The account the principals live in (the key policies' administrator)."""
        return self.validator.split(":")[4] or "ACCOUNT_ID"


def _only(
    principals: list[str], actions: list[str], resources: list[str], sid: str
) -> dict[str, Any]:
    """Deny ACTIONS on RESOURCES to every principal but PRINCIPALS."""
    return {
        "Sid": sid,
        "Effect": "Deny",
        "Principal": "*",
        "Action": actions,
        "Resource": resources,
        "Condition": {"StringNotLike": {"aws:PrincipalArn": principals}},
    }


def bucket_policy(config: Config, who: Principals) -> dict[str, Any]:
    """The evidence bucket's policy: who may add records and events; nobody deletes."""
    bucket = f"arn:aws:s3:::{config.evidence_bucket}"
    writers = list(who.writers)
    return {
        "Version": "2012-10-17",
        "Statement": [
            _only(
                [who.validator],
                ["s3:PutObject"],
                [f"{bucket}/evidence/*"],
                "OnlyTheValidatorWritesEvidence",
            ),
            _only(writers, ["s3:PutObject"], [f"{bucket}/events/*"], "OnlyPromotersWriteEvents"),
            {
                "Sid": "NobodyDeletesTheLedger",
                "Effect": "Deny",
                "Principal": "*",
                "Action": [
                    "s3:DeleteObject*",
                    "s3:PutBucketVersioning",
                    "s3:PutObjectLockConfiguration",
                    "s3:BypassGovernanceRetention",
                ],
                "Resource": [bucket, f"{bucket}/evidence/*", f"{bucket}/events/*"],
            },
        ],
    }


def key_policy(signers: list[str], account: str) -> dict[str, Any]:
    """A signing key's policy: administered by the account, readable by it, signed with only by
    SIGNERS."""
    root = f"arn:aws:iam::{account}:root"
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "KeyAdministration",
                "Effect": "Allow",
                "Principal": {"AWS": root},
                "Action": "kms:*",
                "Resource": "*",
            },
            {
                "Sid": "AnyoneReadsThePublicKey",
                "Effect": "Allow",
                "Principal": {"AWS": root},
                "Action": ["kms:GetPublicKey", "kms:DescribeKey"],
                "Resource": "*",
            },
            _only(signers, ["kms:Sign"], ["*"], "OnlyTheseSign"),
        ],
    }


def trust_policies(config: Config, who: Principals) -> dict[str, Any]:
    """The bucket policy and both key policies, keyed by what they are attached to."""
    return {
        "bucket_policy": {"bucket": config.evidence_bucket, "policy": bucket_policy(config, who)},
        "key_policies": {
            config.evidence_signing_key: key_policy([who.validator], who.account),
            config.event_signing_key: key_policy(list(who.writers), who.account),
        },
    }


def drain_agent_policy(config: Config) -> dict[str, Any]:
    """What the worker instance role needs for the image's drain agent: the lifecycle-action
    calls on every env's worker groups (named like `worker`), and the group lookup."""
    arns = sorted(
        f"arn:aws:autoscaling:{config.env_region(env)}:*:autoScalingGroup:*:"
        f"autoScalingGroupName/{group}"
        for env in config.envs.values()
        for group in env.autoscaling_groups
        if "worker" in group
    )
    statements: list[dict[str, Any]] = []
    if arns:
        statements.append(
            {
                "Sid": "DrainLifecycleAction",
                "Effect": "Allow",
                "Action": list(hooks.AGENT_ACTIONS),
                "Resource": arns,
            }
        )
    statements.append(
        {
            "Sid": "FindTheGroup",
            "Effect": "Allow",
            "Action": [hooks.AGENT_LOOKUP],
            "Resource": ["*"],
        }
    )
    return {"Version": "2012-10-17", "Statement": statements}
