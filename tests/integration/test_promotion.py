"""set-ids, pin, unpin, publish, revoke, prune and history against the local AWS (moto server)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from promote.adapters.aws.session import Aws
from promote.cli.app import AppContext
from tests.support.estate import Estate

SECRET_KEY_DEV = "concourse_ami_mgmt_dev"
SECRET_KEY_PROD = "concourse_ami"
OWNER = ("--owner", "rm@example.com")


def _state(seeded: Estate) -> dict[str, Any]:
    """What a refused command must leave unchanged (works for a malformed secret too)."""
    images = seeded.client("ec2").describe_images(Owners=["self"])["Images"]
    raw = seeded.client("secretsmanager").get_secret_value(
        SecretId=seeded.config.secret_id, VersionStage="AWSCURRENT"
    )
    return {
        "ledger": {k: seeded.ledger_object(k) for k in seeded.ledger_keys()},
        "secret": raw["VersionId"],
        "images": sorted((i["ImageId"], json.dumps(i.get("Tags", []))) for i in images),
    }


def _tags(seeded: Estate, ami: str) -> dict[str, str]:
    image = seeded.client("ec2").describe_images(ImageIds=[ami])["Images"][0]
    return {t["Key"]: t["Value"] for t in image.get("Tags", [])}


def _old_untested(seeded: Estate) -> str:
    return _tags(seeded, seeded.tested)["promote:source-image"]


def _events(seeded: Estate, kind: str) -> list[dict[str, Any]]:
    return seeded.events(kind)


def _versions(seeded: Estate) -> list[dict[str, Any]]:
    versions: list[dict[str, Any]] = seeded.client("secretsmanager").list_secret_version_ids(
        SecretId=seeded.config.secret_id, IncludeDeprecated=True
    )["Versions"]
    return versions


def _put_secret(seeded: Estate, **value: Any) -> None:
    seeded.client("secretsmanager").put_secret_value(SecretId=seeded.config.secret_id, **value)


def _validated_and_published(seeded: Estate) -> str:
    """SUCCESS evidence for the untested image in management-dev, then its tested copy."""
    assert seeded.cli("validate", "--env", "management-dev", "--timeout", "0").exit_code == 0
    result = seeded.cli("publish", "--ami", seeded.untested, "--interval", "0.1s")
    assert result.exit_code == 0, result.output
    return result.stdout.strip()


def _use_aws(monkeypatch: pytest.MonkeyPatch, aws: Aws) -> None:
    """Make the CLI use AWS (with its event hooks) instead of building its own."""
    monkeypatch.setattr(AppContext, "aws", property(lambda self: aws))


# --- set-ids ---------------------------------------------------------------------------------


def test_set_ids_writes_one_new_version_and_records_an_event(seeded: Estate) -> None:
    old = _old_untested(seeded)
    before_version, before = seeded.secret()

    result = seeded.cli("set-ids", "--ami", old, "--env", "management-dev")

    assert result.exit_code == 0, result.output
    assert f"set management-dev: {seeded.untested} -> {old}" in result.stdout
    version, document = seeded.secret()
    assert version != before_version
    assert document == {**before, SECRET_KEY_DEV: old}
    [event] = _events(seeded, "set-ids")
    assert event["before"] == {"management-dev": seeded.untested}
    assert event["after"] == {"management-dev": old}
    assert event["previous_version_id"] == before_version
    assert event["actor"]["aws_identity"]
    stages = {v["VersionId"]: v.get("VersionStages", []) for v in _versions(seeded)}
    assert all("promote-pending" not in s for s in stages.values())
    assert stages[before_version] == ["AWSPREVIOUS"]


def test_set_ids_refuses_a_pinned_env_naming_owner_reason_and_since(seeded: Estate) -> None:
    tested = _validated_and_published(seeded)
    before = _state(seeded)

    result = seeded.cli("set-ids", "--ami", tested, "--env", "management")

    assert result.exit_code == 3
    pin = seeded.secret()[1]["_pins"]["management"]
    assert (
        f"error: management is pinned to {pin['ami']} by release-manager@example.com "
        f"since {pin['since']}: "
        "production moves only when a release manager unpins it"
    ) in result.stderr
    assert _state(seeded) == before


def test_set_ids_refuses_a_revoked_ami(seeded: Estate) -> None:
    old = _old_untested(seeded)
    assert seeded.cli("revoke", "--ami", old, "--reason", "CVE-2026-0001").exit_code == 0
    before = _state(seeded)

    result = seeded.cli("set-ids", "--ami", old, "--env", "management-dev")

    assert result.exit_code == 3
    assert f"error: {old} is revoked: CVE-2026-0001" in result.stderr
    assert _state(seeded) == before


def test_set_ids_refuses_an_untested_image_for_a_tested_env(seeded: Estate) -> None:
    unpinned = seeded.cli("unpin", "--env", "management", "--reason", "open", "--apply")
    assert unpinned.exit_code == 0, unpinned.output
    before = _state(seeded)

    result = seeded.cli("set-ids", "--ami", seeded.untested, "--env", "management")

    assert result.exit_code == 3
    assert (
        f"error: management accepts only tested images: {seeded.untested} is untested"
        in result.stderr
    )
    assert _state(seeded) == before


def test_set_ids_of_the_ami_an_env_is_on_writes_nothing(seeded: Estate) -> None:
    """Admission guards moves; an env already on the AMI (here: production, unpinned, on a
    tested image the seed never validated) is not moved, so nothing is checked or written."""
    seeded.cli("unpin", "--env", "management", "--reason", "open", "--apply")
    before = _state(seeded)

    result = seeded.cli("set-ids", "--ami", seeded.tested, "--env", "management")

    assert result.exit_code == 0, result.output
    assert f"management is already on {seeded.tested}: nothing to write" in result.stdout
    assert _state(seeded) == before


def test_set_ids_of_an_unknown_ami_exits_4(seeded: Estate) -> None:
    before = _state(seeded)

    result = seeded.cli("set-ids", "--ami", "ami-0123456789abcdef0", "--env", "management-dev")

    assert result.exit_code == 4
    assert "error: ami-0123456789abcdef0 not found in eu-west-2" in result.stderr
    assert _state(seeded) == before


def test_set_ids_of_an_unknown_env_exits_2(seeded: Estate) -> None:
    before = _state(seeded)

    result = seeded.cli("set-ids", "--ami", seeded.untested, "--env", "staging")

    assert result.exit_code == 2
    assert "error: unknown environment 'staging'" in result.stderr
    assert _state(seeded) == before


def test_set_ids_when_already_set_writes_no_new_version(seeded: Estate) -> None:
    before = _state(seeded)

    result = seeded.cli("set-ids", "--ami", seeded.untested, "--env", "management-dev")

    assert result.exit_code == 0
    assert f"management-dev is already on {seeded.untested}: nothing to write" in result.stdout
    assert _state(seeded) == before


def test_set_ids_dry_run_shows_the_change_and_writes_nothing(seeded: Estate) -> None:
    old = _old_untested(seeded)
    before = _state(seeded)

    result = seeded.cli("set-ids", "--ami", old, "--env", "management-dev", "--dry-run")

    assert result.exit_code == 0
    assert f"would set management-dev: {seeded.untested} -> {old}" in result.stdout
    assert _state(seeded) == before


def test_set_ids_retries_after_a_concurrent_writer_and_loses_no_update(
    seeded: Estate, monkeypatch: pytest.MonkeyPatch
) -> None:
    old = _old_untested(seeded)
    competitor = Aws(seeded.config, credentials=("testing", "testing")).client("secretsmanager")
    calls: list[int] = []

    def concurrent_writer(**_: Any) -> None:
        calls.append(1)
        if len(calls) == 1:  # between our read and our write, someone else writes once
            _, document = seeded.secret()
            competitor.put_secret_value(
                SecretId=seeded.config.secret_id,
                SecretString=json.dumps(
                    {**document, "concourse_ami_other": "ami-0aaaaaaaaaaaaaaaa"}
                ),
            )

    seeded.aws.on("before-call.secretsmanager.PutSecretValue", concurrent_writer)
    _use_aws(monkeypatch, seeded.aws)

    result = seeded.cli("set-ids", "--ami", old, "--env", "management-dev")

    assert result.exit_code == 0, result.output
    assert "changed while we wrote it (attempt 1/5)" in result.stderr
    assert len(calls) == 2
    _, document = seeded.secret()
    assert document[SECRET_KEY_DEV] == old
    assert document["concourse_ami_other"] == "ami-0aaaaaaaaaaaaaaaa"  # no lost update
    assert document["_pins"]["management"]["owner"] == "release-manager@example.com"
    stages = [v.get("VersionStages", []) for v in _versions(seeded)]
    assert not any("promote-pending" in s for s in stages)


def test_set_ids_gives_up_with_exit_6_when_another_writer_always_wins(
    seeded: Estate, monkeypatch: pytest.MonkeyPatch
) -> None:
    old = _old_untested(seeded)
    competitor = Aws(seeded.config, credentials=("testing", "testing")).client("secretsmanager")

    def concurrent_writer(**_: Any) -> None:
        _, document = seeded.secret()
        document["writes"] = document.get("writes", 0) + 1
        competitor.put_secret_value(
            SecretId=seeded.config.secret_id, SecretString=json.dumps(document)
        )

    seeded.aws.on("before-call.secretsmanager.PutSecretValue", concurrent_writer)
    _use_aws(monkeypatch, seeded.aws)

    result = seeded.cli("set-ids", "--ami", old, "--env", "management-dev")

    assert result.exit_code == 6
    assert "kept changing under us: gave up after 5 attempts" in result.stderr
    _, document = seeded.secret()
    assert document[SECRET_KEY_DEV] == seeded.untested
    assert document["writes"] == 5
    assert _events(seeded, "set-ids") == []


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("not json {", "is not valid JSON"),
        ('["ami-0123456789abcdef0"]', "holds a JSON list, not an object"),
        ('{"concourse_ami_mgmt_dev": 42}', "'concourse_ami_mgmt_dev' holds 42, not an AMI id"),
        ('{"concourse_ami": "latest"}', "'concourse_ami' holds 'latest', not an AMI id"),
    ],
)
def test_a_malformed_secret_is_refused_with_exit_2_and_never_overwritten(
    seeded: Estate, value: str, message: str
) -> None:
    _put_secret(seeded, SecretString=value)
    before = _state(seeded)

    result = seeded.cli("set-ids", "--ami", _old_untested(seeded), "--env", "management-dev")

    assert result.exit_code == 2
    assert message in result.stderr
    assert "promote never overwrites a malformed secret" in result.stderr
    assert _state(seeded) == before


def test_a_secret_binary_stays_binary_and_keeps_unknown_keys(seeded: Estate) -> None:
    _, document = seeded.secret()
    document["terraform_extra"] = {"keep": ["me", 1]}
    _put_secret(seeded, SecretBinary=json.dumps(document).encode())
    old = _old_untested(seeded)

    result = seeded.cli("set-ids", "--ami", old, "--env", "management-dev")

    assert result.exit_code == 0, result.output
    raw = seeded.client("secretsmanager").get_secret_value(
        SecretId=seeded.config.secret_id, VersionStage="AWSCURRENT"
    )
    assert "SecretString" not in raw
    written = json.loads(raw["SecretBinary"])
    assert written == {**document, SECRET_KEY_DEV: old}


# --- pin / unpin -----------------------------------------------------------------------------


def test_pin_refuses_an_empty_reason(seeded: Estate) -> None:
    before = _state(seeded)

    result = seeded.cli("pin", "--env", "management-dev", "--reason", "  ", *OWNER)

    assert result.exit_code == 2
    assert "error: a reason is required and may not be empty" in result.stderr
    assert _state(seeded) == before


def test_pin_stores_owner_reason_since_and_expiry(seeded: Estate) -> None:
    result = seeded.cli(
        "pin", "--env", "management-dev", "--reason", "freeze", "--expires", "2099-01-31", *OWNER
    )

    assert result.exit_code == 0, result.output
    pin = seeded.secret()[1]["_pins"]["management-dev"]
    assert pin["ami"] == seeded.untested
    assert pin["owner"] == "rm@example.com"
    assert pin["reason"] == "freeze"
    assert pin["expires"] == "2099-01-31"
    assert pin["since"]
    [event] = _events(seeded, "pin")
    assert event["before"]["pin"] is None
    assert event["after"]["pin"] == pin


def test_pin_owner_defaults_to_user_without_git_email(seeded: Estate) -> None:
    process = seeded.run(
        "pin",
        "--env",
        "management-dev",
        "--reason",
        "freeze",
        env={
            "USER": "alice",
            "HOME": str(seeded.tmp),
            "GIT_CONFIG_GLOBAL": "/dev/null",
            "GIT_CONFIG_NOSYSTEM": "1",
        },
    )

    assert process.returncode == 0, process.stderr
    assert seeded.secret()[1]["_pins"]["management-dev"]["owner"] == "alice"


def test_pin_again_with_the_same_values_writes_nothing(seeded: Estate) -> None:
    seeded.cli("pin", "--env", "management-dev", "--reason", "freeze", *OWNER)
    before = _state(seeded)

    result = seeded.cli("pin", "--env", "management-dev", "--reason", "freeze", *OWNER)

    assert result.exit_code == 0
    assert "already pinned" in result.stdout
    assert _state(seeded) == before


def test_moving_a_pin_keeps_the_old_one_in_the_event(seeded: Estate) -> None:
    old = _old_untested(seeded)
    seeded.cli("pin", "--env", "management-dev", "--reason", "first", *OWNER)

    result = seeded.cli(
        "pin", "--env", "management-dev", "--ami", old, "--reason", "roll back", *OWNER
    )

    assert result.exit_code == 0, result.output
    _, document = seeded.secret()
    assert document[SECRET_KEY_DEV] == old
    assert document["_pins"]["management-dev"]["ami"] == old
    moved = _events(seeded, "pin")[-1]
    assert moved["before"]["pin"]["reason"] == "first"
    assert moved["before"]["pin"]["ami"] == seeded.untested
    assert moved["after"]["pin"]["reason"] == "roll back"


def test_an_expired_pin_still_holds_and_status_shows_it_overdue(seeded: Estate) -> None:
    pinned = seeded.cli(
        "pin", "--env", "management-dev", "--reason", "freeze", "--expires", "2020-01-01", *OWNER
    )
    assert pinned.exit_code == 0
    assert "already in the past" in pinned.stderr
    before = _state(seeded)

    refused = seeded.cli("set-ids", "--ami", _old_untested(seeded), "--env", "management-dev")
    status = seeded.cli("status", "--env", "management-dev")

    assert refused.exit_code == 3
    assert "(expired 2020-01-01, still holds)" in refused.stderr
    assert _state(seeded) == before
    assert "the pin on management-dev expired 2020-01-01 and still holds" in status.stderr


def test_pin_refuses_a_revoked_ami(seeded: Estate) -> None:
    old = _old_untested(seeded)
    seeded.cli("revoke", "--ami", old, "--reason", "bad kernel")
    before = _state(seeded)

    result = seeded.cli("pin", "--env", "management-dev", "--ami", old, "--reason", "x", *OWNER)

    assert result.exit_code == 3
    assert f"error: {old} is revoked: bad kernel" in result.stderr
    assert _state(seeded) == before


def test_unpin_with_nothing_eligible_keeps_the_env_where_it_is(seeded: Estate) -> None:
    before = _state(seeded)

    shown = seeded.cli("unpin", "--env", "management", "--reason", "release 42")

    assert shown.exit_code == 0
    assert "nothing is eligible" in shown.stdout
    assert f"management stays on {seeded.tested}" in shown.stdout
    assert _state(seeded) == before

    applied = seeded.cli("unpin", "--env", "management", "--reason", "release 42", "--apply")

    assert applied.exit_code == 0, applied.output
    _, document = seeded.secret()
    assert document[SECRET_KEY_PROD] == seeded.tested
    assert "management" not in document.get("_pins", {})


def test_unpin_shows_the_newest_eligible_image_and_applies_in_one_write(seeded: Estate) -> None:
    tested = _validated_and_published(seeded)
    before = _state(seeded)

    shown = seeded.cli("unpin", "--env", "management", "--reason", "release 42")

    assert shown.exit_code == 0
    assert f"management would move {seeded.tested} -> {tested}" in shown.stdout
    assert f"evidence: evidence/{seeded.untested}/management-dev/" in shown.stdout
    assert _state(seeded) == before
    versions_before = len(_versions(seeded))

    applied = seeded.cli("unpin", "--env", "management", "--reason", "release 42", "--apply")

    assert applied.exit_code == 0, applied.output
    assert "would" not in applied.stdout
    assert f"moved management in its secret: {seeded.tested} -> {tested}" in applied.stdout
    assert "next: promote rollout --env management" in applied.stdout
    assert len(_versions(seeded)) == versions_before + 1
    _, document = seeded.secret()
    assert document[SECRET_KEY_PROD] == tested
    assert "_pins" not in document
    [event] = _events(seeded, "unpin")
    assert event["before"]["pin"]["owner"] == "release-manager@example.com"
    assert event["after"] == {"ami": tested, "pin": None}
    assert event["reason"] == "release 42"


def test_unpin_repin_moves_and_pins_again_in_the_same_write(seeded: Estate) -> None:
    tested = _validated_and_published(seeded)
    versions_before = len(_versions(seeded))

    shown = seeded.cli("unpin", "--env", "management", "--reason", "release 43", "--repin", *OWNER)
    assert f"would re-pin management to {tested} (owner rm@example.com)" in shown.stdout
    assert len(_versions(seeded)) == versions_before
    applied = seeded.cli(
        "-o", "json", "unpin", "--env", "management", "--reason", "release 43", "--apply",
        "--repin", *OWNER,
    )  # fmt: skip

    assert applied.exit_code == 0, applied.output
    out = json.loads(applied.stdout)
    assert out["next_step"] == "promote rollout --env management"
    assert len(_versions(seeded)) == versions_before + 1  # one write: unpin, move and re-pin
    _, document = seeded.secret()
    assert document[SECRET_KEY_PROD] == tested
    pin = document["_pins"]["management"]
    assert (pin["ami"], pin["owner"], pin["reason"]) == (tested, "rm@example.com", "release 43")
    [event] = _events(seeded, "unpin")
    assert event["after"]["ami"] == tested and event["after"]["pin"]["ami"] == tested
    refused = seeded.cli("set-ids", "--ami", seeded.tested, "--env", "management")
    assert refused.exit_code == 3  # held again


def test_unpin_owner_without_repin_is_a_usage_error(seeded: Estate) -> None:
    before = _state(seeded)

    result = seeded.cli("unpin", "--env", "management", "--reason", "r", "--apply", *OWNER)

    assert result.exit_code == 2
    assert "add --repin" in result.stderr
    assert _state(seeded) == before


def test_unpin_never_moves_to_a_revoked_image(seeded: Estate) -> None:
    tested = _validated_and_published(seeded)
    seeded.cli("revoke", "--ami", tested, "--reason", "CVE")

    result = seeded.cli("unpin", "--env", "management", "--reason", "release", "--apply")

    assert result.exit_code == 0
    assert "nothing is eligible" in result.stdout
    assert seeded.secret()[1][SECRET_KEY_PROD] == seeded.tested


def test_unpin_refuses_an_empty_reason(seeded: Estate) -> None:
    before = _state(seeded)

    result = seeded.cli("unpin", "--env", "management", "--reason", "", "--apply")

    assert result.exit_code == 2
    assert "error: a reason is required and may not be empty" in result.stderr
    assert _state(seeded) == before


# --- publish ---------------------------------------------------------------------------------


def test_publish_without_success_evidence_exits_3(seeded: Estate) -> None:
    before = _state(seeded)

    result = seeded.cli("publish", "--ami", seeded.untested)

    assert result.exit_code == 3
    assert f"error: {seeded.untested} cannot be published: no evidence" in result.stderr
    assert _state(seeded) == before


def test_publish_copies_tags_and_launch_permissions_and_reruns_to_the_same_id(
    seeded: Estate,
) -> None:
    seeded.client("ec2").modify_image_attribute(
        ImageId=seeded.untested, LaunchPermission={"Add": [{"UserId": "333333333333"}]}
    )
    seeded.cli("validate", "--env", "management-dev", "--timeout", "0")

    first = seeded.cli("publish", "--ami", seeded.untested)
    second = seeded.run("publish", "--ami", seeded.untested)

    assert first.exit_code == 0, first.output
    assert second.returncode == 0, second.stderr
    tested = first.stdout.strip()
    assert second.stdout.strip() == tested
    copies = seeded.client("ec2").describe_images(
        Owners=["self"],
        Filters=[{"Name": "tag:promote:source-image", "Values": [seeded.untested]}],
    )["Images"]
    assert [c["ImageId"] for c in copies] == [tested]
    assert copies[0]["Name"].startswith("dw-al2-concourse-ami-")
    tags = _tags(seeded, tested)
    source_tags = _tags(seeded, seeded.untested)
    assert tags["promote:stage"] == "tested"
    assert tags["promote:source-image"] == seeded.untested
    assert tags["concourse:version"] == source_tags["concourse:version"] == "7.12.0"
    assert tags["git:sha"] == source_tags["git:sha"]
    permissions = seeded.client("ec2").describe_image_attribute(
        ImageId=tested, Attribute="launchPermission"
    )["LaunchPermissions"]
    assert {"UserId": "333333333333"} in permissions
    assert len(_events(seeded, "publish")) == 1


def test_publish_dry_run_shows_the_plan_and_writes_nothing(seeded: Estate) -> None:
    seeded.cli("validate", "--env", "management-dev", "--timeout", "0")
    before = _state(seeded)

    result = seeded.cli("publish", "--ami", seeded.untested, "--dry-run")

    assert result.exit_code == 0, result.output
    assert f"copy {seeded.untested} to a new image dw-al2-concourse-ami-" in result.stdout
    assert _state(seeded) == before


def test_publish_and_set_ids_share_the_image_with_an_env_in_another_account(
    seeded: Estate,
) -> None:
    config = seeded.tmp / "promote.toml"
    config.write_text(
        'test_env = "management-dev"\n'
        "[env.management-dev]\n"
        'secret_key = "concourse_ami_mgmt_dev"\n'
        'autoscaling_groups = ["concourse-web-management-dev"]\n'
        'accepts = "untested"\n'
        "[env.management]\n"
        'secret_key = "concourse_ami"\n'
        'autoscaling_groups = ["concourse-web-management"]\n'
        'accepts = "tested"\n'
        'role_arn = "arn:aws:iam::222222222222:role/concourse-ami-promoter"\n'
    )
    seeded.cli("validate", "--env", "management-dev", "--timeout", "0")

    result = seeded.cli("--config", str(config), "publish", "--ami", seeded.untested)

    assert result.exit_code == 0, result.output
    tested = result.stdout.strip()
    ec2 = seeded.client("ec2")
    permissions = ec2.describe_image_attribute(ImageId=tested, Attribute="launchPermission")
    assert {"UserId": "222222222222"} in permissions["LaunchPermissions"]
    image = ec2.describe_images(ImageIds=[tested])["Images"][0]
    snapshot = image["BlockDeviceMappings"][0]["Ebs"]["SnapshotId"]
    volume = ec2.describe_snapshot_attribute(
        SnapshotId=snapshot, Attribute="createVolumePermission"
    )
    assert {"UserId": "222222222222"} in volume["CreateVolumePermissions"]


def test_publish_refuses_a_revoked_image(seeded: Estate) -> None:
    seeded.cli("validate", "--env", "management-dev", "--timeout", "0")
    seeded.cli("revoke", "--ami", seeded.untested, "--reason", "broken")
    before = _state(seeded)

    result = seeded.cli("publish", "--ami", seeded.untested)

    assert result.exit_code == 3
    assert f"error: {seeded.untested} is revoked: broken" in result.stderr
    assert _state(seeded) == before


# --- revoke ----------------------------------------------------------------------------------


def test_revoke_tags_the_image_warns_when_deprecation_fails_and_records_an_event(
    seeded: Estate,
) -> None:
    result = seeded.cli("revoke", "--ami", seeded.untested, "--reason", "CVE-2026-0002")

    assert result.exit_code == 0, result.output
    assert f"warning: could not deprecate {seeded.untested}" in result.stderr
    assert "management-dev is still set to it; its running instances are untouched" in (
        result.stdout
    )
    tags = _tags(seeded, seeded.untested)
    assert tags["promote:revoked"] == "CVE-2026-0002"
    assert tags["promote:revoked-by"]
    assert tags["promote:revoked-at"]
    [event] = _events(seeded, "revoke")
    assert event["reason"] == "CVE-2026-0002"
    assert event["after"]["deprecated"] is False
    running = seeded.group("concourse-web-management-dev")["Instances"]
    assert len(running) == 2 and all(i["LifecycleState"] == "InService" for i in running)


def test_revoke_twice_changes_nothing_the_second_time(seeded: Estate) -> None:
    seeded.cli("revoke", "--ami", seeded.untested, "--reason", "CVE")
    before = _state(seeded)

    result = seeded.cli("revoke", "--ami", seeded.untested, "--reason", "CVE again")

    assert result.exit_code == 0
    assert "was already revoked" in result.stdout
    assert _state(seeded) == before


def test_gate_refuses_a_revoked_image_and_status_warns_about_envs_running_it(
    seeded: Estate,
) -> None:
    seeded.cli("validate", "--env", "management-dev", "--timeout", "0")
    seeded.cli("revoke", "--ami", seeded.untested, "--reason", "CVE-3")

    gate = seeded.cli("gate", "--ami", seeded.untested)
    status = seeded.cli("status")

    assert gate.exit_code == 3
    assert "is revoked: CVE-3" in gate.stdout
    assert status.exit_code == 0
    assert (
        f"warning: management-dev is set to and runs (4 instance(s)) revoked image "
        f"{seeded.untested}: CVE-3"
    ) in status.stderr


def test_revoke_refuses_an_empty_reason(seeded: Estate) -> None:
    before = _state(seeded)

    result = seeded.cli("revoke", "--ami", seeded.untested, "--reason", " ")

    assert result.exit_code == 2
    assert "error: a reason is required and may not be empty" in result.stderr
    assert _state(seeded) == before


# --- prune -----------------------------------------------------------------------------------


def _decisions(output: str) -> dict[str, str]:
    document = json.loads(output)
    return {c["image_id"]: c["decision"] for c in document["candidates"]}


def test_prune_is_a_dry_run_by_default_and_writes_nothing(seeded: Estate) -> None:
    garbage = seeded.make_image("untested-dw-al2-concourse-ami-20260101T000000Z")
    before = _state(seeded)

    result = seeded.cli("-o", "json", "prune", "--keep", "0")

    assert result.exit_code == 0, result.output
    assert _decisions(result.stdout)[garbage] == "DELETE"
    assert json.loads(result.stdout)["applied"] is False
    assert _state(seeded) == before
    text = seeded.cli("prune", "--keep", "0")
    assert "dry run: 2 image(s) would be deleted" in text.stdout


def test_prune_never_deletes_what_is_referenced_used_or_newest_tested(seeded: Estate) -> None:
    ec2 = seeded.client("ec2")
    tested = _validated_and_published(seeded)
    in_template = seeded.make_image("untested-dw-al2-concourse-ami-20260201T000000Z")
    ec2.create_launch_template_version(
        LaunchTemplateName="concourse-web-management-dev",
        SourceVersion="$Latest",
        LaunchTemplateData={"ImageId": in_template},
    )
    stopped_on = seeded.make_image("untested-dw-al2-concourse-ami-20260301T000000Z")
    instance = ec2.run_instances(ImageId=stopped_on, MinCount=1, MaxCount=1)["Instances"][0]
    ec2.terminate_instances(InstanceIds=[instance["InstanceId"]])
    previous = seeded.make_image("untested-dw-al2-concourse-ami-20260401T000000Z")
    assert seeded.cli("set-ids", "--ami", previous, "--env", "management-dev").exit_code == 0
    assert seeded.cli("set-ids", "--ami", seeded.untested, "--env", "management-dev").exit_code == 0
    garbage = seeded.make_image("untested-dw-al2-concourse-ami-20260501T000000Z")
    old = _old_untested(seeded)
    garbage_snapshots = [
        m["Ebs"]["SnapshotId"]
        for m in ec2.describe_images(ImageIds=[garbage])["Images"][0]["BlockDeviceMappings"]
    ]

    result = seeded.cli("-o", "json", "prune", "--keep", "0", "--apply")

    assert result.exit_code == 0, result.output
    decisions = _decisions(result.stdout)
    assert decisions == {
        seeded.untested: "KEEP",  # in the secret, running
        seeded.tested: "KEEP",  # in the secret and the pin, running
        tested: "KEEP",  # the newest tested image with SUCCESS evidence
        in_template: "KEEP",
        stopped_on: "KEEP",
        previous: "KEEP",  # only in AWSPREVIOUS
        garbage: "DELETE",
        old: "DELETE",
    }
    reasons = {c["image_id"]: c["reasons"] for c in json.loads(result.stdout)["candidates"]}
    assert any("launch template concourse-web-management-dev" in r for r in reasons[in_template])
    assert any("AWSPREVIOUS" in r for r in reasons[previous])
    assert any("newest tested image" in r for r in reasons[tested])
    remaining = {i["ImageId"] for i in ec2.describe_images(Owners=["self"])["Images"]}
    assert garbage not in remaining and old not in remaining
    assert {seeded.untested, seeded.tested, tested, in_template, stopped_on, previous} <= remaining
    snapshots = {s["SnapshotId"] for s in ec2.describe_snapshots(OwnerIds=["self"])["Snapshots"]}
    assert not set(garbage_snapshots) & snapshots
    [event] = _events(seeded, "prune")
    assert set(event["deleted"]) == {garbage, old}


def test_prune_keeps_the_newest_n_of_each_stage(seeded: Estate) -> None:
    garbage = seeded.make_image("untested-dw-al2-concourse-ami-20260501T000000Z")

    result = seeded.cli("-o", "json", "prune")  # --keep 3: three untested images exist

    assert _decisions(result.stdout)[garbage] == "KEEP"
    assert _decisions(result.stdout)[_old_untested(seeded)] == "KEEP"
    [candidate] = [c for c in json.loads(result.stdout)["candidates"] if c["image_id"] == garbage]
    assert candidate["reasons"] == ["one of the 3 newest untested images (--keep 3)"]


# --- history ---------------------------------------------------------------------------------


def test_history_lists_evidence_and_events_newest_first_as_text_and_json(seeded: Estate) -> None:
    old = _old_untested(seeded)
    seeded.cli("validate", "--env", "management-dev", "--timeout", "0")
    seeded.cli("set-ids", "--ami", old, "--env", "management-dev")
    seeded.cli("pin", "--env", "management-dev", "--reason", "hold", *OWNER)

    result = seeded.cli("-o", "json", "history", "--env", "management-dev")
    text = seeded.cli("history")
    only_old = seeded.cli("-o", "json", "history", "--ami", old)

    assert result.exit_code == 0, result.output
    entries = json.loads(result.stdout)["entries"]
    assert [e["kind"] for e in entries] == ["pin", "set-ids", "evidence"]
    stamps = [e["stamp"] for e in entries]
    assert stamps == sorted(stamps, reverse=True)
    assert entries[0]["event"]["reason"] == "hold"
    assert text.exit_code == 0
    assert "set-ids management-dev" in text.stdout
    assert [e["kind"] for e in json.loads(only_old.stdout)["entries"]] == ["pin", "set-ids"]

    def kinds(*args: str) -> list[str]:
        shown = seeded.cli("-o", "json", "history", "--env", "management-dev", *args)
        assert shown.exit_code == 0, shown.output
        return [e["kind"] for e in json.loads(shown.stdout)["entries"]]

    assert kinds("--limit", "2") == ["pin", "set-ids"]
    assert kinds("--since", "1h") == ["pin", "set-ids", "evidence"]
    assert kinds("--since", "2099-01-01") == []
    assert kinds("--since", stamps[1][:8]) == ["pin", "set-ids", "evidence"]  # today, a date
    bad = seeded.cli("history", "--since", "last tuesday")
    assert bad.exit_code == 2 and "hint: write it as 2026-11-01" in bad.stderr


def test_set_ids_shares_the_image_with_an_env_in_another_account(seeded: Estate) -> None:
    config = seeded.tmp / "promote.toml"
    config.write_text(
        'test_env = "management-dev"\n'
        "[env.management-dev]\n"
        'secret_key = "concourse_ami_mgmt_dev"\n'
        'autoscaling_groups = ["concourse-web-management-dev"]\n'
        'accepts = "untested"\n'
        'role_arn = "arn:aws:iam::444444444444:role/concourse-ami-promoter"\n'
    )
    old = _old_untested(seeded)

    dry = seeded.cli(
        "--config", str(config), "set-ids", "--ami", old, "--env", "management-dev", "--dry-run"
    )
    result = seeded.cli("--config", str(config), "set-ids", "--ami", old, "--env", "management-dev")

    assert "would share" in dry.stdout and "account 444444444444" in dry.stdout
    assert result.exit_code == 0, result.output
    assert f"shared {old} with management-dev (account 444444444444)" in result.stdout
    permissions = seeded.client("ec2").describe_image_attribute(
        ImageId=old, Attribute="launchPermission"
    )["LaunchPermissions"]
    assert {"UserId": "444444444444"} in permissions
    assert seeded.secret()[1][SECRET_KEY_DEV] == old


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("set-ids", "--ami", "ami-XYZ", "--env", "management-dev"), "'ami-XYZ' is not an AMI id"),
        (("pin", "--env", "management-dev", "--ami", "ami-1", "--reason", "r"), "not an AMI id"),
        (
            ("pin", "--env", "management-dev", "--reason", "r", "--expires", "soon", *OWNER),
            "--expires 'soon' is not a date",
        ),
        (("pin", "--env", "nowhere", "--reason", "r", *OWNER), "unknown environment 'nowhere'"),
        (("unpin", "--env", "nowhere", "--reason", "r"), "unknown environment 'nowhere'"),
        (("publish", "--ami", "ami-bad"), "'ami-bad' is not an AMI id"),
        (("revoke", "--ami", "bad", "--reason", "r"), "'bad' is not an AMI id"),
        (("prune", "--older-than", "soon", "--apply"), "'soon' is not a duration"),
        (("history", "--ami", "ami-bad"), "'ami-bad' is not an AMI id"),
    ],
)
def test_bad_input_is_exit_2_and_writes_nothing(
    seeded: Estate, args: tuple[str, ...], message: str
) -> None:
    before = _state(seeded)

    result = seeded.cli(*args)

    assert result.exit_code == 2, result.output
    assert message in result.stderr
    assert "Traceback" not in result.output
    assert _state(seeded) == before


def test_unknown_amis_are_exit_4_for_every_command_and_write_nothing(seeded: Estate) -> None:
    unknown = "ami-0123456789abcdef0"
    before = _state(seeded)

    results = [
        seeded.cli("publish", "--ami", unknown),
        seeded.cli("revoke", "--ami", unknown, "--reason", "r"),
        seeded.cli("pin", "--env", "management-dev", "--ami", unknown, "--reason", "r", *OWNER),
    ]

    assert [r.exit_code for r in results] == [4, 4, 4]
    assert all(f"error: {unknown} not found in eu-west-2" in r.stderr for r in results)
    assert _state(seeded) == before
