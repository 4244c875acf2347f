"""Draining workers through a Concourse web node (the stand-in): find them, wait for their
replacements, never retire a pool's last running worker, give up at the drain timeout."""

from __future__ import annotations

import pytest

from promote.adapters.concourse import ConcourseAPI
from promote.domain.fleet import SeenInstance
from promote.domain.workers import WorkerDrain
from promote.errors import PromoteError
from tests.fakes.concourse_server import FakeConcourse
from tests.support.fakes import FakeClock

GROUP = "concourse-worker-management-dev"


def instance(instance_id: str, name_tag: str = "", dns: str = "") -> SeenInstance:
    """An ASG member as a rollout sees it."""
    return SeenInstance(
        instance_id, GROUP, "InService", "Healthy", "ami-1", "running", dns, "", name_tag
    )


def drain(
    concourse: FakeConcourse, clock: FakeClock, lines: list[str], **bounds: float
) -> WorkerDrain:
    """A WorkerDrain on the stand-in, with a 600 s drain timeout and 5 s polls by default."""
    api = ConcourseAPI(concourse.url, "t")
    return WorkerDrain(
        api, clock, lines.append, bounds.get("timeout", 600), bounds.get("interval", 5)
    )


def test_a_worker_named_after_its_name_tag_is_retired_and_waited_for() -> None:
    with FakeConcourse(token="t") as concourse:
        concourse.add_worker("ci-concourse-worker-eu-west-2a-i-0abc", polls_to_land=3)
        concourse.add_worker("ci-concourse-worker-eu-west-2b-i-0def")
        clock, lines = FakeClock(), []

        name = drain(concourse, clock, lines).drain(
            instance("i-0abc", name_tag="ci-concourse-worker-eu-west-2a-i-0abc")
        )

    assert name == "ci-concourse-worker-eu-west-2a-i-0abc"
    assert concourse.landed == [name]
    assert lines[-1] == f"worker {name} is gone"
    assert clock.slept == [5, 5]


def test_a_worker_that_never_drains_is_given_up_on_at_the_drain_timeout() -> None:
    with FakeConcourse(token="t") as concourse:
        concourse.add_worker("busy", polls_to_land=10_000)
        concourse.add_worker("other")
        clock, lines = FakeClock(), []

        name = drain(concourse, clock, lines, timeout=20).drain(instance("i-1", name_tag="busy"))

    assert name == "busy"
    assert sum(clock.slept) == 20
    assert "after the drain timeout; terminating it anyway" in lines[-1]


def test_the_last_running_worker_of_a_pool_is_never_retired() -> None:
    with FakeConcourse(token="t") as concourse:
        concourse.add_worker("gpu-1", tags=("gpu",))
        concourse.add_worker("plain-1")
        clock, lines = FakeClock(), []

        with pytest.raises(PromoteError) as refused:
            drain(concourse, clock, lines, timeout=30).drain(instance("i-1", name_tag="gpu-1"))

    assert refused.value.exit_code == 3
    assert "is the last running worker of its pool (team (all), tags [gpu], linux)" in (
        refused.value.message
    )
    assert concourse.landed == []


def test_an_old_instance_without_a_worker_is_refused_before_anything_changes() -> None:
    with FakeConcourse(token="t") as concourse:
        concourse.add_worker("ip-10-42-0-5")
        old = [instance("i-1", dns="ip-10-42-0-5.eu-west-2.compute.internal"), instance("i-2")]

        with pytest.raises(PromoteError) as refused:
            drain(concourse, FakeClock(), []).check(GROUP, old)

    assert refused.value.exit_code == 3
    assert f"{GROUP}: no Concourse worker matches i-2" in refused.value.message
    assert concourse.landed == []


def test_a_web_group_has_no_workers_to_find() -> None:
    with FakeConcourse(token="t") as concourse:
        concourse.add_worker("someone-else")

        drain(concourse, FakeClock(), []).check("concourse-web-management-dev", [instance("i-9")])

    assert concourse.landed == []


def test_replacements_are_waited_for_in_the_same_pool() -> None:
    with FakeConcourse(token="t") as concourse:
        concourse.add_worker("old-1", team="main", tags=("docker",))
        concourse.add_worker("new-1", team="main", tags=())  # wrong tags: not a replacement
        clock, lines = FakeClock(), []
        waiting = drain(concourse, clock, lines)
        old, new = [instance("i-old", name_tag="old-1")], [instance("i-new", name_tag="new-1")]

        with pytest.raises(PromoteError) as short:
            waiting.await_replacements(GROUP, old, new, deadline=30)
        concourse.add_worker("new-1", team="main", tags=("docker",))
        waiting.await_replacements(GROUP, old, new, deadline=clock.monotonic() + 30)

    assert short.value.exit_code == 3
    assert "1 in team main, tags [docker], linux missing" in short.value.message
    assert lines[-1] == f"{GROUP}: waiting for replacement workers running in Concourse: 1/1"


def test_a_user_logs_in_the_way_fly_does() -> None:
    with FakeConcourse(token="id-token-of-alice", users={"alice": "s3cret"}) as concourse:
        concourse.add_worker("w")

        api = ConcourseAPI(concourse.url, username="alice", password="s3cret")
        assert [w.name for w in api.workers()] == ["w"]
        with pytest.raises(PromoteError) as refused:
            ConcourseAPI(concourse.url, username="alice", password="wrong")

    assert refused.value.exit_code == 5
    assert "Concourse refused the login of alice (401)" in refused.value.message
    assert "wrong" not in refused.value.message
