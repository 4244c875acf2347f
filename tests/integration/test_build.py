"""`promote build` drives the real packer binary against the local AWS."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

from tests.support.estate import Estate

REPO = Path(__file__).resolve().parents[2]


def workspace(tmp: Path) -> Path:
    """A copy of the templates and roles, so the build writes its manifest in a temp dir."""
    for name in ("packer", "ansible"):
        shutil.copytree(REPO / name, tmp / name, ignore=shutil.ignore_patterns("manifest*.json"))
    return tmp


def test_build_on_the_local_aws_makes_a_tagged_untested_ami(seeded: Estate) -> None:
    root = workspace(seeded.tmp)

    process = seeded.run("-o", "json", "build", "--var", "concourse_version=7.12.1")

    assert process.returncode == 0, process.stderr
    result = json.loads(process.stdout)
    assert "building on the local AWS: AWS_ENDPOINT_URL is" in process.stderr
    assert "packer: ==> amazon-ebs.sandbox: Creating AMI" in process.stderr  # streamed
    image = seeded.client("ec2").describe_images(ImageIds=[result["ami"]])["Images"][0]
    tags = {t["Key"]: t["Value"] for t in image["Tags"]}
    assert tags["promote:stage"] == "untested"
    assert tags["concourse:version"] == "7.12.1"
    # Ancestry: the base image Packer resolved, with its name, on the image and its snapshot.
    base = seeded.client("ec2").describe_images(ImageIds=[tags["promote:source-ami"]])["Images"]
    assert base[0]["Name"] == tags["promote:source-ami-name"]
    assert base[0]["Name"].startswith("al2023-ami-2023.")
    assert image["Name"].startswith("untested-dw-al2-concourse-ami-")
    assert re.fullmatch(r"untested-dw-al2-concourse-ami-\d{8}T\d{6}Z", image["Name"])  # as publish
    manifest = json.loads((root / "packer" / "manifest.json").read_text())
    assert manifest["builds"][-1]["artifact_id"] == f"eu-west-2:{result['ami']}"
    assert f"name: {image['Name']}" in process.stderr


def test_build_prints_the_ami_id_alone_on_stdout(seeded: Estate) -> None:
    workspace(seeded.tmp)

    process = seeded.run("build", "--var", "concourse_version=7.12.1")

    assert process.returncode == 0, process.stderr
    assert re.fullmatch(r"ami-[0-9a-f]{8,17}\n", process.stdout)
    assert "manifest: " in process.stderr


def test_a_failing_packer_build_reports_packers_error(seeded: Estate) -> None:
    root = workspace(seeded.tmp)

    process = seeded.run("build", "--var", "sandbox_source_ami_name=no-such-base-*")

    assert process.returncode == 1
    last = [line for line in process.stderr.splitlines() if line.startswith("error:")]
    assert last and last[0].startswith("error: packer build failed:")
    assert "hint: the full Packer output is above" in process.stderr
    assert not (root / "packer" / "manifest.json").exists()
