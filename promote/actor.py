"""Who ran a command: recorded with every piece of evidence and every event."""

from __future__ import annotations

import getpass
import socket
from collections.abc import Mapping
from typing import Any


def describe_actor(environ: Mapping[str, str], aws_identity: str | None) -> dict[str, Any]:
    """The local user, host, AWS identity and CI run (GitHub Actions or Concourse), if any."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = environ.get("USER", "unknown")
    actor: dict[str, Any] = {
        "user": user,
        "host": socket.gethostname(),
        "aws_identity": aws_identity,
    }
    if environ.get("GITHUB_ACTIONS") == "true":
        actor["ci"] = {
            "system": "github-actions",
            "actor": environ.get("GITHUB_ACTOR"),
            "run": "{}/{}/actions/runs/{}".format(
                environ.get("GITHUB_SERVER_URL", "https://github.com"),
                environ.get("GITHUB_REPOSITORY", ""),
                environ.get("GITHUB_RUN_ID", ""),
            ),
        }
    elif environ.get("BUILD_PIPELINE_NAME") and environ.get("BUILD_JOB_NAME"):
        # Concourse gives BUILD_* to resources; tasks get them only as params the pipeline
        # sets, so the URL is there only when ATC_EXTERNAL_URL and BUILD_ID are passed too.
        url = (
            f"{environ['ATC_EXTERNAL_URL']}/builds/{environ['BUILD_ID']}"
            if environ.get("ATC_EXTERNAL_URL") and environ.get("BUILD_ID")
            else None
        )
        actor["ci"] = {
            "system": "concourse",
            "team": environ.get("BUILD_TEAM_NAME"),
            "pipeline": environ.get("BUILD_PIPELINE_NAME"),
            "job": environ.get("BUILD_JOB_NAME"),
            "build": environ.get("BUILD_NAME"),
            "url": url,
        }
    return actor
