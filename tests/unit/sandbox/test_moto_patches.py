"""The fixes the sandbox's moto server runs with (sandbox/moto_patches.py).

Each scene is played on moto's own backend (in this process, no server): first through the
originals, to show moto still has the bug (when one of these fails, moto fixed it upstream and
the patch can go), then through the patched backend, which must behave as AWS does.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from promote.sandbox import moto_patches

SECRET = "/concourse/dataworks/ami-ids"


@pytest.fixture
def backend() -> Any:
    from moto.secretsmanager.models import SecretsManagerBackend

    moto_patches.apply()
    return SecretsManagerBackend("eu-west-2", "123456789012")


def _moved_current(backend: Any, update: Any) -> tuple[str, str]:
    """The seed's value, then promote's compare-and-swap: a new version staged AWSPENDING and
    AWSCURRENT moved onto it with UpdateSecretVersionStage. Returns (old id, new id)."""
    backend.create_secret(
        name=SECRET,
        secret_string=json.dumps({"management": "ami-old"}),
        secret_binary=None,
        description="",
        tags=[],
        kms_key_id=None,
        client_request_token="00000000-0000-4000-8000-000000000001",
        replica_regions=[],
        force_overwrite=False,
    )
    old = backend.get_secret_value(SECRET, None, "AWSCURRENT")["VersionId"]
    new = "00000000-0000-4000-8000-000000000002"
    backend.put_secret_value(
        SECRET, json.dumps({"management": "ami-new"}), None, new, ["AWSPENDING"]
    )
    update(backend, SECRET, "AWSCURRENT", old, new)
    return old, new


def _stages(backend: Any) -> dict[str, list[str]]:
    versions = backend.secrets[SECRET].versions
    return {vid: sorted(v["version_stages"]) for vid, v in versions.items()}


def test_moto_still_serves_a_stale_default_version_without_the_patch(backend: Any) -> None:
    _moved_current(backend, moto_patches.ORIGINALS["update_secret_version_stage"])

    value = moto_patches.ORIGINALS["get_secret_value"](backend, SECRET, None, None)

    assert json.loads(value["SecretString"]) == {"management": "ami-old"}


def test_get_secret_value_without_a_stage_serves_awscurrent(backend: Any) -> None:
    # Moved with the original: only the GetSecretValue patch stands between us and the old value.
    _, new = _moved_current(backend, moto_patches.ORIGINALS["update_secret_version_stage"])

    value = backend.get_secret_value(SECRET, None, None)

    assert value["VersionId"] == new
    assert "AWSCURRENT" in value["VersionStages"]
    assert json.loads(value["SecretString"]) == {"management": "ami-new"}


def test_moto_labels_two_versions_awscurrent_without_the_patch(backend: Any) -> None:
    _moved_current(backend, moto_patches.ORIGINALS["update_secret_version_stage"])
    backend.put_secret_value(SECRET, '{"management": "ami-raw"}', None, None, ["AWSCURRENT"])

    assert sum("AWSCURRENT" in s for s in _stages(backend).values()) == 2


def test_default_version_follows_awscurrent_so_a_raw_put_leaves_one_current(
    backend: Any,
) -> None:
    old, new = _moved_current(backend, type(backend).update_secret_version_stage)
    assert backend.secrets[SECRET].default_version_id == new

    raw = "00000000-0000-4000-8000-000000000003"
    backend.put_secret_value(SECRET, '{"management": "ami-raw"}', None, raw, ["AWSCURRENT"])

    assert _stages(backend) == {old: [], new: ["AWSPREVIOUS"], raw: ["AWSCURRENT"]}
    served = moto_patches.ORIGINALS["get_secret_value"](backend, SECRET, None, None)
    assert served["VersionId"] == raw


def test_a_stage_or_version_asked_for_is_served_as_before(backend: Any) -> None:
    old, new = _moved_current(backend, type(backend).update_secret_version_stage)

    assert backend.get_secret_value(SECRET, old, None)["VersionId"] == old
    assert backend.get_secret_value(SECRET, None, "AWSPREVIOUS")["VersionId"] == old
    assert backend.get_secret_value(SECRET, None, "AWSCURRENT")["VersionId"] == new


def test_apply_is_idempotent() -> None:
    from moto.secretsmanager.models import SecretsManagerBackend

    moto_patches.apply()
    originals = dict(moto_patches.ORIGINALS)
    moto_patches.apply()

    assert originals == moto_patches.ORIGINALS
    assert SecretsManagerBackend.get_secret_value is moto_patches.get_secret_value
    assert originals["get_secret_value"] is not moto_patches.get_secret_value


def _ebs_image(ec2: Any) -> Any:
    return next(a for a in ec2.amis.values() if a.root_device_type == "ebs")


def test_moto_copies_an_ebs_image_to_a_standard_one_without_the_patch() -> None:
    from moto.ec2.models import ec2_backends

    moto_patches.apply()
    ec2 = ec2_backends["123456789012"]["eu-west-2"]
    source = _ebs_image(ec2)

    copy = moto_patches.ORIGINALS["copy_image"](ec2, source.id, "eu-west-2", "a-copy", None)

    assert copy.root_device_type == "standard"


def test_a_copy_keeps_the_source_images_root_device() -> None:
    from moto.ec2.models import ec2_backends

    moto_patches.apply()
    ec2 = ec2_backends["123456789012"]["eu-west-2"]
    source = _ebs_image(ec2)

    copy = ec2.copy_image(source.id, "eu-west-2", "patched-base-2", None)

    assert (copy.root_device_type, copy.root_device_name) == (
        source.root_device_type,
        source.root_device_name,
    )
    assert copy.name == "patched-base-2"
    assert ec2.describe_images(ami_ids=[copy.id])[0].root_device_type == "ebs"


# --- S3: conditional puts are atomic -------------------------------------------------------


def _racing_creates(put_object: Any, monkeypatch: pytest.MonkeyPatch) -> int:
    """Two If-None-Match creates of one key at once against an in-process moto server whose
    existence check is slowed down (so both checks run before either write): how many won."""
    import socket
    import threading
    import time
    import uuid

    import boto3
    import botocore.exceptions
    from moto.moto_server.threaded_moto_server import ThreadedMotoServer
    from moto.s3.models import S3Backend
    from moto.s3.responses import S3Response

    monkeypatch.setattr(S3Response, "put_object", put_object)
    original_get = S3Backend.get_object

    def slow_get(self: Any, *args: Any, **kwargs: Any) -> Any:
        found = original_get(self, *args, **kwargs)
        time.sleep(0.3)
        return found

    monkeypatch.setattr(S3Backend, "get_object", slow_get)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        s3 = boto3.client(
            "s3",
            endpoint_url=f"http://127.0.0.1:{port}",
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        bucket = f"ledger-{uuid.uuid4().hex[:12]}"  # moto's backends outlive one server
        s3.create_bucket(Bucket=bucket)
        won: list[bool] = []

        def create() -> None:
            try:
                s3.put_object(Bucket=bucket, Key="locks/lease.json", Body=b"x", IfNoneMatch="*")
                won.append(True)
            except botocore.exceptions.ClientError:
                won.append(False)

        threads = [threading.Thread(target=create) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return sum(won)
    finally:
        server.stop()


def test_moto_lets_two_concurrent_creates_of_one_key_both_succeed_without_the_patch(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    moto_patches.apply()

    assert _racing_creates(moto_patches.ORIGINALS["put_object"], monkeypatch) == 2


def test_with_the_patch_exactly_one_concurrent_create_of_a_key_wins(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    moto_patches.apply()

    assert _racing_creates(moto_patches.put_object, monkeypatch) == 1
