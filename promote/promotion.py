"""`promote set-ids`: point environments at an AMI in the ami-ids secret, only when allowed.

Everything is checked before anything is written: the AMI exists (else exit 4), is not revoked,
no env that would change is pinned, and an env that `accepts = "tested"` gets only a published
tested image with SUCCESS evidence in `test_env` (exit 3 otherwise). All envs change in one
compare-and-swap write of the secret, and one event records it. An env already on the AMI is not
written again. Envs in other accounts get a launch permission for the image first.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from promote import events, ids
from promote.clock import Clock
from promote.config import Config, Environment
from promote.errors import PromoteError, check_failed
from promote.evidence import LedgerStore
from promote.gate import GateResult, evaluate
from promote.ids import AmiIds, Pin, SecretReader, SecretWriter
from promote.images import Image, ImageCatalog, account_of, require_image, revoked_error

# The AWS actions each promotion command needs (for `promote iam-policy`, Cloud Custodian style).
_SECRET_CAS = (
    "secretsmanager:GetSecretValue",
    "secretsmanager:PutSecretValue",
    "secretsmanager:UpdateSecretVersionStage",
)
# Evidence: its keys (listing) and the records relied on; changes add an event object.
_EVIDENCE = ("s3:ListBucket", "s3:GetObject")
_EVENT = ("s3:PutObject",)
_SHARE = ("ec2:DescribeImageAttribute", "ec2:ModifyImageAttribute", "ec2:ModifySnapshotAttribute")
AWS_ACTIONS: dict[str, tuple[str, ...]] = {
    "set-ids": ("ec2:DescribeImages", *_SECRET_CAS, *_EVIDENCE, *_EVENT, *_SHARE),
    "pin": ("ec2:DescribeImages", *_SECRET_CAS, *_EVENT, *_SHARE),
    "unpin": ("ec2:DescribeImages", *_SECRET_CAS, *_EVIDENCE, *_EVENT, *_SHARE),
    "publish": (
        "ec2:DescribeImages",
        "ec2:CopyImage",
        "ec2:CreateTags",
        *_EVIDENCE,
        *_EVENT,
        *_SHARE,
    ),
    "revoke": (
        "ec2:DescribeImages",
        "ec2:CreateTags",
        "ec2:EnableImageDeprecation",
        "secretsmanager:GetSecretValue",
        *_EVENT,
    ),
    "prune": (
        "ec2:DescribeImages",
        "ec2:DescribeInstances",
        "ec2:DescribeLaunchTemplates",
        "ec2:DescribeLaunchTemplateVersions",
        "ec2:DeregisterImage",
        "ec2:DeleteSnapshot",
        "secretsmanager:GetSecretValue",
        "sts:AssumeRole",
        *_EVIDENCE,
        *_EVENT,
    ),
    "history": ("s3:ListBucket", "s3:GetObject"),
}


@dataclass(frozen=True)
class Backends:
    """What the promotion commands read and write, injected (fakes in unit tests)."""

    config: Config
    images: ImageCatalog
    ledger: LedgerStore
    secrets: SecretReader
    writer: SecretWriter
    clock: Clock
    actor: Callable[[], dict[str, Any]]
    tool_version: str
    progress: Callable[[str], None] = lambda line: None
    warn: Callable[[str], None] = lambda line: None

    def record(self, event: events.Event) -> str:
        """Write EVENT to the ledger; its key."""
        return events.record(self.ledger, event, self.clock, self.actor(), self.tool_version)

    def update(self, change: ids.Change) -> ids.Update:
        """A compare-and-swap update of the ami-ids secret."""
        return ids.update(
            self.secrets,
            self.writer,
            self.config.secret_id,
            change,
            env_keys=[e.secret_key for e in self.config.envs.values()],
            progress=self.progress,
            pause=self.clock.sleep,
        )

    def read_ids(self) -> AmiIds:
        """The current secret, checked (a malformed one is exit 2)."""
        current = ids.read(self.secrets, self.config.secret_id)
        ids.check_document(current, [e.secret_key for e in self.config.envs.values()])
        return current


def pinned_error(env: Environment, pin: Pin, now: Any) -> PromoteError:
    """Exit 3: ENV is pinned; names owner, reason and since."""
    overdue = f" (expired {pin.expires}, still holds)" if pin.overdue(now) else ""
    return check_failed(
        f"{env.name} is pinned by {pin.owner} since {pin.since}: {pin.reason}{overdue}",
        f"move the pin (promote pin --env {env.name} --ami AMI --reason ...) or unpin it "
        f"(promote unpin --env {env.name} --reason ... --apply)",
    )


def check_allowed(backends: Backends, image: Image, env: Environment) -> GateResult | None:
    """Refuse (exit 3) an image ENV may not run; the evidence relied on, for tested envs."""
    if image.revoked:
        raise revoked_error(image)
    if env.accepts != "tested":
        return None
    test_env = backends.config.test_env
    if image.stage != "tested":
        raise check_failed(
            f"{env.name} accepts only tested images; {image.image_id} is "
            f"{image.stage or 'not a promote image'}",
            f"validate it in {test_env}, then publish it: promote publish --ami {image.image_id}",
        )
    result = evaluate(
        image.image_id, test_env, backends.images, backends.ledger, backends.config.region
    )
    if not result.open:
        raise check_failed(
            f"{env.name} accepts only images with SUCCESS evidence in {test_env}: {result.reason}",
            f"run promote validate --env {test_env} with it first",
        )
    return result


def share_with_envs(
    backends: Backends, ami: str, envs: Sequence[Environment], apply: bool
) -> dict[str, str]:
    """Make sure envs in other accounts may launch AMI; env -> account id needing it."""
    wanted = {
        env.name: account
        for env in envs
        if env.role_arn and (account := account_of(env.role_arn)) is not None
    }
    if not wanted:
        return {}
    have = set(backends.images.launch_permissions(ami))
    missing = {name: account for name, account in wanted.items() if account not in have}
    if missing and apply:
        backends.images.grant_launch(ami, sorted(set(missing.values())))
        backends.progress(
            f"shared {ami} with account(s) {', '.join(sorted(set(missing.values())))}"
        )
    return missing


@dataclass
class SetIdsResult:
    """What set-ids changed, or would change under --dry-run."""

    ami: str
    changes: dict[str, dict[str, str | None]] = field(default_factory=dict)
    unchanged: list[str] = field(default_factory=list)
    shared: dict[str, str] = field(default_factory=dict)
    evidence_key: str | None = None
    version_id: str | None = None
    event_key: str | None = None
    dry_run: bool = False

    def as_dict(self) -> dict[str, Any]:
        """Plain data for JSON output."""
        return {
            "ami": self.ami,
            "changes": self.changes,
            "unchanged": self.unchanged,
            "shared_with": self.shared,
            "evidence_key": self.evidence_key,
            "secret_version_id": self.version_id,
            "event_key": self.event_key,
            "dry_run": self.dry_run,
        }

    def lines(self) -> list[str]:
        """Text for people."""
        out = []
        verb = "would set" if self.dry_run else "set"
        for env, change in self.changes.items():
            out.append(f"{verb} {env}: {change['before'] or '(none)'} -> {change['after']}")
        out.extend(f"{env} is already on {self.ami}: nothing to write" for env in self.unchanged)
        for env, account in self.shared.items():
            out.append(
                f"{'would share' if self.dry_run else 'shared'} {self.ami} with {env} "
                f"(account {account})"
            )
        if self.evidence_key:
            out.append(f"evidence: {self.evidence_key}")
        if self.version_id:
            out.append(f"secret version: {self.version_id}")
        if self.event_key:
            out.append(f"event: {self.event_key}")
        return out


def set_ids(
    backends: Backends, ami: str, env_names: Sequence[str], dry_run: bool = False
) -> SetIdsResult:
    """Set each env's entry in the secret to AMI, after every check passes (one CAS write)."""
    image = require_image(backends.images, ami, backends.config.region)
    envs = [backends.config.environment(n) for n in dict.fromkeys(env_names)]
    result = SetIdsResult(ami=image.image_id, dry_run=dry_run)
    for env in envs:
        gate = check_allowed(backends, image, env)
        if gate and gate.evidence_key:
            result.evidence_key = gate.evidence_key
    now = backends.clock.now()

    def change(current: AmiIds) -> dict[str, Any] | None:
        result.changes.clear()
        result.unchanged.clear()
        document = dict(current.document)
        for env in envs:
            before = current.ami_for(env)
            if before == image.image_id:
                result.unchanged.append(env.name)
                continue
            pin = current.pin_for(env)
            if pin:
                raise pinned_error(env, pin, now)
            result.changes[env.name] = {"before": before, "after": image.image_id}
            document = ids.with_ami(document, env, image.image_id)
        return document if result.changes else None

    if dry_run:
        change(backends.read_ids())
        changing = [e for e in envs if e.name in result.changes]
        result.shared = share_with_envs(backends, image.image_id, changing, apply=False)
        return result
    preview = backends.read_ids()
    change(preview)
    changing = [e for e in envs if e.name in result.changes]
    if not changing:
        return result
    result.shared = share_with_envs(backends, image.image_id, changing, apply=True)
    update = backends.update(change)
    if not update.changed:
        return result
    result.version_id = update.version_id
    result.event_key = backends.record(
        events.Event(
            kind="set-ids",
            subject=image.image_id,
            ami=image.image_id,
            envs=tuple(result.changes),
            before={env: c["before"] for env, c in result.changes.items()},
            after={env: c["after"] for env, c in result.changes.items()},
            extra={
                "secret_version_id": update.version_id,
                "previous_version_id": update.before.version_id,
                "evidence_key": result.evidence_key,
                "shared_with": result.shared,
            },
        )
    )
    return result
