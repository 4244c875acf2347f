"""A worker node: containerd runtime, work dir, health check, and retiring when stopped."""

import re
import signal

import pytest
from conftest import (
    file_stats,
    http_get,
    journal_cursor,
    unit_property,
    wait_for_invocation_log,
    wait_for_journal,
)

pytestmark = pytest.mark.role("worker")

WORKER = "concourse-worker.service"
RETIRE_MESSAGE = "received SIGUSR2, retiring worker"


def worker_environment(host) -> dict[str, str]:
    pid = unit_property(host, WORKER, "MainPID")
    assert pid != "0", "the worker is not running"
    raw = host.check_output(f"tr '\\0' '\\n' < /proc/{pid}/environ")
    return dict(line.split("=", 1) for line in raw.splitlines() if "=" in line)


def test_worker_runs_as_root_with_the_containerd_runtime(host):
    assert host.service(WORKER).is_running
    pid = unit_property(host, WORKER, "MainPID")
    assert host.check_output(f"ps -o user= -p {pid}") == "root"
    env = worker_environment(host)
    assert env["CONCOURSE_RUNTIME"] == "containerd"
    assert env["CONCOURSE_CONTAINERD_CONFIG"] == "/etc/containerd/config.toml"
    assert env["CONCOURSE_WORK_DIR"] == "/concourse/worker"


def test_worker_is_ephemeral_so_a_replaced_instance_leaves_concourse_at_once(host):
    # An ASG worker never comes back: the web node drops it instead of keeping it stalled.
    assert worker_environment(host)["CONCOURSE_EPHEMERAL"] == "true"


def test_worker_work_dir_is_root_only(host):
    work_dir = file_stats(host, "/concourse/worker").get("/concourse/worker")
    assert work_dir and work_dir.kind == "directory"
    assert (work_dir.user, work_dir.mode) == ("root", 0o700)


def test_worker_healthcheck_listens_on_8888(host):
    assert host.socket("tcp://0.0.0.0:8888").is_listening
    assert http_get(host, "http://127.0.0.1:8888/").strip() == "ok"


def test_worker_key_exists(host):
    key = file_stats(host, "/etc/concourse/worker_key").get("/etc/concourse/worker_key")
    assert key and key.kind == "file" and (key.user, key.mode) == ("root", 0o600)


def systemd_timespan_seconds(timespan: str) -> float:
    """Seconds in a systemd timespan as `systemctl show` prints it, e.g. "1h 30min 5s"."""
    units = {"d": 86400, "h": 3600, "min": 60, "s": 1, "ms": 0.001, "us": 0.000001}
    parts = re.findall(r"(\d+)(d|h|min|ms|us|s)", timespan)
    assert parts, f"not a timespan: {timespan!r}"
    return sum(int(number) * units[unit] for number, unit in parts)


def test_worker_unit_retires_on_stop_and_waits_for_builds(host):
    assert unit_property(host, WORKER, "KillMode") == "process"
    assert unit_property(host, WORKER, "KillSignal") == str(int(signal.SIGUSR2))
    timeout = unit_property(host, WORKER, "TimeoutStopUSec")
    # At least half an hour for running builds to drain before systemd gives up.
    assert systemd_timespan_seconds(timeout) >= 1800, f"TimeoutStopSec is {timeout}"


def test_worker_health_timer_is_active(host):
    timer = host.service("concourse-health@worker.timer")
    assert timer.is_running
    assert (
        unit_property(host, "concourse-health@worker.timer", "PartOf") == "concourse-worker.target"
    )


def test_worker_health_check_passes_on_a_healthy_worker(host):
    cursor = journal_cursor(host)
    host.run_expect([0], "systemctl start concourse-health@worker.service")
    assert "worker healthy" in wait_for_journal(
        host, "concourse-health@worker.service", cursor, "worker healthy"
    )


def test_worker_health_check_reaches_threshold_and_only_logs_without_imds(host):
    threshold = int(
        host.check_output(
            "sed -n 's/^CONCOURSE_HEALTH_FAILURE_THRESHOLD=//p' /etc/concourse/health.env"
        )
    )
    host.run_expect([0], "systemctl stop concourse-health@worker.timer")
    host.run_expect([0], f"systemctl stop {WORKER}")
    try:
        cursor = journal_cursor(host)
        for _ in range(threshold):
            # Exit 0 each time: no IMDS on this host is not a failure of the check itself.
            host.run_expect([0], "systemctl start concourse-health@worker.service")
        journal = wait_for_journal(
            host, "concourse-health@worker.service", cursor, "no instance metadata service"
        )
        assert f"worker check failed {threshold} time(s) in a row" in journal
        assert f"reached the threshold of {threshold}" in journal
        assert "no instance metadata service" in journal
    finally:
        host.run_expect([0], "systemctl start concourse-worker.target")
    host.run_expect(
        [0],
        "timeout 60 sh -c 'until python3 -c \"import urllib.request as u; "
        'u.urlopen(\\"http://127.0.0.1:8888/\\", timeout=2)" 2>/dev/null; do sleep 1; done\'',
    )
    cursor = journal_cursor(host)
    host.run_expect([0], "systemctl start concourse-health@worker.service")
    assert "worker healthy" in wait_for_journal(
        host, "concourse-health@worker.service", cursor, "worker healthy"
    )
    assert host.file("/run/concourse-health/worker.failures").content_string.strip() == "0"


def test_worker_retires_on_stop(host):
    invocation = unit_property(host, WORKER, "InvocationID")
    host.run_expect([0], f"timeout 120 systemctl stop {WORKER}")
    try:
        assert RETIRE_MESSAGE in wait_for_invocation_log(host, invocation, RETIRE_MESSAGE)
        # Retiring is a clean exit, not a kill after the timeout.
        assert unit_property(host, WORKER, "Result") == "success"
        assert unit_property(host, WORKER, "ExecMainStatus") == "0"
    finally:
        host.run_expect([0], "systemctl start concourse-worker.target")
    assert host.service(WORKER).is_running
