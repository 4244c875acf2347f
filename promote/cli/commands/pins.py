"""`promote pin` and `promote unpin`: hold an env on an AMI; let it move again."""

from __future__ import annotations

import click

from promote.cli.app import AppContext
from promote.cli.options import ami_option, env_option, pass_app, reason_option
from promote.domain import pins
from promote.errors import usage_error


@click.command()
@env_option("Environment to pin.")
@ami_option("AMI to pin it to; default: what the secret sets for it now.")
@reason_option()
@click.option("--expires", help="Date the pin should be reviewed (it still holds after).")
@click.option("--owner", help="Who owns the pin; default: git user.email, then $USER.")
@pass_app
def pin(
    app: AppContext,
    env_name: str,
    ami: str | None,
    reason: str,
    expires: str | None,
    owner: str | None,
) -> None:
    """Hold ENV on an AMI until a release manager unpins it (moving a pin is recorded)."""
    pins.require_reason(reason)
    app.config.environment(env_name)
    who = owner.strip() if owner and owner.strip() else None
    who = who or pins.default_owner(app.environ, app.git_email())
    result = pins.pin(app.services(), env_name, ami, reason, expires, who)
    app.output.result("pin", result)


@click.command()
@env_option("Environment to unpin.")
@reason_option()
@click.option("--apply", is_flag=True, help="Remove the pin and move the env (one write).")
@click.option(
    "--repin", is_flag=True, help="Pin ENV again on the AMI it moves to, in the same write."
)
@click.option("--owner", help="Who owns the new pin (--repin); default: git user.email, $USER.")
@pass_app
def unpin(
    app: AppContext, env_name: str, reason: str, apply: bool, repin: bool, owner: str | None
) -> None:
    """Show what ENV would move to without its pin; --apply unpins and moves it."""
    pins.require_reason(reason)
    repin_owner = None
    if repin:
        who = owner.strip() if owner and owner.strip() else None
        repin_owner = who or pins.default_owner(app.environ, app.git_email())
    elif owner:
        raise usage_error("--owner names the owner of the new pin", "add --repin")
    services = app.services()
    plan = pins.plan_unpin(services, env_name, reason, repin_owner)
    if not apply:
        app.output.result("unpin", plan)
        return
    app.output.result("unpin", pins.execute_unpin(plan, services))
