"""The `ami-ids` secret: env key -> AMI id, the shape Terraform reads, with pins under `_pins`.

The secret may be stored as SecretString or SecretBinary; either holds one JSON object. Keys
that promote does not know are kept untouched. A malformed document is a usage error (exit 2)
and is never overwritten.
"""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from promote.config import PINS_KEY, Environment
from promote.domain.images import check_ami_id
from promote.domain.results import to_data
from promote.errors import ExitCode, PromoteError, conflict, usage_error

if TYPE_CHECKING:
    from promote.domain.ports import SecretReader, SecretWriter

PENDING_STAGE = "promote-pending"
CAS_ATTEMPTS = 5
CAS_BACKOFF_SECONDS = 0.2  # the first retry waits up to this; each later one up to twice as long
_TOKEN_NAMESPACE = uuid.UUID("6f1c52a4-2f0e-4d53-9d0f-4f1e7e3b8a11")
MALFORMED_HINT = "fix the secret by hand; promote never overwrites a malformed secret"


def malformed(message: str) -> PromoteError:
    """Exit 2: the secret is not what promote can safely rewrite."""
    return usage_error(message, MALFORMED_HINT)


@dataclass(frozen=True)
class SecretVersion:
    """One version of a secret as stored: its id and its raw value."""

    version_id: str
    value: str | bytes

    @property
    def binary(self) -> bool:
        """True when stored as SecretBinary."""
        return isinstance(self.value, bytes)


@dataclass(frozen=True)
class Pin:
    """A hold on an environment: it moves only when a release manager unpins it."""

    ami: str | None
    owner: str
    reason: str
    since: str
    expires: str | None

    def overdue(self, now: datetime) -> bool:
        """True when the pin has an expiry in the past (it still holds)."""
        if not self.expires:
            return False
        try:
            expires = datetime.fromisoformat(self.expires)
        except ValueError:
            return False
        if expires.tzinfo is None:
            expires = expires.replace(tzinfo=now.tzinfo)
        return expires < now


@dataclass(frozen=True)
class AmiIds:
    """A parsed version of the secret."""

    secret_id: str
    version_id: str
    document: dict[str, Any]
    binary: bool
    value: str | bytes = field(default="", repr=False, compare=False)  # as stored

    def ami_for(self, env: Environment) -> str | None:
        """The AMI id the secret sets for ENV, or None when it has no entry."""
        value = self.document.get(env.secret_key)
        if value is None:
            return None
        return _entry(self.secret_id, env.secret_key, value)

    def pin_for(self, env: Environment) -> Pin | None:
        """The pin on ENV, or None."""
        pins = self.document.get(PINS_KEY) or {}
        raw = pins.get(env.name)
        if raw is None:
            return None
        return Pin(
            ami=raw.get("ami"),
            owner=str(raw.get("owner", "unknown")),
            reason=str(raw.get("reason", "")),
            since=str(raw.get("since", "")),
            expires=raw.get("expires"),
        )


def parse(secret_id: str, version: SecretVersion) -> AmiIds:
    """Check and parse one version of the secret."""
    raw = version.value
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
    except UnicodeDecodeError as exc:
        raise malformed(
            f"secret {secret_id} is stored as SecretBinary that is not UTF-8 text "
            f"(byte {exc.start}), so not a JSON document"
        ) from exc
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise malformed(f"secret {secret_id} is not valid JSON: {exc}") from exc
    except RecursionError:
        raise malformed(f"secret {secret_id} nests JSON deeper than promote reads") from None
    if not isinstance(document, dict):
        raise malformed(f"secret {secret_id} holds a JSON {type(document).__name__}, not an object")
    pins = document.get(PINS_KEY, {})
    if not isinstance(pins, dict) or not all(isinstance(p, dict) for p in pins.values()):
        raise malformed(f"secret {secret_id}: '{PINS_KEY}' must map env names to objects")
    return AmiIds(
        secret_id=secret_id,
        version_id=version.version_id,
        document=document,
        binary=version.binary,
        value=raw,
    )


def read(reader: SecretReader, secret_id: str) -> AmiIds:
    """The current version of the secret, parsed."""
    return parse(secret_id, reader.current(secret_id))


def _entry(secret_id: str, key: str, value: Any) -> str:
    """VALUE, the secret's entry under KEY, if it is an AMI id; else exit 2."""
    shown = repr(value) if not isinstance(value, str) else f"'{value}'"
    try:
        if isinstance(value, str):
            return check_ami_id(value)
    except PromoteError:
        pass
    raise malformed(f"secret {secret_id}: '{key}' holds {shown}, not an AMI id")


# --- writing: compare-and-swap on the version id ---


Change = Callable[["AmiIds"], "dict[str, Any] | None"]


@dataclass(frozen=True)
class Update:
    """The outcome of one compare-and-swap update of the secret."""

    before: AmiIds
    after: dict[str, Any]
    version_id: str | None
    attempts: int

    @property
    def changed(self) -> bool:
        """True when a new version was written."""
        return self.version_id is not None


