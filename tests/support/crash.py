"""A crash point for subprocess runs: `kill -9` of the CLI at its Nth AWS call.

Installed through the PROMOTE_TEST_HOOKS seam (`tests.support.crash:install`). With
PROMOTE_CRASH_AT=N the process SIGKILLs itself just before its Nth AWS call (no cleanup, no
finally blocks, exactly like `kill -9`); PROMOTE_CALL_LOG, when set, gets one line per call, so a
test can count the calls of a clean run first.
"""

from __future__ import annotations

import os
import signal
from typing import Any


def install(aws: Any) -> None:
    """Count calls; die at the chosen one."""
    crash_at = int(os.environ.get("PROMOTE_CRASH_AT", "0"))
    log = os.environ.get("PROMOTE_CALL_LOG")
    calls = {"n": 0}

    def before_call(event_name: str = "", **_: Any) -> None:
        calls["n"] += 1
        if log:
            with open(log, "a", encoding="utf-8") as handle:  # noqa: PTH123
                handle.write(f"{event_name}\n")
        if crash_at and calls["n"] == crash_at:
            os.kill(os.getpid(), signal.SIGKILL)

    aws.on("before-call", before_call)
