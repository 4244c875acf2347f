"""Where things are written: the result on stdout (text or one JSON document), the rest on stderr.

rich is imported only when text is rendered, so `promote --version` stays fast.
"""

from __future__ import annotations

import json
import sys
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import IO, TYPE_CHECKING, Literal

from promote.errors import PromoteError
from promote.redact import redact

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress

SCHEMA = "promote/v1"
Format = Literal["text", "json"]


class Output:
    """Renders results, progress, warnings and errors for one invocation."""

    def __init__(
        self,
        fmt: Format = "text",
        verbose: int = 0,
        stdout: IO[str] | None = None,
        stderr: IO[str] | None = None,
    ) -> None:
        self.format = fmt
        self.verbose = verbose
        self.stdout = stdout or sys.stdout
        self.stderr = stderr or sys.stderr
        self._bar: Progress | None = None

    def console(self) -> Console:
        """A rich console on stdout, for text results.

        Nothing is hard-wrapped (soft_wrap: a long line stays one line, in a pipe or a log as on
        a terminal, which wraps it for display only); tables go through `render.table`, which
        never narrows a column below its longest cell, so AMI ids and ARNs stay whole.
        """
        from rich.console import Console

        width = None if self.stdout.isatty() else 160
        return Console(file=self.stdout, highlight=False, emoji=False, width=width, soft_wrap=True)

    def result(self, command: str, value: object) -> None:
        """Write the command's result: one JSON document (`to_data`), or its text view."""
        if self.format == "json":
            from promote.domain.results import to_data

            document = {**to_data(value), "schema": SCHEMA, "command": command}
            self.stdout.write(json.dumps(document, indent=2, default=str) + "\n")
        else:
            from promote.cli import render

            render.show(self.console(), value)
        self.stdout.flush()

    def progress(self, line: str) -> None:
        """A progress line on stderr (above the progress bar, when one is shown)."""
        line = redact(line)
        if self._bar is not None:
            self._bar.console.print(line, markup=False, highlight=False)
            return
        self.stderr.write(line + "\n")
        self.stderr.flush()

    @contextmanager
    def bar(self, description: str, total: int) -> Iterator[Callable[[], None]]:
        """A progress bar on stderr when it is a terminal; yields the function that advances it.

        Off a terminal (CI logs, pipes) there is no bar: the progress lines say it all.
        """
        if not self.stderr.isatty() or total <= 0:
            yield lambda: None
            return
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

        console = Console(file=self.stderr, highlight=False, emoji=False)
        with Progress(
            "{task.description}",
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=True,
        ) as bar:
            task = bar.add_task(description, total=total)
            self._bar = bar
            try:
                yield lambda: bar.advance(task)
            finally:
                self._bar = None

    def warn(self, message: str) -> None:
        """A warning on stderr."""
        self.progress(f"warning: {message}")

    def _traceback(self, exc: BaseException) -> None:
        """The traceback of EXC on stderr, with every credential and secret masked."""
        self.stderr.write(redact("".join(traceback.format_exception(exc))))

    def error(self, error: PromoteError) -> None:
        """An expected failure: one line, a hint, no traceback unless -v."""
        if self.verbose and error.__cause__ is not None:
            self._traceback(error.__cause__)
        error.message, error.hint = redact(error.message), redact(error.hint)
        self.stderr.write(f"error: {error.message}\n")
        if error.hint:
            self.stderr.write(f"hint: {error.hint}\n")
        if self.format == "json":
            document = {
                "schema": SCHEMA,
                "error": {
                    "message": error.message,
                    "hint": error.hint,
                    "exit_code": error.exit_code,
                },
            }
            self.stdout.write(json.dumps(document, indent=2) + "\n")
        self.stderr.flush()

    def crash(self, exc: BaseException) -> None:
        """An unexpected failure (a bug): one line, and the traceback under -v."""
        if self.verbose:
            self._traceback(exc)
        self.stderr.write(redact(f"error: internal error: {type(exc).__name__}: {exc}\n"))
        self.stderr.write("hint: run again with -v for the traceback, and report it\n")
        self.stderr.flush()
