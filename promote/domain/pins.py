"""Pins: `promote pin` holds an environment on an AMI; `promote unpin` lets it move again.

A pin lives in the ami-ids secret under `_pins.<env>` = {ami, owner, reason, since, expires}.
It always names an owner and a reason; an expired pin still holds (status shows it as overdue)
because only a person should let production move. Moving a pin keeps the old one in the event.

`unpin` shows what the env would move to: the newest tested, non-revoked image with SUCCESS
evidence in `test_env`. With `--apply` it removes the pin and sets the env's AMI in one
compare-and-swap write. When nothing is eligible the pin is still removed (with --apply) but the
env stays on the AMI it has. With `--repin` the same write pins the env again on the AMI it now
has (owner: --owner, else git's user.email, else $USER; reason: the unpin's). Moving the secret
does not move the instances: the next step is `promote rollout --env <env>`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

from promote.config import PINS_KEY
from promote.domain import ami_ids
from promote.domain.ami_ids import AmiIds, Pin
from promote.domain.gate import GateResult, evaluate
from promote.domain.images import Image, check_ami_id, require_image
from promote.domain.ledger import Event
from promote.domain.policy import admit, image_refusals, refuse, revocation, share_with_envs
from promote.domain.results import HIDDEN, renamed, to_data
from promote.errors import conflict, usage_error

if TYPE_CHECKING:
    from promote.config import Environment
    from promote.domain.services import Services

_CAS = (
    "ec2:DescribeImages",
    "secretsmanager:GetSecretValue",
    "secretsmanager:PutSecretValue",
    "secretsmanager:UpdateSecretVersionStage",
)
_SHARE = ("ec2:DescribeImageAttribute", "ec2:ModifyImageAttribute", "ec2:ModifySnapshotAttribute")
# Events are signed by the event key and chained: the subject's previous event is read.
_RECORD = ("s3:ListBucket", "s3:GetObject", "s3:PutObject", "kms:GetPublicKey", "kms:Sign")
AWS_ACTIONS = {"pin": (*_CAS, *_RECORD, *_SHARE), "unpin": (*_CAS, *_RECORD, *_SHARE)}


def default_owner(environ: Mapping[str, str], git_email: str | None) -> str:
    """Who owns a pin when --owner is not given: git's user.email, then $USER."""
    if git_email and git_email.strip():
        return git_email.strip()
    user = environ.get("USER", "").strip()
    if user:
        return user
    raise usage_error("cannot tell who owns the pin", "pass --owner you@example.com")


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
    version_id: str | None = field(default=None, metadata=renamed("secret_version_id"))
    event_key: str | None = None
    shared: dict[str, str] = field(default_factory=dict, metadata=renamed("shared_with"))
    recovered_event: bool = False  # the event of an earlier, killed run's write, recorded now


