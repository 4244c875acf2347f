"""Where the caches disagree with the record: the signed events say one thing, AWS another.

- A revoked image whose `promote:revoked` tag was removed: the revoke event still stands (every
  promote command still refuses the image), but tools that read only the tag would not; `promote
  revoke --ami A` tags it again.
- A pin the ledger says holds (the env's newest pin/unpin event is a pin) but the secret no
  longer carries: something wrote the secret without promote (a raw PutSecretValue, a `sed`)
  and dropped `_pins`. Nothing re-pins by itself: a release manager decides (`promote pin`).

`status` warns about both; `audit` reports both as findings (so `audit` exits 3).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from promote.domain import events, ledger, revocations
from promote.domain.ledger import EVENTS_PREFIX

if TYPE_CHECKING:
    from promote.config import Environment
    from promote.domain.services import Services


@dataclass(frozen=True)
class Drift:
    """One disagreement: the event key that says otherwise, a problem word, a sentence."""

    key: str
    problem: str  # revoked-untagged, pin-dropped
    detail: str


def untagged_revocations(services: Services) -> list[Drift]:
    """Images a believed revoke event names that no longer carry the revoked tag."""
    found = []
    for ami, reason in sorted(revocations.revoked(services).items()):
        image = services.images.image(ami)
        if image is not None and not image.revoked:
            found.append(
                Drift(
                    revocations.event_key_of(services, ami) or ami,
                    "revoked-untagged",
                    f"{ami} is revoked ({reason}) but its promote:revoked tag was removed; "
                    f"promote still refuses it (promote revoke --ami {ami} --reason ... tags it "
                    "again)",
                )
            )
    return found


def dropped_pins(services: Services, envs: list[Environment]) -> list[Drift]:
    """Envs whose newest believed pin/unpin event is a pin the secret no longer carries."""
    keys = services.ledger.keys(EVENTS_PREFIX)
    newest: dict[str, str] = {}
    for key in sorted(keys, key=lambda k: (ledger.stamp_of(k), k)):
        parsed = ledger.parse_event_key(key)
        if parsed is not None and parsed[1] in ("pin", "unpin"):
            newest[parsed[2]] = key
    found = []
    for env in envs:
        newest_key = newest.get(ledger.safe_subject(env.name))
        if newest_key is None:
            continue
        loaded = events.read(services, newest_key)
        if loaded is None or loaded.document.get("kind") != "pin":
            continue
        if services.read_ids(check=False, where=env).pin_for(env) is None:
            pinned = loaded.document.get("after") or {}
            ami = pinned.get("ami") if isinstance(pinned, dict) else None
            found.append(
                Drift(
                    newest_key,
                    "pin-dropped",
                    f"{env.name} was pinned{f' to {ami}' if ami else ''} ({newest_key}) but its "
                    "secret has no pin and no unpin was recorded: the secret was written without "
                    f"promote; re-pin it (promote pin --env {env.name} --reason ...) or unpin it",
                )
            )
    return found
