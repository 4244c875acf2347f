"""`promote sandbox up | seed | down`: the local AWS (a moto server) with a seeded estate."""

from __future__ import annotations

import click

from promote.cli.app import AppContext
from promote.cli.options import pass_app
from promote.errors import usage_error
from promote.sandbox import server


@click.group()
def sandbox() -> None:
    """The local AWS (a moto server) with a seeded Concourse estate."""


@sandbox.command("up")
@click.option(
    "--seed/--no-seed", default=True, show_default=True, help="Seed the estate after starting."
)
@pass_app
def sandbox_up(app: AppContext, seed: bool) -> None:
    """Start the local AWS on a free loopback port; print the export lines to eval."""
    app.output.result("sandbox up", app.start_sandbox(seed))


@sandbox.command("seed")
@click.option(
    "--instances",
    default=2,
    show_default=True,
    type=click.IntRange(0, 500),
    help="Instances per auto scaling group.",
)
@pass_app
def sandbox_seed(app: AppContext, instances: int) -> None:
    """Create whatever is missing of the estate in the local AWS (safe to re-run)."""
    endpoint = app.config.endpoint_url or ""
    if not endpoint.startswith(("http://127.", "http://localhost", "http://[::1]")):
        # Seeding writes a whole estate: never anywhere but a local endpoint.
        raise usage_error(
            "sandbox seed only writes to a local AWS endpoint, and none is set",
            'start one with: eval "$(promote sandbox up)"',
        )
    from promote.sandbox import estate  # boto3 loads only when seeding

    report = estate.seed(app.aws, app.config, app.clock, instances)
    app.output.result("sandbox seed", report)


@sandbox.command("down")
@pass_app
def sandbox_down(app: AppContext) -> None:
    """Stop the local AWS this machine started (and nothing else)."""
    stopped = server.down(app.environ)
    message = (
        f"stopped the local AWS at {stopped.endpoint} (pid {stopped.pid})"
        if stopped
        else "no local AWS was running"
    )
    app.output.result("sandbox down", server.SandboxDown(stopped, message))
