"""Who ran a command, as recorded in evidence and events."""

from __future__ import annotations

from promote.adapters.host import describe_actor


def test_a_concourse_task_is_credited_to_its_pipeline_and_job() -> None:
    actor = describe_actor(
        {"BUILD_PIPELINE_NAME": "ami-builder", "BUILD_JOB_NAME": "validate-concourse-ami"},
        "arn:aws:sts::1:assumed-role/ci/x",
    )

    assert actor["ci"]["system"] == "concourse"
    assert actor["ci"]["job"] == "validate-concourse-ami"
    assert actor["ci"]["url"] is None
    assert actor["aws_identity"] == "arn:aws:sts::1:assumed-role/ci/x"


def test_a_github_actions_run_is_credited_with_its_url() -> None:
    actor = describe_actor(
        {
            "GITHUB_ACTIONS": "true",
            "GITHUB_ACTOR": "octocat",
            "GITHUB_REPOSITORY": "acme/aws-concourse",
            "GITHUB_RUN_ID": "42",
        },
        None,
    )

    assert actor["ci"]["actor"] == "octocat"
    assert actor["ci"]["run"] == "https://github.com/acme/aws-concourse/actions/runs/42"
