#!/usr/bin/env python3
"""Write (or with --check, verify) each room's ruff.toml from the root banned-api table.

The root `pyproject.toml` bans every outside library for the whole package, each with a
message naming the folders that own it ("only promote/cli/ may import click ..."). A nested
ruff config replaces the parent's banned list instead of adding to it, so each owning folder
gets a `ruff.toml` that lists every *other* ban whole. This script is the one place that
spells them out: run it after changing the root table (`make lint` checks they agree).
"""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OWNERS = re.compile(r"^only (?P<folders>.+?) may import ")


def bans() -> dict[str, str]:
    """Library -> message, from the root pyproject.toml."""
    table = tomllib.loads((ROOT / "pyproject.toml").read_text())
    raw = table["tool"]["ruff"]["lint"]["flake8-tidy-imports"]["banned-api"]
    return {lib: entry["msg"] for lib, entry in raw.items()}


def owners(message: str) -> list[str]:
    """The folders a ban's message names."""
    match = OWNERS.match(message)
    if not match:
        raise SystemExit(f"ruff_bans: cannot read the owners of: {message}")
    return re.findall(r"promote/[\w/]+/", match.group("folders"))


def rendered(folder: str, table: dict[str, str]) -> str:
    """The ruff.toml of FOLDER."""
    allowed = [lib for lib, msg in table.items() if folder in owners(msg)]
    depth = folder.rstrip("/").count("/") + 1
    lines = [
        f"# {folder} may import {', '.join(allowed)}; every other library owned by another room "
        "stays banned.",
        "# Written by scripts/ruff_bans.py from the root pyproject.toml: edit that, then run it.",
        f'extend = "{"../" * depth}pyproject.toml"',
        "",
        "[lint.flake8-tidy-imports.banned-api]",
    ]
    lines += [f'"{lib}".msg = "{msg}"' for lib, msg in table.items() if lib not in allowed]
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    """Write every room's ruff.toml, or (--check) exit 1 naming the ones that differ."""
    table = bans()
    folders = sorted({f for msg in table.values() for f in owners(msg)})
    stale = []
    for folder in folders:
        path = ROOT / folder / "ruff.toml"
        text = rendered(folder, table)
        if "--check" in argv:
            if not path.is_file() or path.read_text() != text:
                stale.append(str(path.relative_to(ROOT)))
        else:
            path.write_text(text)
    if stale:
        print(f"ruff_bans: out of date: {', '.join(stale)} (run scripts/ruff_bans.py)")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
