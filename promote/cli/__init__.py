"""The `promote` command line: parse, build the AppContext, call one domain function, render.

The only package that imports click and rich. Expected failures (PromoteError) are shown as one
line and a hint, with the documented exit code; -v adds the traceback. Commands live one per
module in `promote.cli.commands` and are imported only when they run (or for --help), so
`promote --version` stays fast.
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from typing import Any

import click

from promote import __version__, redact
from promote.cli.app import AppContext
from promote.cli.output import Output
from promote.config import Overrides
from promote.errors import ExitCode, PromoteError

# command name -> "module:attribute" under promote.cli.commands
COMMANDS = {
    "audit": "audit:audit",
    "build": "build:build",
    "config": "config:show_config",
    "dispatch": "dispatch:dispatch",
    "gate": "gate:gate",
    "history": "history:history",
    "hooks": "hooks:hooks",
    "iam-policy": "iam_policy:iam_policy",
    "metrics": "metrics:metrics",
    "pin": "pins:pin",
    "prune": "prune:prune",
    "publish": "publish:publish",
    "release": "release:release",
    "revoke": "revoke:revoke",
    "rollout": "rollout:rollout",
    "sandbox": "sandbox:sandbox",
    "set-ids": "set_ids:set_ids",
    "status": "status:status",
    "unpin": "pins:unpin",
    "validate": "validate:validate",
}


class PromoteGroup(click.Group):
    """Loads each command on demand, and turns PromoteError into one line, a hint and the exit
    code, for every subcommand."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        """Every command name, sorted."""
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        """Import the command's module only now."""
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module, _, attribute = target.partition(":")
        command: click.Command = getattr(
            importlib.import_module(f"promote.cli.commands.{module}"), attribute
        )
        return command

    def invoke(self, ctx: click.Context) -> Any:
        """Run the subcommand; show expected failures without a traceback."""
        try:
            return super().invoke(ctx)
        except PromoteError as exc:
            _output(ctx).error(exc)
            ctx.exit(exc.exit_code)
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except KeyboardInterrupt:
            _output(ctx).progress("interrupted")
            ctx.exit(130)
        except Exception as exc:  # a bug: say so, exit 1
            _output(ctx).crash(exc)
            ctx.exit(ExitCode.INTERNAL)


def _output(ctx: click.Context) -> Output:
    app = ctx.find_object(AppContext)
    return app.output if app else Output()


@click.group(cls=PromoteGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="promote")
@click.option(
    "--output",
    "-o",
    "fmt",
    type=click.Choice(["text", "json"]),
    default="text",
    help="text for people, json for machines (one document on stdout).",
)
@click.option("-v", "--verbose", count=True, help="Show tracebacks and debug logs.")
@click.option("--config", "config_path", metavar="PATH", help="promote.toml to use.")
@click.option("--region", help="AWS region of the tooling account.")
@click.option("--endpoint-url", help="AWS endpoint (the local AWS); else AWS_ENDPOINT_URL.")
@click.option("--profile", help="AWS profile; else AWS_PROFILE.")
@click.pass_context
def cli(
    ctx: click.Context,
    fmt: str,
    verbose: int,
    config_path: str | None,
    region: str | None,
    endpoint_url: str | None,
    profile: str | None,
) -> None:
    """Build, prove and promote Concourse AMIs: untested -> test env -> tested -> production."""
    redact.remember_environment(os.environ)
    if verbose >= 2:
        redact.install()  # debug logs, every line through the redacting filter
    ctx.obj = AppContext(
        overrides=Overrides(config_path, region, endpoint_url, profile),
        environ=os.environ,
        cwd=Path.cwd(),
        output=Output("json" if fmt == "json" else "text", verbose),
    )


def main() -> None:
    """Console script entry point."""
    cli(prog_name="promote")
