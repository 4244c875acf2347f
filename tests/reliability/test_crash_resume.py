"""kill -9 at each step of set-ids, publish, release and rollout; the re-run converges."""

from __future__ import annotations

import subprocess
from pathlib import Path

from promote.clock import SystemClock
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
        _, secret = seeded.secret()
        assert secret == {**before, "concourse_ami_mgmt_dev": seeded.tested}, point
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
