"""Checking `promote ...` and `make ...` command lines against the real click CLI and Makefile."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from promote.cli import cli
from promote.config import Overrides, load
from promote.domain.images import check_ami_id
from promote.errors import PromoteError
from tests.pipelines.model import ROOT, Run
from tests.pipelines.shell import environment_values, parse

MAKE_FLAGS_WITH_VALUE = {"-C", "-f", "-j", "-l", "-I", "-o", "-W"}
MAKE_FLAGS = {"-s", "-k", "-n", "-e", "-B", "--silent", "--keep-going", "--no-print-directory"}


@dataclass(frozen=True)
class Invocation:
    """A promote command line found in a run, and the click context it parses to."""

    where: str
    argv: tuple[str, ...]
    path: tuple[str, ...]
    params: dict[str, Any]


def is_promote(word: str) -> bool:
    """WORD names the promote executable."""
    return word == "promote" or word.endswith("/bin/promote")


def commands_of(run: Run) -> list[list[str]]:
    """The simple commands of RUN: its script's, or its plain argv."""
    if run.script is None:
        return [list(run.argv)]
    return parse(run.script, environment_values(run.environ)).commands


def parse_promote(argv: Sequence[str]) -> tuple[tuple[str, ...], dict[str, Any]]:
    """The subcommand path and params ARGV parses to; click.UsageError when it does not parse."""
    ctx = cli.make_context("promote", list(argv), resilient_parsing=False)
    params = dict(ctx.params)
    command: click.Command = cli
    path: list[str] = []
    while isinstance(command, click.Group):
        rest = [*getattr(ctx, "_protected_args", []), *ctx.args]
        if not rest:
            raise click.UsageError("no subcommand given", ctx)
        name, found, rest = command.resolve_command(ctx, rest)
        if name is None or found is None:
            raise click.UsageError(f"no such command {rest}", ctx)
        command = found
        path.append(name)
        ctx = command.make_context(name, rest, parent=ctx)
        params.update(ctx.params)
    return tuple(path), params


def check_values(params: dict[str, Any]) -> None:
    """The --ami and --env values are well formed: AMI ids, and envs the config knows."""
    config = load(Overrides(), {}, ROOT)
    amis = [params.get("ami")] if params.get("ami") else []
    for ami in amis:
        check_ami_id(str(ami))
    envs = params.get("env_names") or ([params["env_name"]] if params.get("env_name") else [])
    for env in envs:
        config.environment(str(env))


def promote_invocations(run: Run) -> list[Invocation]:
    """Every promote command line of RUN, parsed; AssertionError naming the first that fails."""
    found = []
    for argv in commands_of(run):
        if not is_promote(argv[0]):
            assert not any(is_promote(w) for w in argv[1:]), (
                f"{run.where}: promote inside a command this test cannot parse: {argv}"
            )
            continue
        found.append(_parse_invocation(run.where, argv))
    return found


def _parse_invocation(where: str, argv: list[str]) -> Invocation:
    line = shlex.join(argv)
    try:
        path, params = parse_promote(argv[1:])
        check_values(params)
    except click.exceptions.Exit as exc:
        raise AssertionError(f"{where}: `{line}` exits early ({exc.exit_code})") from exc
    except click.ClickException as exc:
        raise AssertionError(f"{where}: `{line}` does not parse: {exc.format_message()}") from exc
    except PromoteError as exc:
        raise AssertionError(f"{where}: `{line}`: {exc.message}") from exc
    return Invocation(where, tuple(argv), path, params)


def make_invocations(run: Run) -> list[list[str]]:
    """Every make command line of RUN."""
    return [argv for argv in commands_of(run) if argv[0] == "make"]


def make_targets(argv: Sequence[str]) -> list[str]:
    """The targets a make command line names (flags and VAR=value assignments left out)."""
    targets = []
    words = list(argv[1:])
    while words:
        word = words.pop(0)
        if word in MAKE_FLAGS_WITH_VALUE:
            words.pop(0)
        elif word in MAKE_FLAGS or word.startswith("-"):
            assert word in MAKE_FLAGS or word[:2] in MAKE_FLAGS_WITH_VALUE, f"make flag {word}"
        elif "=" not in word:
            targets.append(word)
    return targets


def make_dry_run(argv: Sequence[str], root: Path = ROOT) -> list[str]:
    """The recipe lines `make -n` prints for ARGV in ROOT; AssertionError when make refuses."""
    words = [w for w in argv[1:] if w not in ("-C",)]
    if "-C" in argv:
        index = list(argv).index("-C")
        words = list(argv[1:index]) + list(argv[index + 2 :])
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAKE")}
    done = subprocess.run(
        ["make", "-n", "--no-print-directory", *words],
        cwd=root,
        capture_output=True,
        text=True,
        env=env,
        timeout=30,
        check=False,
    )
    assert done.returncode == 0, f"`{shlex.join(argv)}`: {done.stderr.strip()}"
    return done.stdout.splitlines()


def promote_lines_of_recipe(lines: Sequence[str]) -> list[list[str]]:
    """The promote command lines among the recipe LINES `make -n` printed."""
    found = []
    for line in lines:
        try:
            words = shlex.split(line)
        except ValueError:
            continue
        while words and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*=.*", words[0]):
            words = words[1:]  # the environment of the command (`PATH=... promote build`)
        if words and is_promote(words[0]):
            found.append(words)
    return found
