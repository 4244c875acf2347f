"""The image playbook converges: a second run against a built node changes nothing.

Against a real node (EC2) the test runs the playbook again. For the local VM image the second
run already happened inside its Packer build (scripts/vm/ansible-converges fails the build on
any change) and `make vm-test` points PROMOTE_INFRA_IDEMPOTENCE_RECORD at that run's record: the
test then judges the recorded run by the same rules, after checking it is a record of this
playbook (inputs digest), this ansible-core and the release this node runs.
"""

import importlib.metadata
import json
import os
import pathlib

import playbook_run
import pytest

pytestmark = pytest.mark.role("worker")  # one run is enough; vm-test runs it on the worker VM


def assert_no_changes(returncode: int, stdout: str, stderr: str = "") -> None:
    assert returncode == 0, stdout[-4000:] + stderr[-2000:]
    recap = playbook_run.recap(stdout)
    assert recap, stdout[-2000:]
    assert all(changed == 0 for changed, _, _ in recap), (
        f"changed on the second run: {playbook_run.changed_tasks(stdout)}"
    )
    assert all(unreachable == 0 and failed == 0 for _, unreachable, failed in recap), recap


def test_second_playbook_run_reports_no_changes(host, release):
    record_file = os.environ.get("PROMOTE_INFRA_IDEMPOTENCE_RECORD")
    if not record_file:
        result = release.run_playbook("-e", f"concourse_tarball_sha256={release.sha256}")
        assert_no_changes(result.returncode, result.stdout, result.stderr)
        return
    record = json.loads(pathlib.Path(record_file).read_text())
    assert record["playbook_inputs_sha256"] == playbook_run.inputs_digest(), (
        "the record is of another version of the playbook: rebuild the image"
    )
    assert record["ansible_core"] == importlib.metadata.version("ansible-core")
    assert record["concourse_tarball_sha256"] == release.sha256
    assert record["concourse_version"] == release.version
    assert host.file("/etc/concourse/version").content_string.strip() == release.version
    assert_no_changes(record["returncode"], record["stdout"])
    assert record["converged"] is True
