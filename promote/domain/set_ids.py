"""`promote set-ids`: point environments at an AMI in the ami-ids secret, only when allowed.

Everything is checked before anything is written: the AMI exists (else exit 4), and every env
that would change passes admission (`domain/policy.py`: not pinned elsewhere, built by promote's
builders, not revoked, and for `accepts = "tested"` a published tested image with SUCCESS
evidence in `test_env`; exit 3 listing every reason otherwise). All envs change in one
compare-and-swap write of the secret, and one event records it. An env already on the AMI is not
written again. Envs in other accounts get a launch permission for the image first.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from promote.domain import ami_ids
from promote.domain.images import require_image
from promote.domain.ledger import Event
from promote.domain.policy import ShareImage, admit, pinned_error, share_with_envs
from promote.domain.results import HIDDEN, renamed
from promote.domain.services import Services

if TYPE_CHECKING:
    from promote.config import Environment, SecretLocation
    from promote.domain.ami_ids import AmiIds, Update

AWS_ACTIONS = {
    "set-ids": (
        "ec2:DescribeImages",
        "secretsmanager:GetSecretValue",
        "secretsmanager:PutSecretValue",
        "secretsmanager:UpdateSecretVersionStage",
        "s3:ListBucket",
        "s3:GetObject",
        "s3:PutObject",
        "kms:GetPublicKey",
        "kms:Sign",
        "ec2:DescribeImageAttribute",
        "ec2:ModifyImageAttribute",
        "ec2:ModifySnapshotAttribute",
    )
}


@dataclass(frozen=True)
class SetEntry:
    """Point one env's entry in the secret at the image."""

    env: str
    before: str | None
    after: str

    def describe(self) -> str:
        """One line for the plan."""
        return f"set {self.env}: {self.before or '(none)'} -> {self.after}"


@dataclass
class SetIdsPlan:
    """What set-ids will write: entries, launch permissions, the evidence relied on."""

    ami: str
    envs: tuple[Environment, ...] = field(metadata=HIDDEN)
    changes: dict[str, dict[str, str | None]] = field(default_factory=dict)
    unchanged: list[str] = field(default_factory=list)
    shared: dict[str, str] = field(default_factory=dict, metadata=renamed("shared_with"))
    evidence_key: str | None = None
    dry_run: bool = True
    # Said in the event: why (rollback --reason) and what else the caller records there.
    reason: str | None = field(default=None, metadata=HIDDEN)
    note: dict[str, Any] = field(default_factory=dict, metadata=HIDDEN)

    DATA_PROPERTIES: ClassVar[tuple[str, ...]] = ("steps",)

    @property
    def steps(self) -> list[ShareImage | SetEntry]:
        """The writes, in order: shares first, then the one secret write."""
        shares = [ShareImage((acct,), self.ami, env) for env, acct in self.shared.items()]
        entries = [SetEntry(env, c["before"], self.ami) for env, c in self.changes.items()]
        return [*shares, *entries]


@dataclass
class SetIdsResult:
    """What set-ids changed."""

    ami: str
    changes: dict[str, dict[str, str | None]] = field(default_factory=dict)
    unchanged: list[str] = field(default_factory=list)
    shared: dict[str, str] = field(default_factory=dict, metadata=renamed("shared_with"))
    evidence_key: str | None = None
    version_id: str | None = field(default=None, metadata=renamed("secret_version_id"))
    event_key: str | None = None
    recovered_event: bool = False  # the event of an earlier, killed run's write, recorded now
    dry_run: bool = False


def _changes(
    services: Services, plan: SetIdsPlan, current: AmiIds, envs: Sequence[Environment]
) -> tuple[dict[str, Any], dict[str, dict[str, str | None]], list[str]]:
    """The new document, the changes and the envs already on the AMI, for ENVS (the envs of
    PLAN that read CURRENT's secret); a pinned env refuses."""
    now = services.clock.now()
    document = dict(current.document)
    changes: dict[str, dict[str, str | None]] = {}
    unchanged: list[str] = []
    for env in envs:
        before = current.ami_for(env)
        if before == plan.ami:
            unchanged.append(env.name)
            continue
        pin = current.pin_for(env)
        if pin and pin.ami != plan.ami:  # a pinned env moves only to its pinned AMI
            raise pinned_error(env, pin, now)
        changes[env.name] = {"before": before, "after": plan.ami}
        document = ami_ids.with_ami(document, env, plan.ami)
    return document, changes, unchanged


