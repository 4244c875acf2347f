"""A web node: runs unprivileged, reads its root-only keys through systemd, answers the API."""

import json
import shlex

import pytest
from conftest import (
    file_stats,
    http_get,
    journal_cursor,
    unit_property,
    wait_for_invocation_log,
    wait_for_journal,
)

pytestmark = pytest.mark.role("web")

WEB = "concourse-web.service"


def test_web_runs_as_the_concourse_user(host):
    assert host.service(WEB).is_running
    pid = unit_property(host, WEB, "MainPID")
    assert host.check_output(f"ps -o user= -p {pid}") == "concourse"


def test_web_reruns_builds_whose_worker_disappeared(host):
    pid = unit_property(host, WEB, "MainPID")
    raw = host.check_output(f"tr '\\0' '\\n' < /proc/{pid}/environ")
    env = dict(line.split("=", 1) for line in raw.splitlines() if "=" in line)
    assert env["CONCOURSE_ENABLE_RERUN_WHEN_WORKER_DISAPPEARS"] == "true"


def test_web_keys_are_root_only_and_reach_the_unit_as_credentials(host):
    pid = unit_property(host, WEB, "MainPID")
    raw = host.check_output(f"tr '\\0' '\\n' < /proc/{pid}/environ")
    env = dict(line.split("=", 1) for line in raw.splitlines() if "=" in line)
    credentials_dir = env["CREDENTIALS_DIRECTORY"]
    keys = (
        ("CONCOURSE_SESSION_SIGNING_KEY", "session_signing_key"),
        ("CONCOURSE_TSA_HOST_KEY", "tsa_host_key"),
        ("CONCOURSE_TSA_AUTHORIZED_KEYS", "authorized_worker_keys"),
    )
    paths = [f"/etc/concourse/{name}" for _, name in keys]
    copies = [f"{credentials_dir}/{name}" for _, name in keys]
    stats = file_stats(host, *paths, *copies)
    # One sha256sum for all six files; one that cannot be read is missing from sums.
    listing = host.run(f"sha256sum -- {shlex.join(paths + copies)}").stdout
    sums = {
        path: digest for digest, path in (line.split(maxsplit=1) for line in listing.splitlines())
    }
    for (variable, name), path, copy in zip(keys, paths, copies, strict=True):
        key = stats.get(path)
        assert key and key.kind == "file", name
        assert (key.user, key.group, key.mode) == ("root", "root", 0o600), name
        # The unit reads systemd's private copy, not the root-only original.
        assert env[variable] == copy
        assert stats.get(copy) and stats[copy].kind == "file", name
        assert sums.get(copy) and sums.get(copy) == sums.get(path), name


def test_web_cannot_read_the_key_files_directly(host):
    # The unprivileged user gets systemd's private copies, never /etc/concourse itself.
    result = host.run("runuser -u concourse -- cat /etc/concourse/session_signing_key")
    assert result.rc != 0


def test_web_listens_on_the_api_and_tsa_ports(host):
    assert host.socket("tcp://0.0.0.0:8080").is_listening
    assert host.socket("tcp://0.0.0.0:2222").is_listening


def test_web_api_reports_the_installed_version(host):
    info = json.loads(http_get(host, "http://127.0.0.1:8080/api/v1/info"))
    assert info["version"] == host.file("/etc/concourse/version").content_string.strip()


def test_web_health_timer_is_active(host):
    timer = host.service("concourse-health@web.timer")
    assert timer.is_running
    assert unit_property(host, "concourse-health@web.timer", "PartOf") == "concourse-web.target"


def test_web_health_check_reads_the_api_version(host):
    cursor = journal_cursor(host)
    host.run_expect([0], "systemctl start concourse-health@web.service")
    version = host.file("/etc/concourse/version").content_string.strip()
    expected = f"reports version {version}"
    assert expected in wait_for_journal(host, "concourse-health@web.service", cursor, expected)


def test_web_stops_cleanly(host):
    invocation = unit_property(host, WEB, "InvocationID")
    host.run_expect([0], f"timeout 90 systemctl stop {WEB}")
    try:
        message = "received SIGTERM, web stopping"
        assert message in wait_for_invocation_log(host, invocation, message)
        assert unit_property(host, WEB, "Result") == "success"
    finally:
        host.run_expect([0], "systemctl start concourse-web.target")
    assert host.service(WEB).is_running
