"""`promote iam-policy`: the least-privilege IAM policy for some commands (or a role's), scoped
to an env's groups; or (with `--bucket-policy`) the bucket and key policies that hold whoever
holds what."""

from __future__ import annotations

import click

from promote.cli.app import AppContext
from promote.cli.options import env_option, pass_app
from promote.domain import permissions

_ROLE = "arn:aws:iam::{account}:role/concourse-ami-{name}"


@click.command("iam-policy")
@click.argument("commands", nargs=-1)
@click.option(
    "--bucket-policy",
    is_flag=True,
    help="Print the evidence bucket's policy and the signing keys' policies instead.",
)
@click.option("--validator", help="The principal that signs evidence (role ARN).")
@click.option(
    "--writer",
    "writers",
    multiple=True,
    help="A principal that records events (promoter, release manager); repeatable.",
)
@click.option("--account", default="111111111111", show_default=True, help="For the defaults.")
@env_option("Scope the Auto Scaling and EC2 statements to this env's groups.", required=False)
@click.option(
    "--role",
    "role",
    metavar="validator|promoter|release-manager|ARN",
    help="The policy of one of the three roles (its commands, and only what it may do); or, "
    "with an ARN, what that env role_arn or secret_role_arn needs in its own account instead.",
)
@click.option(
    "--drain-agent",
    is_flag=True,
    help="Print what the worker instance role needs for the image's drain agent instead.",
)
@pass_app
def iam_policy(
    app: AppContext,
    commands: tuple[str, ...],
    bucket_policy: bool,
    validator: str | None,
    writers: tuple[str, ...],
    account: str,
    env_name: str | None,
    role: str | None,
    drain_agent: bool,
) -> None:
    """The least-privilege IAM policy for COMMANDS (every command, or every command of --role,
    when none are named)."""
    env = app.config.environment(env_name) if env_name else None
    if bucket_policy:
        who = permissions.Principals(
            validator or _ROLE.format(account=account, name="validator"),
            writers
            or (
                _ROLE.format(account=account, name="promoter"),
                _ROLE.format(account=account, name="release-manager"),
            ),
        )
        document = permissions.trust_policies(app.config, who)
    elif drain_agent:
        document = permissions.drain_agent_policy(app.config)
    elif role and role.startswith("arn:"):
        document = permissions.role_policy(app.config, list(commands), role, env)
    else:
        document = permissions.policy(app.config, list(commands), env, role)
    named = list(commands)
    if role and not role.startswith("arn:") and not (bucket_policy or drain_agent):
        named = permissions.role_commands(role, named)
    app.output.result("iam-policy", permissions.PolicyReport(named, document))
