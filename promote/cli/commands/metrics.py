"""`promote metrics`: the estate as Prometheus text (stdout, a textfile, or a Pushgateway)."""

from __future__ import annotations

import os
from pathlib import Path

import click

from promote.cli.app import AppContext
from promote.cli.options import concourse_options, env_option, pass_app
from promote.errors import usage_error


@click.command()
@env_option("Only this environment.", required=False)
@concourse_options("Add workers by state and team")
@click.option(
    "--textfile",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write to this file (atomically: a node-exporter textfile collector's *.prom) "
    "instead of stdout.",
)
@click.option("--pushgateway", help="Push to this Pushgateway (its base URL) instead of stdout.")
@click.option("--job", default="promote", show_default=True, help="The Pushgateway job name.")
@pass_app
def metrics(
    app: AppContext,
    env_name: str | None,
    concourse_url: str | None,
    insecure_http: bool,
    textfile: Path | None,
    pushgateway: str | None,
    job: str,
) -> None:
    """Instances by AMI, AMI age, drift, pins, verified evidence age, rollouts, workers."""
    from promote.adapters import metrics as exposition
    from promote.domain import metrics as metrics_module

    if textfile and pushgateway:
        raise usage_error(
            "--textfile and --pushgateway are alternatives", "pass one of them, or neither"
        )
    if textfile and not textfile.parent.is_dir():
        raise usage_error(
            f"--textfile {textfile}: directory {textfile.parent} does not exist",
            "point it at the node-exporter's --collector.textfile.directory",
        )
    if env_name:
        app.config.environment(env_name)
    api = app.concourse(concourse_url, insecure_http) if concourse_url else None
    report = metrics_module.metrics(app.services(), env_name, api)
    if pushgateway:
        exposition.push(report, pushgateway, job)
        app.output.progress(f"pushed {len(report.families)} metric families to {pushgateway}")
        return
    text = exposition.exposition(report)
    if textfile:
        partial = textfile.with_name(f".{textfile.name}.{os.getpid()}.tmp")
        partial.write_text(text)
        partial.replace(textfile)  # the collector never reads half a file
        app.output.progress(f"wrote {textfile}")
        return
    app.output.stdout.write(text)
    app.output.stdout.flush()
