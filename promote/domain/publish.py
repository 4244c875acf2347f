"""`promote publish`: copy an untested image with SUCCESS evidence to a tested image.

A plan of steps is computed first (printed under --dry-run), then executed. The copy is named
`<tested_name>-<UTC timestamp>`, carries every tag of its source plus `promote:stage=tested` and
`promote:source-image=<source>`, and the source's launch permissions (and those of envs in other
accounts). Re-running finds the existing copy by its `promote:source-image` tag, converges its
tags and permissions, and prints the same id: never two copies.

Two publishes of one image at once may both find no copy and both copy (AWS makes CopyImage
idempotent on its ClientToken; the local AWS does not). So a run that made a copy looks again
once it is available and at least SETTLE_SECONDS after the copy: when more than one tested
copy of the source exists, the *oldest* (CreationDate, then image id) is the one kept. A run
whose copy is not the keeper deregisters it (and deletes its snapshots), waits for the keeper,
shares it, records no event, and prints the keeper's id: both runs print the same id and
exactly one copy remains. A copy made after that second look is at least SETTLE_SECONDS
younger, so its own run sees the earlier one and gives way (CreationDate has 1 s resolution).

Waiting for `available` is a bounded poll loop on the injected Clock (not a botocore waiter), so
unit tests never sleep; progress goes to stderr.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar

from promote.domain.events import publish_link
from promote.domain.gate import evaluate
from promote.domain.images import (
    TAG_REVOKED,
    TAG_REVOKED_AT,
    TAG_REVOKED_BY,
    TAG_SOURCE,
    TAG_STAGE,
    Image,
    account_of,
    check_ami_id,
    require_image,
)
from promote.domain.ledger import Event
from promote.domain.policy import ShareImage, check_image, validation_steps
from promote.domain.results import HIDDEN, renamed
from promote.errors import check_failed, remote_error, usage_error

if TYPE_CHECKING:
    from promote.domain.services import Services

AWS_ACTIONS = {
    "publish": (
        "ec2:DescribeImages",
        "ec2:CopyImage",
        "ec2:CreateTags",
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

DEFAULT_TIMEOUT = 1800.0
POLL_INTERVAL = 15.0
# Longer than CreationDate's resolution (1 s): see the module docstring.
SETTLE_SECONDS = 1.5
# Revocation belongs to the source only; `promote:seed` names the one seeded image of a role
# in the local AWS, so a copy carrying it would be mistaken for its source on the next seed.
_NOT_COPIED = {TAG_REVOKED, TAG_REVOKED_AT, TAG_REVOKED_BY, "promote:seed"}


@dataclass(frozen=True)
class CopyImage:
    """Copy the source image to a new tested image."""

    source: str
    name: str
    token: str

    def describe(self) -> str:
        """One line for the plan."""
        return f"copy {self.source} to a new image {self.name}"


@dataclass(frozen=True)
class TagImage:
    """Put the source's tags and the tested stage on the copy."""

    tags: dict[str, str]

    def describe(self) -> str:
        """One line for the plan."""
        return "tag the copy: " + ", ".join(f"{k}={v}" for k, v in sorted(self.tags.items()))


@dataclass(frozen=True)
class WaitAvailable:
    """Wait (bounded) until the copy is available."""

    timeout: float

    def describe(self) -> str:
        """One line for the plan."""
        return f"wait up to {int(self.timeout)}s for the copy to be available"


@dataclass(frozen=True)
class RecordPublish:
    """Write the publish event."""

    def describe(self) -> str:
        """One line for the plan."""
        return "record a publish event in the ledger"


Step = CopyImage | TagImage | ShareImage | WaitAvailable | RecordPublish


@dataclass
class PublishPlan:
    """What publish will do for one source image."""

    source: Image = field(metadata=HIDDEN)
    evidence_key: str | None
    existing: Image | None = field(metadata=HIDDEN)
    steps: list[Step] = field(default_factory=list)
    dry_run: bool = True

    DATA_PROPERTIES: ClassVar[dict[str, str]] = {
        "source": "source_id",
        "existing_copy": "existing_copy",
    }

    @property
    def source_id(self) -> str:
        """The untested image being published."""
        return self.source.image_id

    @property
    def existing_copy(self) -> str | None:
        """The tested copy a previous run made, if any."""
        return self.existing.image_id if self.existing else None