def check_document(ids: AmiIds, env_keys: Iterable[str]) -> None:
    """Refuse (exit 2) a secret whose env entries are not AMI ids, before anything is written."""
    for key in env_keys:
        value = ids.document.get(key)
        if value is not None:
            _entry(ids.secret_id, key, value)
    for env_name, pin in (ids.document.get(PINS_KEY) or {}).items():
        ami = pin.get("ami")
        if ami is not None and not isinstance(ami, str):
            raise malformed(
                f"secret {ids.secret_id}: '{PINS_KEY}.{env_name}.ami' holds {ami!r}, not an AMI id"
            )


def serialize(document: dict[str, Any], binary: bool) -> str | bytes:
    """The document in the form it was read: SecretString text or SecretBinary bytes."""
    text = json.dumps(document, indent=2)
    return text.encode("utf-8") if binary else text


def request_token(version_read: str, value: str | bytes) -> str:
    """A ClientRequestToken derived from (version read, new value).

    A re-run after a crash between writing and moving AWSCURRENT reads the same version and
    computes the same value, so it reuses the same token: Secrets Manager returns the version
    already written instead of making a second one.
    """
    raw = value if isinstance(value, bytes) else value.encode("utf-8")
    return str(uuid.uuid5(_TOKEN_NAMESPACE, version_read + "\n" + raw.decode("utf-8", "replace")))


def written_by_promote(previous: SecretVersion, current: AmiIds) -> bool:
    """True when CURRENT is the version promote's compare-and-swap wrote on top of PREVIOUS:
    its version id is the request token of (PREVIOUS, its value)."""
    return current.version_id == request_token(previous.version_id, current.value)


def same_change(ours: dict[str, Any], stored: dict[str, Any]) -> bool:
    """True when the document OURS would write is STORED, but for when each pin was set (a
    re-run computes its own `since`)."""

    def timeless(document: dict[str, Any]) -> dict[str, Any]:
        pins = document.get(PINS_KEY)
        if not isinstance(pins, dict):
            return document
        kept = {
            env: {k: v for k, v in pin.items() if k != "since"} if isinstance(pin, dict) else pin
            for env, pin in pins.items()
        }
        return {**document, PINS_KEY: kept}

    return timeless(ours) == timeless(stored)


def update(
    reader: SecretReader,
    writer: SecretWriter,
    secret_id: str,
    change: Change,
    env_keys: Iterable[str] = (),
    attempts: int = CAS_ATTEMPTS,
    progress: Callable[[str], None] | None = None,
    pause: Callable[[float], None] | None = None,
) -> Update:
    """Read, apply CHANGE, write a new version and move AWSCURRENT only from the version read.

    CHANGE gets the parsed current version and returns the new document, or None when nothing
    needs to change (then nothing is written). It may raise a PromoteError to refuse; it is
    re-applied to the fresh version after a conflict, so its checks always see what is current.
    When another writer moved AWSCURRENT in between, the update is retried up to ATTEMPTS times,
    then fails with exit 6. A malformed secret is refused (exit 2) and never overwritten.
    """
    keys = list(env_keys)
    refused_from: str | None = None
    for attempt in range(1, attempts + 1):
        current = read(reader, secret_id)
        if current.version_id == refused_from:
            # The move was refused although nobody else wrote: not a conflict, so do not retry.
            raise PromoteError(
                f"Secrets Manager refused to move AWSCURRENT of {secret_id} from the version "
                f"that is still current ({refused_from})",
                "run with -v and check the secret's version stages (list-secret-version-ids)",
                ExitCode.REMOTE,
            )
        check_document(current, keys)
        document = change(current)
        if document is None or document == current.document:
            return Update(current, current.document, None, attempt)
        value = serialize(document, current.binary)
        token = request_token(current.version_id, value)
        version_id = writer.put_pending(secret_id, token, value)
        if writer.make_current(secret_id, version_id, current.version_id):
            writer.clear_pending(secret_id, version_id)
            return Update(current, document, version_id, attempt)
        writer.clear_pending(secret_id, version_id)
        refused_from = current.version_id
        if progress:
            progress(
                f"secret {secret_id} changed while we wrote it (attempt {attempt}/{attempts}); "
                "re-reading and re-applying"
            )
        if pause and attempt < attempts:
            # Full jitter: writers that collided spread out instead of colliding again.
            pause(random.uniform(0, CAS_BACKOFF_SECONDS * 2 ** (attempt - 1)))  # noqa: S311
    raise conflict(
        f"secret {secret_id} kept changing under us: gave up after {attempts} attempts",
        "another writer is updating the ami-ids secret; re-run when it is done",
    )


def with_ami(document: dict[str, Any], env: Environment, ami: str) -> dict[str, Any]:
    """A copy of DOCUMENT with ENV set to AMI; every other key untouched."""
    return {**document, env.secret_key: ami}


def with_pin(document: dict[str, Any], env: Environment, pin: Pin) -> dict[str, Any]:
    """A copy of DOCUMENT with PIN on ENV."""
    pins = dict(document.get(PINS_KEY) or {})
    pins[env.name] = to_data(pin)
    return {**document, PINS_KEY: pins}


def without_pin(document: dict[str, Any], env: Environment) -> dict[str, Any]:
    """A copy of DOCUMENT with no pin on ENV (and no empty `_pins`)."""
    pins = {k: v for k, v in (document.get(PINS_KEY) or {}).items() if k != env.name}
    out = {k: v for k, v in document.items() if k != PINS_KEY}
    if pins:
        out[PINS_KEY] = pins
    return out
