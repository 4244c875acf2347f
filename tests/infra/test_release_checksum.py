"""On a never-provisioned host, a wrong tarball sha256 or sha1 fails the play and installs
nothing; a release with neither digest is refused before anything is downloaded."""

import hashlib

import pytest

pytestmark = pytest.mark.fresh_host

WRONG_SHA256 = hashlib.sha256(b"not the Concourse release").hexdigest()
WRONG_SHA1 = hashlib.sha1(b"not the Concourse release", usedforsecurity=False).hexdigest()


def test_wrong_sha256_fails_the_play_with_a_clear_message_and_installs_nothing(host, release):
    assert not host.file("/usr/local/concourse").exists, (
        "needs a host Concourse was never installed on"
    )
    # Only the concourse role: the base hardening in front of it has nothing to do with this.
    result = release.run_playbook(
        "-e", f"concourse_tarball_sha256={WRONG_SHA256}", "--skip-tags", "common"
    )
    output = result.stdout + result.stderr
    assert result.returncode != 0, output[-4000:]
    assert f"Concourse {release.version} was NOT installed" in output
    assert WRONG_SHA256 in output
    assert "did not match" in output  # get_url's reason, carried into the failure message
    assert not host.file("/usr/local/concourse").exists
    assert not host.file(f"/usr/local/concourse-{release.version}").exists
    assert not host.file(f"/usr/local/.concourse-{release.version}.partial").exists
    assert not host.file(f"/var/tmp/concourse-{release.version}-linux-amd64.tgz").exists
    assert not host.file("/etc/concourse/version").exists


def test_missing_sha256_is_refused_before_anything_is_downloaded(host, release):
    result = release.run_playbook("-e", "concourse_tarball_sha256=", "--skip-tags", "common")
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "concourse_tarball_sha256 (64 lowercase hex digits)" in output
    assert not host.file("/usr/local/concourse").exists


def test_wrong_sha1_fails_the_play_the_same_way(host, release):
    # The sha1 a Concourse release publishes beside its tarball, used when no sha256 is given.
    result = release.run_playbook(
        "-e",
        "concourse_tarball_sha256=",
        "-e",
        f"concourse_tarball_sha1={WRONG_SHA1}",
        "--skip-tags",
        "common",
    )
    output = result.stdout + result.stderr
    assert result.returncode != 0, output[-4000:]
    assert f"Concourse {release.version} was NOT installed" in output
    assert f"sha1:{WRONG_SHA1}" in output
    assert "did not match" in output
    assert not host.file("/usr/local/concourse").exists
    assert not host.file(f"/usr/local/concourse-{release.version}").exists
    assert not host.file(f"/var/tmp/concourse-{release.version}-linux-amd64.tgz").exists


def test_no_digest_at_all_is_refused_and_names_both_algorithms(host, release):
    result = release.run_playbook(
        "-e", "concourse_tarball_sha256=", "-e", "concourse_tarball_sha1=", "--skip-tags", "common"
    )
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "concourse_tarball_sha1 (40 lowercase hex digits" in output
    assert not host.file("/usr/local/concourse").exists
