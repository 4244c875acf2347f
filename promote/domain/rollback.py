"""`promote rollback`: put an environment back on its last known good image, then roll it.

The target, first that applies:

1. `--to AMI` (refused outright when admission refuses it);
2. the env's entry in the secret's AWSPREVIOUS version;
3. the env's earlier entries, newest first, as the signed set-ids, pin and unpin events record
   them;
4. the newest image with believed SUCCESS evidence in the env itself.

Never the image the env runs now, and never one the env was rolled back *from* (a second
rollback goes one step further back; it never returns to the image the first one left). A
candidate that admission refuses (pinned elsewhere, revoked, not built by promote's builders,
unproven) is passed over and said why; `--to` is refused with every reason instead.
Admission is the one every path uses (`domain/policy.py`), where SUCCESS evidence in the env
itself counts for returning it to an image it ran: production may go back to an untested-stage
image only if production proved, with a signed record, that it ran it.

Then the env's secret entry moves (one compare-and-swap write and a signed set-ids event that
carries `rollback: {env, from, to, source}` and the reason), and the rollout replaces the
instances and ends with a validate (the CLI runs it, with the rollout's lease and events).

Re-run after a crash: when the env's newest set-ids event is a rollback to what its secret names
now and some instances still run something else, the rollback resumes the rollout to that image
(it does not step back again); `--resume` takes over the crashed rollout's lease. A secret
version promote wrote that no event records (a run killed between its write and its event) is
refused without `--to` (exit 3): whether it was a rollback, and so which image not to return
to, is unknown.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from promote.domain import ami_ids, events
from promote.domain import set_ids as set_ids_module
from promote.domain.fleet import observe, on_expected
from promote.domain.images import require_image
from promote.domain.ledger import EVENTS_PREFIX, EvidenceRef, parse_event_key
from promote.domain.policy import refusals, refuse
from promote.domain.results import HIDDEN
from promote.domain.rollout import AWS_ACTIONS as ROLLOUT_ACTIONS
from promote.domain.set_ids import AWS_ACTIONS as SET_IDS_ACTIONS
from promote.errors import PromoteError, check_failed, not_found

if TYPE_CHECKING:
    from promote.config import Environment
    from promote.domain.ami_ids import AmiIds, SecretVersion
    from promote.domain.rollout import RolloutPlan, RolloutResult
    from promote.domain.services import Services
    from promote.domain.set_ids import SetIdsPlan, SetIdsResult

AWS_ACTIONS = {
    "rollback": tuple(dict.fromkeys((*SET_IDS_ACTIONS["set-ids"], *ROLLOUT_ACTIONS["rollout"])))
}

TO = "--to"
PREVIOUS = "AWSPREVIOUS"
EARLIER = "an earlier entry"
EVIDENCE = "SUCCESS evidence"
RESUMED = "resumed"


@dataclass(frozen=True)
class PassedOver:
    """A candidate the rollback did not take, and why."""

    ami: str
    source: str
    why: str

    def describe(self) -> str:
        """One line for the plan."""
        return f"passed over {self.ami} ({self.source}): {self.why}"


@dataclass
class RollbackPlan:
    """Where the env goes back to, why that image, and the secret write that does it."""

    env: str
    current: str | None
    target: str
    source: str
    reason: str | None = None
    passed_over: list[PassedOver] = field(default_factory=list)
    evidence_key: str | None = None
    set_ids: SetIdsPlan | None = field(default=None, metadata=HIDDEN)
    rollout: RolloutPlan | None = None  # the rollout it will run (shown under --dry-run)
    dry_run: bool = True

    @property
    def resumed(self) -> bool:
        """The secret already names the target: this run only finishes the rollout."""
        return self.source == RESUMED


@dataclass
class RollbackResult:
    """What the rollback wrote and how the rollout went."""

    plan: RollbackPlan
    set_ids: SetIdsResult | None
    rollout: RolloutResult
    dry_run: bool = False


@dataclass(frozen=True)
class _History:
    """What the ledger says of ENV's secret entry: earlier entries (newest first), the images
    it was rolled back from, and the newest set-ids event that changed it."""

    earlier: list[str]
    rolled_from: set[str]
    newest: dict[str, Any] | None
    versions: set[str]  # the secret versions these events say they wrote (any env)


# The events that move an env's entry in the secret.
_MOVES = ("set-ids", "pin", "unpin")


def _entry_change(document: dict[str, Any], env: Environment) -> tuple[str, str] | None:
    """(before, after) of ENV's entry when the event DOCUMENT moved it."""
    if env.name not in (document.get("envs") or []):
        return None
    before, after = document.get("before") or {}, document.get("after") or {}
    if document.get("kind") == "set-ids":
        was, now = before.get(env.name), after.get(env.name)
    else:  # pin and unpin say {"ami": ..., "pin": ...}
        was, now = before.get("ami"), after.get("ami")
    if not was or not now or was == now:
        return None
    return str(was), str(now)


def _history(services: Services, env: Environment) -> _History:
    keys = [
        k
        for k in services.ledger.keys(EVENTS_PREFIX)
        if (parsed := parse_event_key(k)) is not None and parsed[1] in _MOVES
    ]
    earlier: list[str] = []
    rolled_from: set[str] = set()
    newest: dict[str, Any] | None = None
    versions: set[str] = set()
    for loaded in events.load(services, keys):  # newest first
        document = loaded.document
        if document.get("secret_version_id"):
            versions.add(str(document["secret_version_id"]))
        change = _entry_change(document, env)
        if change is None:
            continue
        if newest is None:
            newest = document
        before, _ = change
        rollback = document.get("rollback")
        if isinstance(rollback, dict) and rollback.get("env") == env.name:
            rolled_from.add(before)
        earlier.append(before)
    return _History(earlier, rolled_from, newest, versions)


