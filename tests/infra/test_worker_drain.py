"""The drain agent on a worker: retire -> heartbeats -> CompleteLifecycleAction CONTINUE, and
the maximum drain. The stand-in IMDS and the recording lifecycle-action API (tests/fakes) run
on the host running these suites; the guest reaches them at PROMOTE_INFRA_HOST_ADDR (10.0.2.2
under qemu's user network: make vm-test sets it). Without it, these tests are skipped."""

import importlib.util
import os
import time

import pytest
from conftest import journal_cursor, unit_property, wait_for_journal

from tests.fakes.instance_metadata import FakeImds
from tests.fakes.lifecycle_api import FakeLifecycleApi

pytestmark = pytest.mark.role("worker")

WORKER = "concourse-worker.service"
AGENT = "concourse-drain-agent.service"
HOST_ADDR = os.environ.get("PROMOTE_INFRA_HOST_ADDR", "")
DROP_IN_DIR = "/run/systemd/system/concourse-worker.service.d"
DROP_IN = f"{DROP_IN_DIR}/drain-test.conf"
LOCAL_ENV = "/etc/concourse/drain-agent.local.env"
# botocore checks the agent's SigV4 signatures (scripts/vm/requirements.txt installs it for
# make vm-test; elsewhere, when the suites' Python has it).
SIGNATURES_CHECKED = importlib.util.find_spec("botocore") is not None


def _reached_from_guest(url: str) -> str:
    return url.replace("127.0.0.1", HOST_ADDR)


def _wait(condition, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out after {timeout_s:.0f}s waiting for {what}"
        time.sleep(0.5)


@pytest.fixture
def drain_scene(host):
    """A running worker whose builds take DRAIN seconds, an agent pointed at the stand-ins."""
    if not HOST_ADDR:
        pytest.skip("PROMOTE_INFRA_HOST_ADDR is not set (make vm-test sets it)")
    made = []

    def make(drain_seconds: int, max_seconds: int):
        imds = FakeImds().__enter__()
        keys = {imds.access_key: imds.secret_key} if SIGNATURES_CHECKED else {}
        api = FakeLifecycleApi(keys=keys).__enter__()
        made.extend([imds, api])
        host.run(f"mkdir -p {DROP_IN_DIR}")
        host.run(
            f"printf '[Service]\\nEnvironment=CONCOURSE_FIXTURE_DRAIN_SECONDS={drain_seconds}\\n'"
            f" > {DROP_IN}"
        )
        settings = {
            "DRAIN_IMDS_URL": _reached_from_guest(imds.url),
            "DRAIN_AUTOSCALING_URL": _reached_from_guest(api.url),
            "DRAIN_POLL_SECONDS": "1",
            "DRAIN_HEARTBEAT_SECONDS": "2",
            "DRAIN_MAX_SECONDS": str(max_seconds),
        }
        body = "\\n".join(f"{k}={v}" for k, v in settings.items())
        host.run(f"printf '{body}\\n' > {LOCAL_ENV}")
        host.run("systemctl daemon-reload")
        host.run(f"systemctl restart {WORKER} {AGENT}")
        _wait(lambda: host.service(WORKER).is_running, 60, "the worker to run")
        _wait(
            lambda: "autoscaling/target-lifecycle-state" in imds.asked,
            60,
            "the agent to read the target lifecycle state",
        )
        return imds, api

    yield make
    host.run(f"rm -f {DROP_IN} {LOCAL_ENV}")
    host.run(f"systemctl kill --signal=SIGKILL {WORKER}")
    host.run("systemctl daemon-reload")
    host.run(f"systemctl reset-failed {WORKER} {AGENT}")
    host.run(f"systemctl start {WORKER}")
    host.run(f"systemctl restart {AGENT}")
    for served in made:
        served.__exit__(None, None, None)
    _wait(lambda: host.service(WORKER).is_running, 60, "the worker to run again")


def test_terminated_retires_the_worker_heartbeats_while_builds_drain_then_continues(
    host, drain_scene
):
    imds, api = drain_scene(drain_seconds=8, max_seconds=120)
    cursor = journal_cursor(host)

    imds.lifecycle_state = "Terminated"
    _wait(lambda: "CompleteLifecycleAction" in api.actions(), 90, "CompleteLifecycleAction")

    # The fixture prints "builds drained" only from its SIGUSR2 (retire) handler.
    journal = wait_for_journal(host, WORKER, cursor, "builds drained after 8s")
    assert "builds drained after 8s" in journal
    agent = wait_for_journal(host, AGENT, cursor, "lifecycle action completed: CONTINUE")
    steps = [
        "target lifecycle state is Terminated",
        "retiring the worker: stopping concourse-worker.service (SIGUSR2)",
        "heartbeat sent",
        "worker drained after",
        "lifecycle action completed: CONTINUE",
    ]
    places = [agent.find(step) for step in steps]
    assert -1 not in places and places == sorted(places), agent
    actions = api.actions()
    beats = [c for c in api.calls if c.action == "RecordLifecycleActionHeartbeat"]
    assert (
        actions[-1] == "CompleteLifecycleAction" and actions.count("CompleteLifecycleAction") == 1
    )
    assert len(beats) >= 2, actions  # an 8 s drain at one heartbeat per 2 s
    complete = api.calls[-1]
    assert complete.at - beats[0].at >= 6  # it waited for the builds
    assert complete.params["LifecycleActionResult"] == "CONTINUE"
    assert complete.params["InstanceId"] == imds.instance_id
    assert complete.params["AutoScalingGroupName"] == imds.group
    assert api.refused == []
    if os.environ.get("VM_VENV"):  # make vm-test: its venv has botocore, so it checked them
        assert SIGNATURES_CHECKED
    assert unit_property(host, WORKER, "ActiveState") == "inactive"


def test_a_drain_past_the_maximum_completes_while_builds_still_run(host, drain_scene):
    imds, api = drain_scene(drain_seconds=600, max_seconds=6)

    imds.lifecycle_state = "Terminated"
    _wait(lambda: "CompleteLifecycleAction" in api.actions(), 90, "CompleteLifecycleAction")

    beats = [c for c in api.calls if c.action == "RecordLifecycleActionHeartbeat"]
    complete = api.calls[-1]
    assert beats and 4 <= complete.at - beats[0].at < 30
    assert complete.params["LifecycleActionResult"] == "CONTINUE"
    assert unit_property(host, WORKER, "ActiveState") == "deactivating"  # builds still running
    journal = host.check_output(f"journalctl --no-pager -o cat -u {AGENT} -n 20")
    assert "letting the instance go" in journal


def test_the_drain_agent_runs_with_the_worker(host):
    assert host.service(AGENT).is_enabled or "concourse-drain-agent.service" in unit_property(
        host, "concourse-worker.target", "Wants"
    )
    assert host.service(AGENT).is_running
    assert unit_property(host, AGENT, "PartOf") == "concourse-worker.target"
