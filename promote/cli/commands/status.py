"""`promote status`: what each env is set to, what it runs, its pin and its latest evidence."""

from __future__ import annotations

import click

from promote.cli.app import AppContext
from promote.cli.options import env_option, pass_app
from promote.domain import status as status_module


@click.command()
@env_option("Only this environment.", required=False)
@pass_app
def status(app: AppContext, env_name: str | None) -> None:
    """What each env is set to, what it runs, its pin and its latest evidence."""
    report = status_module.status(app.services(), env_name)
    for message in report.warnings:
        app.output.warn(message)
    app.output.result("status", report)
