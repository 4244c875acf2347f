"""Existing consumers read `results/<pipeline>.test` from a git repository: validate of the test
env commits it there (GitPython against a real bare repository), and retries when someone
else pushed first (a non-fast-forward)."""

from __future__ import annotations

from pathlib import Path

import git
import pytest

from tests.support.estate import Estate


@pytest.fixture
def remote(tmp_path: Path) -> Path:
    """A bare repository with one commit on its default branch, as a results repo would be."""
    bare = tmp_path / "results.git"
    git.Repo.init(bare, bare=True)
    seed = git.Repo.init(tmp_path / "seed")
    (tmp_path / "seed" / "README.md").write_text("results\n")
    seed.index.add(["README.md"])
    seed.index.commit("results repository")
    seed.create_remote("origin", str(bare)).push(refspec="HEAD:refs/heads/main")
    bare_repo = git.Repo(bare)
    bare_repo.git.symbolic_ref("HEAD", "refs/heads/main")
    return bare


def file_at_head(bare: Path, path: str) -> str:
    return git.Repo(bare).git.show(f"HEAD:{path}")


def config_with(seeded: Estate, remote: Path) -> dict[str, str]:
    return {"PROMOTE_RESULTS_GIT_REPO": str(remote), "AWS_EC2_METADATA_DISABLED": "true"}


def test_validate_of_the_test_env_commits_its_verdict(seeded: Estate, remote: Path) -> None:
    result = seeded.cli(
        "validate", "--env", "management-dev", "--timeout", "0", env=config_with(seeded, remote)
    )

    assert result.exit_code == 0, result.output
    assert file_at_head(remote, "results/concourse.test") == f"{seeded.untested} SUCCESS"
    subject = git.Repo(remote).head.commit.message
    assert subject.startswith(f"management-dev: {seeded.untested} SUCCESS (evidence evidence/")


def test_another_envs_validate_leaves_the_repository_alone(seeded: Estate, remote: Path) -> None:
    before = git.Repo(remote).head.commit.hexsha

    result = seeded.cli(
        "validate", "--env", "management", "--timeout", "0", env=config_with(seeded, remote)
    )

    assert result.exit_code == 0, result.output
    assert git.Repo(remote).head.commit.hexsha == before


def test_a_push_that_lost_a_race_is_retried_on_top_of_the_winner(
    seeded: Estate, remote: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clone_from = git.Repo.clone_from

    def clone_then_someone_pushes(url: str, to: str, **kwargs: object) -> git.Repo:
        repo = clone_from(url, to, **kwargs)
        other = clone_from(url, tmp_path / "other")
        (tmp_path / "other" / "NOTES").write_text("someone else's commit\n")
        other.index.add(["NOTES"])
        other.index.commit("meanwhile")
        other.remote("origin").push(refspec="HEAD")
        return repo

    monkeypatch.setattr(git.Repo, "clone_from", staticmethod(clone_then_someone_pushes))

    result = seeded.cli(
        "validate", "--env", "management-dev", "--timeout", "0", env=config_with(seeded, remote)
    )

    assert result.exit_code == 0, result.output
    assert file_at_head(remote, "results/concourse.test") == f"{seeded.untested} SUCCESS"
    assert file_at_head(remote, "NOTES") == "someone else's commit"
