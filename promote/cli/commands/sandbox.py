"""`promote sandbox up | seed | down`: the local AWS (a moto server) with a seeded estate."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import click

from promote import config as config_module
from promote.cli.app import AppContext
from promote.cli.options import pass_app
from promote.config import Config
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
@click.option(
    "--estate",
    "kind",
    type=click.Choice(["default", "realistic"]),
    default="default",
    show_default=True,
    help="realistic: envs in two accounts, a SecretBinary secret per account through roles, "
    "the night schedule and CPU alarms on the worker groups; writes the promote.toml it needs.",
)
@click.option(
    "--write-config",
    "config_out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("promote.toml"),
    show_default=True,
    help="Where --estate realistic writes its promote.toml (kept when it already says the same).",
)
@pass_app
def sandbox_seed(app: AppContext, instances: int, kind: str, config_out: Path) -> None:
    """Create whatever is missing of the estate in the local AWS (safe to re-run)."""
    config = app.config
    if kind == "realistic":
        config = _realistic_config(app, config_out)
    _require_local(config)
    from promote.sandbox import estate  # boto3 loads only when seeding

    aws = app.aws if config is app.config else app._aws(config)
    report = estate.seed(aws, config, app.clock, instances, realistic=kind == "realistic")
    app.output.result("sandbox seed", report)


def _require_local(config: Config) -> None:
    endpoint = config.endpoint_url or ""
    if not endpoint.startswith(("http://127.", "http://localhost", "http://[::1]")):
        # Seeding writes a whole estate: never anywhere but a local endpoint.
        raise usage_error(
            "sandbox seed only writes to a local AWS endpoint, and none is set",
            'start one with: eval "$(promote sandbox up)"',
        )


def _realistic_config(app: AppContext, path: Path) -> Config:
    """Write the realistic estate's promote.toml at PATH (unless it says so already; never over
    a different file) and load it."""
    from promote.sandbox.estate import REALISTIC_CONFIG

    path = path if path.is_absolute() else app.cwd / path
    if path.exists() and path.read_text() != REALISTIC_CONFIG:
        raise usage_error(
            f"{path} exists and is not the realistic estate's configuration; nothing was written",
            "move it away, or choose another file with --write-config PATH",
        )
    _require_local(app.config)
    if not path.exists():
        path.write_text(REALISTIC_CONFIG)
        app.output.progress(
            f"wrote {path} (export PROMOTE_CONFIG={path}, or run from its directory)"
        )
    overrides = replace(app.overrides, config_path=str(path))
    return config_module.load(overrides, app.environ, app.cwd)


@sandbox.command("down")
@pass_app
def sandbox_down(app: AppContext) -> None:
    """Stop the local AWS this directory's sandbox started (and nothing else)."""
    stopped = server.down(app.environ, app.cwd)
    message = (
        f"stopped the local AWS at {stopped.endpoint} (pid {stopped.pid})"
        if stopped
        else "no local AWS was running"
    )
    app.output.result("sandbox down", server.SandboxDown(stopped, message))
