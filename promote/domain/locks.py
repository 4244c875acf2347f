"""The rollout lock: one lease object per ASG in the evidence bucket, changed only by CAS.

`locks/rollout/<asg>.json` holds who rolls the group (run id, user), until when, the capacity
it had before (desired, min, max), how many instances the run replaces (its surge) and which
scaling processes it suspended. It is created with `If-None-Match: *` and every later write
(takeover, progress, release) is a compare-and-swap on the ETag read (`If-Match`): two
rollouts can never both hold it, and one that loses a race changes no capacity and never
touches the winner's lease. A released lease stays as an object in `released` state (the
bucket keeps versions and denies deletes), and the next rollout takes it over by CAS.

A held lease past its expiry (its rollout crashed, or was killed) is taken over by CAS too,
as is any held lease with `--resume`. A takeover restores the capacity the lease recorded,
after refusing a recorded desired capacity of 0, one below the group's MinSize, or one below
today's desired minus the recorded surge: a lease written by hand cannot shrink the group.
The ASG tag `promote:rollout` only mirrors the lease for people; nothing reads it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from promote.domain.results import to_data
from promote.errors import PromoteError, check_failed, conflict

if TYPE_CHECKING:
    from promote.clock import Clock
    from promote.domain.ports import GroupState, LedgerStore

LOCK_PREFIX = "locks/rollout/"
SCHEMA = "promote/rollout-lease/v1"
HELD, RELEASED = "held", "released"


def lock_key(group: str) -> str:
    """Where GROUP's lease lives."""
    return f"{LOCK_PREFIX}{group}.json"


@dataclass(frozen=True)
class Lease:
    """Who holds a group's rollout lock, and what the group looked like before."""

    group: str
    env: str
    run: str
    by: str
    ami: str
    state: str
    started_at: str
    expires_at: str
    desired: int
    min_size: int
    max_size: int
    surge: int
    suspended: tuple[str, ...] = ()
    schema: str = SCHEMA

    @classmethod
    def parse(cls, body: bytes) -> Lease | None:
        """The lease in BODY; None for anything that is not one."""
        try:
            raw: dict[str, Any] = json.loads(body)
            return cls(
                group=str(raw["group"]),
                env=str(raw["env"]),
                run=str(raw["run"]),
                by=str(raw["by"]),
                ami=str(raw["ami"]),
                state=str(raw["state"]),
                started_at=str(raw["started_at"]),
                expires_at=str(raw["expires_at"]),
                desired=int(raw["desired"]),
                min_size=int(raw["min_size"]),
                max_size=int(raw["max_size"]),
                surge=int(raw["surge"]),
                suspended=tuple(str(p) for p in raw.get("suspended") or ()),
            )
        except (ValueError, KeyError, TypeError):
            return None

    def body(self) -> bytes:
        """The stored form."""
        return json.dumps(to_data(self), indent=2, sort_keys=True).encode()

    def expired(self, now: datetime) -> bool:
        """True once the holder's deadline has passed."""
        try:
            return datetime.fromisoformat(self.expires_at) <= now
        except ValueError:
            return True

    def summary(self) -> dict[str, Any]:
        """What the ASG tag shows people."""
        return {
            "run": self.run,
            "by": self.by,
            "ami": self.ami,
            "started_at": self.started_at,
            "expires_at": self.expires_at,
            "lease": lock_key(self.group),
        }


@dataclass
class Held:
    """A lease this run holds, and the ETag its next CAS write must match."""

    lease: Lease
    etag: str
    resumed: Lease | None = None  # the crashed run's lease this one took over


@dataclass
class RolloutLock:
    """Acquire, update and release a group's lease in the ledger store."""

    store: LedgerStore
    clock: Clock
    run: str
    by: str
    resume: bool = False
    # validate --wake holds groups a schedule emptied: their recorded desired 0 is right.
    allow_zero: bool = False

    def acquire(
        self, env: str, group: str, ami: str, state: GroupState, surge: int, deadline: float
    ) -> Held:
        """Take GROUP's lease for this run (exit 6 when another run holds it)."""
        now = self.clock.now()
        lease = Lease(
            group=group,
            env=env,
            run=self.run,
            by=self.by,
            ami=ami,
            state=HELD,
            started_at=now.replace(microsecond=0).isoformat(),
            expires_at=(now + timedelta(seconds=max(deadline, 60)))
            .replace(microsecond=0)
            .isoformat(),
            desired=state.desired,
            min_size=state.min_size,
            max_size=state.max_size,
            surge=surge,
        )
        key = lock_key(group)
        stored = self.store.read(key)
        if stored is None:
            created = self.store.create(key, lease.body())
            if created is None:
                raise running(group, self._current(key))
            return Held(lease, created)
        body, etag = stored
        existing = Lease.parse(body)
        if existing is None:
            raise check_failed(
                f"s3 object {key} is not a rollout lease",
                "look at it (and at who wrote it) before rolling this group",
            )
        resumed: Lease | None = None
        if existing.state == HELD:
            if not self.resume and not existing.expired(now):
                raise running(group, existing)
            check_resumable(existing, state, self.allow_zero)
            lease = replace(
                lease,
                desired=existing.desired,
                min_size=existing.min_size,
                max_size=existing.max_size,
                surge=max(existing.surge, surge),
                suspended=existing.suspended,
            )
            resumed = existing
        taken = self.store.replace(key, lease.body(), etag)
        if taken is None:
            raise running(group, self._current(key))
        return Held(lease, taken, resumed)

    def update(self, held: Held, **changes: Any) -> None:
        """Record CHANGES in the lease (CAS); exit 6 if another run took it over."""
        lease = replace(held.lease, **changes)
        key = lock_key(lease.group)
        etag = self.store.replace(key, lease.body(), held.etag)
        if etag is None:
            raise running(lease.group, self._current(key))
        held.lease, held.etag = lease, etag

    def release(self, held: Held) -> bool:
        """Mark the lease released (CAS); False (and left alone) when another run took it."""
        lease = replace(held.lease, state=RELEASED)
        return self.store.replace(lock_key(lease.group), lease.body(), held.etag) is not None

    def _current(self, key: str) -> Lease | None:
        stored = self.store.read(key)
        return Lease.parse(stored[0]) if stored else None


def check_resumable(lease: Lease, state: GroupState, allow_zero: bool = False) -> None:
    """Refuse (exit 3) a recorded capacity that would shrink the group (a recorded 0 only
    when ALLOW_ZERO: a woken group a schedule empties)."""
    problem = None
    if lease.desired <= 0 and not (allow_zero and lease.desired == 0):
        problem = "a desired capacity of 0"
    elif lease.desired < state.min_size:
        problem = f"desired {lease.desired}, below the group's MinSize {state.min_size}"
    elif lease.desired < state.desired - lease.surge:
        problem = (
            f"desired {lease.desired}, below today's desired {state.desired} minus the "
            f"surge of {lease.surge}"
        )
    if problem:
        raise check_failed(
            f"{lease.group}: the rollout lease {lock_key(lease.group)} records {problem}; "
            "resuming would shrink the group",
            "look at who wrote the lease; set the group's capacity by hand, then re-run",
        )


def running(group: str, lease: Lease | None) -> PromoteError:
    """Exit 6: another rollout holds GROUP's lease."""
    who = (
        f" (started {lease.started_at} by {lease.by}, to {lease.ami}, run {lease.run})"
        if lease
        else ""
    )
    return conflict(
        f"another rollout of {group} is running{who}",
        "wait for it; if it crashed, re-run with --resume",
    )
