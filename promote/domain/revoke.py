"""`promote revoke`: an image may never be promoted again; instances running it are untouched.

Revocation is a signed `revoke` event in the ledger; the `promote:revoked` tags
(`promote:revoked`, `-by`, `-at`) are a cache of it that every promote command also honours
(`domain.revocations`). Revoking an image revokes its tested copies too: each gets its own event
(naming the image it was revoked through) and tags.

Per image, in this order, so a crash or a refusal at any step leaves a re-run to finish:
1. deprecate it (the local AWS answers 500 to EnableImageDeprecation: a warning; AWS refusing it
   is exit 5 before anything is tagged or recorded);
2. record the signed event;
3. tag it.

A re-run re-asserts what is missing: an image whose event stands but whose tag was removed is
tagged again (and said so); an image tagged by hand without an event gets its event. With
`--disable` each image is also disabled (EC2 DisableImage: no new launches), after refusing
(exit 3, nothing written) while the launch template of an env's ASG with desired capacity above
0 still launches it, unless `--force`. Only the configured envs' groups are checked.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from promote.domain import events, revocations
from promote.domain.fleet import observe
from promote.domain.images import (
    TAG_REVOKED,
    TAG_REVOKED_AT,
    TAG_REVOKED_BY,
    Image,
    check_ami_id,
    require_image,
    tag_value,
)
from promote.domain.ledger import Event
from promote.domain.pins import require_reason
from promote.domain.results import HIDDEN, renamed
from promote.errors import check_failed

if TYPE_CHECKING:
    from promote.domain.services import Services

AWS_ACTIONS = {
    "revoke": (
        "ec2:DescribeImages",
        "ec2:CreateTags",
        "ec2:EnableImageDeprecation",
        "ec2:DisableImage",  # --disable
        "autoscaling:DescribeAutoScalingGroups",  # --disable: who still launches it
        "ec2:DescribeInstances",
        "ec2:DescribeLaunchTemplateVersions",
        "sts:AssumeRole",
        "secretsmanager:GetSecretValue",
        "s3:ListBucket",
        "s3:GetObject",
        "s3:PutObject",
        "kms:GetPublicKey",
        "kms:Sign",
    )
}

REVOKED, ALREADY, RETAGGED, RECORDED = "revoked", "already revoked", "tag restored", "recorded"


@dataclass
class RevokedImage:
    """What revoke did to one image of the family."""

    ami: str
    through: str | None  # the image it was revoked through (a tested copy's source)
    outcome: str  # revoked, already revoked, tag restored, recorded (tagged before, no event)
    deprecated: bool | None = None  # None: not attempted (already revoked)
    disabled: bool = False
    event_key: str | None = None


@dataclass
class RevokeResult:
    """What revoke did."""

    ami: str
    reason: str
    already: bool = field(metadata=renamed("already_revoked"))
    by: str = field(metadata=renamed("revoked_by"))
    at: str = field(metadata=renamed("revoked_at"))
    deprecated: bool = False
    still_set_for: list[str] = field(default_factory=list)
    event_key: str | None = None
    images: list[RevokedImage] = field(default_factory=list)
    launched_by: list[str] = field(default_factory=list, metadata=HIDDEN)

    @property
    def main(self) -> RevokedImage:
        """The entry of the image named on the command line."""
        return self.images[0]


def revoke(
    services: Services, ami: str, reason: str, disable: bool = False, force: bool = False
) -> RevokeResult:
    """Revoke AMI and its tested copies: deprecate, record, tag (idempotent; re-asserts)."""
    why = require_reason(reason)
    image = require_image(services.images, check_ami_id(ami), services.config.region)
    family: list[tuple[Image, str | None]] = [(image, None)]
    family += [(c, ami) for c in services.images.copies_of(ami) if c.image_id != ami]
    still_set = [
        env.name
        for env in services.config.envs.values()
        if services.read_ids(check=False, where=env).ami_for(env) in {i.image_id for i, _ in family}
    ]
    launched_by = _launchers(services, [i.image_id for i, _ in family]) if disable else []
    if launched_by and not force:
        raise check_failed(
            f"cannot disable {ami}: still launched by {'; '.join(launched_by)}",
            "roll those envs off it first, or pass --force (their scale-outs will fail)",
        )
    by_event = revocations.revoked(services)
    actor = services.actor()
    by = str(actor.get("aws_identity") or actor.get("user") or "unknown")
    now = services.clock.now().replace(microsecond=0)
    todo = [i for i, _ in family if not (i.image_id in by_event and i.revoked)]
    if todo or disable:
        services.ready_to_record(ami)  # before the first write
    envs = tuple(still_set)
    done = [_one(services, i, through, why, by, now, disable, envs) for i, through in family]
    revocations.forget(services)
    first = done[0]
    already = first.outcome == ALREADY
    return RevokeResult(
        ami,
        image.revoked if already and image.revoked else why,
        already=already,
        by=image.tags.get(TAG_REVOKED_BY, "unknown") if already else by,
        at=image.tags.get(TAG_REVOKED_AT, "unknown") if already else now.isoformat(),
        deprecated=bool(first.deprecated),
        still_set_for=still_set,
        event_key=first.event_key,
        images=done,
        launched_by=launched_by,
    )


def _one(
    services: Services,
    image: Image,
    through: str | None,
    why: str,
    by: str,
    now: datetime,
    disable: bool,
    envs: tuple[str, ...],
) -> RevokedImage:
    """Revoke one image of the family, re-asserting whatever of it is missing."""
    ami = image.image_id
    recorded_reason = revocations.revoked(services).get(ami)
    entry = RevokedImage(ami, through, ALREADY)
    if recorded_reason is not None and image.revoked:
        pass  # event and tag both stand
    elif recorded_reason is not None:
        services.warn(f"{ami}: its revoked tag was removed; the revoke event stands: tagged again")
        key = revocations.event_key_of(services, ami)
        loaded = events.read(services, key) if key else None
        after = loaded.document.get("after") if loaded else None
        original = after if isinstance(after, dict) else {}
        services.images.tag(
            ami,
            _tags(
                recorded_reason,
                str(original.get("by") or by),  # who revoked it, and when: the event's
                str(original.get("at") or now.isoformat()),
            ),
        )
        entry.outcome = RETAGGED
    else:
        reason = image.revoked or (why if through is None else f"{why} (through {through})")
        # Deprecate first: harmless alone, so AWS refusing it (exit 5) leaves nothing recorded.
        deprecate_at = (now + timedelta(minutes=1)).replace(second=0)
        failure = services.images.deprecate(ami, deprecate_at.isoformat().replace("+00:00", "Z"))
        entry.deprecated = failure is None
        if failure:
            services.warn(
                f"could not deprecate {ami} ({failure}); the revoke event and tag still block "
                "every promote command"
            )
        entry.event_key = services.record(
            Event(
                kind="revoke",
                subject=ami,
                ami=ami,
                envs=envs,
                before={"revoked": image.revoked},
                after={
                    "revoked": reason,
                    "by": by,
                    "at": now.isoformat(),
                    "deprecated": entry.deprecated,
                },
                reason=reason,
                extra={"through": through} if through else {},
                change=ami,  # one revoke event per image, also when two revokes race
            )
        )
        if not image.revoked:
            services.images.tag(ami, _tags(reason, by, now.isoformat()))
        entry.outcome = RECORDED if image.revoked else REVOKED
    if disable:
        services.images.disable(ami)
        entry.disabled = True
    return entry


def _tags(reason: str, by: str, at: str) -> dict[str, str]:
    return {TAG_REVOKED: tag_value(reason), TAG_REVOKED_BY: tag_value(by), TAG_REVOKED_AT: at}


def _launchers(services: Services, amis: list[str]) -> list[str]:
    """'env ASG (launch template T, desired N) launches AMI' for every configured group with
    desired capacity above 0 whose launch template launches one of AMIS."""
    found = []
    wanted = set(amis)
    for env in services.config.envs.values():
        snapshot = observe(env, services.fleet)
        for group in snapshot.groups:
            if group.desired_capacity <= 0:
                continue
            template = services.fleet_control.launch_template(env, group.name)
            if template is not None and template.image_id in wanted:
                found.append(
                    f"{env.name} {group.name} (launch template {template.name}, desired "
                    f"{group.desired_capacity}) launches {template.image_id}"
                )
    return found