def copy_tags(source: Image) -> dict[str, str]:
    """Every tag of SOURCE (not AWS-reserved or revocation ones) plus the tested stage."""
    tags = {
        k: v for k, v in source.tags.items() if not k.startswith("aws:") and k not in _NOT_COPIED
    }
    return {**tags, TAG_STAGE: "tested", TAG_SOURCE: source.image_id}


def plan(services: Services, ami: str, timeout: float = DEFAULT_TIMEOUT) -> PublishPlan:
    """Check that AMI may be published and work out the steps; writes nothing."""
    config = services.config
    source = require_image(services.images, check_ami_id(ami), config.region)
    check_image(services, source)  # built by promote's builders; neither it nor a copy revoked
    if source.stage == "tested":
        raise usage_error(
            f"{ami} is already a tested image (published from {source.source_image or 'unknown'})",
            "publish the untested image it came from, or use this one as it is",
        )
    gate = evaluate(services, ami, config.test_env)
    if not gate.open:
        raise check_failed(
            f"{ami} cannot be published: {gate.reason}",
            validation_steps(services, ami),
        )
    copies = sorted(services.images.copies_of(ami), key=lambda i: (i.creation_date, i.image_id))
    if len(copies) > 1:
        services.warn(
            f"{ami} has {len(copies)} tested copies ({', '.join(c.image_id for c in copies)}); "
            f"using the oldest, {copies[0].image_id}"
        )
    existing = copies[0] if copies else None
    if existing is not None and existing.revoked:
        raise check_failed(
            f"{ami} was published as {existing.image_id}, which is revoked: {existing.revoked}",
            "a revoked image is never published again; build and validate a new one",
        )
    result = PublishPlan(source, gate.evidence_key, existing)
    now = services.clock.now()
    if existing is None:
        name = f"{config.tested_name}-{now.strftime('%Y%m%dT%H%M%SZ')}"
        # Same source, same day: the same token, so AWS returns the copy a crashed run started.
        token = hashlib.sha256(f"{ami}/{now.date().isoformat()}".encode()).hexdigest()[:64]
        result.steps.append(CopyImage(ami, name, token))
    # A new copy is tagged as it is made (the step shows which tags; nothing more is written);
    # an existing one gets only what it lacks (promote:* keys, in practice: the promoter's
    # policy allows no other tag writes outside CopyImage).
    tags = copy_tags(source)
    if existing is not None:
        tags = {k: v for k, v in tags.items() if existing.tags.get(k) != v}
    if tags:
        result.steps.append(TagImage(tags))
    accounts = set(services.images.launch_permissions(ami))
    accounts.update(
        a for env in config.envs.values() if env.role_arn and (a := account_of(env.role_arn))
    )
    if existing is not None:
        accounts -= set(services.images.launch_permissions(existing.image_id))
    # Share only once available: a pending copy may not have its snapshots yet.
    if existing is None or existing.state != "available":
        result.steps.append(WaitAvailable(timeout))
    if accounts:
        result.steps.append(ShareImage(tuple(sorted(accounts))))
    # The signed publish record is what lets the copy inherit the source's evidence: a re-run
    # after a crash before it was written writes it now.
    if existing is None or publish_link(services, ami, existing.image_id) is None:
        result.steps.append(RecordPublish())
    return result


@dataclass
class PublishResult:
    """The tested image and what was done to get it."""

    tested: str = field(metadata=renamed("tested_image"))
    source: str = field(metadata=renamed("source_image"))
    created: bool
    done: list[str] = field(metadata=renamed("steps"))
    evidence_key: str | None
    event_key: str | None = None
    recovered_event: bool = False  # the event of an earlier, killed run's copy, recorded now
    dry_run: bool = False


def wait_available(services: Services, ami: str, timeout: float, interval: float) -> Image:
    """Poll until AMI is available; remote error (exit 5) when it fails or the time runs out."""
    deadline = services.clock.monotonic() + timeout
    while True:
        image = services.images.image(ami)
        state = image.state if image else "not visible yet"  # DescribeImages lags CopyImage
        if image and state == "available":
            return image
        if state in ("failed", "invalid", "deregistered", "error"):
            raise remote_error(f"the copy {ami} is {state}", "check the EC2 console, re-run")
        remaining = deadline - services.clock.monotonic()
        if remaining <= 0:
            raise remote_error(
                f"the copy {ami} is still {state} after {int(timeout)}s",
                "re-run publish later: it finds the copy and carries on",
            )
        services.progress(f"{ami}: {state}, waiting ({int(remaining)}s left)")
        services.clock.sleep(min(interval, remaining))


