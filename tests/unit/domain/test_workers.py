"""Landing a worker before its instance goes: wait for it to land, bounded by the drain timeout."""

from __future__ import annotations

from promote.adapters.concourse import ConcourseAPI
from promote.domain.workers import WorkerLander
from tests.fakes.concourse_server import FakeConcourse
from tests.support.fakes import FakeClock


def test_a_worker_is_landed_and_waited_for() -> None:
    with FakeConcourse(token="t") as concourse:
        concourse.add_worker("ip-10-42-0-5", polls_to_land=3)
        clock, lines = FakeClock(), []
        lander = WorkerLander(ConcourseAPI(concourse.url, "t"), clock, lines.append, 600, 5)

        landed = lander.land_instance({"i-0abc", "ip-10-42-0-5"})

    assert landed == "ip-10-42-0-5"
    assert concourse.landed == ["ip-10-42-0-5"]
    assert lines[-1] == "worker ip-10-42-0-5 is landed"
    assert clock.slept == [5, 5]


def test_a_worker_that_never_drains_is_given_up_on_at_the_drain_timeout() -> None:
    with FakeConcourse(token="t") as concourse:
        concourse.add_worker("busy", polls_to_land=10_000)
        clock, lines = FakeClock(), []
        lander = WorkerLander(ConcourseAPI(concourse.url, "t"), clock, lines.append, 20, 5)

        landed = lander.land_instance({"busy"})

    assert landed == "busy"
    assert sum(clock.slept) == 20
    assert "after the drain timeout; terminating it anyway" in lines[-1]


def test_an_instance_without_a_worker_is_not_landed() -> None:
    with FakeConcourse(token="t") as concourse:
        concourse.add_worker("someone-else")
        lander = WorkerLander(ConcourseAPI(concourse.url, "t"), FakeClock(), print, 600, 5)

        assert lander.land_instance({"i-0web"}) is None
    assert concourse.landed == []
