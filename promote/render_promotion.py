"""Text for people: set-ids, pin, unpin, publish, revoke, prune, history."""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Console
from rich.table import Table

from promote.history import Entry
from promote.prune import DELETE, Candidate


def lines(console: Console, text: Sequence[str]) -> None:
    """Plain lines, no markup."""
    for line in text:
        console.print(line, markup=False, highlight=False)


def prune(console: Console, candidates: Sequence[Candidate], applied: bool) -> None:
    """Every candidate with KEEP/DELETE and the reason."""
    table = Table("image", "name", "stage", "created", "decision", "reason")
    for c in candidates:
        style = "red" if c.decision == DELETE else "green"
        table.add_row(
            c.image.image_id,
            c.image.name,
            c.image.stage or "-",
            c.image.creation_date,
            f"[{style}]{c.decision}[/]",
            "\n".join(c.reasons),
        )
    console.print(table)
    deleting = sum(1 for c in candidates if c.decision == DELETE)
    if applied:
        console.print(f"deleted {deleting} image(s) and their snapshots")
    else:
        console.print(f"dry run: {deleting} image(s) would be deleted; pass --apply to delete")


def history(console: Console, entries: Sequence[Entry]) -> None:
    """Newest first."""
    if not entries:
        console.print("no history")
        return
    table = Table("when (UTC)", "kind", "what", box=None)
    for e in entries:
        table.add_row(e.stamp, e.kind, e.summary)
    console.print(table)
