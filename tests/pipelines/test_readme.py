"""Every `promote ...` line in a README code block parses with the real CLI (as pipeline lines do).

A line is taken from each fenced code block of README.md (and pipelines/README.md): comments
dropped, `$(promote ...)` bodies taken out, then each simple command (split at `&&`, `||`, `|`,
`;`) that starts with `promote` is parsed by click with the real command tree. Placeholders an
operator replaces (`ami-...`, `$ami`) stand for a well-formed AMI id after --ami/--to, else `x`.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import click
import pytest

from tests.pipelines.commands import check_values, parse_promote
from tests.pipelines.model import ROOT
from tests.pipelines.shell import AMI_PLACEHOLDER

READMES = [ROOT / "README.md", ROOT / "pipelines" / "README.md"]
FENCE = re.compile(r"^```[^\n]*\n(.*?)^```", re.S | re.M)
SUBSTITUTION = re.compile(r"\$\((promote [^()]*)\)")
AMI_OPTIONS = {"--ami", "--to"}


def _commands(line: str) -> list[list[str]]:
    if not re.search(r"(^|[\s($])promote\s", line):
        return []
    texts = [line, *SUBSTITUTION.findall(line)]
    out: list[list[str]] = []
    for text in texts:
        words = shlex.split(SUBSTITUTION.sub("x", text), comments=True)
        command: list[str] = []
        for word in [*words, ";"]:
            if word in {"&&", "||", "|", ";"}:
                completion = any(w.startswith("_PROMOTE_COMPLETE=") for w in command)
                while command and re.match(r"^[A-Z_]+=", command[0]):
                    command.pop(0)  # NAME=value promote ...
                if command and command[0] == "promote" and not completion:
                    out.append(command)
                command = []
            else:
                command.append(word)
    return out


def _placeholders(argv: list[str]) -> list[str]:
    out: list[str] = []
    for word in argv:
        if word.startswith("$") or word in {"ami-...", "ami-…"} or word.endswith("..."):
            word = AMI_PLACEHOLDER if out and out[-1] in AMI_OPTIONS else "x"
        out.append(word)
    return out


def readme_lines() -> list[tuple[str, list[str]]]:
    """(where, argv) for every promote command in a README code block."""
    found = []
    for readme in READMES:
        text = readme.read_text()
        for block in FENCE.finditer(text):
            if not re.match(r"```(sh|shell|bash|console)?\s*$", block.group(0).splitlines()[0]):
                continue
            first = text[: block.start()].count("\n") + 2
            joined = block.group(1).replace("\\\n", " ")
            for offset, line in enumerate(joined.splitlines()):
                for argv in _commands(line.removeprefix("$ ")):
                    where = f"{readme.relative_to(ROOT)}:{first + offset}"
                    found.append((where, _placeholders(argv)))
    return found


LINES = readme_lines()


def test_the_readme_has_promote_lines() -> None:
    assert len(LINES) >= 10
    assert any(argv[1:3] == ["sandbox", "up"] for _, argv in LINES)


@pytest.mark.parametrize(("where", "argv"), LINES, ids=[w for w, _ in LINES])
def test_each_readme_line_parses_with_the_real_cli(where: str, argv: list[str]) -> None:
    try:
        _, params = parse_promote(argv[1:])
    except click.exceptions.Exit:
        return  # --version, --help
    except click.UsageError as exc:
        pytest.fail(f"{where}: `{shlex.join(argv)}` does not parse: {exc.format_message()}")
    check_values(params)


def test_a_line_that_does_not_parse_is_caught(tmp_path: Path) -> None:
    with pytest.raises(click.UsageError):
        parse_promote(["status", "--no-such-option"])
