"""Options and parameter types declared once, shared by every command that takes them."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, TypeVar

import click

from promote.cli.app import AppContext
from promote.domain.images import check_ami_id
from promote.errors import PromoteError, usage_error

F = TypeVar("F", bound=Callable[..., Any])
pass_app = click.make_pass_decorator(AppContext)

_PART = re.compile(r"(\d+(?:\.\d+)?)([smhd])")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> float:
    """Seconds in TEXT (90s, 15m, 1h30m, 2d; a bare 0); a usage error for anything else.

    A bare number other than zero is refused: `--older-than 30` could mean seconds or days.
    """
    cleaned = text.strip().lower()
    if re.fullmatch(r"\d+(\.\d+)?", cleaned):
        if float(cleaned) == 0:
            return 0.0
        raise usage_error(
            f"'{text}' needs a unit", f"write {cleaned}s, {cleaned}m, {cleaned}h or {cleaned}d"
        )
    parts = _PART.findall(cleaned)
    if not cleaned or "".join(n + u for n, u in parts) != cleaned:
        raise usage_error(f"'{text}' is not a duration", "write it like 90s, 15m, 1h30m or 2d")
    return sum(float(number) * _UNIT_SECONDS[unit] for number, unit in parts)


class Duration(click.ParamType):  # type: ignore[type-arg]
    """90s, 15m, 1h30m, 2d (a unit is required; 0 may go without)."""

    name = "duration"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> float:
        """Seconds."""
        if isinstance(value, int | float):
            return float(value)
        try:
            return parse_duration(str(value))
        except PromoteError as exc:
            self.fail(f"{exc.message} ({exc.hint})", param, ctx)


class AmiId(click.ParamType):  # type: ignore[type-arg]
    """An AMI id, matched whole (no blanks, no trailing newline); else a usage error (exit 2)."""

    name = "ami"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        """The AMI id, checked."""
        return check_ami_id(str(value))


DURATION = Duration()
AMI = AmiId()


def env_option(help_text: str, required: bool = True, multiple: bool = False) -> Callable[[F], F]:
    """--env ENV (the name of an [env.NAME] table)."""
    name = "env_names" if multiple else "env_name"
    return click.option("--env", name, required=required, multiple=multiple, help=help_text)


def ami_option(help_text: str, required: bool = False) -> Callable[[F], F]:
    """--ami AMI."""
    return click.option("--ami", type=AMI, required=required, help=help_text)


def timeout_option(default: str, help_text: str) -> Callable[[F], F]:
    """--timeout DURATION."""
    return click.option(
        "--timeout", type=DURATION, default=default, show_default=True, help=help_text
    )


def interval_option(default: str, help_text: str = "Time between polls.") -> Callable[[F], F]:
    """--interval DURATION."""
    return click.option(
        "--interval", type=DURATION, default=default, show_default=True, help=help_text
    )


def dry_run_option(help_text: str = "Show the plan; write nothing.") -> Callable[[F], F]:
    """--dry-run."""
    return click.option("--dry-run", is_flag=True, help=help_text)


def reason_option() -> Callable[[F], F]:
    """--reason R (required, not empty)."""
    return click.option("--reason", required=True, help="Why (required, not empty).")


def concourse_options(purpose: str) -> Callable[[F], F]:
    """--concourse-url URL (for PURPOSE) and --insecure-http, as metrics and the rollouts
    take them; the token comes from the environment, never the command line."""

    def decorate(command: F) -> F:
        command = click.option(
            "--insecure-http",
            is_flag=True,
            help="Allow sending Concourse credentials over plain http to a non-local host.",
        )(command)
        return click.option(
            "--concourse-url",
            help=f"{purpose} through this Concourse web node (CONCOURSE_TOKEN, or "
            "CONCOURSE_USERNAME and CONCOURSE_PASSWORD).",
        )(command)

    return decorate


def drain_timeout_option() -> Callable[[F], F]:
    """--drain-timeout DURATION."""
    return click.option(
        "--drain-timeout",
        type=DURATION,
        default="15m",
        show_default=True,
        help="How long to wait for a landing worker's builds.",
    )


def rolling_options() -> Callable[[F], F]:
    """The options of every command that rolls an env (rollout, rollback): --no-launch-template,
    --resume, --engine, --concourse-url/--insecure-http and --drain-timeout."""
    decorators = [
        click.option(
            "--no-launch-template",
            "keep_template",
            is_flag=True,
            help="Leave the launch template alone (Terraform points it at the AMI).",
        ),
        click.option("--resume", is_flag=True, help="Take over a crashed rollout's lease."),
        click.option(
            "--engine",
            type=click.Choice(["auto", "client", "instance-refresh"]),
            default="auto",
            show_default=True,
            help="instance-refresh: AWS's own (auto on AWS where the groups have the drain "
            "hook); client: promote's, with the lease and Concourse draining (auto on the "
            "local AWS).",
        ),
        concourse_options("Drain each worker"),
        drain_timeout_option(),
    ]

    def decorate(command: F) -> F:
        for decorator in reversed(decorators):
            command = decorator(command)
        return command

    return decorate


def key_values(items: tuple[str, ...], flag: str, example: str) -> dict[str, str]:
    """KEY=VALUE options as a dict; a usage error naming the flag for anything else."""
    values: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise usage_error(f"{flag} '{item}' is not KEY=VALUE", f"e.g. {flag} {example}")
        values[key.strip()] = value
    return values
