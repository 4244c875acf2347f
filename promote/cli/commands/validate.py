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
@click.option(
    "--wake",
    is_flag=True,
    help="Raise groups a schedule scaled to zero for the check, then put them back.",
)
@click.option("--resume", is_flag=True, help="With --wake: take over a crashed wake's lease.")
@pass_app
def validate(
    app: AppContext,
    env_name: str,
    ami: str | None,
    timeout: float,
    interval: float,
    wake: bool,
    resume: bool,
) -> None:
    """Compare the AMI ids of the running instances of ENV with the expected AMI."""
    if interval <= 0:
        raise click.BadParameter("must be more than 0", param_hint="--interval")
    app.config.environment(env_name)
    services = app.services()
    result = fleet.check(services, env_name, ami, timeout, interval, wake=wake, resume=resume)
    app.output.result("validate", result)
    if not result.succeeded:
        click.get_current_context().exit(ExitCode.CHECK_FAILED)
