"""`promote revoke`: an image may never be promoted again; instances running it are untouched.

The image is deprecated first, then gets `promote:revoked=<reason>`, `promote:revoked-by` and
`promote:revoked-at`. The local AWS answers 500 to EnableImageDeprecation: that is a warning,
because the tag is what every promote command checks; AWS refusing it is exit 5 before anything
is tagged. gate, set-ids, publish, pin and unpin refuse a revoked image; `status` warns for every
env that still runs or is set to one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING

from promote.domain.images import (
    TAG_REVOKED,
    TAG_REVOKED_AT,
    TAG_REVOKED_BY,
    check_ami_id,
    require_image,
    tag_value,
)
from promote.domain.ledger import Event
from promote.domain.pins import require_reason
from promote.domain.results import renamed

if TYPE_CHECKING:
    from promote.domain.services import Services

AWS_ACTIONS = {
    "revoke": (
        "ec2:DescribeImages",
        "ec2:CreateTags",
        "ec2:EnableImageDeprecation",
        "secretsmanager:GetSecretValue",
        "s3:ListBucket",
        "s3:GetObject",
        "s3:PutObject",
        "kms:GetPublicKey",
        "kms:Sign",
    )
}


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


def revoke(services: Services, ami: str, reason: str) -> RevokeResult:
    """Tag AMI revoked, deprecate it where possible, record an event (idempotent)."""
    why = require_reason(reason)
    image = require_image(services.images, check_ami_id(ami), services.config.region)
    still_set = [
        env.name
        for env in services.config.envs.values()
        if services.read_ids(check=False, where=env).ami_for(env) == ami
    ]
    if image.revoked:
        return RevokeResult(
            ami,
            image.revoked,
            already=True,
            by=image.tags.get(TAG_REVOKED_BY, "unknown"),
            at=image.tags.get(TAG_REVOKED_AT, "unknown"),
            still_set_for=still_set,
        )
    actor = services.actor()
    by = str(actor.get("aws_identity") or actor.get("user") or "unknown")
    now = services.clock.now().replace(microsecond=0)
    result = RevokeResult(ami, why, False, by, now.isoformat(), still_set_for=still_set)
    services.ready_to_record(ami)  # before the first write
    # Deprecate first: it hides nothing from us and is harmless alone, so AWS refusing it
    # (exit 5) leaves the image untagged and a re-run does both.
    deprecate_at = (now + timedelta(minutes=1)).replace(second=0)
    failure = services.images.deprecate(ami, deprecate_at.isoformat().replace("+00:00", "Z"))
    result.deprecated = failure is None
    if failure:
        services.warn(
            f"could not deprecate {ami} ({failure}); the revoked tag still blocks "
            "every promote command"
        )
    services.images.tag(
        ami,
        {TAG_REVOKED: tag_value(why), TAG_REVOKED_BY: tag_value(by), TAG_REVOKED_AT: result.at},
    )
    result.event_key = services.record(
        Event(
            kind="revoke",
            subject=ami,
            ami=ami,
            envs=tuple(still_set),
            before={"revoked": None},
            after={"revoked": why, "by": by, "at": result.at, "deprecated": result.deprecated},
            reason=why,
        )
    )
    return result
