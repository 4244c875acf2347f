"""`promote release` without a token: the local backend in a real git repository."""

from __future__ import annotations

import json
from pathlib import Path

import git
import pytest
from click.testing import Result

from tests.support.estate import Estate, git_checkout


@pytest.fixture
def workdir(tmp_path: Path) -> git.Repo:
    return git_checkout(tmp_path / "aws-concourse", "Initial import", "Bump Concourse to 7.12.0")


def release(seeded: Estate, repo: git.Repo, *args: str) -> Result:
    return seeded.cli(
        "-o",
        "json",
        "release",
        "--git-repo",
        str(repo.working_tree_dir),
        *args,
        env={"GITHUB_TOKEN": "", "GH_TOKEN": ""},
    )


def test_a_proven_untested_ami_is_released_as_a_prerelease_with_its_evidence(
    seeded: Estate, workdir: git.Repo
) -> None:
    seeded.cli("validate", "--env", "management-dev", "--timeout", "0")

    result = release(seeded, workdir, "--ami", seeded.untested)

    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    tag = f"concourse-7.12.0-{seeded.untested}"
    assert document["tag"] == tag and document["created"] is True and document["prerelease"]
    notes = Path(str(workdir.working_tree_dir)) / "releases" / f"{tag}.md"
    body = notes.read_text()
    assert f"| untested | `{seeded.untested}` |" in body
    assert "- Evidence: PASSED in management-dev" in body
    assert "Bump Concourse to 7.12.0 (Rel Eng)" in body
    assert workdir.tags[tag].tag is not None  # annotated
    assert workdir.head.commit.message == f"Release {tag}"
    history = seeded.cli("-o", "json", "history", "--ami", seeded.untested)
    kinds = [e["kind"] for e in json.loads(history.stdout)["entries"]]
    assert kinds.count("release") == 1


def test_releasing_twice_finds_the_first_release(seeded: Estate, workdir: git.Repo) -> None:
    seeded.cli("validate", "--env", "management-dev", "--timeout", "0")
    first = release(seeded, workdir, "--ami", seeded.untested)
    head = workdir.head.commit.hexsha

    second = release(seeded, workdir, "--ami", seeded.untested)

    assert first.exit_code == second.exit_code == 0
    assert json.loads(second.stdout)["created"] is False
    assert workdir.head.commit.hexsha == head
    assert len(workdir.tags) == 1
    assert len([k for k in seeded.ledger_keys() if "-release-" in k]) == 1


def test_a_tested_ami_without_evidence_is_refused_and_nothing_is_written(
    seeded: Estate, workdir: git.Repo
) -> None:
    head = workdir.head.commit.hexsha

    result = release(seeded, workdir, "--ami", seeded.tested)

    assert result.exit_code == 3
    assert f"error: {seeded.tested} has no SUCCESS evidence in management-dev" in (result.stderr)
    assert workdir.head.commit.hexsha == head and not workdir.tags


def test_a_dirty_tree_is_refused_before_anything_is_committed(
    seeded: Estate, workdir: git.Repo
) -> None:
    seeded.cli("validate", "--env", "management-dev", "--timeout", "0")
    (Path(str(workdir.working_tree_dir)) / "README.md").write_text("edited\n")
    head = workdir.head.commit.hexsha

    result = release(seeded, workdir, "--ami", seeded.untested)

    assert result.exit_code == 2
    assert "has uncommitted changes" in result.stderr
    assert workdir.head.commit.hexsha == head and not workdir.tags


def test_the_changelog_starts_at_the_previous_release(seeded: Estate, workdir: git.Repo) -> None:
    workdir.create_tag("concourse-7.11.2-ami-0aaaaaaaaaaaaaaa1", message="old release")
    workdir.index.commit("Tune worker drain timeout")
    seeded.cli("validate", "--env", "management-dev", "--timeout", "0")

    result = release(seeded, workdir, "--ami", seeded.untested, "--dry-run")

    body = json.loads(result.stdout)["body"]
    assert "### Changes since concourse-7.11.2-ami-0aaaaaaaaaaaaaaa1" in body
    assert "Tune worker drain timeout" in body
    assert "Bump Concourse" not in body
    assert not (Path(str(workdir.working_tree_dir)) / "releases").exists()


def test_semver_tags_bump_per_ami_and_a_rerun_keeps_its_tag(
    seeded: Estate, workdir: git.Repo
) -> None:
    """release_tag = "v{semver}" (consumers that detect releases by semver tags)."""
    semver = {"PROMOTE_RELEASE_TAG": "v{semver}", "GITHUB_TOKEN": "", "GH_TOKEN": ""}
    args = ("release", "--git-repo", str(workdir.working_tree_dir), "--prerelease")
    assert seeded.cli("validate", "--env", "management-dev", "--timeout", "0").exit_code == 0

    first = seeded.cli("-o", "json", *args, "--ami", seeded.untested, env=semver)
    again = seeded.cli("-o", "json", *args, "--ami", seeded.untested, env=semver)
    other = seeded.cli("-o", "json", *args, "--ami", seeded.tested, env=semver)

    assert first.exit_code == 0, first.output
    assert json.loads(first.stdout)["tag"] == "v0.1.0" and json.loads(first.stdout)["created"]
    assert json.loads(again.stdout)["tag"] == "v0.1.0" and not json.loads(again.stdout)["created"]
    assert other.exit_code == 0, other.output
    assert json.loads(other.stdout)["tag"] == "v0.1.1"
    assert {t.name for t in workdir.tags} == {"v0.1.0", "v0.1.1"}
