"""The one place that runs an env's deployer (Terraform, as promote.toml names it): a subprocess.

The command is an argv list from promote.toml (never a shell string), run in `deploy_dir`
with promote's own environment plus PROMOTE_ENV and PROMOTE_AMI; its output streams to stderr
line by line, and the last lines are kept for the error message. It runs in a process group
of its own so a timeout stops Terraform and its provider plugins together.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from promote.domain.ports import CommandRun
from promote.errors import usage_error

TAIL_LINES = 20


class CommandDeployer:
    """The Deployer port over subprocess."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self.environ = dict(environ)

    def run(
        self,
        argv: Sequence[str],
        cwd: str | None,
        env: Mapping[str, str],
        timeout_seconds: float,
        progress: Callable[[str], None],
    ) -> CommandRun:
        """Run ARGV; its exit code and the tail of its output (a missing binary is exit 2)."""
        tail: deque[str] = deque(maxlen=TAIL_LINES)
        if cwd is not None and not Path(cwd).is_dir():
            raise usage_error(f"deploy_dir {cwd} is not a directory", "fix it in promote.toml")
        try:
            process = subprocess.Popen(
                list(argv),
                cwd=cwd,
                env={**self.environ, **env},
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                start_new_session=True,
            )
        except FileNotFoundError as exc:
            raise usage_error(
                f"cannot run {argv[0]}: {exc.strerror}",
                "install it, or fix deploy_command / drift_command in promote.toml",
            ) from exc
        except NotADirectoryError as exc:
            raise usage_error(
                f"deploy_dir {cwd} is not a directory", "fix it in promote.toml"
            ) from exc
        timer = threading.Timer(timeout_seconds, _kill_group, (process,))
        timer.start()
        try:
            assert process.stdout is not None
            for line in process.stdout:
                text = line.rstrip()
                if text:
                    tail.append(text)
                    progress(f"{argv[0]}: {text}")
            code = process.wait()
        finally:
            timer.cancel()
            if process.poll() is None:
                _kill_group(process)
                process.wait()
        return CommandRun(tuple(argv), code, tuple(tail))


def _kill_group(process: subprocess.Popen[str]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
