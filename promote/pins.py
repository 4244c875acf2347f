"""Pins: `promote pin` holds an environment on an AMI; `promote unpin` lets it move again.

A pin lives in the ami-ids secret under `_pins.<env>` = {ami, owner, reason, since, expires}.
It always names an owner and a reason; an expired pin still holds (status shows it as overdue)
because only a person should let production move. Moving a pin keeps the old one in the event.

`unpin` shows what the env would move to: the newest tested, non-revoked image with SUCCESS
evidence in `test_env`. With `--apply` it removes the pin and sets the env's AMI in one
compare-and-swap write. When nothing is eligible the pin is still removed (with --apply) but the
env stays on the AMI it has.
"""

from __future__ import annotations

import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from promote import events, ids
from promote.errors import ExitCode, PromoteError, usage_error
from promote.gate import GateResult, evaluate
from promote.ids import AmiIds, Pin
from promote.images import Image, check_ami_id, require_image, revoked_error
from promote.promotion import Backends, check_allowed, share_with_envs


def default_owner(environ: Mapping[str, str], git_email: str | None) -> str:
    """Who owns a pin when --owner is not given: git's user.email, then $USER."""
    if git_email and git_email.strip():
        return git_email.strip()
    user = environ.get("USER", "").strip()
    if user:
        return user
    raise usage_error("cannot tell who owns the pin", "pass --owner you@example.com")


