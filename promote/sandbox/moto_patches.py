"""Fixes to moto, applied inside the sandbox's moto server process only.

Two to Secrets Manager: moto (checked on 5.2.5) keeps a `default_version_id` per secret beside
the staging labels, and trusts it where AWS trusts the AWSCURRENT label:

1. `GetSecretValue` without a VersionId or VersionStage serves `default_version_id`; AWS serves
   the version labelled AWSCURRENT. After `UpdateSecretVersionStage` moved AWSCURRENT (promote's
   compare-and-swap write does), `aws secretsmanager get-secret-value --secret-id S` showed the
   old value. Patched: no id and no stage means the AWSCURRENT stage.
2. `UpdateSecretVersionStage` moving AWSCURRENT leaves `default_version_id` on the old version,
   so a later plain `PutSecretValue` relabels that stale version AWSPREVIOUS and leaves TWO
   versions labelled AWSCURRENT. Patched: after AWSCURRENT moves, `default_version_id` follows it.

One to EC2:

3. `CopyImage` gives the copy moto's default root device (`standard`, `/dev/sda1`); AWS copies
   the source's (an EBS-backed image copies to an EBS-backed image). Packer's amazon-ebs refuses
   a base image that is not EBS-backed, so a copied base image (a patched base in the sandbox)
   could not be built on. Patched: the copy keeps the source's root device type and name.

One to S3:

4. A conditional `PutObject` (`If-None-Match: *`, `If-Match: ETAG`) checks the key, then writes
   it, with nothing between the two: the server is threaded, so two concurrent creates of one
   key could both succeed (two rollouts both "took" one lease, both surged, and one failed on
   an instance the other had terminated). On S3 the check and the write are one atomic step.
   Patched: conditional puts run one at a time in the server.

`apply()` is idempotent. The originals stay in `ORIGINALS` so a test can show moto still needs
the patch (drop a patch once moto fixes it upstream). Nothing else in promote imports this
module: only `python -m promote.sandbox.moto_server` does, before it starts moto's server.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

CURRENT = "AWSCURRENT"

ORIGINALS: dict[str, Callable[..., Any]] = {}


def _current_version(secret: Any) -> str | None:
    """The id of the version labelled AWSCURRENT, if any."""
    for version_id, version in secret.versions.items():
        if CURRENT in version["version_stages"]:
            return str(version_id)
    return None


def get_secret_value(
    self: Any, secret_id: str, version_id: str | None, version_stage: str | None
) -> dict[str, Any]:
    """GetSecretValue: with neither a version id nor a stage, the AWSCURRENT version."""
    asked = version_id or version_stage
    if not asked and secret_id in self.secrets and _current_version(self.secrets[secret_id]):
        version_stage = CURRENT
    result: dict[str, Any] = ORIGINALS["get_secret_value"](
        self, secret_id, version_id, version_stage
    )
    return result


def update_secret_version_stage(
    self: Any,
    secret_id: str,
    version_stage: str,
    remove_from_version_id: str,
    move_to_version_id: str,
) -> tuple[str, str]:
    """UpdateSecretVersionStage: the secret's default version follows the AWSCURRENT label."""
    result: tuple[str, str] = ORIGINALS["update_secret_version_stage"](
        self, secret_id, version_stage, remove_from_version_id, move_to_version_id
    )
    secret = self.secrets[secret_id]
    if version_stage == CURRENT and hasattr(secret, "set_default_version_id"):  # not a replica
        secret.set_default_version_id(_current_version(secret))
    return result


def copy_image(
    self: Any,
    source_image_id: str,
    source_region: str,
    name: str | None = None,
    description: str | None = None,
) -> Any:
    """CopyImage: the copy has the source image's root device type and name, as on AWS."""
    from moto.ec2.models import ec2_backends

    copy = ORIGINALS["copy_image"](self, source_image_id, source_region, name, description)
    source_backend = ec2_backends[self.account_id][source_region]
    source = source_backend.describe_images(ami_ids=[source_image_id])[0]
    copy.root_device_type = source.root_device_type
    copy.root_device_name = source.root_device_name
    return copy


_CONDITIONAL_PUTS = threading.Lock()


def put_object(self: Any) -> Any:
    """PutObject: with If-None-Match or If-Match, the check and the write are one step."""
    if self.headers.get("If-None-Match") or self.headers.get("If-Match"):
        with _CONDITIONAL_PUTS:
            return ORIGINALS["put_object"](self)
    return ORIGINALS["put_object"](self)


PATCHES: dict[str, Callable[..., Any]] = {
    "get_secret_value": get_secret_value,
    "update_secret_version_stage": update_secret_version_stage,
    "copy_image": copy_image,
    "put_object": put_object,
}


def _owner(name: str) -> Any:
    """The moto class PATCHES[NAME] replaces a method of."""
    if name == "copy_image":
        from moto.ec2.models.amis import AmiBackend

        return AmiBackend
    if name == "put_object":
        from moto.s3.responses import S3Response

        return S3Response
    from moto.secretsmanager.models import SecretsManagerBackend

    return SecretsManagerBackend


def apply() -> None:
    """Patch moto's Secrets Manager and EC2 image backends and its S3 responses in this
    process (once)."""
    for name, patch in PATCHES.items():
        owner = _owner(name)
        if getattr(owner, name) is patch:
            continue
        ORIGINALS[name] = getattr(owner, name)
        setattr(owner, name, patch)
