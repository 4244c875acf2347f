"""AppContext: what every command needs (config, AWS, clock, output), built on first use.

Tests build it with their own clock, streams and environment; nothing here talks to AWS until a
command asks for a client.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from promote import config as config_module
from promote.clock import Clock, SystemClock
from promote.config import Config, Environment, Overrides
from promote.errors import not_found
from promote.output import Output

if TYPE_CHECKING:
    from promote.aws import Aws, AwsFleet, AwsFleetControl, AwsImages, AwsSecrets, S3Ledger
    from promote.ids import AmiIds


class AppContext:
    """Config, clients, clock and output for one invocation."""

    def __init__(
        self,
        overrides: Overrides,
        environ: Mapping[str, str],
        cwd: Path,
        output: Output,
        clock: Clock | None = None,
    ) -> None:
        self.overrides = overrides
        self.environ = environ
        self.cwd = cwd
        self.output = output
        self.clock: Clock = clock or SystemClock()

    @cached_property
    def config(self) -> Config:
        """The resolved configuration (exit 2 when it is wrong)."""
        return config_module.load(self.overrides, self.environ, self.cwd)

    @cached_property
    def aws(self) -> Aws:
        """The AWS layer (imports boto3 on first use)."""
        from promote.aws import Aws

        aws = Aws(self.config)
        hooks = self.environ.get("PROMOTE_TEST_HOOKS")
        if hooks:
            # A test seam, not a feature: "module:function" is called with the Aws layer so a
            # test can register botocore event handlers (fault injection, crash points) in a
            # CLI run, also in a subprocess. Nothing in promote sets it.
            import importlib

            module, _, function = hooks.partition(":")
            getattr(importlib.import_module(module), function)(aws)
        return aws

    @cached_property
    def fleet(self) -> AwsFleet:
        """Reads ASGs and instances."""
        from promote.aws import AwsFleet

        return AwsFleet(self.aws)

    @cached_property
    def fleet_control(self) -> AwsFleetControl:
        """Changes ASGs and launch templates."""
        from promote.aws import AwsFleetControl

        return AwsFleetControl(self.aws)

    @cached_property
    def images(self) -> AwsImages:
        """Reads images."""
        from promote.aws import AwsImages

        return AwsImages(self.aws)

    @cached_property
    def secrets(self) -> AwsSecrets:
        """Reads the ami-ids secret."""
        from promote.aws import AwsSecrets

        return AwsSecrets(self.aws)

    @cached_property
    def ledger(self) -> S3Ledger:
        """The evidence bucket."""
        from promote.aws import S3Ledger

        return S3Ledger(self.aws, self.config.evidence_bucket)

    def ami_ids(self) -> AmiIds:
        """The current version of the ami-ids secret."""
        from promote import ids

        return ids.read(self.secrets, self.config.secret_id)

    def expected_ami(self, env: Environment) -> str:
        """The AMI the secret sets for ENV; not found (exit 4) when it sets none."""
        ami = self.ami_ids().ami_for(env)
        if ami is None:
            raise not_found(
                f"secret {self.config.secret_id} has no '{env.secret_key}' for {env.name}",
                "pass --ami, or set it with `promote set-ids`",
            )
        return ami

    def actor(self) -> dict[str, Any]:
        """Who is running this command, for the record."""
        from promote.actor import describe_actor

        return describe_actor(self.environ, self.aws.caller_identity())
