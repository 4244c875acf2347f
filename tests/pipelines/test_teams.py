"""The team configs for `fly set-team --config`: Concourse's four roles, GitHub users and teams."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.pipelines.model import PIPELINES, TEAMS, load_yaml

ROLES = {"owner", "member", "pipeline-operator", "viewer"}
EXPECTED_TEAMS = {"main", "dataworks", "dev-a", "dev-b", "dev-c", "dev-d"}
GITHUB_KEYS = {"users", "teams", "orgs"}
GITHUB_TEAM = re.compile(r"^[A-Za-z0-9-]+:[A-Za-z0-9_.-]+$")


def team(name: str) -> dict[str, Any]:
    """The set-team config of team NAME."""
    data = load_yaml(TEAMS / f"{name}.yml")
    assert isinstance(data, dict)
    return data


def test_there_is_a_config_for_main_the_product_team_and_each_dev_team() -> None:
    """main, dataworks and dev-a..dev-d, and nothing else."""
    assert {p.stem for p in TEAMS.glob("*.yml")} == EXPECTED_TEAMS


@pytest.mark.parametrize("name", sorted(EXPECTED_TEAMS))
def test_team_config_names_only_concourse_roles_mapped_to_github(name: str) -> None:
    """Each role is one of owner/member/pipeline-operator/viewer, once, with GitHub users/teams."""
    data = team(name)
    assert set(data) == {"roles"}
    names = [role["name"] for role in data["roles"]]
    assert len(names) == len(set(names)), "a role given twice"
    assert set(names) <= ROLES, f"unknown roles {set(names) - ROLES}"
    assert "owner" in names, "a team without an owner cannot be administered"
    for role in data["roles"]:
        assert set(role) == {"name", "github"}, role
        github = role["github"]
        assert set(github) <= GITHUB_KEYS and any(github.values()), role
        for entry in github.get("teams", []):
            assert GITHUB_TEAM.match(entry), f"{entry}: GitHub teams are org:team"


def test_only_main_sets_the_concourse_admin_pipeline() -> None:
    """pipelines.yml puts concourse-admin in main, and no team's owners overlap with main's."""
    manifest = load_yaml(PIPELINES / "pipelines.yml")["pipelines"]
    assert manifest["concourse-admin"]["team"] == "main"
    for entry in manifest.values():
        assert entry["team"] in EXPECTED_TEAMS

    def members(name: str, role: str) -> set[str]:
        roles = [r for r in team(name)["roles"] if r["name"] == role]
        return {t for r in roles for t in r["github"].get("teams", [])}

    setters = members("main", "owner") | members("main", "member")
    assert not setters & members("main", "viewer")
    for other in EXPECTED_TEAMS - {"main"}:
        assert not members(other, "owner") & setters, f"{other}'s owners may set main's pipelines"


def test_release_managers_can_trigger_but_not_set_pipelines_in_main() -> None:
    """The production move is triggered by pipeline-operators, who cannot change the pipeline."""
    roles = {r["name"]: r for r in team("main")["roles"]}
    assert "pipeline-operator" in roles and "viewer" in roles
