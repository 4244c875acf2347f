"""The image playbook converges: a second run against a built node changes nothing."""

import re

import pytest

pytestmark = pytest.mark.role("worker")  # one run is enough; vm-test runs it on the worker VM


def test_second_playbook_run_reports_no_changes(host, release):
    result = release.run_playbook("-e", f"concourse_tarball_sha256={release.sha256}")
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    recap = re.findall(
        r"^\S+\s+: ok=\d+\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)",
        result.stdout,
        re.MULTILINE,
    )
    assert recap, result.stdout[-2000:]
    changed_tasks = re.findall(
        r"^(?:TASK|RUNNING HANDLER) \[([^\]]+)\][^\n]*\n(?:[^\n]*\n)*?changed:",
        result.stdout,
        re.MULTILINE,
    )
    assert all(changed == "0" for changed, _, _ in recap), (
        f"changed on the second run: {changed_tasks}"
    )
