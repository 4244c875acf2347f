"""The `ami-ids` secret: env key -> AMI id, the shape Terraform reads, with pins under `_pins`.

The secret may be stored as SecretString or SecretBinary; either holds one JSON object. Keys
that promote does not know are kept untouched. A malformed document is a usage error (exit 2)
and is never overwritten.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from promote.config import PINS_KEY, Environment
from promote.errors import usage_error
from promote.images import check_ami_id


@dataclass(frozen=True)
class SecretVersion:
    """One version of a secret as stored: its id and its raw value."""

    version_id: str
    value: str | bytes

    @property
    def binary(self) -> bool:
        """True when stored as SecretBinary."""
        return isinstance(self.value, bytes)


class SecretReader(Protocol):
    """Reads the AWSCURRENT version of a secret."""

    def current(self, secret_id: str) -> SecretVersion:
        """The current version; not-found error when the secret does not exist."""
        ...


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

    def as_dict(self) -> dict[str, Any]:
        """The shape stored in the secret."""
        return {
            "ami": self.ami,
            "owner": self.owner,
            "reason": self.reason,
            "since": self.since,
            "expires": self.expires,
        }


@dataclass(frozen=True)
class AmiIds:
    """A parsed version of the secret."""

    secret_id: str
    version_id: str
    document: dict[str, Any]
    binary: bool

    def ami_for(self, env: Environment) -> str | None:
        """The AMI id the secret sets for ENV, or None when it has no entry."""
        value = self.document.get(env.secret_key)
        if value is None:
            return None
        if not isinstance(value, str):
            raise usage_error(
                f"secret {self.secret_id}: '{env.secret_key}' holds {value!r}, not an AMI id",
                "fix the secret by hand; promote never overwrites a malformed secret",
            )
        try:
            return check_ami_id(value)
        except Exception:
            raise usage_error(
                f"secret {self.secret_id}: '{env.secret_key}' holds '{value}', not an AMI id",
                "fix the secret by hand; promote never overwrites a malformed secret",
            ) from None

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
    hint = "fix the secret by hand; promote never overwrites a malformed secret"
    raw = version.value
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
        document = json.loads(text)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise usage_error(f"secret {secret_id} is not valid JSON: {exc}", hint) from exc
    if not isinstance(document, dict):
        raise usage_error(
            f"secret {secret_id} holds a JSON {type(document).__name__}, not an object", hint
        )
    pins = document.get(PINS_KEY, {})
    if not isinstance(pins, dict) or not all(isinstance(p, dict) for p in pins.values()):
        raise usage_error(f"secret {secret_id}: '{PINS_KEY}' must map env names to objects", hint)
    return AmiIds(
        secret_id=secret_id, version_id=version.version_id, document=document, binary=version.binary
    )


def read(reader: SecretReader, secret_id: str) -> AmiIds:
    """The current version of the secret, parsed."""
    return parse(secret_id, reader.current(secret_id))