def keep_oldest_copy(services: Services, source: str, ours: str, copied_at: float) -> str:
    """The copy of SOURCE to keep (the oldest); OURS is deregistered when it is not that one."""
    settle = SETTLE_SECONDS - (services.clock.monotonic() - copied_at)
    if settle > 0:
        services.clock.sleep(settle)
    copies = sorted(services.images.copies_of(source), key=lambda i: (i.creation_date, i.image_id))
    if not copies or copies[0].image_id == ours:
        return ours
    keeper = copies[0]
    mine = next((c for c in copies if c.image_id == ours), None)
    services.warn(
        f"another publish of {source} made {keeper.image_id} first; "
        f"deregistering our copy {ours} and using {keeper.image_id}"
    )
    if mine is not None:
        services.images.deregister(mine)
    return keeper.image_id


def execute(
    publish_plan: PublishPlan, services: Services, interval: float = POLL_INTERVAL
) -> PublishResult:
    """Run the plan's steps in order; the tested image id."""
    source = publish_plan.source
    tested = publish_plan.existing.image_id if publish_plan.existing else ""
    done: list[str] = []
    result = PublishResult(tested, source.image_id, False, done, publish_plan.evidence_key)
    copied_at: float | None = None
    gave_way = False
    if publish_plan.steps:
        services.ready_to_record(source.image_id)  # before the first write
    for step in publish_plan.steps:
        if isinstance(step, RecordPublish) and gave_way:
            continue  # another run's copy was kept: that run records the publish
        if isinstance(step, CopyImage):
            tested = services.images.copy(
                step.source,
                step.name,
                f"tested copy of {source.name}",
                copy_tags(source),
                step.token,
            )
            result.tested, result.created = tested, True
            copied_at = services.clock.monotonic()
            services.progress(f"copying {source.image_id} to {tested} ({step.name})")
        elif isinstance(step, TagImage) and not result.created:
            services.images.tag(tested, step.tags)  # a new copy was tagged as it was made
        elif isinstance(step, ShareImage):
            services.images.grant_launch(tested, list(step.accounts))
        elif isinstance(step, WaitAvailable):
            wait_available(services, tested, step.timeout, interval)
            if copied_at is not None:
                keeper = keep_oldest_copy(services, source.image_id, tested, copied_at)
                if keeper != tested:
                    wait_available(services, keeper, step.timeout, interval)
                    result.tested, result.created = keeper, False
                    tested, gave_way = keeper, True
        elif isinstance(step, RecordPublish):
            recovering = not result.created  # the copy is an earlier run's
            result.event_key, result.recovered_event = _record_once(
                services, publish_plan, source, tested, recovering
            )
        done.append(step.describe())
    return result


def _record_once(
    services: Services, publish_plan: PublishPlan, source: Image, tested: str, recovering: bool
) -> tuple[str, bool]:
    """Record the publish of SOURCE as TESTED exactly once: its change id is the copy, so two
    publishes that end at the same copy (CopyImage's ClientToken makes them share it), or a
    re-run after a kill before the event, record one event (`domain/ledger.py`). RECOVERING:
    the copy was made by an earlier run, so a missing event is marked `recovered`."""
    found = publish_link(services, source.image_id, tested)  # also an event of the older form
    if found is not None:
        return found.key, False
    recorded = services.record_change(
        Event(
            kind="publish",
            subject=source.image_id,
            ami=source.image_id,
            before={"image": source.image_id, "stage": source.stage},
            after={"image": tested, "stage": "tested"},
            extra={
                "tested_image": tested,
                "evidence_key": publish_plan.evidence_key,
                **({"recovered": True} if recovering else {}),
            },
            change=tested,
        )
    )
    recovered = recorded.written and recorded.recovered
    if recovered:
        services.warn(f"recorded the missing event (recovered): {recorded.key}")
    return recorded.key, recovered
