"""A crash point for subprocess runs: `kill -9` of the CLI at its Nth AWS call.

Installed through the PROMOTE_TEST_HOOKS seam (`tests.support.crash:install`). With
PROMOTE_CRASH_AT=N the process SIGKILLs itself just before its Nth AWS call (no cleanup, no
finally blocks, exactly like `kill -9`); PROMOTE_CALL_LOG, when set, gets one line per call, so a
test can count the calls of a clean run first. PROMOTE_CRASH_BEFORE=<Operation>:<text> aims at
one call instead: the process dies just before its first <Operation> whose request path holds
<text> (`PutObject:/events/by-change/`: right before the change index entry is created).
"""

from __future__ import annotations

import os
import signal
from typing import Any
from urllib.parse import unquote


def install(aws: Any) -> None:
    """Count calls; die at the chosen one."""
    crash_at = int(os.environ.get("PROMOTE_CRASH_AT", "0"))
    log = os.environ.get("PROMOTE_CALL_LOG")
    operation, _, text = os.environ.get("PROMOTE_CRASH_BEFORE", "").partition(":")
    calls = {"n": 0}

    def before_call(event_name: str = "", params: Any = None, **_: Any) -> None:
        calls["n"] += 1
        if log:
            with open(log, "a", encoding="utf-8") as handle:  # noqa: PTH123
                handle.write(f"{event_name}\n")
        if crash_at and calls["n"] == crash_at:
            os.kill(os.getpid(), signal.SIGKILL)
        path = str((params or {}).get("url_path", "")) if isinstance(params, dict) else ""
        if operation and event_name.endswith(f".{operation}") and text in unquote(path):
            os.kill(os.getpid(), signal.SIGKILL)

    aws.on("before-call", before_call)
