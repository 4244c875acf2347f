"""`promote iam-policy`: the least-privilege IAM policy for some commands, or (with
`--bucket-policy`) the bucket and key policies that hold whoever holds what."""

from __future__ import annotations

import click

from promote.cli.app import AppContext
from promote.cli.options import pass_app
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
@click.option(
    "--role",
    "role_arn",
    help="Print what this env role_arn or secret_role_arn needs in its own account instead.",
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
    role_arn: str | None,
    drain_agent: bool,
) -> None:
    """The least-privilege IAM policy for COMMANDS (every command when none are named)."""
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
    elif role_arn:
        document = permissions.role_policy(app.config, list(commands), role_arn)
    else:
        document = permissions.policy(app.config, list(commands))
    app.output.result("iam-policy", permissions.PolicyReport(list(commands), document))
