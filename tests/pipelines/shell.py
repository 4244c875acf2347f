"""The simple commands of the small POSIX shell scripts in pipelines and workflows.

Enough shell for what those scripts use: `;`, `&&`, `||`, `|`, newlines and line continuations,
comments, quoting, `$(...)` (whose body is a script of its own), `$VAR` / `${VAR}`, redirections,
leading `NAME=value` assignments, `export`, and `if`/`then`/`else`/`fi`/`!`. Anything else that
could hide a command (backticks, `$((...))`, `${VAR:-...}`, `for`, `case`, functions, `eval`)
raises Unparseable: a test then fails instead of silently skipping the line.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

AMI_PLACEHOLDER = "ami-0123456789abcdef0"
PLACEHOLDER = "x"
SUBSTITUTION = "\x00subst\x00"

SEPARATORS = set(";&|()\n")
KEYWORDS = {"if", "then", "else", "elif", "do", "while", "until", "!", "{", "}", "time"}
CLOSERS = {"fi", "done"}
REFUSED = {"for", "case", "esac", "function", "eval", "source", ".", "select"}
NAME = r"[A-Za-z_][A-Za-z0-9_]*"
ASSIGNMENT = re.compile(rf"^{NAME}=")


class Unparseable(ValueError):
    """A script uses shell this module does not understand."""


@dataclass
class Script:
    """The commands of a script, the variables it reads and the ones it assigns."""

    commands: list[list[str]] = field(default_factory=list)
    reads: set[str] = field(default_factory=set)
    assigns: set[str] = field(default_factory=set)


def placeholder_for(name: str) -> str:
    """A value that passes validation for a variable called NAME."""
    return AMI_PLACEHOLDER if "AMI" in name.upper() else PLACEHOLDER


def parse(script: str, value_of: Callable[[str], str] = placeholder_for) -> Script:
    """Every simple command of SCRIPT (and of its `$(...)` bodies), variables replaced."""
    result = Script()
    _parse_into(script, value_of, result)
    return result


def _parse_into(script: str, value_of: Callable[[str], str], result: Script) -> None:
    text = script.replace("\\\n", " ")
    expanded, bodies = _expand(text, value_of, result.reads)
    for body in bodies:
        _parse_into(body, value_of, result)
    for command in _split(expanded):
        words = _strip(command, result.assigns)
        if words:
            result.commands.append(
                [w.replace(SUBSTITUTION, AMI_PLACEHOLDER) for w in words],
            )


def _expand(text: str, value_of: Callable[[str], str], reads: set[str]) -> tuple[str, list[str]]:
    """TEXT with comments dropped, `$(...)` and variables replaced; the `$(...)` bodies."""
    out: list[str] = []
    bodies: list[str] = []
    quote = ""
    i = 0
    while i < len(text):
        char = text[i]
        if quote == "'":
            out.append(char)
            quote = "" if char == "'" else quote
            i += 1
            continue
        if char == "\\" and i + 1 < len(text):
            out.append(text[i : i + 2])
            i += 2
            continue
        if char == "`":
            raise Unparseable("backtick command substitution")
        if char in "'\"" and (not quote or quote == char):
            quote = "" if quote else char
            out.append(char)
            i += 1
            continue
        if char == "#" and not quote and (i == 0 or text[i - 1] in " \t\n;&|("):
            end = text.find("\n", i)
            i = len(text) if end < 0 else end
            continue
        if char == "$":
            i = _dollar(text, i, out, bodies, value_of, reads)
            continue
        out.append(char)
        i += 1
    if quote:
        raise Unparseable(f"unterminated {quote} quote")
    return "".join(out), bodies


def _dollar(
    text: str,
    i: int,
    out: list[str],
    bodies: list[str],
    value_of: Callable[[str], str],
    reads: set[str],
) -> int:
    """Replace the expansion at TEXT[i] (a `$`); the index after it."""
    rest = text[i:]
    if rest.startswith("$(("):
        raise Unparseable("arithmetic expansion")
    if rest.startswith("$("):
        end = _closing_paren(text, i + 2)
        bodies.append(text[i + 2 : end])
        out.append(SUBSTITUTION)
        return end + 1
    match = re.match(rf"\$(?:\{{({NAME})\}}|({NAME}))", rest)
    if match:
        name = match.group(1) or match.group(2)
        reads.add(name)
        out.append(value_of(name))
        return i + match.end()
    if rest.startswith("${"):
        raise Unparseable(f"parameter expansion {rest.split('}')[0]}}}")
    out.append("$")
    return i + 1


def _closing_paren(text: str, start: int) -> int:
    """The index of the `)` closing the `$(` whose body starts at START."""
    depth = 1
    quote = ""
    i = start
    while i < len(text):
        char = text[i]
        if quote:
            if char == "\\" and quote == '"':
                i += 2
                continue
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == "\\":
            i += 1
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    raise Unparseable("unterminated $(")


def _split(text: str) -> list[list[str]]:
    """TEXT's words, grouped into simple commands at separators; redirections dropped."""
    lexer = shlex.shlex(text, posix=True, punctuation_chars=";&|()<>\n")
    lexer.whitespace = " \t\r"
    lexer.whitespace_split = True
    lexer.commenters = ""
    try:
        tokens = list(lexer)
    except ValueError as exc:
        raise Unparseable(str(exc)) from exc
    commands: list[list[str]] = [[]]
    redirect = False
    for token in tokens:
        if token and set(token) <= SEPARATORS:
            commands.append([])
            redirect = False
        elif token and set(token) <= set("<>&|") and set(token) & set("<>"):
            redirect = True
            if commands[-1] and commands[-1][-1].isdigit():
                commands[-1].pop()
        elif redirect:
            redirect = False
        else:
            commands[-1].append(token)
    return [c for c in commands if c]


def _strip(words: list[str], assigns: set[str]) -> list[str]:
    """WORDS without leading keywords and assignments; [] for a bare assignment or closer."""
    rest = list(words)
    while rest:
        head = rest[0]
        if head in REFUSED:
            raise Unparseable(f"'{head}'")
        if head in KEYWORDS:
            rest.pop(0)
        elif ASSIGNMENT.match(head):
            assigns.add(head.split("=", 1)[0])
            rest.pop(0)
        elif head in ("export", "readonly", "local"):
            for word in rest[1:]:
                assigns.add(word.split("=", 1)[0])
            return []
        elif head == "env":
            rest.pop(0)
            while rest and (ASSIGNMENT.match(rest[0]) or rest[0].startswith("-")):
                rest.pop(0)
        else:
            break
    if rest and rest[0] in CLOSERS:
        return []
    return rest


def environment_values(environ: Mapping[str, str]) -> Callable[[str], str]:
    """value_of for a script run with ENVIRON: literal values as they are, others a placeholder."""

    def value_of(name: str) -> str:
        value = environ.get(name)
        if value is None or "((" in value or "${{" in value or value == "":
            return placeholder_for(name)
        return value

    return value_of
