"""Text for people: one view per result type (rich), chosen by `show(console, value)`.

The views live in `promote.cli.views` (fleet, promotion, setup), each registered for its result
type with `@view`. A plan shown under --dry-run goes through the same view as the plan a command
then carries out (the chalice DisplayOnlyExecutor idea): the steps describe themselves, the view
lists them and says that nothing was written. JSON output does not come here: it is
`results.to_data`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from rich.console import Console
from rich.markup import escape
from rich.measure import Measurement
from rich.table import Table

T = TypeVar("T")
View = Callable[[Console, Any], None]
_VIEWS: dict[type, View] = {}


def view(kind: type[T]) -> Callable[[Callable[[Console, T], None]], Callable[[Console, T], None]]:
    """Register the text view of KIND."""

    def register(function: Callable[[Console, T], None]) -> Callable[[Console, T], None]:
        _VIEWS[kind] = function
        return function

    return register


def show(console: Console, value: object) -> None:
    """Render VALUE with the view registered for its type."""
    from promote.cli.views import fleet, promotion, setup  # noqa: F401  (they register views)

    for kind in type(value).__mro__:
        if kind in _VIEWS:
            _VIEWS[kind](console, value)
            return
    raise TypeError(f"no text view for {type(value).__name__}")


# Control characters from the secret, tags or the ledger (ESC sequences, carriage returns)
# could repaint an operator's terminal: they are shown as \xNN instead. Tabs and newlines stay.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def printable(text: str) -> str:
    """TEXT with every control character but tab and newline shown as \\xNN."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def safe(text: str) -> str:
    """TEXT for a place rich reads markup in: control characters shown, markup escaped."""
    return escape(printable(text))


def lines(console: Console, text: Sequence[str]) -> None:
    """Plain lines, no markup, control characters shown, never hard-wrapped."""
    for line in text:
        console.print(printable(line), markup=False, highlight=False, soft_wrap=True)


def table(console: Console, rows: Table) -> None:
    """A table at its natural width even when the console is narrower: no cell (an AMI id, an
    ARN) is ever cut or wrapped; a terminal narrower than the table wraps it for display."""
    natural = Measurement.get(console, console.options.update(width=10_000), rows).maximum
    for column in rows.columns:
        column.no_wrap = True
    width = console.width
    console.width = max(width, natural)
    try:
        console.print(rows, crop=False)
    finally:
        console.width = width
