"""`promote history`: evidence and events, newest first."""

from __future__ import annotations

import click

from promote.cli.app import AppContext
from promote.cli.options import ami_option, env_option, pass_app
from promote.domain import history as history_module


@click.command()
@ami_option("Only this AMI.")
@env_option("Only this environment.", required=False)
@pass_app
def history(app: AppContext, ami: str | None, env_name: str | None) -> None:
    """Evidence and events, newest first."""
    if env_name:
        app.config.environment(env_name)
    entries = history_module.history(app.services(), ami, env_name)
    app.output.result("history", history_module.History(entries))
