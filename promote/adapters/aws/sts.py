"""STS: assume an environment's role, and say who we are (for the record)."""

from __future__ import annotations

from typing import Any

ROLE_SESSION_SECONDS = 3600


def session_name(user: str) -> str:
    """A RoleSessionName for USER: only the characters STS allows, at most 64 of them."""
    safe = "".join(c for c in user if c.isalnum() or c in "+=,.@-") or "unknown"
    return f"promote-{safe}"[:64]


def assume_role(client: Any, role_arn: str, user: str) -> dict[str, Any]:
    """Temporary credentials for ROLE_ARN (AccessKeyId, SecretAccessKey, SessionToken)."""
    credentials: dict[str, Any] = client.assume_role(
        RoleArn=role_arn, RoleSessionName=session_name(user), DurationSeconds=ROLE_SESSION_SECONDS
    )["Credentials"]
    return credentials


def caller_identity(client: Any) -> str:
    """The ARN the client acts as."""
    arn: str = client.get_caller_identity()["Arn"]
    return arn
