"""The Services bundle: every port a domain function may use, built once per run by the CLI.

Commands hand domain code one `Services`; unit tests build it from in-memory fakes. Changes to
the ami-ids secret end the same way everywhere: `commit(change, event)` checks the event key can
sign, does the compare-and-swap write and, when something was written, records the event that
says so. `record(event)` is the one writer of events: signed by the event key and chained to
the subject's previous event (`domain/events.py`). `skipped` is how every reader says it did
not believe an object (once per object and reason).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from promote.domain import ami_ids, events
from promote.domain.ami_ids import Update
from promote.domain.ledger import Event
from promote.errors import PromoteError, not_found

if TYPE_CHECKING:
    from promote.clock import Clock
    from promote.config import Config, Environment, SecretLocation
    from promote.domain.ami_ids import AmiIds
    from promote.domain.ports import (
        Deployer,
        FleetControl,
        FleetReader,
        ImageCatalog,
        ImageUsage,
        LedgerStore,
        ResultsRepository,
        SecretReader,
        SecretWriter,
        StatementSigner,
        StatementVerifier,
    )


@dataclass(frozen=True)
class Committed:
    """A change that was written: the secret version it made and the event recording it.
    RECOVERED: the change was found done by an earlier run killed before its event, and this
    run recorded the missing event."""

    update: Update
    event_key: str
    recovered: bool = False

    @property
    def version_id(self) -> str | None:
        """The new AWSCURRENT version of the secret."""
        return self.update.version_id


@dataclass(frozen=True)
class Services:
    """What domain code reads and writes, injected (AWS adapters, or fakes in unit tests)."""

    config: Config
    clock: Clock
    images: ImageCatalog
    ledger: LedgerStore
    secrets: SecretReader
    writer: SecretWriter
    fleet: FleetReader
    fleet_control: FleetControl
    usage: ImageUsage
    actor: Callable[[], dict[str, Any]]
    tool_version: str
    evidence_signer: StatementSigner
    evidence_verifier: StatementVerifier
    event_signer: StatementSigner
    event_verifier: StatementVerifier
    user: str = "unknown"
    deployer: Deployer | None = None
    progress: Callable[[str], None] = lambda line: None
    warn: Callable[[str], None] = lambda line: None
    skips: dict[str, str] = field(default_factory=dict)  # key -> why it was not believed
    said: set[str] = field(default_factory=set)
    # The secret ports of an env's own ami-ids secret (in its account, through its role);
    # None: every env reads the top-level one (`secrets` / `writer`).
    secrets_at: Callable[[SecretLocation], tuple[SecretReader, SecretWriter]] | None = None
    results: ResultsRepository | None = None  # results_git_repo, when configured
    memo: dict[str, Any] = field(default_factory=dict)  # what one run read once (revocations)

    def record(self, event: Event, legacy: Callable[[], str | None] | None = None) -> str:
        """Sign EVENT, chain it to its subject's previous event and write it (once per change,
        when it has a change id); its key."""
        return events.record(self, event, legacy)

    def record_change(
        self, event: Event, legacy: Callable[[], str | None] | None = None
    ) -> events.Recorded:
        """`record`, saying also whether this run wrote it."""
        return events.record_change(self, event, legacy)

    def ready_to_record(self, subject: str) -> None:
        """Before a command's first write: the event key can sign (exit 4/5 otherwise) and the
        chain of SUBJECT can be read, so a refusal comes before anything is changed."""
        self.event_signer.ready()
        events.previous_of(self.ledger, subject)

    def skipped(self, key: str, reason: str, counted: bool = False) -> None:
        """Say (once) that the object KEY was not believed, or (COUNTED) believed only because
        allow_unsigned_evidence is set."""
        line = f"{key}: {reason}" if counted else f"skipped {key}: {reason}"
        if not counted:
            self.skips[key] = reason
        if line not in self.said:
            self.said.add(line)
            self.warn(line)

    def _place(self, where: Environment | SecretLocation | None) -> SecretLocation:
        """The secret an env reads (None: the top-level one)."""
        from promote.config import SecretLocation

        if where is None:
            return SecretLocation(self.config.secret_id, None, self.config.region)
        if isinstance(where, SecretLocation):
            return where
        return self.config.secret_of(where)

    def _ports(self, place: SecretLocation) -> tuple[SecretReader, SecretWriter]:
        default = self._place(None)
        if self.secrets_at is None or place == default:
            return self.secrets, self.writer
        return self.secrets_at(place)

    def _env_keys(self, place: SecretLocation) -> list[str]:
        return [e.secret_key for e in self.config.envs_in(place)]

    def update(
        self, change: ami_ids.Change, where: Environment | SecretLocation | None = None
    ) -> Update:
        """A compare-and-swap update of the ami-ids secret WHERE (an env's, default the
        top-level one)."""
        place = self._place(where)
        reader, writer = self._ports(place)
        return ami_ids.update(
            reader,
            writer,
            place.secret_id,
            change,
            env_keys=self._env_keys(place),
            progress=self.progress,
            pause=self.clock.sleep,
        )

    def commit(
        self,
        change: ami_ids.Change,
        event: Callable[[Update], Event],
        where: Environment | SecretLocation | None = None,
    ) -> Committed | None:
        """CHANGE the secret WHERE (compare-and-swap), then record EVENT(update) once, its change
        id the version written; None when nothing needed writing and nothing was missing.

        When nothing needed writing because an earlier run made exactly this change and was
        killed before its event (see `recover`), the missing event is recorded now.
        """
        self.event_signer.ready()
        update = self.update(change, where)
        if not update.changed:
            return self.recover(change, event, update.before, where)
        found = event(update)
        recorded = events.record_change(self, replace(found, change=update.version_id))
        return Committed(update, recorded.key)

    def recover(
        self,
        change: ami_ids.Change,
        event: Callable[[Update], Event],
        current: AmiIds,
        where: Environment | SecretLocation | None = None,
    ) -> Committed | None:
        """Record the event of CURRENT, the secret version WHERE, when promote wrote it for
        exactly CHANGE and no event records it; None otherwise.

        CURRENT is promote's when its version id is the request token promote derives from the
        version before it (AWSPREVIOUS) and its value; it is this CHANGE when CHANGE applied to
        that version gives CURRENT's document (pin times aside). The event is marked
        `recovered`; the change index makes it one however many re-runs do this at once.
        """
        place = self._place(where)
        reader, _ = self._ports(place)
        previous = reader.version(place.secret_id, "AWSPREVIOUS")
        if previous is None or not ami_ids.written_by_promote(previous, current):
            return None
        try:
            before = ami_ids.parse(place.secret_id, previous)
            document = change(before)
        except PromoteError:
            document = None  # this change could not have been made from that version
        recorded = None
        update = Update(current, current.document, current.version_id, attempts=0)
        if document is not None and ami_ids.same_change(document, current.document):
            update = Update(before, current.document, current.version_id, attempts=0)
            found = event(update)
            version = current.version_id

            def legacy() -> str | None:  # an event of the older form (no index) for it
                return events.find(
                    self, found.kind, found.subject, lambda d: d.get("secret_version_id") == version
                )

            recovered = replace(found, change=version, extra={**found.extra, "recovered": True})
            recorded = events.record_change(self, recovered, legacy)
        if recorded is None or not recorded.written:
            # CHANGE keeps what it saw: let it see CURRENT again, as the caller left it.
            with contextlib.suppress(PromoteError):
                change(current)
            return None
        return Committed(update, recorded.key, recovered=True)

    def read_ids(
        self, check: bool = True, where: Environment | SecretLocation | None = None
    ) -> AmiIds:
        """The current secret WHERE (an env's, default the top-level one); with CHECK, a
        malformed one is exit 2 before anything else."""
        place = self._place(where)
        reader, _ = self._ports(place)
        current = ami_ids.read(reader, place.secret_id)
        if check:
            ami_ids.check_document(current, self._env_keys(place))
        return current

    def history_of(self, place: SecretLocation) -> SecretReader:
        """The reader of the secret at PLACE (for its staged versions)."""
        return self._ports(place)[0]

    def expected_ami(self, env: Environment) -> str:
        """The AMI ENV's secret sets for it; not found (exit 4) when it sets none."""
        current = self.read_ids(check=False, where=env)
        ami = current.ami_for(env)
        if ami is None:
            raise not_found(
                f"secret {current.secret_id} has no '{env.secret_key}' for {env.name}",
                "pass --ami, or set it with `promote set-ids`",
            )
        return ami
