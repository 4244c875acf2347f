"""The worker image's drain agent (ansible/roles/concourse/files/concourse-drain-agent) against
the stand-in IMDS and the recording lifecycle-action API, which checks every SigV4 signature
with botocore's signer. systemd and the clock are the only things faked in-process."""

from __future__ import annotations

import importlib.machinery
import importlib.util
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.fakes.concourse_server import FakeConcourse
from tests.fakes.instance_metadata import FakeImds
from tests.fakes.lifecycle_api import FakeLifecycleApi

AGENT = Path(__file__).parents[3] / "ansible/roles/concourse/files/concourse-drain-agent"
UNIT = "concourse-worker.service"


def load_agent() -> ModuleType:
    loader = importlib.machinery.SourceFileLoader("concourse_drain_agent", str(AGENT))
    spec = importlib.util.spec_from_loader(loader.name, loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[loader.name] = module  # dataclasses look their module up there
    loader.exec_module(module)
    return module


agent_module = load_agent()


class Systemd:
    """The worker unit: `stop --no-block` makes it deactivating for DRAIN_POLLS state reads
    (builds draining; None: forever), then inactive."""

    def __init__(self, drain_polls: int | None) -> None:
        self.state = "active"
        self.left = drain_polls
        self.commands: list[list[str]] = []

    def __call__(self, argv: list[str], **_: Any) -> subprocess.CompletedProcess[str]:
        self.commands.append(argv)
        out = ""
        if argv[:3] == ["systemctl", "stop", "--no-block"]:
            self.state = "deactivating"
        elif argv[:2] == ["systemctl", "show"]:
            if self.state == "deactivating" and self.left is not None:
                if self.left <= 0:
                    self.state = "inactive"
                self.left -= 1
            out = self.state + "\n"
        return subprocess.CompletedProcess(argv, 0, out, "")


class Clock:
    """Time that moves only when the agent sleeps; AFTER_SLEEP runs after each sleep."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.after_sleep: list[Callable[[int], None]] = []
        self.sleeps = 0

    def sleep(self, seconds: float) -> None:
        self.now += seconds
        self.sleeps += 1
        for hook in self.after_sleep:
            hook(self.sleeps)


@pytest.fixture
def imds() -> Iterator[FakeImds]:
    with FakeImds() as served:
        yield served


@pytest.fixture
def api(imds: FakeImds) -> Iterator[FakeLifecycleApi]:
    keys = {imds.access_key: imds.secret_key}
    with FakeLifecycleApi(keys=keys, groups={imds.instance_id: imds.group}) as served:
        yield served


def make_agent(
    imds: FakeImds, api: FakeLifecycleApi, systemd: Systemd, clock: Clock, **settings: Any
) -> Any:
    chosen = {
        "imds_url": imds.url,
        "autoscaling_url": api.url,
        "worker_name": "ci-concourse-worker-a-0123",
        "poll_seconds": 5.0,
        "heartbeat_seconds": 20.0,
        "max_seconds": 600.0,
        **settings,
    }
    return agent_module.Agent(
        agent_module.Settings(**chosen), run=systemd, clock=lambda: clock.now, sleep=clock.sleep
    )


def test_terminated_retires_the_worker_heartbeats_while_it_drains_then_continues(
    imds: FakeImds, api: FakeLifecycleApi
) -> None:
    imds.lifecycle_state = "Terminated"
    systemd, clock = Systemd(drain_polls=12), Clock()  # ~60 s of draining at 5 s polls

    status = make_agent(imds, api, systemd, clock).watch()

    assert status == 0
    assert systemd.commands[0] == ["systemctl", "stop", "--no-block", UNIT]
    actions = api.actions()
    assert actions[-1] == "CompleteLifecycleAction"
    beats = actions[:-1]
    assert set(beats) == {"RecordLifecycleActionHeartbeat"}
    assert len(beats) == 3  # at 0, 20 and 40 s of a 60 s drain
    complete = api.calls[-1].params
    assert complete == {
        "AutoScalingGroupName": imds.group,
        "LifecycleHookName": "concourse-worker-drain",
        "InstanceId": imds.instance_id,
        "LifecycleActionResult": "CONTINUE",
    }
    assert api.refused == []


def test_a_drain_longer_than_the_maximum_still_lets_the_instance_go(
    imds: FakeImds, api: FakeLifecycleApi
) -> None:
    imds.lifecycle_state = "Terminated"
    systemd, clock = Systemd(drain_polls=None), Clock()  # builds that never finish
    started = clock.now

    status = make_agent(imds, api, systemd, clock, max_seconds=100.0).watch()

    assert status == 0
    assert 100 <= clock.now - started < 105
    assert api.actions() == ["RecordLifecycleActionHeartbeat"] * 5 + ["CompleteLifecycleAction"]
    assert api.calls[-1].params["LifecycleActionResult"] == "CONTINUE"


def test_in_service_keeps_watching_until_the_hook_holds_the_instance(
    imds: FakeImds, api: FakeLifecycleApi
) -> None:
    systemd, clock = Systemd(drain_polls=0), Clock()

    def scale_in(sleeps: int) -> None:
        if sleeps == 3:
            imds.lifecycle_state = "Terminated"

    clock.after_sleep.append(scale_in)
    status = make_agent(imds, api, systemd, clock).watch()

    assert status == 0
    assert clock.sleeps >= 3
    assert imds.asked.count("autoscaling/target-lifecycle-state") >= 4
    assert api.actions() == ["CompleteLifecycleAction"]  # drained at once: no heartbeat needed


def test_a_spot_interruption_retires_the_worker_and_completes_nothing_without_a_hook(
    imds: FakeImds, api: FakeLifecycleApi
) -> None:
    imds.spot_action = {"action": "terminate", "time": "2026-12-04T01:00:00Z"}
    systemd, clock = Systemd(drain_polls=2), Clock()

    status = make_agent(imds, api, systemd, clock).watch()

    assert status == 0
    assert ["systemctl", "stop", "--no-block", UNIT] in systemd.commands
    assert api.actions() == []


def test_with_a_concourse_url_it_waits_until_the_web_node_forgets_the_worker(
    imds: FakeImds, api: FakeLifecycleApi, tmp_path: Path
) -> None:
    imds.lifecycle_state = "Terminated"
    systemd, clock = Systemd(drain_polls=0), Clock()
    token = tmp_path / "token"
    token.write_text("drain-bearer-sentinel\n")
    with FakeConcourse(token="drain-bearer-sentinel") as concourse:
        concourse.add_worker("ci-concourse-worker-a-0123")
        concourse.add_worker("another-worker")

        def forget(sleeps: int) -> None:
            if sleeps == 8:
                with concourse.lock:
                    del concourse.workers["ci-concourse-worker-a-0123"]

        clock.after_sleep.append(forget)
        agent = make_agent(
            imds,
            api,
            systemd,
            clock,
            concourse_url=concourse.url,
            concourse_token_file=str(token),
        )
        status = agent.watch()

    assert status == 0
    assert clock.sleeps == 8  # the unit stopped at once; the web node listed it for 40 s
    assert api.actions() == ["RecordLifecycleActionHeartbeat"] * 2 + ["CompleteLifecycleAction"]


def test_the_group_comes_from_describe_auto_scaling_instances_without_instance_tags(
    imds: FakeImds, api: FakeLifecycleApi
) -> None:
    imds.lifecycle_state = "Terminated"
    imds.tags_exposed = False

    status = make_agent(imds, api, Systemd(drain_polls=0), Clock()).watch()

    assert status == 0
    assert api.actions()[0] == "DescribeAutoScalingInstances"
    assert api.calls[-1].params["AutoScalingGroupName"] == imds.group


def test_requests_signed_with_the_wrong_key_are_refused_and_the_agent_fails(
    imds: FakeImds,
) -> None:
    imds.lifecycle_state = "Terminated"
    keys = {imds.access_key: "not-the-secret-imds-hands-out"}
    with FakeLifecycleApi(keys=keys) as wrong:
        status = make_agent(imds, wrong, Systemd(drain_polls=0), Clock()).watch()

    assert status == 1  # systemd restarts it (Restart=on-failure), and it tries again
    assert wrong.calls == []
    assert wrong.refused and all("SignatureDoesNotMatch" in r for r in wrong.refused)


def test_settings_come_from_drain_variables_with_defaults() -> None:
    settings = agent_module.Settings.from_environ(
        {"DRAIN_MAX_SECONDS": "900", "DRAIN_HOOK_NAME": "drain", "DRAIN_CONCOURSE_URL": ""}
    )

    assert settings.max_seconds == 900.0
    assert settings.hook_name == "drain"
    assert settings.concourse_url == ""
    assert settings.heartbeat_seconds == 60.0
    assert settings.imds_url == "http://169.254.169.254"


def test_iam_policy_drain_agent_grants_exactly_what_the_agent_calls(
    imds: FakeImds, api: FakeLifecycleApi, tmp_path: Path
) -> None:
    from promote.config import Overrides, load
    from promote.domain.permissions import drain_agent_policy

    imds.lifecycle_state = "Terminated"
    imds.tags_exposed = False  # the path that also looks its group up
    make_agent(imds, api, Systemd(drain_polls=1), Clock()).watch()
    document = drain_agent_policy(load(Overrides(), {}, tmp_path))

    granted = {a for s in document["Statement"] for a in s["Action"]}
    assert {f"autoscaling:{a}" for a in api.actions()} == granted
    (scoped,) = [s for s in document["Statement"] if s["Sid"] == "DrainLifecycleAction"]
    assert all(":autoScalingGroupName/concourse-worker-" in arn for arn in scoped["Resource"])
