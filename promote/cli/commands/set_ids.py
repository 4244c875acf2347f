"""`promote set-ids`: point envs at an AMI in the ami-ids secret (never a pinned env)."""

from __future__ import annotations

import click

from promote.cli.app import AppContext
from promote.cli.options import ami_option, dry_run_option, env_option, pass_app
from promote.domain import set_ids as set_ids_module


@click.command("set-ids")
@ami_option("AMI to set.", required=True)
@env_option("Environment (repeat).", multiple=True)
@dry_run_option("Show the change; write nothing.")
@pass_app
def set_ids(app: AppContext, ami: str, env_names: tuple[str, ...], dry_run: bool) -> None:
    """Set ENV's entry in the ami-ids secret to AMI (never a pinned env, never a revoked AMI)."""
    for name in env_names:
        app.config.environment(name)
    services = app.services()
    plan = set_ids_module.plan(services, ami, env_names)
    if dry_run:
        app.output.result("set-ids", plan)
        return
    app.output.result("set-ids", set_ids_module.execute(plan, services))
