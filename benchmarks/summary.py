"""Print one table of every benchmark figure in `benchmarks/results/*.json`.

Each results file holds a list of "figures" ({"figure", "target", "result", "unit", "ok"});
`ok` is true (met), false (MISSED) or null (informational, no target). This is a report, not a
test: it exits 0 even when a target is missed, and says MISSED loudly.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

RESULTS = Path(__file__).resolve().parent / "results"
STATUS = {True: "ok", False: "MISSED", None: "info"}
STYLE = {True: "green", False: "bold red", None: "dim"}


def load(directory: Path) -> list[tuple[str, dict[str, Any]]]:
    """(benchmark, figure) for every figure of every results file, files in name order."""
    rows = []
    for path in sorted(directory.glob("*.json")):
        try:
            document = json.loads(path.read_text())
            figures = document["figures"]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            rows.append((path.stem, _broken(path, exc)))
            continue
        for figure in figures:
            rows.append((path.stem, figure))
    return rows


def _broken(path: Path, exc: Exception) -> dict[str, Any]:
    return {
        "figure": f"{path.name} is unreadable ({type(exc).__name__})",
        "target": "-",
        "result": "-",
        "unit": "",
        "ok": False,
    }


def result_text(figure: dict[str, Any]) -> str:
    """The result with its unit: `0.98 x`, `42.0 ms`, `yes`."""
    unit = figure.get("unit") or ""
    return f"{figure.get('result')} {unit}".rstrip()


def main() -> None:
    """Print the table and a one-line verdict; always exit 0."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, default=RESULTS, help="directory of *.json")
    args = parser.parse_args()

    console = Console(width=max(Console().width, 120))
    rows = load(args.results)
    if not rows:
        console.print(f"no benchmark results in {args.results}: run `make bench`")
        return

    table = Table(title="promote benchmarks", title_justify="left")
    table.add_column("benchmark")
    table.add_column("figure", overflow="fold")
    table.add_column("target", no_wrap=True)
    table.add_column("result", justify="right", no_wrap=True)
    table.add_column("status", no_wrap=True)
    for benchmark, figure in rows:
        ok = figure.get("ok") if figure.get("ok") in (True, False) else None
        table.add_row(
            benchmark,
            str(figure.get("figure", "?")),
            str(figure.get("target", "-")),
            result_text(figure),
            f"[{STYLE[ok]}]{STATUS[ok]}[/]",
        )
    console.print(table)

    targeted = [(b, f) for b, f in rows if f.get("ok") is not None]
    missed = [(b, f) for b, f in targeted if f.get("ok") is False]
    met = len(targeted) - len(missed)
    if missed:
        console.print(f"[bold red]MISSED {len(missed)} of {len(targeted)} targets:[/]")
        for benchmark, figure in missed:
            console.print(
                f"[bold red]  MISSED[/] {benchmark}: {figure.get('figure')}: "
                f"{result_text(figure)} (target {figure.get('target')})"
            )
    else:
        console.print(f"[green]all {met} targets met[/]")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
