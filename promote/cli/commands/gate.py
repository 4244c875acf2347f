"""`promote gate`: exit 0 only for an AMI with SUCCESS evidence in ENV that is not revoked."""

from __future__ import annotations

import click

from promote.cli.app import AppContext
from promote.cli.options import AMI, DURATION, env_option, interval_option, pass_app
from promote.domain import gate as gate_module
from promote.errors import ExitCode


@click.command()
@click.option("--ami", type=AMI, required=True, help="AMI to check.")
@env_option("Environment; default: test_env from the config.", required=False)
@click.option(
    "--wait",
    type=DURATION,
    default="0",
    show_default=True,
    help="Keep asking until the gate opens or this much time has passed (a pipeline's gate).",
)
@interval_option("30s")
@click.option(
    "--latest",
    is_flag=True,
    help="Open only when the newest verified record is a SUCCESS (not any SUCCESS).",
)
@pass_app
def gate(
    app: AppContext, ami: str, env_name: str | None, wait: float, interval: float, latest: bool
) -> None:
    """Exit 0 only when AMI has SUCCESS evidence in ENV and is not revoked."""
    env = app.config.environment(env_name or app.config.test_env)
    services = app.services()
    result = gate_module.wait_open(
        lambda: gate_module.evaluate(services, ami, env.name, latest),
        app.clock,
        wait,
        interval,
        app.output.progress,
    )
    app.output.result("gate", result)
    if not result.open:
        click.get_current_context().exit(ExitCode.CHECK_FAILED)
