"""`promote dispatch`: trigger a GitHub Actions workflow_dispatch run."""

from __future__ import annotations

import click

from promote.cli.app import AppContext
from promote.cli.options import key_values, pass_app
from promote.domain import releases
from promote.errors import usage_error


@click.command()
@click.option("--workflow", required=True, help="Workflow file name, e.g. ami-test-apply.yml.")
@click.option("--ref", default="main", show_default=True, help="Branch or tag to run on.")
@click.option(
    "--input",
    "inputs",
    multiple=True,
    metavar="KEY=VALUE",
    help="A workflow_dispatch input; repeatable.",
)
@click.option("--repo", help="owner/name on GitHub; default: github_repo from the config.")
@pass_app
def dispatch(
    app: AppContext, workflow: str, ref: str, inputs: tuple[str, ...], repo: str | None
) -> None:
    """Trigger a GitHub Actions workflow_dispatch run (needs GITHUB_TOKEN or GH_TOKEN)."""
    values = key_values(inputs, "--input", "ami=ami-0123456789abcdef0")
    hub = app.github(repo)
    if hub is None:
        raise usage_error("dispatch needs a GitHub token", "set GITHUB_TOKEN or GH_TOKEN")
    app.output.result("dispatch", releases.dispatch(hub, workflow, ref, values))