def plan(services: Services, ami: str, env_names: Sequence[str]) -> SetIdsPlan:
    """Check everything and work out the writes; writes nothing."""
    image = require_image(services.images, ami, services.config.region)
    envs = tuple(services.config.environment(n) for n in dict.fromkeys(env_names))
    result = SetIdsPlan(ami=image.image_id, envs=envs)
    for place, here in by_secret(services, envs).items():
        current = services.read_ids(where=place)
        for env in here:
            if current.ami_for(env) == image.image_id:
                continue  # already there: nothing changes what it runs
            gate = admit(services, image, env, current)
            if gate and gate.evidence_key:
                result.evidence_key = gate.evidence_key
        _, changes, unchanged = _changes(services, result, current, here)
        result.changes.update(changes)
        result.unchanged.extend(unchanged)
    changing = [e for e in envs if e.name in result.changes]
    result.shared = share_with_envs(services, image.image_id, changing, apply=False)
    return result


def execute(set_plan: SetIdsPlan, services: Services) -> SetIdsResult:
    """Share where needed, then one compare-and-swap write and its event per secret.

    An env found already on the AMI may be so because an earlier run wrote it and was killed
    before its event: then the missing event is recorded (marked recovered), once.
    """
    result = SetIdsResult(
        set_plan.ami, dict(set_plan.changes), list(set_plan.unchanged), {}, set_plan.evidence_key
    )
    changing = [e for e in set_plan.envs if e.name in set_plan.changes]
    if changing:
        services.ready_to_record(set_plan.ami)  # before the first write
        result.shared = share_with_envs(services, set_plan.ami, changing)
    result.changes = {}
    found_unchanged: list[str] = []
    for place, here in by_secret(services, set_plan.envs).items():
        # One compare-and-swap write (and one event) per secret the envs read.
        moving = [e for e in here if e.name in set_plan.changes]
        written: dict[str, dict[str, str | None]] = {}
        settled: list[str] = []

        def change(
            current: AmiIds,
            envs: Sequence[Environment] = moving or here,
            written: dict[str, dict[str, str | None]] = written,
            settled: list[str] = settled,
        ) -> dict[str, Any] | None:
            document, changes, unchanged = _changes(services, set_plan, current, envs)
            written.clear()
            written.update(changes)
            settled[:] = unchanged  # set meanwhile by someone else: nothing to write for them
            return document if changes else None

        def event_of(update: Update, written: dict[str, dict[str, str | None]] = written) -> Event:
            return Event(
                kind="set-ids",
                subject=set_plan.ami,
                ami=set_plan.ami,
                envs=tuple(written),
                before={env: c["before"] for env, c in written.items()},
                after={env: c["after"] for env, c in written.items()},
                reason=set_plan.reason,
                extra={
                    **set_plan.note,
                    "secret_id": update.before.secret_id,
                    "secret_version_id": update.version_id,
                    "previous_version_id": update.before.version_id,
                    "evidence_key": result.evidence_key,
                    "shared_with": result.shared,
                },
            )

        if moving:
            committed = services.commit(change, event_of, where=place)
        else:
            current = services.read_ids(where=place)
            committed = services.recover(change, event_of, current, where=place)
        if committed and committed.recovered:
            found_unchanged.extend(written)  # on the AMI already: only its event was missing
            result.recovered_event = True
        elif moving:
            result.changes.update(written)
            found_unchanged.extend(settled)
        if committed:
            result.version_id, result.event_key = committed.version_id, committed.event_key
    result.unchanged = [*dict.fromkeys(set_plan.unchanged + found_unchanged)]
    return result


def by_secret(
    services: Services, envs: Sequence[Environment]
) -> dict[SecretLocation, list[Environment]]:
    """ENVS grouped by the ami-ids secret each reads, in order."""
    groups: dict[SecretLocation, list[Environment]] = {}
    for env in envs:
        groups.setdefault(services.config.secret_of(env), []).append(env)
    return groups
