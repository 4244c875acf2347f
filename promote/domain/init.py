"""`promote init [--from-aws]`: a commented promote.toml in DESIGN's shape.

Without --from-aws it is the example estate (management-dev takes untested images, management
tested ones). With --from-aws the envs come from the auto scaling groups found
(`concourse-web-<env>` / `concourse-worker-<env>`), and each env's `secret_key` is the key of
the ami-ids secret whose AMI that env's instances run; a key that cannot be told is left for the
operator with a comment naming the candidates. The env whose name ends in -dev, -test or
-staging is the test env (accepts untested images); every other accepts only tested ones.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

# Without --from-aws init makes no AWS call at all.
AWS_ACTIONS = {
    "init --from-aws": (
        "autoscaling:DescribeAutoScalingGroups",
        "ec2:DescribeInstances",
        "secretsmanager:GetSecretValue",
    )
}

GROUP = re.compile(r"^concourse-(?:web|worker)-(?P<env>[A-Za-z0-9_-]+)$")
TEST_SUFFIXES = ("-dev", "-test", "-staging")


@dataclass(frozen=True)
class EnvDraft:
    """One [env.NAME] table of the draft."""

    name: str
    secret_key: str | None
    groups: tuple[str, ...]
    accepts: str
    note: str = ""


@dataclass(frozen=True)
class InitDraft:
    """What promote.toml will say."""

    region: str
    secret_id: str
    evidence_bucket: str
    test_env: str
    envs: list[EnvDraft]
    source: str  # "example" or "aws"


@dataclass
class InitResult:
    """What `promote init` wrote."""

    path: str
    written: bool
    source: str
    envs: list[str] = field(default_factory=list)
    text: str = ""


EXAMPLE_ENVS = [
    EnvDraft(
        "management-dev",
        "concourse_ami_mgmt_dev",
        ("concourse-web-management-dev", "concourse-worker-management-dev"),
        "untested",
    ),
    EnvDraft(
        "management",
        "concourse_ami",
        ("concourse-web-management", "concourse-worker-management"),
        "tested",
    ),
]


def example(region: str, secret_id: str, evidence_bucket: str) -> InitDraft:
    """The draft without AWS: DESIGN's example estate."""
    return InitDraft(region, secret_id, evidence_bucket, "management-dev", EXAMPLE_ENVS, "example")


def from_estate(
    region: str,
    secret_id: str,
    evidence_bucket: str,
    group_names: Sequence[str],
    secret: Mapping[str, object],
    running: Callable[[str, tuple[str, ...]], Counter[str]],
) -> InitDraft:
    """The draft from what AWS holds: GROUP_NAMES, the SECRET document, and RUNNING (the AMIs
    an env's instances run, by count)."""
    by_env: dict[str, list[str]] = {}
    for name in sorted(group_names):
        match = GROUP.match(name)
        if match:
            by_env.setdefault(match["env"], []).append(name)
    if not by_env:
        return InitDraft(region, secret_id, evidence_bucket, "", [], "aws")
    test_env = next((e for e in sorted(by_env) if e.endswith(TEST_SUFFIXES)), sorted(by_env)[0])
    keys = {k: v for k, v in secret.items() if not k.startswith("_") and isinstance(v, str)}
    envs = []
    for env, groups in sorted(by_env.items()):
        amis = running(env, tuple(groups))
        matching = sorted(k for k, ami in keys.items() if ami in amis)
        key = matching[0] if len(matching) == 1 else None
        note = ""
        if key is None:
            candidates = ", ".join(matching or sorted(keys)) or "none in the secret"
            note = f"which key of the secret is {env}'s? candidates: {candidates}"
        accepts = "untested" if env == test_env else "tested"
        envs.append(EnvDraft(env, key, tuple(groups), accepts, note))
    return InitDraft(region, secret_id, evidence_bucket, test_env, envs, "aws")


def _q(text: str) -> str:
    return json.dumps(text)  # a TOML basic string


def render(draft: InitDraft) -> str:
    """The commented promote.toml."""
    found = "found in AWS (promote init --from-aws)" if draft.source == "aws" else "an example"
    out = [
        "# promote.toml: where promote finds the ami-ids secret, the evidence ledger and each",
        f"# environment's auto scaling groups. Written by promote init: {found}.",
        "# `promote config` shows every resolved value and where it came from.",
        "",
        "# The tooling account's region: the secret, the images and the ledger live there.",
        f"region = {_q(draft.region)}",
        "# The ami-ids secret Terraform reads: env key -> AMI id, pins under _pins.",
        f"secret_id = {_q(draft.secret_id)}",
        "# The S3 bucket of signed evidence records and events (versioned, Object Lock).",
        f"evidence_bucket = {_q(draft.evidence_bucket)}",
        "# The environment whose SUCCESS evidence makes an image eligible to be tested.",
        f"test_env = {_q(draft.test_env)}",
    ]
    if not draft.envs:
        out += ["", "# No concourse-web-<env> / concourse-worker-<env> groups were found:"]
        out += ["# add one [env.NAME] table per environment, like this:", "# [env.management-dev]"]
    for env in draft.envs:
        accepts = (
            "# untested: the test env, where new images are proven"
            if env.accepts == "untested"
            else "# tested: needs SUCCESS evidence in test_env first"
        )
        groups = ", ".join(_q(g) for g in env.groups)
        out += ["", f"[env.{env.name}]"]
        if env.note:
            out.append(f"# TODO: {env.note}")
        key = _q(env.secret_key) if env.secret_key else '""'
        out += [
            "# The key of the secret that names this env's AMI.",
            f"secret_key = {key}",
            f"autoscaling_groups = [{groups}]",
            f"accepts = {_q(env.accepts)}  {accepts}",
            '# role_arn = "arn:aws:iam::222222222222:role/concourse-ami-promoter"  # other account',
        ]
    return "\n".join(out) + "\n"


def write(path: Path, text: str, force: bool) -> bool:
    """Write TEXT to PATH atomically; False when it already says exactly that. A different
    existing file is kept unless FORCE (the caller turns that into a usage error)."""
    if path.exists():
        if path.read_text() == text:
            return False
        if not force:
            raise FileExistsError(str(path))
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    tmp.replace(path)
    return True
