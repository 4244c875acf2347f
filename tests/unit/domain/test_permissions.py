"""`promote iam-policy`: only the declared actions, scoped to the secret and the bucket."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from promote.cli import cli
from promote.config import Overrides, load
from promote.domain.permissions import (
    ACTIONS,
    ROLES,
    SIGNS,
    WRITES,
    Principals,
    policy,
    role_policy,
    trust_policies,
)
from promote.errors import PromoteError


def statement(document: dict[str, object], sid: str) -> dict[str, object]:
    found = [s for s in document["Statement"] if s["Sid"] == sid]  # type: ignore[attr-defined]
    assert len(found) == 1, sid
    result: dict[str, object] = found[0]
    return result


def test_validate_may_read_the_fleet_and_write_only_to_the_evidence_bucket(
    tmp_path: Path,
) -> None:
    document = policy(load(Overrides(), {}, tmp_path), ["validate"])

    secret = statement(document, "AmiIdsSecret")
    assert secret["Action"] == ["secretsmanager:GetSecretValue"]
    assert secret["Resource"] == [
        "arn:aws:secretsmanager:eu-west-2:*:secret:/concourse/dataworks/ami-ids-??????"
    ]
    assert statement(document, "LedgerWrites")["Resource"] == [
        "arn:aws:s3:::concourse-ami-evidence/evidence/*",
        "arn:aws:s3:::concourse-ami-evidence/results/concourse.test",
    ]
    assert "ec2:DescribeInstances" in statement(document, "FleetReads")["Action"]  # type: ignore[operator]
    everything = [a for s in document["Statement"] for a in s["Action"]]  # type: ignore[attr-defined]
    assert "secretsmanager:PutSecretValue" not in everything
    assert not any(s["Sid"] == "EnvRoles" for s in document["Statement"])  # type: ignore[attr-defined]


def test_roles_of_other_accounts_are_the_only_assumable_ones(tmp_path: Path) -> None:
    path = tmp_path / "promote.toml"
    path.write_text(
        'test_env = "dev"\n[env.dev]\nsecret_key = "a"\nautoscaling_groups = ["w"]\n'
        'accepts = "untested"\nrole_arn = "arn:aws:iam::222222222222:role/promoter"\n'
    )

    document = policy(load(Overrides(config_path=str(path)), {}, tmp_path), ["rollout"])

    assert statement(document, "EnvRoles") == {
        "Sid": "EnvRoles",
        "Effect": "Allow",
        "Action": ["sts:AssumeRole"],
        "Resource": ["arn:aws:iam::222222222222:role/promoter"],
    }


def test_an_unknown_command_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(PromoteError) as caught:
        policy(load(Overrides(), {}, tmp_path), ["deploy-everything"])
    assert caught.value.exit_code == 2
    assert "no IAM actions are declared for: deploy-everything" in caught.value.message


def test_every_aws_command_declares_its_actions() -> None:
    aws_commands = {
        "status",
        "validate",
        "gate",
        "rollout",
        "release",
        "build",
        "set-ids",
        "pin",
        "unpin",
        "publish",
        "revoke",
        "prune",
        "history",
        "init --from-aws",
    }
    assert aws_commands <= set(ACTIONS)


def test_the_cli_prints_a_policy_document() -> None:
    result = CliRunner().invoke(cli, ["iam-policy", "gate"], env={"PROMOTE_CONFIG": ""})

    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["Version"] == "2012-10-17"
    assert {s["Sid"] for s in document["Statement"]} == {
        "EvidenceBucket",
        "EvidenceObjects",
        "FleetReads",
        "PublicKeys",
    }


def test_only_validate_and_rollout_may_sign_with_the_evidence_key(tmp_path: Path) -> None:
    config = load(Overrides(), {}, tmp_path)

    validate = statement(policy(config, ["validate"]), "SignEvidence")
    pin = statement(policy(config, ["pin"]), "SignEvents")

    assert validate["Condition"] == {
        "ForAnyValue:StringEquals": {"kms:ResourceAliases": ["alias/promote-evidence"]}
    }
    assert pin["Condition"] == {
        "ForAnyValue:StringEquals": {"kms:ResourceAliases": ["alias/promote-events"]}
    }
    sids = {s["Sid"] for s in policy(config, ["pin", "set-ids", "publish"])["Statement"]}
    assert "SignEvidence" not in sids


def test_the_bucket_and_key_policies_let_only_the_named_principals_write_and_sign(
    tmp_path: Path,
) -> None:
    config = load(Overrides(), {}, tmp_path)
    validator = "arn:aws:iam::123456789012:role/validator"
    who = Principals(validator, ("arn:aws:iam::123456789012:role/promoter",))

    found = trust_policies(config, who)

    bucket = {s["Sid"]: s for s in found["bucket_policy"]["policy"]["Statement"]}
    assert bucket["OnlyTheValidatorWritesEvidence"]["Condition"] == {
        "StringNotLike": {"aws:PrincipalArn": [validator]}
    }
    assert bucket["NobodyDeletesTheLedger"]["Effect"] == "Deny"
    assert "s3:DeleteObject*" in bucket["NobodyDeletesTheLedger"]["Action"]
    evidence_key = found["key_policies"]["alias/promote-evidence"]["Statement"][-1]
    assert evidence_key["Action"] == ["kms:Sign"] and evidence_key["Effect"] == "Deny"
    assert evidence_key["Condition"]["StringNotLike"]["aws:PrincipalArn"] == [validator]


DEV_GROUPS = [
    "arn:aws:autoscaling:eu-west-2:*:autoScalingGroup:*:autoScalingGroupName/concourse-web-management-dev",
    "arn:aws:autoscaling:eu-west-2:*:autoScalingGroup:*:autoScalingGroupName/concourse-worker-management-dev",
]
PROD_GROUPS = [g.replace("management-dev", "management") for g in DEV_GROUPS]
BUCKET = "arn:aws:s3:::concourse-ami-evidence"


def actions(document: dict[str, object]) -> set[str]:
    return {a for s in document["Statement"] for a in s["Action"]}  # type: ignore[attr-defined]


def test_env_scopes_the_group_writes_and_the_rollout_marker_to_its_groups(tmp_path: Path) -> None:
    config = load(Overrides(), {}, tmp_path)

    document = policy(config, ["rollout"], config.environment("management-dev"))

    writes = statement(document, "GroupWrites")
    assert writes["Resource"] == DEV_GROUPS
    assert "autoscaling:UpdateAutoScalingGroup" in writes["Action"]  # type: ignore[operator]
    assert "autoscaling:TerminateInstanceInAutoScalingGroup" in writes["Action"]  # type: ignore[operator]
    marker = statement(document, "RolloutMarker")
    assert marker["Action"] == ["autoscaling:CreateOrUpdateTags", "autoscaling:DeleteTags"]
    assert marker["Resource"] == DEV_GROUPS
    assert marker["Condition"] == {"ForAllValues:StringLike": {"aws:TagKeys": ["promote:*"]}}
    assert statement(document, "LedgerWrites")["Resource"] == [
        f"{BUCKET}/evidence/*",
        f"{BUCKET}/results/concourse.test",
        f"{BUCKET}/events/*",
        f"{BUCKET}/locks/rollout/concourse-web-management-dev.json",
        f"{BUCKET}/locks/rollout/concourse-worker-management-dev.json",
    ]


def test_without_env_the_group_writes_cover_every_envs_groups_and_no_other(
    tmp_path: Path,
) -> None:
    document = policy(load(Overrides(), {}, tmp_path), ["rollout"])

    assert statement(document, "GroupWrites")["Resource"] == DEV_GROUPS + PROD_GROUPS
    assert not any(
        s["Resource"] == ["*"]
        and a.startswith("autoscaling:")
        and not a.startswith("autoscaling:Describe")
        for s in document["Statement"]  # type: ignore[attr-defined]
        for a in s["Action"]
    )


def test_launch_template_writes_need_the_env_tag_and_reads_stay_on_star(tmp_path: Path) -> None:
    config = load(Overrides(), {}, tmp_path)

    document = policy(config, ["rollout"], config.environment("management"))

    templates = statement(document, "LaunchTemplates")
    assert templates["Action"] == ["ec2:CreateLaunchTemplateVersion", "ec2:ModifyLaunchTemplate"]
    assert templates["Resource"] == ["arn:aws:ec2:eu-west-2:*:launch-template/*"]
    assert templates["Condition"] == {
        "StringEquals": {"ec2:ResourceTag/concourse:env": ["management"]}
    }
    reads = statement(document, "FleetReads")
    assert reads["Resource"] == ["*"]
    assert all(a.split(":")[1].startswith("Describe") for a in reads["Action"])  # type: ignore[attr-defined]
    assert statement(document, "TagsAtLaunch")["Condition"] == {
        "StringEquals": {"ec2:CreateAction": ["RunInstances"]}
    }
    assert statement(document, "PassInstanceRole")["Condition"] == {
        "StringEquals": {"iam:PassedToService": ["ec2.amazonaws.com"]}
    }


def test_an_env_in_another_account_is_scoped_to_that_account(tmp_path: Path) -> None:
    path = tmp_path / "promote.toml"
    path.write_text(
        'test_env = "dev"\n[env.dev]\nsecret_key = "a"\nautoscaling_groups = ["w"]\n'
        'accepts = "untested"\nrole_arn = "arn:aws:iam::222222222222:role/promoter"\n'
        'region = "eu-west-1"\n'
    )
    config = load(Overrides(config_path=str(path)), {}, tmp_path)

    document = role_policy(config, ["rollout"], "arn:aws:iam::222222222222:role/promoter")

    assert statement(document, "GroupWrites")["Resource"] == [
        "arn:aws:autoscaling:eu-west-1:222222222222:autoScalingGroup:*:autoScalingGroupName/w"
    ]
    assert statement(document, "LaunchTemplates")["Resource"] == [
        "arn:aws:ec2:eu-west-1:222222222222:launch-template/*"
    ]


def test_image_tags_are_promote_keys_but_for_the_tags_a_copy_is_made_with(
    tmp_path: Path,
) -> None:
    config = load(Overrides(), {}, tmp_path)

    publish = policy(config, ["publish"])
    revoke = policy(config, ["revoke"])

    images = ["arn:aws:ec2:eu-west-2::image/*"]
    for document in (publish, revoke):
        tags = statement(document, "PromoteTags")
        assert (tags["Action"], tags["Resource"]) == (["ec2:CreateTags"], images)
        assert tags["Condition"] == {"ForAllValues:StringLike": {"aws:TagKeys": ["promote:*"]}}
    copies = statement(publish, "TagsOfCopies")
    assert copies["Condition"] == {"StringEquals": {"ec2:CreateAction": ["CopyImage"]}}
    assert statement(publish, "ImageWrites")["Resource"] == images
    assert not any(s["Sid"] == "TagsOfCopies" for s in revoke["Statement"])  # type: ignore[attr-defined]


def test_the_validator_writes_only_evidence_and_never_tags_or_records_events(
    tmp_path: Path,
) -> None:
    config = load(Overrides(), {}, tmp_path)

    document = policy(config, [], config.environment("management-dev"), "validator")

    assert statement(document, "LedgerWrites")["Resource"] == [
        f"{BUCKET}/evidence/*",
        f"{BUCKET}/results/concourse.test",
    ]
    granted = actions(document)
    assert not {a for a in granted if "Tags" in a}
    assert not {a for a in granted if a.startswith("autoscaling:") and "Describe" not in a}
    assert "secretsmanager:PutSecretValue" not in granted
    assert not any(s["Sid"] == "SignEvents" for s in document["Statement"])  # type: ignore[attr-defined]
    assert statement(document, "SignEvidence")["Condition"] == {
        "ForAnyValue:StringEquals": {"kms:ResourceAliases": ["alias/promote-evidence"]}
    }


def test_the_promoter_records_events_and_leases_its_envs_groups_but_never_makes_evidence(
    tmp_path: Path,
) -> None:
    config = load(Overrides(), {}, tmp_path)

    document = policy(config, [], config.environment("management-dev"), "promoter")

    assert statement(document, "LedgerWrites")["Resource"] == [
        f"{BUCKET}/events/*",
        f"{BUCKET}/locks/rollout/concourse-web-management-dev.json",
        f"{BUCKET}/locks/rollout/concourse-worker-management-dev.json",
    ]
    assert not any(s["Sid"] == "SignEvidence" for s in document["Statement"])  # type: ignore[attr-defined]
    assert statement(document, "GroupWrites")["Resource"] == DEV_GROUPS
    assert statement(document, "RolloutMarker")["Resource"] == DEV_GROUPS


def test_the_release_manager_records_events_with_no_tag_or_fleet_writes(tmp_path: Path) -> None:
    config = load(Overrides(), {}, tmp_path)

    document = policy(config, [], config.environment("management"), "release-manager")

    assert statement(document, "LedgerWrites")["Resource"] == [f"{BUCKET}/events/*"]
    granted = actions(document)
    assert "secretsmanager:PutSecretValue" in granted
    assert not {a for a in granted if "Tags" in a}
    assert not {a for a in granted if a.startswith("autoscaling:") and "Describe" not in a}
    assert "s3:PutObject" in granted and "kms:Sign" in granted


def test_a_role_refuses_a_command_it_does_not_run_and_an_unknown_role(tmp_path: Path) -> None:
    config = load(Overrides(), {}, tmp_path)

    with pytest.raises(PromoteError) as foreign:
        policy(config, ["release"], None, "validator")
    with pytest.raises(PromoteError) as unknown:
        policy(config, [], None, "operator")

    assert foreign.value.exit_code == 2
    assert "the validator does not run release" in foreign.value.message
    assert unknown.value.exit_code == 2
    assert "unknown role 'operator'" in unknown.value.message


def test_rollout_signs_with_both_keys_and_rollback_needs_set_ids_and_rollout(
    tmp_path: Path,
) -> None:
    config = load(Overrides(), {}, tmp_path)

    sids = {s["Sid"] for s in policy(config, ["rollout"])["Statement"]}

    assert {"SignEvidence", "SignEvents"} <= sids
    assert set(ACTIONS["rollback"]) == set(ACTIONS["set-ids"]) | set(ACTIONS["rollout"])
    assert "rollback" in ROLES["promoter"].commands


def test_every_command_that_writes_or_signs_says_what() -> None:
    for command, declared in ACTIONS.items():
        if "s3:PutObject" in declared:
            assert WRITES.get(command), command
        if "kms:Sign" in declared:
            assert SIGNS.get(command), command


def test_the_cli_scopes_to_a_role_and_an_env_and_refuses_an_unknown_env() -> None:
    env = {"PROMOTE_CONFIG": ""}
    result = CliRunner().invoke(
        cli, ["iam-policy", "--role", "promoter", "--env", "management-dev"], env=env
    )
    unknown = CliRunner().invoke(cli, ["iam-policy", "--env", "nowhere"], env=env)

    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert statement(document, "GroupWrites")["Resource"] == DEV_GROUPS
    assert unknown.exit_code == 2
    assert "unknown environment 'nowhere'" in unknown.output


def test_an_env_scoped_policy_leaves_another_envs_own_secret_and_its_role_out(
    tmp_path: Path,
) -> None:
    path = tmp_path / "promote.toml"
    path.write_text(
        'test_env = "dev"\n'
        '[env.dev]\nsecret_key = "a"\nautoscaling_groups = ["dev-w"]\naccepts = "untested"\n'
        '[env.prod]\nsecret_key = "b"\nautoscaling_groups = ["prod-w"]\naccepts = "tested"\n'
        'secret_id = "/prod/ami-ids"\n'
        'secret_role_arn = "arn:aws:iam::222222222222:role/prod-ids"\n'
    )
    config = load(Overrides(config_path=str(path)), {}, tmp_path)

    dev = policy(config, [], config.environment("dev"), "promoter")
    prod = policy(config, [], config.environment("prod"), "release-manager")

    assert not any(s["Sid"] == "SecretRoles" for s in dev["Statement"])  # type: ignore[attr-defined]
    assert statement(prod, "SecretRoles")["Resource"] == ["arn:aws:iam::222222222222:role/prod-ids"]
