"""Revocation is a recorded event; the `promote:revoked` tag is only a cache of it.

An image is revoked when a believed (signed) `revoke` event names it, or its tag says so. A
revocation reaches along the image's family: a tested copy is revoked when its source image is
(by AWS's SourceImageId or its `promote:source-image` tag), and a source image when one of its
tested copies is, so revoking either end closes the gate for both. Removing the tag un-revokes
nothing: `promote revoke` puts it back, and `status`/`audit` report an image whose revoke event
stands but whose tag is gone (`untagged`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from promote.domain import events, ledger
from promote.domain.images import Image
from promote.domain.ledger import EVENTS_PREFIX

if TYPE_CHECKING:
    from promote.domain.services import Services

_MEMO = "revocations"
_KEYS = "revocation-keys"


def revoked(services: Services) -> dict[str, str]:
    """AMI -> reason, for every image a believed revoke event names (read once per run)."""
    found = services.memo.get(_MEMO)
    if isinstance(found, dict):
        return found
    keys = [
        k
        for k in services.ledger.keys(EVENTS_PREFIX)
        if (parsed := ledger.parse_event_key(k)) is not None and parsed[1] == "revoke"
    ]
    result: dict[str, str] = {}
    where: dict[str, str] = {}
    for loaded in events.load(services, keys):  # newest first: the oldest event wins
        document = loaded.document
        ami = document.get("ami")
        if document.get("kind") == "revoke" and isinstance(ami, str):
            result[ami] = str(document.get("reason") or "revoked")
            where[ami] = loaded.key
    services.memo[_MEMO] = result
    services.memo[_KEYS] = where
    return result


def event_key_of(services: Services, ami: str) -> str | None:
    """The key of the revoke event that revoked AMI (the first one), if any."""
    revoked(services)
    where = services.memo.get(_KEYS)
    return where.get(ami) if isinstance(where, dict) else None


def forget(services: Services) -> None:
    """Drop what this run read (after it revoked something itself)."""
    services.memo.pop(_MEMO, None)
    services.memo.pop(_KEYS, None)


def related(services: Services, image: Image) -> list[str]:
    """IMAGE's family whose revocation reaches it: its source and its tested copies."""
    family = [i for i in (image.copied_from, image.source_image) if i and i != image.image_id]
    if image.stage != "tested":
        family.extend(c.image_id for c in services.images.copies_of(image.image_id))
    return list(dict.fromkeys(family))


def _own(services: Services, ami: str, image: Image | None = None) -> str | None:
    """Why AMI itself is revoked (event first, then tag), or None."""
    by_event = revoked(services).get(ami)
    if by_event is not None:
        return by_event
    if image is None:
        image = services.images.image(ami)
    return image.revoked if image is not None else None


def why_revoked(services: Services, image: Image) -> str | None:
    """Why IMAGE may not be promoted, when it or a relative is revoked; None otherwise."""
    own = _own(services, image.image_id, image)
    if own is not None:
        return f"{image.image_id} is revoked: {own}"
    for other in related(services, image):
        reason = _own(services, other)
        if reason is not None:
            kin = "source image" if other in (image.copied_from, image.source_image) else "copy"
            return f"{image.image_id} is revoked through its {kin} {other}: {reason}"
    return None


def untagged(services: Services, images: list[Image]) -> list[Image]:
    """Those of IMAGES a revoke event names that no longer carry the revoked tag."""
    by_event = revoked(services)
    return [i for i in images if i.image_id in by_event and not i.revoked]
