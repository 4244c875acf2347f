"""The `promote` command line: parse, build the AppContext, call one domain function, render.

The only package that imports click and rich. Expected failures (PromoteError) are shown as one
line and a hint, with the documented exit code; -v adds the traceback. Commands live one per
module in `promote.cli.commands` and are imported only when they run (or for --help), so
`promote --version` stays fast.
"""

from __future__ import annotations

import importlib
import json
import os
import re
import sys
from pathlib import Path
from typing import Any

import click

from promote import __version__, redact
from promote.cli.app import AppContext
from promote.cli.output import SCHEMA, Output
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
    "init": "init:init",
    "iam-policy": "iam_policy:iam_policy",
    "metrics": "metrics:metrics",
    "pin": "pins:pin",
    "prune": "prune:prune",
    "publish": "publish:publish",
    "release": "release:release",
    "revoke": "revoke:revoke",
    "rollback": "rollback:rollback",
    "rollout": "rollout:rollout",
    "sandbox": "sandbox:sandbox",
    "set-ids": "set_ids:set_ids",
    "status": "status:status",
    "unpin": "pins:unpin",
    "validate": "validate:validate",
}


# The global options, accepted before and after the subcommand (the AWS CLI's habit).
GLOBAL_WITH_VALUE = {"-o", "--output", "--config", "--region", "--profile", "--endpoint-url"}
GLOBAL_FLAGS = re.compile(r"-v+|--verbose")


def _option_names(command: click.Command) -> tuple[set[str], set[str]]:
    """Every option name of COMMAND and its subcommands, and those that take a value."""
    names: set[str] = set()
    valued: set[str] = set()
    for param in command.params:
        if isinstance(param, click.Option):
            names.update(param.opts + param.secondary_opts)
            if not param.is_flag and not param.count:
                valued.update(param.opts)
    for sub in getattr(command, "commands", {}).values():
        more, more_valued = _option_names(sub)
        names |= more
        valued |= more_valued
    return names, valued


def hoist_global_options(group: click.Group, ctx: click.Context, args: list[str]) -> list[str]:
    """ARGS with the global options found after the subcommand moved before it.

    `promote history --env E -o json` becomes `promote -o json history --env E`. A subcommand's
    own option of the same name, an option's value and everything after `--` stay put.
    """
    at = 0
    while at < len(args) and args[at].startswith("-") and args[at] != "--":
        at += 2 if args[at] in GLOBAL_WITH_VALUE else 1
    if at >= len(args) or args[at] == "--":
        return args
    command = group.get_command(ctx, args[at])
    if command is None:
        return args
    own, valued = _option_names(command)
    moved: list[str] = []
    kept: list[str] = []
    rest = args[at + 1 :]
    index = 0
    while index < len(rest):
        word = rest[index]
        name = word.split("=", 1)[0] if word.startswith("--") else word
        if word == "--":
            kept.extend(rest[index:])
            break
        if name in own:
            step = 2 if name in valued and "=" not in word else 1
            kept.extend(rest[index : index + step])
        elif name in GLOBAL_WITH_VALUE:
            step = 1 if "=" in word else 2
            moved.extend(rest[index : index + step])
        elif word.startswith("-o") and not word.startswith("--") and len(word) > 2:
            step = 1  # -ojson
            moved.append(word)
        elif GLOBAL_FLAGS.fullmatch(word):
            step = 1
            moved.append(word)
        else:
            step = 1
            kept.append(word)
        index += step
    return [*args[:at], *moved, args[at], *kept]


def wants_json(args: list[str]) -> bool:
    """-o json / --output json / --output=json / -ojson anywhere in ARGS (before `--`)."""
    for index, word in enumerate(args):
        if word == "--":
            return False
        if word in ("--output=json", "-ojson"):
            return True
        if word in ("-o", "--output") and args[index + 1 : index + 2] == ["json"]:
            return True
    return False


class PromoteGroup(click.Group):
    """Loads each command on demand, and turns PromoteError into one line, a hint and the exit
    code, for every subcommand. Global options may come after the subcommand; with -o json a
    usage error is a JSON document on stdout too."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        """Move the global options given after the subcommand before it, then parse."""
        return super().parse_args(ctx, hoist_global_options(self, ctx, list(args)))

    def main(self, args: Any = None, *rest: Any, **extra: Any) -> Any:
        """click's main; with -o json, a usage error also prints its JSON document."""
        argv = list(sys.argv[1:] if args is None else args)
        if not wants_json(argv) or extra.get("standalone_mode") is False:
            return super().main(argv, *rest, **extra)
        try:
            code = super().main(argv, *rest, **{**extra, "standalone_mode": False})
        except click.ClickException as exc:
            exc.show()
            _json_error(exc)
            sys.exit(exc.exit_code)
        except click.Abort:
            click.echo("Aborted!", err=True)
            sys.exit(1)
        sys.exit(code if isinstance(code, int) else 0)

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


def _json_error(exc: click.ClickException) -> None:
    """The usage error as promote's JSON error document on stdout."""
    context = getattr(exc, "ctx", None)
    hint = f"see '{context.command_path} --help'" if context is not None else ""
    document = {
        "schema": SCHEMA,
        "error": {"message": exc.format_message(), "hint": hint, "exit_code": exc.exit_code},
    }
    click.echo(json.dumps(document, indent=2))


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