def git_user_email() -> str | None:
    """`git config user.email`, or None when git or the setting is missing."""
    try:
        found = subprocess.run(
            ["git", "config", "user.email"], capture_output=True, text=True, timeout=5, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return found.stdout.strip() or None


def parse_expiry(text: str | None, now: datetime) -> str | None:
    """An ISO date or datetime (UTC when no zone is given), normalised; usage error otherwise."""
    if text is None or not text.strip():
        return None
    raw = text.strip()
    try:
        if len(raw) == 10:
            return date.fromisoformat(raw).isoformat()
        moment = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise usage_error(
            f"--expires '{text}' is not a date", "write it as 2026-12-31 or 2026-12-31T17:00:00Z"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat()


def require_reason(reason: str | None) -> str:
    """REASON stripped; an empty one is a usage error."""
    if reason is None or not reason.strip():
        raise usage_error("a reason is required and may not be empty", 'pass --reason "why"')
    return reason.strip()


@dataclass
class PinResult:
    """What pin changed."""

    env: str
    pin: dict[str, Any]
    previous_pin: dict[str, Any] | None
    ami_before: str | None
    changed: bool
    version_id: str | None = None
    event_key: str | None = None
    shared: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """Plain data for JSON output."""
        return {
            "env": self.env,
            "pin": self.pin,
            "previous_pin": self.previous_pin,
            "ami_before": self.ami_before,
            "changed": self.changed,
            "secret_version_id": self.version_id,
            "event_key": self.event_key,
            "shared_with": self.shared,
        }

    def lines(self) -> list[str]:
        """Text for people."""
        pin = self.pin
        if not self.changed:
            return [f"{self.env} is already pinned to {pin['ami']} by {pin['owner']}: no change"]
        out = [f"pinned {self.env} to {pin['ami']} (owner {pin['owner']}): {pin['reason']}"]
        if pin.get("expires"):
            out.append(f"  expires {pin['expires']} (the pin still holds after that)")
        if self.ami_before != pin["ami"]:
            out.append(f"  {self.env} moved {self.ami_before or '(none)'} -> {pin['ami']}")
        if self.previous_pin:
            prev = self.previous_pin
            out.append(f"  replaced the pin by {prev['owner']} on {prev['ami']}: {prev['reason']}")
        if self.event_key:
            out.append(f"event: {self.event_key}")
        return out


def pin(
    backends: Backends,
    env_name: str,
    ami: str | None,
    reason: str,
    expires: str | None,
    owner: str,
) -> PinResult:
    """Pin ENV to AMI (default: what the secret sets for it now); checks first, one CAS write."""
    why = require_reason(reason)
    now = backends.clock.now()
    expiry = parse_expiry(expires, now)
    if expiry and Pin(None, "", "", "", expiry).overdue(now):
        backends.warn(f"--expires {expiry} is already in the past; the pin holds anyway")
    env = backends.config.environment(env_name)
    current = backends.read_ids()
    target = check_ami_id(ami) if ami else current.ami_for(env)
    if target is None:
        raise usage_error(
            f"secret {backends.config.secret_id} sets no AMI for {env.name}",
            f"pass --ami to pin {env.name} to an AMI",
        )
    image = require_image(backends.images, target, backends.config.region)
    if image.revoked:
        raise revoked_error(image)
    if ami and ami != current.ami_for(env):
        check_allowed(backends, image, env)
    since = now.replace(microsecond=0).isoformat()
    new_pin = Pin(ami=target, owner=owner, reason=why, since=since, expires=expiry)
    result = PinResult(env.name, new_pin.as_dict(), None, current.ami_for(env), changed=False)
    wanted = (target, owner, why, expiry)

    def change(latest: AmiIds) -> dict[str, Any] | None:
        if not ami and latest.ami_for(env) != target:
            raise PromoteError(
                f"{env.name} moved to {latest.ami_for(env)} while pinning it to {target}",
                "re-run pin (or pass --ami)",
                ExitCode.CONFLICT,
            )
        old = latest.pin_for(env)
        result.previous_pin = old.as_dict() if old else None
        result.ami_before = latest.ami_for(env)
        same = old is not None and (old.ami, old.owner, old.reason, old.expires) == wanted
        if same and old is not None and latest.ami_for(env) == target:
            result.pin = old.as_dict()  # pinning again with the same values changes nothing
            return None
        return ids.with_pin(ids.with_ami(latest.document, env, target), env, new_pin)

    if result.ami_before != target:
        result.shared = share_with_envs(backends, target, [env], apply=True)
    update = backends.update(change)
    if not update.changed:
        return result
    result.changed = True
    result.version_id = update.version_id
    result.event_key = backends.record(
        events.Event(
            kind="pin",
            subject=env.name,
            ami=target,
            envs=(env.name,),
            before={"ami": result.ami_before, "pin": result.previous_pin},
            after={"ami": target, "pin": result.pin},
            reason=why,
            extra={"secret_version_id": update.version_id},
        )
    )
    return result


def newest_eligible(backends: Backends) -> tuple[Image, GateResult] | None:
    """The newest tested, non-revoked, available image with SUCCESS evidence in test_env."""
    tested = [
        i
        for i in backends.images.owned()
        if i.stage == "tested" and not i.revoked and i.state == "available"
    ]
    tested.sort(key=lambda i: (i.creation_date, i.name), reverse=True)
    for image in tested:
        result = evaluate(
            image.image_id,
            backends.config.test_env,
            backends.images,
            backends.ledger,
            backends.config.region,
        )
        if result.open:
            return image, result
    return None


@dataclass
class UnpinResult:
    """What unpin would do (or did, with --apply)."""

    env: str
    pin: dict[str, Any] | None
    ami_before: str | None
    move_to: str | None
    evidence_key: str | None
    applied: bool
    version_id: str | None = None
    event_key: str | None = None
    shared: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """Plain data for JSON output."""
        return {
            "env": self.env,
            "pin": self.pin,
            "ami_before": self.ami_before,
            "move_to": self.move_to,
            "evidence_key": self.evidence_key,
            "applied": self.applied,
            "secret_version_id": self.version_id,
            "event_key": self.event_key,
            "shared_with": self.shared,
        }

    def lines(self) -> list[str]:
        """Text for people."""
        if self.pin is None:
            return [f"{self.env} is not pinned: nothing to do"]
        pin = self.pin
        out = [
            f"{self.env} is pinned to {pin['ami']} by {pin['owner']} since {pin['since']}: "
            f"{pin['reason']}"
        ]
        if self.move_to is None:
            out.append(
                "nothing is eligible (no tested, non-revoked image with SUCCESS evidence): "
                f"{self.env} stays on {self.ami_before}"
            )
        elif self.move_to == self.ami_before:
            out.append(f"{self.env} stays on {self.ami_before}, the newest eligible image")
        else:
            out.append(f"{self.env} would move {self.ami_before} -> {self.move_to}")
        if self.evidence_key:
            out.append(f"  evidence: {self.evidence_key}")
        if self.applied:
            out.append(
                f"unpinned {self.env}" + (f"; event: {self.event_key}" if self.event_key else "")
            )
        else:
            out.append("dry run: pass --apply to unpin")
        return out


def unpin(backends: Backends, env_name: str, reason: str, apply: bool) -> UnpinResult:
    """Show (and with APPLY, do) the unpin of ENV and its move to the newest eligible image."""
    why = require_reason(reason)
    env = backends.config.environment(env_name)
    current = backends.read_ids()
    existing = current.pin_for(env)
    before = current.ami_for(env)
    if existing is None:
        return UnpinResult(env.name, None, before, None, None, applied=False)
    found = newest_eligible(backends)
    move_to = found[0].image_id if found else None
    evidence_key = found[1].evidence_key if found else None
    result = UnpinResult(env.name, existing.as_dict(), before, move_to, evidence_key, applied=False)
    if not apply:
        return result
    if found and move_to != before:
        result.shared = share_with_envs(backends, found[0].image_id, [env], apply=True)

    def change(latest: AmiIds) -> dict[str, Any] | None:
        if latest.pin_for(env) is None:
            return None
        document = ids.without_pin(latest.document, env)
        if move_to:
            document = ids.with_ami(document, env, move_to)
        result.ami_before = latest.ami_for(env)
        return document

    update = backends.update(change)
    result.applied = True
    if not update.changed:
        return result
    result.version_id = update.version_id
    result.event_key = backends.record(
        events.Event(
            kind="unpin",
            subject=env.name,
            ami=move_to or result.ami_before,
            envs=(env.name,),
            before={"ami": result.ami_before, "pin": result.pin},
            after={"ami": move_to or result.ami_before, "pin": None},
            reason=why,
            extra={"secret_version_id": update.version_id, "evidence_key": evidence_key},
        )
    )
    return result
