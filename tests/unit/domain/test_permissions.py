"""`promote iam-policy`: only the declared actions, scoped to the secret and the bucket."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from promote.cli import cli
from promote.config import Overrides, load
from promote.domain.permissions import ACTIONS, Principals, policy, trust_policies
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
    assert statement(document, "EvidenceObjects")["Resource"] == [
        "arn:aws:s3:::concourse-ami-evidence/*"
    ]
    assert "ec2:DescribeInstances" in statement(document, "Fleet")["Action"]  # type: ignore[operator]
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
        "Fleet",
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
