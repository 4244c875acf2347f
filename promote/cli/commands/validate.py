"""`promote validate`: does ENV run the expected AMI on every instance? Records the evidence."""

from __future__ import annotations

import click

from promote.cli.app import AppContext
from promote.cli.options import ami_option, env_option, interval_option, pass_app, timeout_option
from promote.domain import fleet
from promote.errors import ExitCode


@click.command()
@env_option("Environment to check.")
@ami_option("Expected AMI; default: the env's entry in the ami-ids secret.")
@timeout_option("15m", "How long to wait for the env to converge before FAILED.")
@interval_option("15s")
@pass_app
def validate(
    app: AppContext, env_name: str, ami: str | None, timeout: float, interval: float
) -> None:
    """Compare the AMI ids of the running instances of ENV with the expected AMI."""
    if interval <= 0:
        raise click.BadParameter("must be more than 0", param_hint="--interval")
    app.config.environment(env_name)
    result = fleet.check(app.services(), env_name, ami, timeout, interval)
    app.output.result("validate", result)
    if not result.succeeded:
        click.get_current_context().exit(ExitCode.CHECK_FAILED)
