"""`promote prune`: delete old images safely; a dry run unless --apply.

Every candidate (an image of the account named `<untested_name>-*` or `<tested_name>-*`, or
tagged `promote:stage`) is listed with KEEP or DELETE and the reason. An image is never deleted
when it is:

- named anywhere in the AWSCURRENT or AWSPREVIOUS version of the ami-ids secret (env keys and
  pins; any AMI id in the text counts, so even a malformed version protects what it names),
- used by any instance in any state, in the tooling account or any env's account,
- the image of any launch template's default or latest version,
- the newest tested image with SUCCESS evidence in `test_env`,
- among the `--keep` newest of its stage, younger than `--older-than`, or not `available`.

`--apply` deregisters the rest, deletes their snapshots and records one event.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, ClassVar

from promote.domain.images import AMI_IDS, Image
from promote.domain.ledger import Event
from promote.domain.pins import newest_eligible
from promote.domain.results import HIDDEN

if TYPE_CHECKING:
    from promote.domain.ports import SecretReader
    from promote.domain.services import Services

KEEP = "KEEP"
DELETE = "DELETE"
DEFAULT_KEEP = 3
AWS_ACTIONS = {
    "prune": (
        "ec2:DescribeImages",
        "ec2:DescribeInstances",
        "ec2:DescribeLaunchTemplates",
        "ec2:DescribeLaunchTemplateVersions",
        "ec2:DeregisterImage",
        "ec2:DeleteSnapshot",
        "secretsmanager:GetSecretValue",
        "sts:AssumeRole",
        "s3:ListBucket",
        "s3:GetObject",
        "s3:PutObject",
        "kms:GetPublicKey",
        "kms:Sign",
    )
}


@dataclass(frozen=True)
class Candidate:
    """One image and the decision about it."""

    image: Image = field(metadata=HIDDEN)
    decision: str
    reasons: tuple[str, ...]

    DATA_PROPERTIES: ClassVar[tuple[str, ...]] = (
        "image_id",
        "name",
        "stage",
        "creation_date",
        "snapshots",
    )

    @property
    def image_id(self) -> str:
        """The image's id."""
        return self.image.image_id

    @property
    def name(self) -> str:
        """The image's name."""
        return self.image.name

    @property
    def stage(self) -> str | None:
        """untested, tested or None."""
        return self.image.stage

    @property
    def creation_date(self) -> str:
        """When EC2 registered it."""
        return self.image.creation_date

    @property
    def snapshots(self) -> tuple[str, ...]:
        """Its snapshots (deleted with it)."""
        return self.image.snapshot_ids


def secret_references(
    history: SecretReader, secret_id: str, found: dict[str, list[str]] | None = None
) -> dict[str, list[str]]:
    """AMI id -> which versions of the secret name it (AWSCURRENT, AWSPREVIOUS), added to FOUND."""
    found = {} if found is None else found
    for stage in ("AWSCURRENT", "AWSPREVIOUS"):
        version = history.version(secret_id, stage)
        if version is None:
            continue
        raw = version.value
        text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
        for ami in sorted(set(AMI_IDS.findall(text))):
            found.setdefault(ami, []).append(f"named in the ami-ids secret {secret_id} ({stage})")
    return found


def is_candidate(image: Image, untested_name: str, tested_name: str) -> bool:
    """True for images promote made: by name prefix or stage tag."""
    return bool(image.stage) or image.name.startswith((f"{untested_name}-", f"{tested_name}-"))


def decide(
    images: Sequence[Image],
    protected: dict[str, list[str]],
    keep: int,
    older_than: float | None,
    now: datetime,
) -> list[Candidate]:
    """KEEP or DELETE for each image, newest first (pure: no I/O)."""
    newest_first = sorted(images, key=lambda i: (i.creation_date, i.image_id), reverse=True)
    seen_per_stage: dict[str, int] = {}
    cutoff = (now - timedelta(seconds=older_than)) if older_than is not None else None
    out = []
    for image in newest_first:
        stage = image.stage or "unstaged"
        seen_per_stage[stage] = seen_per_stage.get(stage, 0) + 1
        reasons = list(protected.get(image.image_id, []))
        if seen_per_stage[stage] <= keep:
            reasons.append(f"one of the {keep} newest {stage} images (--keep {keep})")
        if cutoff is not None and _created(image) > cutoff:
            reasons.append(f"created {image.creation_date}, newer than --older-than")
        if image.state != "available":
            reasons.append(f"state {image.state}")
        if reasons:
            out.append(Candidate(image, KEEP, tuple(reasons)))
        else:
            why = "unreferenced and unused"
            if image.revoked:
                why += ", revoked"
            out.append(Candidate(image, DELETE, (why,)))
    return out


def _created(image: Image) -> datetime:
    try:
        return datetime.fromisoformat(image.creation_date.replace("Z", "+00:00"))
    except ValueError:
        return datetime.max.replace(tzinfo=UTC)  # unknown age: never "old"


@dataclass
class PrunePlan:
    """Every candidate image with KEEP or DELETE and why."""

    candidates: list[Candidate]
    applied: bool = False

    @property
    def deleting(self) -> list[Candidate]:
        """The candidates --apply deletes."""
        return [c for c in self.candidates if c.decision == DELETE]


@dataclass
class PruneResult:
    """The table, and what --apply deleted."""

    candidates: list[Candidate]
    applied: bool
    deleted: dict[str, list[str]] = field(default_factory=dict)
    event_key: str | None = None


def plan(
    services: Services, keep: int = DEFAULT_KEEP, older_than: float | None = None
) -> PrunePlan:
    """Decide for every candidate image; writes nothing."""
    config = services.config
    envs = list(config.envs.values())
    images = [
        i
        for i in services.images.owned()
        if is_candidate(i, config.untested_name, config.tested_name)
    ]
    protected: dict[str, list[str]] = {}

    def protect(found: dict[str, list[str]], label: str) -> None:
        for ami, where in found.items():
            shown = where if len(where) <= 3 else [*where[:3], f"and {len(where) - 3} more"]
            protected.setdefault(ami, []).append(label.format(", ".join(shown)))

    named: dict[str, list[str]] = {}
    for place in config.secret_locations():  # every ami-ids secret any env reads
        secret_references(services.history_of(place), place.secret_id, named)
    for ami, where in named.items():
        protected.setdefault(ami, []).extend(where)
    protect(services.usage.instance_images(envs), "used by instance(s) {}")
    protect(services.usage.launch_template_images(envs), "in {}")
    newest = newest_eligible(services)
    if newest:
        protected.setdefault(newest[0].image_id, []).append(
            f"the newest tested image with SUCCESS evidence in {config.test_env}"
        )
    return PrunePlan(decide(images, protected, keep, older_than, services.clock.now()))


def execute(prune_plan: PrunePlan, services: Services) -> PruneResult:
    """Deregister every DELETE candidate and delete its snapshots; record one event."""
    candidates = prune_plan.candidates
    result = PruneResult(candidates, applied=True)
    if prune_plan.deleting:
        services.ready_to_record("images")  # before the first write
    for candidate in prune_plan.deleting:
        image = candidate.image
        services.progress(f"deregistering {image.image_id} ({image.name})")
        result.deleted[image.image_id] = services.images.deregister(image)
    if result.deleted:
        result.event_key = services.record(
            Event(
                kind="prune",
                subject="images",
                ami=None,
                before={"images": sorted(result.deleted)},
                after={"images": []},
                extra={
                    "deleted": result.deleted,
                    "kept": {
                        c.image.image_id: list(c.reasons) for c in candidates if c.decision == KEEP
                    },
                },
            )
        )
    return result
