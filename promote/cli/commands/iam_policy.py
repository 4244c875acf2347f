"""`promote iam-policy`: the least-privilege IAM policy for some commands."""

from __future__ import annotations

import click

from promote.cli.app import AppContext
from promote.cli.options import pass_app
from promote.domain import permissions


@click.command("iam-policy")
@click.argument("commands", nargs=-1)
@pass_app
def iam_policy(app: AppContext, commands: tuple[str, ...]) -> None:
    """The least-privilege IAM policy for COMMANDS (every command when none are named)."""
    document = permissions.policy(app.config, list(commands))
    app.output.result("iam-policy", permissions.PolicyReport(list(commands), document))
