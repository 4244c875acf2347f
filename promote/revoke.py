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
from typing import Any

from promote import events
from promote.images import (
    TAG_REVOKED,
    TAG_REVOKED_AT,
    TAG_REVOKED_BY,
    check_ami_id,
    require_image,
    tag_value,
)
from promote.pins import require_reason
from promote.promotion import Backends


@dataclass
class RevokeResult:
    """What revoke did."""

    ami: str
    reason: str
    already: bool
    by: str
    at: str
    deprecated: bool = False
    still_set_for: list[str] = field(default_factory=list)
    event_key: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """Plain data for JSON output."""
        return {
            "ami": self.ami,
            "reason": self.reason,
            "already_revoked": self.already,
            "revoked_by": self.by,
            "revoked_at": self.at,
            "deprecated": self.deprecated,
            "still_set_for": self.still_set_for,
            "event_key": self.event_key,
        }

    def lines(self) -> list[str]:
        """Text for people."""
        if self.already:
            out = [f"{self.ami} was already revoked by {self.by} at {self.at}: {self.reason}"]
        else:
            out = [f"revoked {self.ami}: {self.reason}"]
            out.append(f"  deprecated: {'yes' if self.deprecated else 'no (see warning)'}")
        for env in self.still_set_for:
            out.append(f"  {env} is still set to it; its running instances are untouched")
        if self.event_key:
            out.append(f"event: {self.event_key}")
        return out


def revoke(backends: Backends, ami: str, reason: str) -> RevokeResult:
    """Tag AMI revoked, deprecate it where possible, record an event (idempotent)."""
    why = require_reason(reason)
    image = require_image(backends.images, check_ami_id(ami), backends.config.region)
    current = backends.read_ids()
    still_set = [env.name for env in backends.config.envs.values() if current.ami_for(env) == ami]
    if image.revoked:
        return RevokeResult(
            ami,
            image.revoked,
            already=True,
            by=image.tags.get(TAG_REVOKED_BY, "unknown"),
            at=image.tags.get(TAG_REVOKED_AT, "unknown"),
            still_set_for=still_set,
        )
    actor = backends.actor()
    by = str(actor.get("aws_identity") or actor.get("user") or "unknown")
    now = backends.clock.now().replace(microsecond=0)
    result = RevokeResult(ami, why, False, by, now.isoformat(), still_set_for=still_set)
    # Deprecate first: it hides nothing from us and is harmless alone, so AWS refusing it
    # (exit 5) leaves the image untagged and a re-run does both.
    deprecate_at = (now + timedelta(minutes=1)).replace(second=0)
    failure = backends.images.deprecate(ami, deprecate_at.isoformat().replace("+00:00", "Z"))
    result.deprecated = failure is None
    if failure:
        backends.warn(
            f"could not deprecate {ami} ({failure}); the revoked tag still blocks "
            "every promote command"
        )
    backends.images.tag(
        ami,
        {TAG_REVOKED: tag_value(why), TAG_REVOKED_BY: tag_value(by), TAG_REVOKED_AT: result.at},
    )
    result.event_key = backends.record(
        events.Event(
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
