"""Every promote and make command line in the pipelines and workflows parses with the real tools."""

from __future__ import annotations

import pytest

from tests.pipelines.commands import (
    Invocation,
    make_dry_run,
    make_invocations,
    make_targets,
    parse_promote,
    promote_invocations,
    promote_lines_of_recipe,
)
from tests.pipelines.model import PIPELINE_NAMES, WORKFLOWS, Run, task_runs, workflow_runs

WORKFLOW_FILES = sorted(p.name for p in WORKFLOWS.glob("*.yml"))
RUNS = [r for n in PIPELINE_NAMES for r in task_runs(n)] + [
    r for w in WORKFLOW_FILES for r in workflow_runs(w)
]


def invocations(runs: list[Run]) -> list[Invocation]:
    """Every promote invocation of RUNS."""
    return [i for r in runs for i in promote_invocations(r)]


@pytest.mark.parametrize("run", RUNS, ids=lambda r: r.where)
def test_every_promote_line_parses_with_the_real_cli(run: Run) -> None:
    """Each promote line's global options, subcommand, options and values are accepted."""
    promote_invocations(run)


def test_every_make_line_names_existing_targets_and_its_promote_recipe_parses() -> None:
    """`make -n` accepts each make line, and the promote lines its recipe runs parse."""
    lines = [(run.where, argv) for run in RUNS for argv in make_invocations(run)]
    assert lines, "no make line found: make ami and make test are expected"
    for where, argv in lines:
        assert make_targets(argv), f"{where}: `make` with no target"
        for line in promote_lines_of_recipe(make_dry_run(argv)):
            parse_promote(line[1:])


def test_the_pipelines_run_each_promote_step_of_the_process() -> None:
    """build, gate, publish, release, set-ids, dispatch, unpin, rollout, validate: all used."""
    used = {i.path for i in invocations(RUNS)}
    for path in ["gate", "publish", "release", "set-ids", "dispatch", "unpin", "rollout"]:
        assert (path,) in used
    assert ("validate",) in used
    builds = [
        line
        for run in RUNS
        for argv in make_invocations(run)
        for line in promote_lines_of_recipe(make_dry_run(argv))
    ]
    assert any(parse_promote(line[1:])[0] == ("build",) for line in builds)


def test_untested_amis_are_only_ever_set_on_the_test_env() -> None:
    """Every set-ids in a pipeline or workflow names management-dev alone."""
    set_ids = [i for i in invocations(RUNS) if i.path == ("set-ids",)]
    assert set_ids
    for invocation in set_ids:
        assert invocation.params["env_names"] == ("management-dev",), invocation.where


def test_production_moves_only_in_the_manual_job() -> None:
    """unpin --apply and pin of management happen only in concourse-admin's ami-id-update-mgmt."""
    for invocation in invocations(RUNS):
        if invocation.path in {("unpin",), ("pin",)}:
            assert "job ami-id-update-mgmt " in invocation.where, invocation.where


def test_the_gate_is_what_validate_concourse_ami_runs() -> None:
    """validate-concourse-ami passes only through `promote gate --ami`."""
    runs = [r for r in task_runs("ami-builder") if "job validate-concourse-ami " in r.where]
    paths = [i.path for i in invocations(runs)]
    assert paths == [("gate",)]
    assert runs[0].script is not None and runs[0].script.rstrip().endswith('"$ami"')


def test_the_workflow_runs_its_steps_in_order_with_json_where_it_reads_values() -> None:
    """status (json: the AMI when no input names one), set-ids, rollout, validate, publish
    (json), release: in that order, on management-dev."""
    found = invocations(list(workflow_runs("ami-test-apply.yml")))
    assert [i.path[0] for i in found] == [
        "status",
        "set-ids",
        "rollout",
        "validate",
        "publish",
        "release",
    ]
    assert found[0].params["fmt"] == "json"
    assert found[2].params["env_name"] == "management-dev"
    assert found[3].params["env_name"] == "management-dev"
    assert found[4].params["fmt"] == "json"


def test_reboot_worker_nodes_replaces_every_instance_then_the_validator_proves_it() -> None:
    """reboot-worker-nodes runs promote rollout --replace-all, then validate in a task of its
    own with the validator's credentials (only the validator writes evidence)."""
    runs = [r for r in task_runs("concourse-admin") if "job reboot-worker-nodes " in r.where]
    rollout, validate = invocations(runs)
    assert rollout.path == ("rollout",) and rollout.params["replace_all"] is True
    assert rollout.params["no_validate"] is True
    assert validate.path == ("validate",) and validate.params["env_name"] == "management"


def test_only_the_validator_validates_production() -> None:
    """Every promote validate (or rollout that validates) of management in concourse-admin
    runs with the validator's keys; the promoter's rollouts pass --no-validate."""
    for run in task_runs("concourse-admin"):
        for invocation in invocations([run]):
            if invocation.params.get("env_name") != "management":
                continue
            if invocation.path == ("validate",):
                assert run.environ["AWS_ACCESS_KEY_ID"] == "((validator-access-key-id))", run.where
            if invocation.path == ("rollout",):
                assert invocation.params["no_validate"] is True, invocation.where
                assert run.environ["AWS_ACCESS_KEY_ID"] == "((aws-access-key-id))", run.where


@pytest.mark.parametrize(
    "argv",
    [
        ["validate", "--env", "management-dev", "--timout", "5m"],
        ["gate"],
        ["gate", "--ami", "not-an-ami"],
        ["validate", "--env", "managment-dev"],
        ["rollout", "--env", "management", "--timeout", "soon"],
        ["gate", "--ami", "ami-0123456789abcdef0", "-o", "yaml"],
        ["promote-everything"],
        ["sandbox"],
        ["--help"],
    ],
)
def test_a_broken_promote_line_fails_the_check(argv: list[str]) -> None:
    """Misspelt flags, missing or malformed values, unknown envs and commands are caught."""
    run = Run("example", None, ("promote", *argv), {}, "none")
    with pytest.raises(AssertionError):
        promote_invocations(run)


def test_a_promote_line_the_parser_cannot_see_into_fails_the_check() -> None:
    """promote hidden behind xargs (or any other runner) is not silently skipped."""
    run = Run("example", "echo ami-1 | xargs promote gate --ami", ("sh", "-c"), {}, "sh")
    with pytest.raises(AssertionError, match="cannot parse"):
        promote_invocations(run)


def test_a_missing_make_target_fails_the_check() -> None:
    """`make -n` refuses a target the Makefile does not have."""
    with pytest.raises(AssertionError, match="No rule"):
        make_dry_run(["make", "amis"])
