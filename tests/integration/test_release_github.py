"""`promote release` and `promote dispatch` against a fake GitHub API (GitHub's wire format)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result

from tests.fakes.github_server import FakeGitHub
from tests.support.estate import Estate, git_checkout

TOKEN = "ghp_SENTINEL0000000000000000000000000000"
REPO = "acme/aws-concourse"


@pytest.fixture
def hub(fake_github: Callable[..., FakeGitHub]) -> FakeGitHub:
    return fake_github(TOKEN)


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    git_checkout(tmp_path / "checkout")
    (tmp_path / "checkout" / "packer").mkdir()
    (tmp_path / "checkout" / "packer" / "manifest.json").write_text('{"builds": []}')
    return tmp_path / "checkout"


def gh_env(hub: FakeGitHub, token: str = TOKEN) -> dict[str, str]:
    return {"GITHUB_TOKEN": token, "GH_TOKEN": "", "GITHUB_API_URL": hub.url}


def release(seeded: Estate, hub: FakeGitHub, checkout: Path, token: str = TOKEN) -> Result:
    return seeded.cli(
        "-o",
        "json",
        "release",
        "--ami",
        seeded.untested,
        "--repo",
        REPO,
        "--git-repo",
        str(checkout),
        env=gh_env(hub, token),
    )


def test_a_release_is_cut_once_with_its_manifest(
    seeded: Estate, hub: FakeGitHub, checkout: Path
) -> None:
    seeded.cli("validate", "--env", "management-dev", "--timeout", "0")

    first = release(seeded, hub, checkout)
    second = release(seeded, hub, checkout)

    assert first.exit_code == 0, first.output
    assert second.exit_code == 0, second.output
    tag = f"concourse-7.12.0-{seeded.untested}"
    made = hub.release_by_tag(REPO, tag)
    assert made is not None and made.prerelease
    assert "- Evidence: PASSED in management-dev" in made.body
    assert "Bump Concourse to 7.12.0" in made.body
    creates = [
        r for r in hub.requests if r.method == "POST" and r.path == f"/repos/{REPO}/releases"
    ]
    assert len(creates) == 1
    assert [hub.assets[a].name for a in made.asset_ids] == ["packer-manifest.json"]
    assert json.loads(second.stdout)["created"] is False


def test_a_wrong_token_is_exit_5_and_never_printed(
    seeded: Estate, hub: FakeGitHub, checkout: Path
) -> None:
    seeded.cli("validate", "--env", "management-dev", "--timeout", "0")
    wrong = "ghp_WRONG999999999999999999999999999999"

    result = release(seeded, hub, checkout, token=wrong)

    assert result.exit_code == 5
    assert "401 Bad credentials" in result.stderr
    assert "GITHUB_TOKEN" in result.stderr
    assert wrong not in result.output and TOKEN not in result.output
    assert not hub.releases


def test_an_unknown_repository_is_exit_4(seeded: Estate, hub: FakeGitHub, checkout: Path) -> None:
    seeded.cli("validate", "--env", "management-dev", "--timeout", "0")

    result = seeded.cli(
        "release",
        "--ami",
        seeded.untested,
        "--repo",
        "acme/nope",
        "--git-repo",
        str(checkout),
        env=gh_env(hub),
    )

    assert result.exit_code == 4
    assert "not found on GitHub" in result.stderr and "acme/nope" in result.stderr


def test_a_rate_limit_with_retry_after_is_waited_out(
    seeded: Estate, hub: FakeGitHub, checkout: Path
) -> None:
    seeded.cli("validate", "--env", "management-dev", "--timeout", "0")
    hub.fail_next(1, 403)

    result = release(seeded, hub, checkout)

    assert result.exit_code == 0, result.output
    assert hub.release_by_tag(REPO, f"concourse-7.12.0-{seeded.untested}") is not None


def test_dispatch_triggers_the_workflow_with_its_inputs(seeded: Estate, hub: FakeGitHub) -> None:
    result = seeded.cli(
        "dispatch",
        "--workflow",
        "ami-test-apply.yml",
        "--repo",
        REPO,
        "--input",
        f"ami={seeded.untested}",
        env=gh_env(hub),
    )

    assert result.exit_code == 0, result.output
    [dispatch] = hub.dispatches
    assert dispatch.ref == "main" and dispatch.inputs == {"ami": seeded.untested}
    assert TOKEN not in result.output


def test_dispatch_of_an_unknown_workflow_is_exit_4(seeded: Estate, hub: FakeGitHub) -> None:
    result = seeded.cli("dispatch", "--workflow", "nope.yml", "--repo", REPO, env=gh_env(hub))

    assert result.exit_code == 4
    assert "not found on GitHub while dispatching nope.yml on main" in result.stderr
    assert not hub.dispatches


def test_dispatch_without_a_token_is_a_usage_error(seeded: Estate) -> None:
    result = seeded.cli(
        "dispatch", "--workflow", "ami-test-apply.yml", env={"GITHUB_TOKEN": "", "GH_TOKEN": ""}
    )

    assert result.exit_code == 2
    assert "error: dispatch needs a GitHub token" in result.stderr


def test_a_semver_release_on_github_is_found_again_by_its_title(
    seeded: Estate, hub: FakeGitHub, checkout: Path
) -> None:
    seeded.cli("validate", "--env", "management-dev", "--timeout", "0")
    env = {**gh_env(hub), "PROMOTE_RELEASE_TAG": "v{semver}"}
    args = ("-o", "json", "release", "--ami", seeded.untested, "--repo", REPO)
    args += ("--git-repo", str(checkout), "--prerelease")

    first = seeded.cli(*args, env=env)
    again = seeded.cli(*args, env=env)

    assert first.exit_code == 0, first.output
    assert json.loads(first.stdout)["tag"] == "v0.1.0"
    assert json.loads(again.stdout)["tag"] == "v0.1.0"
    assert json.loads(again.stdout)["created"] is False
    assert [r.tag_name for r in hub.releases.values()] == ["v0.1.0"]