def pin(
    services: Services,
    env_name: str,
    ami: str | None,
    reason: str,
    expires: str | None,
    owner: str,
) -> PinResult:
    """Pin ENV to AMI (default: what the secret sets for it now); checks first, one CAS write."""
    why = require_reason(reason)
    now = services.clock.now()
    expiry = parse_expiry(expires, now)
    if expiry and Pin(None, "", "", "", expiry).overdue(now):
        services.warn(f"--expires {expiry} is already in the past; the pin holds anyway")
    env = services.config.environment(env_name)
    current = services.read_ids(where=env)
    target = check_ami_id(ami) if ami else current.ami_for(env)
    if target is None:
        raise usage_error(
            f"secret {current.secret_id} sets no AMI for {env.name}",
            f"pass --ami to pin {env.name} to an AMI",
        )
    image = require_image(services.images, target, services.config.region)
    if target != current.ami_for(env):
        admit(services, image, env, current, moving_pin=True)  # the pin moves the env
    else:
        refuse([r for r in [revocation(services, image)] if r])
    since = now.replace(microsecond=0).isoformat()
    new_pin = Pin(ami=target, owner=owner, reason=why, since=since, expires=expiry)
    result = PinResult(env.name, to_data(new_pin), None, current.ami_for(env), changed=False)
    wanted = (target, owner, why, expiry)

    def change(latest: AmiIds) -> dict[str, Any] | None:
        if not ami and latest.ami_for(env) != target:
            raise conflict(
                f"{env.name} moved to {latest.ami_for(env)} while pinning it to {target}",
                "re-run pin (or pass --ami)",
            )
        old = latest.pin_for(env)
        result.previous_pin = to_data(old) if old else None
        result.ami_before = latest.ami_for(env)
        same = old is not None and (old.ami, old.owner, old.reason, old.expires) == wanted
        if same and old is not None and latest.ami_for(env) == target:
            result.pin = to_data(old)  # pinning again with the same values changes nothing
            return None
        return ami_ids.with_pin(ami_ids.with_ami(latest.document, env, target), env, new_pin)

    services.ready_to_record(env.name)  # before the first write
    if result.ami_before != target:
        result.shared = share_with_envs(services, target, [env])
    committed = services.commit(
        change,
        lambda update: Event(
            kind="pin",
            subject=env.name,
            ami=target,
            envs=(env.name,),
            before={"ami": result.ami_before, "pin": result.previous_pin},
            # What was written (a recovered event's pin is the one the killed run wrote).
            after={"ami": target, "pin": (update.after.get(PINS_KEY) or {}).get(env.name)},
            reason=why,
            extra={"secret_id": update.before.secret_id, "secret_version_id": update.version_id},
        ),
        where=env,
    )
    if committed:
        result.changed = not committed.recovered
        result.recovered_event = committed.recovered
        result.version_id, result.event_key = committed.version_id, committed.event_key
    return result


def newest_eligible(services: Services) -> tuple[Image, GateResult] | None:
    """The newest tested, available image with SUCCESS evidence in test_env that admission
    does not refuse (revoked, its source or copies revoked, or not built by promote)."""
    tested = [
        i
        for i in services.images.owned()
        if i.stage == "tested" and not i.revoked and i.state == "available"
    ]
    tested.sort(key=lambda i: (i.creation_date, i.name), reverse=True)
    for image in tested:
        result = evaluate(services, image.image_id, services.config.test_env)
        if result.open and not image_refusals(services, image):
            return image, result
    return None


@dataclass
class UnpinPlan:
    """What unpin would do: remove the pin and move the env to the newest eligible image."""

    env: str
    environment: Environment = field(metadata=HIDDEN)
    reason: str = field(metadata=HIDDEN)
    pin: dict[str, Any] | None = None
    ami_before: str | None = None
    move_to: str | None = None
    evidence_key: str | None = None
    shared: dict[str, str] = field(default_factory=dict, metadata=renamed("shared_with"))
    applied: bool = False
    repin_owner: str | None = field(default=None, metadata=HIDDEN)


@dataclass
class UnpinResult:
    """What unpin did."""

    env: str
    pin: dict[str, Any] | None
    ami_before: str | None
    move_to: str | None
    evidence_key: str | None
    applied: bool
    version_id: str | None = field(default=None, metadata=renamed("secret_version_id"))
    event_key: str | None = None
    shared: dict[str, str] = field(default_factory=dict, metadata=renamed("shared_with"))
    repinned: dict[str, Any] | None = None
    next_step: str | None = None
    recovered_event: bool = False  # the event of an earlier, killed run's unpin, recorded now
    plan: UnpinPlan | None = field(default=None, metadata=HIDDEN)


def rollout_hint(env_name: str) -> str:
    """The command that moves ENV's instances onto what its secret entry now says."""
    return f"promote rollout --env {env_name}"


