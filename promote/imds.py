"""Which EC2 instance this command runs on, if any (so a rollout never terminates itself)."""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Mapping

IMDS = "http://169.254.169.254/latest"


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
