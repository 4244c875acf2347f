"""`promote revoke`: an image is never promoted again; running instances are untouched."""

from __future__ import annotations

import click

from promote.cli.app import AppContext
from promote.cli.options import ami_option, pass_app, reason_option
from promote.domain import revoke as revoke_module


@click.command()
@ami_option("AMI to revoke.", required=True)
@reason_option()
@pass_app
def revoke(app: AppContext, ami: str, reason: str) -> None:
    """Mark AMI revoked: never promoted again; running instances untouched."""
    app.output.result("revoke", revoke_module.revoke(app.services(), ami, reason))
