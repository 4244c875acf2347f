"""`promote hooks`: show, or with --apply put, the lifecycle hooks the drain agent needs."""

from __future__ import annotations

import click

from promote.cli.app import AppContext
from promote.cli.options import env_option, pass_app
from promote.domain import hooks as hooks_module


@click.command()
@env_option("The environment whose worker groups get the drain hook.", required=True)
@click.option(
    "--asg",
    "asgs",
    multiple=True,
    help="Only this group of the env (repeatable; default: the groups named like workers).",
)
@click.option("--apply", is_flag=True, help="Create or update the hooks (default: only show).")
@pass_app
def hooks(app: AppContext, env_name: str, asgs: tuple[str, ...], apply: bool) -> None:
    """The EC2_INSTANCE_TERMINATING hook on each worker group that holds an instance while
    the image's drain agent retires its worker."""
    services = app.services()
    planned = hooks_module.plan(services, env_name, asgs)
    if apply:
        planned = hooks_module.execute(services, planned)
    app.output.result("hooks", planned)
