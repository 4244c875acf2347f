"""`promote publish`: copy an untested image with SUCCESS evidence to a tested image."""

from __future__ import annotations

import click

from promote.cli.app import AppContext
from promote.cli.options import (
    ami_option,
    dry_run_option,
    interval_option,
    pass_app,
    timeout_option,
)
from promote.domain import publish as publish_module


@click.command()
@ami_option("Untested AMI with SUCCESS evidence in test_env.", required=True)
@dry_run_option()
@timeout_option("30m", "How long to wait for the copy to be available.")
@interval_option("15s", "Time between polls while waiting.")
@pass_app
def publish(app: AppContext, ami: str, dry_run: bool, timeout: float, interval: float) -> None:
    """Copy AMI to a tested image (tags, launch permissions); print the tested image id."""
    services = app.services()
    plan = publish_module.plan(services, ami, timeout)
    if dry_run:
        app.output.result("publish", plan)
        return
    result = publish_module.execute(plan, services, max(interval, 0.1))
    app.output.result("publish", result)
