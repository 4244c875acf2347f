"""The machine promote runs on: who runs it (for the record) and which EC2 instance it is.

The actor (local user, host, AWS identity, CI run) goes into every piece of evidence and every
event; the instance id (IMDSv2) keeps a rollout from terminating the instance it runs on.
"""

from __future__ import annotations

import getpass
import socket
import urllib.error
import urllib.request
from collections.abc import Mapping
from typing import Any

IMDS = "http://169.254.169.254/latest"


def local_user(environ: Mapping[str, str]) -> str:
    """The login name of whoever runs promote ($USER when the password database cannot say)."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return environ.get("USER", "unknown")


def describe_actor(environ: Mapping[str, str], aws_identity: str | None) -> dict[str, Any]:
    """The local user, host, AWS identity and CI run (GitHub Actions or Concourse), if any."""
    actor: dict[str, Any] = {
        "user": local_user(environ),
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


def this_instance_id(environ: Mapping[str, str], timeout: float = 0.3) -> str | None:
    """The instance id from IMDSv2, or None off EC2 (or when AWS_EC2_METADATA_DISABLED=true).

    PROMOTE_THIS_INSTANCE_ID names it explicitly (a CI runner that knows better, and tests).
    """
    if environ.get("PROMOTE_THIS_INSTANCE_ID"):
        return environ["PROMOTE_THIS_INSTANCE_ID"]
    if environ.get("AWS_EC2_METADATA_DISABLED", "").lower() == "true":
        return None
    try:
        token_request = urllib.request.Request(
            f"{IMDS}/api/token",
            method="PUT",
            headers={"X-aws-ec2-metadata-token-ttl-seconds": "60"},
        )
        with urllib.request.urlopen(token_request, timeout=timeout) as response:
            token = response.read().decode()
        id_request = urllib.request.Request(
            f"{IMDS}/meta-data/instance-id", headers={"X-aws-ec2-metadata-token": token}
        )
        with urllib.request.urlopen(id_request, timeout=timeout) as response:
            instance_id: str = response.read().decode().strip()
            return instance_id or None
    except (urllib.error.URLError, OSError, ValueError):
        return None
