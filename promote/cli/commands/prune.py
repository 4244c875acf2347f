"""`promote prune`: delete old images safely; a dry run unless --apply."""

from __future__ import annotations

import click

from promote.cli.app import AppContext
from promote.cli.options import DURATION, pass_app
from promote.domain import prune as prune_module


@click.command()
@click.option(
    "--keep",
    type=click.IntRange(0),
    default=3,
    show_default=True,
    help="Always keep the N newest images of each stage.",
)
@click.option("--older-than", type=DURATION, help="Only delete images older than this (30d).")
@click.option("--apply", is_flag=True, help="Delete; without it, a dry run.")
@pass_app
def prune(app: AppContext, keep: int, older_than: float | None, apply: bool) -> None:
    """List old images with KEEP/DELETE and why; --apply deletes them and their snapshots."""
    services = app.services()
    plan = prune_module.plan(services, keep, older_than)
    if not apply:
        app.output.result("prune", plan)
        return
    app.output.result("prune", prune_module.execute(plan, services))