def plan_unpin(
    services: Services, env_name: str, reason: str, repin_owner: str | None = None
) -> UnpinPlan:
    """What unpinning ENV would do (and, with REPIN_OWNER, re-pinning it); writes nothing."""
    why = require_reason(reason)
    env = services.config.environment(env_name)
    current = services.read_ids(where=env)
    existing = current.pin_for(env)
    before = current.ami_for(env)
    if existing is None:
        return UnpinPlan(env.name, env, why, None, before, repin_owner=repin_owner)
    found = newest_eligible(services)
    move_to = found[0].image_id if found else None
    result = UnpinPlan(
        env.name,
        env,
        why,
        to_data(existing),
        before,
        move_to,
        found[1].evidence_key if found else None,
        repin_owner=repin_owner,
    )
    if found and move_to != before:
        result.shared = share_with_envs(services, found[0].image_id, [env], apply=False)
    return result


def execute_unpin(unpin_plan: UnpinPlan, services: Services) -> UnpinResult:
    """Remove the pin and move the env, in one compare-and-swap write, and record it."""
    env = unpin_plan.environment
    result = UnpinResult(
        env.name,
        unpin_plan.pin,
        unpin_plan.ami_before,
        unpin_plan.move_to,
        unpin_plan.evidence_key,
        applied=False,
        plan=unpin_plan,
    )
    if unpin_plan.pin is None:
        return _recover_unpin(unpin_plan, services, result)
    services.ready_to_record(env.name)  # before the first write
    move_to = unpin_plan.move_to
    if move_to and move_to != unpin_plan.ami_before:
        result.shared = share_with_envs(services, move_to, [env])
    since = services.clock.now().replace(microsecond=0).isoformat()

    def change(latest: AmiIds) -> dict[str, Any] | None:
        if latest.pin_for(env) is None:
            return None
        document = ami_ids.without_pin(latest.document, env)
        if move_to:
            document = ami_ids.with_ami(document, env, move_to)
        result.ami_before = latest.ami_for(env)
        target = move_to or result.ami_before
        if unpin_plan.repin_owner and target:
            again = Pin(target, unpin_plan.repin_owner, unpin_plan.reason, since, None)
            result.repinned = to_data(again)
            document = ami_ids.with_pin(document, env, again)
        return document

    committed = services.commit(
        change, lambda update: _unpin_event(update, unpin_plan, result, move_to), where=env
    )
    result.applied = True
    if committed:
        result.version_id, result.event_key = committed.version_id, committed.event_key
        result.recovered_event = committed.recovered
    if move_to and move_to != result.ami_before:
        result.next_step = rollout_hint(env.name)
    return result


def _unpin_event(
    update: ami_ids.Update, unpin_plan: UnpinPlan, result: UnpinResult, move_to: str | None
) -> Event:
    """The unpin event of UPDATE."""
    return Event(
        kind="unpin",
        subject=unpin_plan.env,
        ami=move_to or result.ami_before,
        envs=(unpin_plan.env,),
        before={"ami": result.ami_before, "pin": result.pin},
        after={"ami": move_to or result.ami_before, "pin": result.repinned},
        reason=unpin_plan.reason,
        extra={
            "secret_id": update.before.secret_id,
            "secret_version_id": update.version_id,
            "evidence_key": result.evidence_key,
        },
    )


def _recover_unpin(unpin_plan: UnpinPlan, services: Services, result: UnpinResult) -> UnpinResult:
    """ENV is not pinned: if an earlier `unpin --apply` removed its pin and was killed before
    its event, record that event now (marked recovered)."""
    env = unpin_plan.environment
    current = services.read_ids(where=env)
    landed = current.ami_for(env)

    def undo(latest: AmiIds) -> dict[str, Any] | None:
        old = latest.pin_for(env)
        if old is None:
            return None
        result.pin, result.ami_before = to_data(old), latest.ami_for(env)
        document = ami_ids.without_pin(latest.document, env)
        return ami_ids.with_ami(document, env, landed) if landed else document

    committed = services.recover(
        undo, lambda update: _unpin_event(update, unpin_plan, result, landed), current, env
    )
    if committed is None:
        result.pin, result.ami_before = None, unpin_plan.ami_before
        return result
    result.version_id, result.event_key = committed.version_id, committed.event_key
    result.recovered_event, result.move_to = True, landed
    return result
