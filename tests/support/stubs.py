"""One stubbed botocore session for unit tests (chalice's StubbedSession): an Aws layer on the
built-in config whose clients answer only what a test queued with botocore's Stubber."""

from __future__ import annotations

from pathlib import Path

from botocore.stub import Stubber

from promote.adapters.aws.session import Aws
from promote.config import Config, Environment, Overrides, load


class StubbedAws:
    """An Aws layer whose clients are stubbed; every queued response must be used."""

    def __init__(self, config: Config | None = None) -> None:
        self.config = config or load(
            Overrides(endpoint_url="http://127.0.0.1:1", region="eu-west-2"), {}, Path("/")
        )
        self.aws = Aws(self.config, credentials=("x", "y"))
        self._stubs: dict[tuple[str, str | None], Stubber] = {}

    def stub(self, service: str, env: Environment | None = None) -> Stubber:
        """The (active) Stubber of SERVICE's client, in ENV's account when given."""
        key = (service, env.name if env else None)
        if key not in self._stubs:
            stubber = Stubber(self.aws.client(service, env))
            stubber.activate()
            self._stubs[key] = stubber
        return self._stubs[key]

    def verify(self) -> None:
        """Every queued response was used; deactivate."""
        for stubber in self._stubs.values():
            stubber.assert_no_pending_responses()
            stubber.deactivate()
