"""kill -9 at each step of set-ids, publish, release and rollout; the re-run converges, and
every change has exactly one event (a change found done with its event missing gets it,
marked recovered)."""

from __future__ import annotations

import base64
import json
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from promote.clock import SystemClock
from promote.domain.ledger import EventRef
from promote.sandbox import estate
from tests.support.estate import Estate, git_checkout, reset

HOOK = {
    "PROMOTE_TEST_HOOKS": "tests.support.crash:install",
    "AWS_EC2_METADATA_DISABLED": "true",
}
REPO_ROOT = Path(__file__).resolve().parents[2]


def run(seeded: Estate, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """The CLI as a subprocess that can find the tests package (for the hook)."""
    return seeded.run(*args, env={**HOOK, "PYTHONPATH": str(REPO_ROOT), **env})


def calls_of(seeded: Estate, tmp: Path, *args: str) -> int:
    """How many AWS calls a clean run of ARGS makes (then the estate is fresh again)."""
    log = tmp / "calls.log"
    result = run(seeded, *args, PROMOTE_CALL_LOG=str(log))
    assert result.returncode == 0, result.stderr
    count = len(log.read_text().splitlines())
    fresh(seeded)
    return count


def fresh(seeded: Estate) -> None:
    """A newly seeded estate (same fixture object)."""
    reset(seeded.server)
    seeded.report = estate.seed(seeded.aws, seeded.config, SystemClock())


def crash_points(total: int, most: int = 6) -> list[int]:
    """Up to MOST call numbers spread over 1..TOTAL, first and last included."""
    if total <= most:
        return list(range(1, total + 1))
    step = (total - 1) / (most - 1)
    return sorted({round(1 + i * step) for i in range(most)})


RECOVERED = "recorded the missing event (recovered)"
# Right after the change (the secret write, the copy), before its change index entry; and
# between that entry and the event itself.
KILL_BEFORE = {
    "index": "PutObject:/events/by-change/",
    "event": "PutObject:/events/2",
}
KILL_POINTS = pytest.mark.parametrize("before", sorted(KILL_BEFORE))


def events_of(seeded: Estate, kind: str, change: str | None = None) -> list[EventRef]:
    """The KIND events in the ledger (of CHANGE, when given)."""
    refs = [EventRef.parse(k) for k in seeded.ledger_keys()]
    return [r for r in refs if r is not None and r.kind == kind and change in (None, r.change)]


def predicate(seeded: Estate, ref: EventRef) -> dict[str, Any]:
    """What the event's signed Statement says."""
    envelope = json.loads(seeded.ledger_object(ref.key))
    found: dict[str, Any] = json.loads(base64.b64decode(envelope["payload"]))["predicate"]
    return found


def rerun_twice_at_once(seeded: Estate, *args: str) -> list[subprocess.CompletedProcess[str]]:
    """Two re-runs of ARGS started together."""
    with ThreadPoolExecutor(max_workers=2) as pool:
        return list(pool.map(lambda _: run(seeded, *args), range(2)))


def assert_recorded_once(
    seeded: Estate, kind: str, change: str, reruns: list[subprocess.CompletedProcess[str]]
) -> EventRef:
    """Exactly one KIND event of CHANGE, marked recovered, and one re-run said it wrote it."""
    for rerun in reruns:
        assert rerun.returncode == 0, rerun.stderr
    [event] = events_of(seeded, kind, change)
    said = predicate(seeded, event)
    assert said["recovered"] is True and said["change"] == change, said
    told = [r for r in reruns if RECOVERED in r.stdout + r.stderr]
    assert len(told) == 1, [r.stdout + r.stderr for r in reruns]
    return event


def copies_of(seeded: Estate, source: str) -> list[str]:
    images = seeded.client("ec2").describe_images(
        Owners=["self"], Filters=[{"Name": "tag:promote:source-image", "Values": [source]}]
    )["Images"]
    return [i["ImageId"] for i in images]


def test_set_ids_killed_at_any_call_converges_to_the_right_secret(
    seeded: Estate, tmp_path: Path
) -> None:
    def args() -> tuple[str, ...]:
        return ("set-ids", "--ami", seeded.tested, "--env", "management-dev")

    for point in crash_points(calls_of(seeded, tmp_path, *args())):
        _, before = seeded.secret()
        killed = run(seeded, *args(), PROMOTE_CRASH_AT=str(point))
        assert killed.returncode == -9, (point, killed.stderr)

        again = run(seeded, *args())

        assert again.returncode == 0, (point, again.stderr)
        version, secret = seeded.secret()
        assert secret == {**before, "concourse_ami_mgmt_dev": seeded.tested}, point
        assert len(events_of(seeded, "set-ids", version)) == 1, point
        assert len(events_of(seeded, "set-ids")) == 1, point
        fresh(seeded)


def test_publish_killed_at_any_call_leaves_exactly_one_tested_copy(
    seeded: Estate, tmp_path: Path
) -> None:
    def args() -> tuple[str, ...]:
        return ("publish", "--ami", seeded.untested, "--interval", "0.2s")

    assert seeded.cli("validate", "--env", "management-dev", "--timeout", "0").exit_code == 0
    total = calls_of(seeded, tmp_path, *args())
    for point in crash_points(total):
        assert seeded.cli("validate", "--env", "management-dev", "--timeout", "0").exit_code == 0
        killed = run(seeded, *args(), PROMOTE_CRASH_AT=str(point))
        assert killed.returncode == -9, (point, killed.stderr)

        again = run(seeded, *args())

        assert again.returncode == 0, (point, again.stderr)
        copies = copies_of(seeded, seeded.untested)
        assert copies == [again.stdout.strip()], (point, copies)
        assert len(events_of(seeded, "publish", copies[0])) == 1, point
        assert len(events_of(seeded, "publish")) == 1, point
        fresh(seeded)


def test_release_killed_at_any_call_makes_one_release(seeded: Estate, tmp_path: Path) -> None:
    checkout = tmp_path / "checkout"
    repo = git_checkout(checkout)
    token_free = {"GITHUB_TOKEN": "", "GH_TOKEN": ""}
    args = ("release", "--ami", seeded.untested, "--git-repo", str(checkout))
    seeded.cli("validate", "--env", "management-dev", "--timeout", "0")
    log = tmp_path / "calls.log"
    assert run(seeded, *args, PROMOTE_CALL_LOG=str(log), **token_free).returncode == 0
    total = len(log.read_text().splitlines())
    for point in crash_points(total):
        for tag in list(repo.tags):
            repo.delete_tag(tag)
        repo.head.reset(
            "HEAD~1" if repo.head.commit.message.startswith("Release") else "HEAD",
            index=True,
            working_tree=True,
        )
        killed = run(seeded, *args, PROMOTE_CRASH_AT=str(point), **token_free)
        assert killed.returncode == -9, (point, killed.stderr)

        again = run(seeded, *args, **token_free)
        third = run(seeded, *args, **token_free)

        assert again.returncode == third.returncode == 0, (point, again.stderr)
        assert len(repo.tags) == 1, point
        releases = [c for c in repo.iter_commits() if c.message.startswith("Release")]
        assert len(releases) == 1, point
        # One event per release (its change id is the tag), also after a kill before it.
        assert [e.change for e in events_of(seeded, "release")] == [repo.tags[0].name], point


def test_rollout_killed_at_any_call_is_resumed_to_the_original_capacity(
    seeded: Estate, tmp_path: Path
) -> None:
    def args() -> tuple[str, ...]:
        fast = ("--interval", "0.2s", "--timeout", "2m", "--no-validate")
        return ("rollout", "--env", "management-dev", "--ami", seeded.tested, *fast)

    groups = ("concourse-web-management-dev", "concourse-worker-management-dev")
    original = {g: seeded.group(g)["DesiredCapacity"] for g in groups}
    seeded.point("management-dev", seeded.tested)  # a rollout goes where the secret says
    total = calls_of(seeded, tmp_path, *args())
    for point in crash_points(total, most=5):
        seeded.point("management-dev", seeded.tested)  # on the fresh estate
        killed = run(seeded, *args(), PROMOTE_CRASH_AT=str(point))
        assert killed.returncode == -9, (point, killed.stderr)

        again = run(seeded, *args(), "--resume")

        assert again.returncode == 0, (point, again.stderr)
        for group in groups:
            raw = seeded.group(group)
            assert raw["DesiredCapacity"] == original[group], (point, group)
            assert not [t for t in raw.get("Tags", []) if t["Key"] == "promote:rollout"], point
            ids = [m["InstanceId"] for m in raw["Instances"]]
            found = seeded.client("ec2").describe_instances(InstanceIds=ids)["Reservations"]
            assert {i["ImageId"] for r in found for i in r["Instances"]} == {seeded.tested}
        fresh(seeded)


@KILL_POINTS
def test_set_ids_killed_after_its_secret_write_gets_exactly_one_event(
    seeded: Estate, before: str
) -> None:
    args = ("set-ids", "--ami", seeded.tested, "--env", "management-dev")
    killed = run(seeded, *args, PROMOTE_CRASH_BEFORE=KILL_BEFORE[before])
    assert killed.returncode == -9, killed.stderr
    version, secret = seeded.secret()
    assert secret["concourse_ami_mgmt_dev"] == seeded.tested
    assert events_of(seeded, "set-ids") == []
    lost = run(seeded, "audit")
    assert lost.returncode == 3 and "event-missing" in lost.stdout, lost.stdout + lost.stderr
    assert version in lost.stdout

    reruns = rerun_twice_at_once(seeded, *args)
    third = run(seeded, *args)

    event = assert_recorded_once(seeded, "set-ids", version, reruns)
    said = predicate(seeded, event)
    assert said["after"] == {"management-dev": seeded.tested}
    assert said["secret_version_id"] == version
    assert third.returncode == 0 and RECOVERED not in third.stdout + third.stderr
    assert events_of(seeded, "set-ids") == [event]
    assert seeded.secret()[0] == version  # nothing was written again
    audit = run(seeded, "audit")
    assert audit.returncode == 0, audit.stdout + audit.stderr


@KILL_POINTS
def test_pin_killed_after_its_secret_write_gets_exactly_one_event(
    seeded: Estate, before: str
) -> None:
    args = ("pin", "--env", "management-dev", "--reason", "hold", "--owner", "alice")
    killed = run(seeded, *args, PROMOTE_CRASH_BEFORE=KILL_BEFORE[before])
    assert killed.returncode == -9, killed.stderr
    version, secret = seeded.secret()
    pinned = secret["_pins"]["management-dev"]
    assert events_of(seeded, "pin") == []

    reruns = rerun_twice_at_once(seeded, *args)
    third = run(seeded, *args)

    event = assert_recorded_once(seeded, "pin", version, reruns)
    assert predicate(seeded, event)["after"]["pin"] == pinned  # the pin as written, its time
    assert third.returncode == 0 and RECOVERED not in third.stdout + third.stderr
    assert events_of(seeded, "pin") == [event]
    assert seeded.secret()[0] == version


@KILL_POINTS
def test_unpin_killed_after_its_secret_write_gets_exactly_one_event(
    seeded: Estate, before: str
) -> None:
    args = ("unpin", "--env", "management", "--reason", "release", "--apply")
    pin_before = seeded.secret()[1]["_pins"]["management"]
    killed = run(seeded, *args, PROMOTE_CRASH_BEFORE=KILL_BEFORE[before])
    assert killed.returncode == -9, killed.stderr
    version, secret = seeded.secret()
    assert "management" not in secret.get("_pins", {})

    reruns = rerun_twice_at_once(seeded, *args)
    third = run(seeded, *args)

    event = assert_recorded_once(seeded, "unpin", version, reruns)
    said = predicate(seeded, event)
    assert said["before"]["pin"] == pin_before and said["after"]["pin"] is None
    assert third.returncode == 0 and RECOVERED not in third.stdout + third.stderr
    assert events_of(seeded, "unpin") == [event]


@KILL_POINTS
def test_publish_killed_after_its_copy_gets_exactly_one_event(seeded: Estate, before: str) -> None:
    args = ("publish", "--ami", seeded.untested, "--interval", "0.2s")
    assert seeded.cli("validate", "--env", "management-dev", "--timeout", "0").exit_code == 0
    killed = run(seeded, *args, PROMOTE_CRASH_BEFORE=KILL_BEFORE[before])
    assert killed.returncode == -9, killed.stderr
    [copy] = copies_of(seeded, seeded.untested)
    assert events_of(seeded, "publish") == []

    reruns = rerun_twice_at_once(seeded, *args)
    third = run(seeded, *args)

    event = assert_recorded_once(seeded, "publish", copy, reruns)
    assert predicate(seeded, event)["tested_image"] == copy
    assert [r.stdout.strip() for r in [*reruns, third]] == [copy, copy, copy]
    assert events_of(seeded, "publish") == [event]
    # The copy inherits its source's evidence through that event: the gate opens for it.
    gate = run(seeded, "gate", "--ami", copy)
    assert gate.returncode == 0, gate.stdout + gate.stderr
