"""`promote revoke`: an image is never promoted again; running instances are untouched."""

from __future__ import annotations

import click

from promote.cli.app import AppContext
from promote.cli.options import ami_option, pass_app, reason_option
from promote.domain import revoke as revoke_module
from promote.errors import usage_error


@click.command()
@ami_option("AMI to revoke.", required=True)
@reason_option()
@click.option(
    "--disable",
    is_flag=True,
    help="Also disable the image(s) (EC2 DisableImage: no new launches); refused while an "
    "env's ASG with desired > 0 launches one, unless --force.",
)
@click.option("--force", is_flag=True, help="With --disable: disable even if a group launches it.")
@pass_app
def revoke(app: AppContext, ami: str, reason: str, disable: bool, force: bool) -> None:
    """Mark AMI and its tested copies revoked: never promoted again; running instances
    untouched. A re-run restores a removed revoked tag."""
    if force and not disable:
        raise usage_error("--force goes with --disable", "add --disable")
    result = revoke_module.revoke(app.services(), ami, reason, disable, force)
    for launcher in result.launched_by:
        app.output.warn(f"disabled although {launcher} (--force)")
    app.output.result("revoke", result)
