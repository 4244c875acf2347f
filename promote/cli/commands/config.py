"""`promote config`: the resolved configuration and where each value came from."""

from __future__ import annotations

import click

from promote.cli.app import AppContext
from promote.cli.options import pass_app
from promote.config import ConfigReport


@click.command("config")
@pass_app
def show_config(app: AppContext) -> None:
    """The resolved configuration and where each value came from."""
    cfg = app.config
    report = ConfigReport(str(cfg.path) if cfg.path else None, cfg, dict(cfg.sources))
    app.output.result("config", report)
