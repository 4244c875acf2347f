"""`promote status`: what each env is set to, what it runs, its pin and its latest evidence."""

from __future__ import annotations

import click

from promote.cli.app import AppContext
from promote.cli.options import env_option, pass_app
from promote.domain import status as status_module
from promote.errors import ExitCode


@click.command()
@env_option("Only this environment.", required=False)
@click.option(
    "--check",
    is_flag=True,
    help="Exit 3 (one line per problem on stderr) when an env runs something other than its "
    "secret, an ASG is missing, an env runs a revoked (or, accepts = tested, an untested) image, "
    "or a pin vanished without an unpin event. For monitoring and pipelines.",
)
@pass_app
def status(app: AppContext, env_name: str | None, check: bool) -> None:
    """What each env is set to, what it runs, its pin and its latest evidence."""
    report = status_module.status(app.services(), env_name)
    for message in report.warnings:
        app.output.warn(message)
    app.output.result("status", report)
    if check and report.problems:
        for problem in report.problems:
            click.echo(f"problem: {problem}", err=True)
        click.get_current_context().exit(ExitCode.CHECK_FAILED)
