"""The Services bundle: every port a domain function may use, built once per run by the CLI.

Commands hand domain code one `Services`; unit tests build it from in-memory fakes. Changes to
the ami-ids secret end the same way everywhere: `commit(change, event)` does the
compare-and-swap write and, when something was written, records the event that says so.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from promote.domain import ami_ids
from promote.domain.ledger import Event, record_event
from promote.errors import not_found

if TYPE_CHECKING:
    from promote.clock import Clock
    from promote.config import Config, Environment
    from promote.domain.ami_ids import AmiIds, Update
    from promote.domain.ports import (
        Deployer,
        FleetControl,
        FleetReader,
        ImageCatalog,
        ImageUsage,
        LedgerStore,
        SecretReader,
        SecretWriter,
    )


@dataclass(frozen=True)
class Committed:
    """A change that was written: the secret version it made and the event recording it."""

    update: Update
    event_key: str

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
    user: str = "unknown"
    deployer: Deployer | None = None
    progress: Callable[[str], None] = lambda line: None
    warn: Callable[[str], None] = lambda line: None

    def record(self, event: Event) -> str:
        """Write EVENT to the ledger; its key."""
        return record_event(self.ledger, event, self.clock, self.actor(), self.tool_version)

    def _env_keys(self) -> list[str]:
        return [e.secret_key for e in self.config.envs.values()]

    def update(self, change: ami_ids.Change) -> Update:
        """A compare-and-swap update of the ami-ids secret."""
        return ami_ids.update(
            self.secrets,
            self.writer,
            self.config.secret_id,
            change,
            env_keys=self._env_keys(),
            progress=self.progress,
            pause=self.clock.sleep,
        )

    def commit(self, change: ami_ids.Change, event: Callable[[Update], Event]) -> Committed | None:
        """CHANGE the secret (compare-and-swap), then record EVENT(update); None when nothing
        needed writing."""
        update = self.update(change)
        if not update.changed:
            return None
        return Committed(update, self.record(event(update)))

    def read_ids(self, check: bool = True) -> AmiIds:
        """The current secret; with CHECK, a malformed one is exit 2 before anything else."""
        current = ami_ids.read(self.secrets, self.config.secret_id)
        if check:
            ami_ids.check_document(current, self._env_keys())
        return current

    def expected_ami(self, env: Environment) -> str:
        """The AMI the secret sets for ENV; not found (exit 4) when it sets none."""
        ami = self.read_ids(check=False).ami_for(env)
        if ami is None:
            raise not_found(
                f"secret {self.config.secret_id} has no '{env.secret_key}' for {env.name}",
                "pass --ami, or set it with `promote set-ids`",
            )
        return ami