def _previous_version(
    services: Services, env: Environment, current: AmiIds
) -> tuple[SecretVersion | None, AmiIds | None]:
    """The AWSPREVIOUS version of ENV's secret, as stored and parsed (the parsed one None when
    it is unreadable: then it is only a candidate lost)."""
    version = services.history_of(services.config.secret_of(env)).version(
        current.secret_id, "AWSPREVIOUS"
    )
    if version is None:
        return None, None
    try:
        return version, ami_ids.parse(current.secret_id, version)
    except PromoteError as exc:
        services.warn(f"AWSPREVIOUS of {current.secret_id} is unreadable: {exc.message}")
        return version, None


def _unrecorded(previous: SecretVersion | None, current: AmiIds, history: _History) -> bool:
    """CURRENT is a version promote wrote on top of PREVIOUS, and no event records it: a run
    killed between its secret write and its event. Which change that was (a rollback?) is not
    known, so AWSPREVIOUS is no safe way back."""
    if previous is None or current.version_id is None:
        return False
    written = ami_ids.written_by_promote(previous, current)
    return written and current.version_id not in history.versions


def _proven_in(services: Services, env: Environment) -> list[str]:
    """Images with SUCCESS records in ENV by their keys, newest record first (verified later,
    by admission)."""
    refs = [EvidenceRef.parse(k) for k in services.ledger.keys("evidence/")]
    found = sorted(
        (r for r in refs if r is not None and r.env == env.name and r.result == "SUCCESS"),
        key=lambda r: r.stamp,
        reverse=True,
    )
    return [*dict.fromkeys(r.ami for r in found)]


def _unfinished(services: Services, env: Environment, history: _History, current: str) -> bool:
    """The newest change of ENV's entry was a rollback to CURRENT and not every instance runs
    it yet (a rollback that crashed before its rollout finished)."""
    newest = history.newest
    if newest is None or not isinstance(newest.get("rollback"), dict):
        return False
    if (newest.get("after") or {}).get(env.name) != current:
        return False
    snapshot = observe(env, services.fleet)
    return not all(on_expected(i, current) for i in snapshot.instances)


def plan(services: Services, env_name: str, to: str | None, reason: str | None) -> RollbackPlan:
    """Choose the image ENV goes back to and plan the secret write; writes nothing."""
    env = services.config.environment(env_name)
    ids = services.read_ids(where=env)
    current = ids.ami_for(env)
    history = _history(services, env)
    candidates: list[tuple[str, str]]
    if to is not None:
        candidates = [(require_image(services.images, to, services.config.region).image_id, TO)]
    elif current is not None and _unfinished(services, env, history, current):
        candidates = [(current, RESUMED)]
    else:
        candidates = []
        stored, before = _previous_version(services, env, ids)
        if _unrecorded(stored, ids, history):
            raise check_failed(
                f"{ids.secret_id}'s current version {ids.version_id} was written by promote, but "
                "no event records it (a run killed before its event?): whether it was a "
                f"rollback, and so which image {env.name} must not return to, is unknown",
                f"name the image: promote rollback --env {env.name} --to AMI (re-running the "
                "command that was killed records its missing event; promote audit shows it)",
            )
        previous = before.ami_for(env) if before is not None else None
        if previous:
            candidates.append((previous, PREVIOUS))
        candidates.extend((ami, EARLIER) for ami in history.earlier)
        candidates.extend((ami, EVIDENCE) for ami in _proven_in(services, env))
    passed: list[PassedOver] = []
    seen: set[str] = set()
    for ami, source in candidates:
        if ami in seen:
            continue
        seen.add(ami)
        if source not in (TO, RESUMED):
            if ami == current:
                continue
            if ami in history.rolled_from:
                passed.append(PassedOver(ami, source, f"{env.name} was rolled back from it"))
                continue
        image = services.images.image(ami)
        if image is None:
            passed.append(PassedOver(ami, source, "the image no longer exists"))
            continue
        found, gate = refusals(services, image, env, ids)
        if found:
            if source == TO:
                refuse(found, env)
            passed.append(PassedOver(ami, source, "; ".join(r.reason for r in found)))
            continue
        chosen = RollbackPlan(
            env.name,
            current,
            ami,
            source,
            reason,
            passed,
            gate.evidence_key if gate else None,
        )
        if ami != current:
            chosen.set_ids = set_ids_module.plan(services, ami, [env.name])
            chosen.set_ids.reason = reason
            chosen.set_ids.note = {
                "rollback": {"env": env.name, "from": current, "to": ami, "source": source}
            }
        return chosen
    if not passed:
        raise not_found(
            f"nothing to roll {env.name} back to: no earlier entry in its secret or ledger, and "
            f"no other image with SUCCESS evidence in {env.name}",
            f"name one: promote rollback --env {env.name} --to AMI",
        )
    raise check_failed(
        f"nothing to roll {env.name} back to: " + "; ".join(p.describe() for p in passed),
        f"name one admission allows: promote rollback --env {env.name} --to AMI",
    )


def move_secret(rollback: RollbackPlan, services: Services) -> SetIdsResult | None:
    """The one secret write (and its signed event), unless the secret already names the
    target."""
    if rollback.set_ids is None:
        return None
    return set_ids_module.execute(rollback.set_ids, services)
