"""`promote build --if-stale` against the local AWS, with the real packer and a real git work
tree: it builds only when the base image, the Concourse release (version or tarball digest) or
the playbook changed since the newest untested image, says which, and refuses a revoked base."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from tests.support.estate import Estate

REPO = Path(__file__).resolve().parents[2]
SHA256_A = hashlib.sha256(b"release a").hexdigest()
SHA256_B = hashlib.sha256(b"release b").hexdigest()
SHA1_A = hashlib.sha1(b"release a", usedforsecurity=False).hexdigest()


def git(root: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(root), *args], capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


@pytest.fixture
def work(seeded: Estate) -> Path:
    """The templates and roles in a git work tree of their own, committed."""
    root = seeded.tmp
    for name in ("packer", "ansible"):
        shutil.copytree(REPO / name, root / name, ignore=shutil.ignore_patterns("manifest*.json"))
    (root / ".gitignore").write_text("packer/manifest*.json\n")
    git(root, "init", "-q", "-b", "main")
    git(root, "-c", "user.email=t@example.com", "-c", "user.name=t", "add", "-A")
    git(root, "-c", "user.email=t@example.com", "-c", "user.name=t", "commit", "-qm", "image")
    return root


def commit_all(root: Path, message: str) -> str:
    git(root, "-c", "user.email=t@example.com", "-c", "user.name=t", "commit", "-qam", message)
    return git(root, "rev-parse", "HEAD")


def build(seeded: Estate, *variables: str) -> tuple[int, str, str]:
    """`promote build --if-stale` with VARIABLES: (exit code, stdout, stderr)."""
    args = ["build", "--if-stale", "--var", "concourse_version=7.12.1"]
    for variable in variables:
        args += ["--var", variable]
    process = seeded.run(*args)
    return process.returncode, process.stdout.strip(), process.stderr


def tags_of(seeded: Estate, ami: str) -> dict[str, str]:
    image = seeded.client("ec2").describe_images(ImageIds=[ami])["Images"][0]
    return {t["Key"]: t["Value"] for t in image.get("Tags", [])}


def untested_count(seeded: Estate) -> int:
    images = seeded.client("ec2").describe_images(Owners=["self"])["Images"]
    return sum({"Key": "promote:stage", "Value": "untested"} in i.get("Tags", []) for i in images)


def test_it_builds_when_the_newest_image_records_no_ancestry_then_is_up_to_date(
    seeded: Estate, work: Path
) -> None:
    commit = git(work, "rev-parse", "HEAD")

    code, ami, err = build(seeded, f"concourse_tarball_sha256={SHA256_A}")

    assert code == 0, err
    # The seeded untested image was made before ancestry tags: nothing to compare with.
    assert "stale: base image changed: (not recorded) -> ami-" in err
    tags = tags_of(seeded, ami)
    assert tags["promote:playbook-commit"] == commit
    assert tags["promote:concourse-sha256"] == SHA256_A
    assert "promote:concourse-sha1" not in tags
    base = seeded.client("ec2").describe_images(ImageIds=[tags["promote:source-ami"]])["Images"]
    assert base[0]["Name"] == tags["promote:source-ami-name"]
    before = untested_count(seeded)

    code, again, err = build(seeded, f"concourse_tarball_sha256={SHA256_A}")

    assert code == 0, err
    assert again == ami
    assert f"up to date: {ami}" in err
    assert "packer: " not in err  # Packer did not build
    assert untested_count(seeded) == before

    process = seeded.run(
        "-o", "json", "build", "--if-stale", "--var", "concourse_version=7.12.1",
        "--var", f"concourse_tarball_sha256={SHA256_A}",
    )  # fmt: skip
    document = json.loads(process.stdout)
    assert (document["ami"], document["rebuilt"], document["stale"]) == (ami, False, [])


def test_a_new_release_version_digest_or_playbook_commit_each_rebuild(
    seeded: Estate, work: Path
) -> None:
    code, first, err = build(seeded, f"concourse_tarball_sha256={SHA256_A}")
    assert code == 0, err

    code, second, err = build(
        seeded, "concourse_version=7.12.2", f"concourse_tarball_sha256={SHA256_A}"
    )
    assert code == 0, err
    assert "stale: Concourse release changed: 7.12.1 -> 7.12.2" in err
    assert second != first
    assert tags_of(seeded, second)["concourse:version"] == "7.12.2"

    code, _, err = build(seeded, f"concourse_tarball_sha256={SHA256_B}")
    assert code == 0, err
    assert f"stale: Concourse tarball sha256 changed: {SHA256_A} -> {SHA256_B}" in err
    # Only what changed is named: the base and the playbook are the same.
    assert [line for line in err.splitlines() if line.startswith("stale:")] == [
        "stale: Concourse release changed: 7.12.2 -> 7.12.1",
        f"stale: Concourse tarball sha256 changed: {SHA256_A} -> {SHA256_B}",
    ]

    code, fourth, err = build(seeded, f"concourse_tarball_sha1={SHA1_A}")
    assert code == 0, err
    assert f"stale: Concourse tarball sha1 changed: (not recorded) -> {SHA1_A}" in err
    assert tags_of(seeded, fourth)["promote:concourse-sha1"] == SHA1_A

    defaults = work / "ansible" / "roles" / "concourse" / "defaults" / "main.yml"
    defaults.write_text(defaults.read_text() + "# a change to the playbook\n")
    old = git(work, "rev-parse", "HEAD")
    code, fifth, err = build(seeded, f"concourse_tarball_sha1={SHA1_A}")
    assert code == 0, err
    assert (
        f"stale: the playbook has uncommitted changes (ansible/ or packer/ at {old}+dirty)" in err
    )
    assert tags_of(seeded, fifth)["promote:playbook-commit"] == f"{old}+dirty"

    new = commit_all(work, "playbook change")
    code, sixth, err = build(seeded, f"concourse_tarball_sha1={SHA1_A}")
    assert code == 0, err
    assert f"stale: playbook changed: {old}+dirty -> {new}" in err
    code, same, err = build(seeded, f"concourse_tarball_sha1={SHA1_A}")
    assert (code, same) == (0, sixth), err
    assert f"up to date: {sixth}" in err

    # A commit elsewhere in the repository is not a playbook change.
    (work / "NOTES.md").write_text("notes\n")
    git(work, "add", "NOTES.md")
    commit_all(work, "notes")
    code, same, err = build(seeded, f"concourse_tarball_sha1={SHA1_A}")
    assert (code, same) == (0, sixth), err


def test_a_new_base_image_rebuilds_on_it_and_a_revoked_base_is_refused(
    seeded: Estate, work: Path
) -> None:
    ec2 = seeded.client("ec2")
    seed_base = seeded.report.base_image
    account = ec2.describe_images(ImageIds=[seeded.untested])["Images"][0]["OwnerId"]
    family = ["sandbox_source_ami_name=test-base-*", f"sandbox_source_ami_owner={account}"]
    first_base = ec2.copy_image(
        SourceImageId=seed_base, SourceRegion="eu-west-2", Name="test-base-1"
    )
    code, first, err = build(seeded, *family)
    assert code == 0, err
    assert tags_of(seeded, first)["promote:source-ami"] == first_base["ImageId"]
    time.sleep(1.1)  # image creation dates are to the second
    second_base = ec2.copy_image(
        SourceImageId=seed_base, SourceRegion="eu-west-2", Name="test-base-2"
    )["ImageId"]

    code, second, err = build(seeded, *family)

    assert code == 0, err
    assert (
        f"stale: base image changed: {first_base['ImageId']} (test-base-1) -> "
        f"{second_base} (test-base-2)"
    ) in err
    assert tags_of(seeded, second)["promote:source-ami"] == second_base
    assert tags_of(seeded, second)["promote:source-ami-name"] == "test-base-2"

    revoke = seeded.run("revoke", "--ami", second_base, "--reason", "CVE-2026-0001 in the base")
    assert revoke.returncode == 0, revoke.stderr
    before = untested_count(seeded)

    code, out, err = build(seeded, *family)

    assert code == 3, err
    assert out == ""
    assert f"error: the base image is revoked: {second_base} is revoked: CVE-2026-0001" in err
    assert "hint: a revoked base is never built on" in err
    assert untested_count(seeded) == before

    # Naming another base explicitly builds on exactly it (it must match the filter).
    code, third, err = build(seeded, *family, f"source_ami={first_base['ImageId']}")
    assert code == 0, err
    assert tags_of(seeded, third)["promote:source-ami"] == first_base["ImageId"]
