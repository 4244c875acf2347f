"""Expected failures: a one-line message, a hint, and the documented exit code."""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """Exit codes of the `promote` CLI (see README, "Exit codes")."""

    OK = 0
    INTERNAL = 1
    USAGE = 2
    CHECK_FAILED = 3
    NOT_FOUND = 4
    REMOTE = 5
    CONFLICT = 6


class PromoteError(Exception):
    """A failure the operator can act on; shown without a traceback.

    `message` is one line saying what is wrong, `hint` one line saying what to do about it.
    """

    def __init__(self, message: str, hint: str = "", exit_code: int = ExitCode.INTERNAL) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.exit_code = int(exit_code)


def usage_error(message: str, hint: str = "") -> PromoteError:
    """Bad input or configuration (exit 2)."""
    return PromoteError(message, hint, ExitCode.USAGE)


def not_found(message: str, hint: str = "") -> PromoteError:
    """Something named does not exist (exit 4)."""
    return PromoteError(message, hint, ExitCode.NOT_FOUND)


def check_failed(message: str, hint: str = "") -> PromoteError:
    """A check said no: validation FAILED, gate closed, pinned, revoked (exit 3)."""
    return PromoteError(message, hint, ExitCode.CHECK_FAILED)


def remote_error(message: str, hint: str = "") -> PromoteError:
    """A remote service failed after retries, or refused us (exit 5)."""
    return PromoteError(message, hint, ExitCode.REMOTE)


def conflict(message: str, hint: str = "") -> PromoteError:
    """A concurrent change won, after retries (exit 6)."""
    return PromoteError(message, hint, ExitCode.CONFLICT)
