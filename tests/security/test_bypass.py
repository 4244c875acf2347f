"""The rules hold on every path: a table of bypass attempts on the local AWS (moto server).

Each row arranges a scene as an operator (or an attacker with one command's policy) could: a
revoked image, a tested copy of one, a stripped revoked tag, a forged stage tag, a foreign
account's image, a rollout that walks around the secret. Then the command that would carry the
bypass runs as a user runs it, and the row asserts its exit code, its message, and that the
secret, the instances, the launch templates, the images and the ledger are all unchanged.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from tests.support.estate import Estate

DEV, PROD = "management-dev", "management"
NO_IMDS = {"AWS_EC2_METADATA_DISABLED": "true"}
FAST = ("--interval", "0.2s", "--timeout", "30s")


@dataclass
class Row:
    """Arrange the scene (returns the command's arguments), then the exit code and message."""

    arrange: Callable[[Estate], list[str]]
    exit_code: int
    message: str | Callable[[Estate], str]


def world(seeded: Estate) -> dict[str, Any]:
    """Everything a refused command must leave as it was."""
    ec2 = seeded.client("ec2")
    groups = {}
    for env in (DEV, PROD):
        for name in seeded.config.environment(env).autoscaling_groups:
            group = seeded.group(name)
            spec = group.get("LaunchTemplate") or group.get("MixedInstancesPolicy", {})
            versions = ec2.describe_launch_template_versions(
                LaunchTemplateId=spec["LaunchTemplateId"], Versions=["$Latest", "$Default"]
            )["LaunchTemplateVersions"]
            groups[name] = {
                "desired": group["DesiredCapacity"],
                "max": group["MaxSize"],
                "instances": sorted(i["InstanceId"] for i in group["Instances"]),
                "templates": sorted(
                    (v["VersionNumber"], v["LaunchTemplateData"].get("ImageId")) for v in versions
                ),
            }
    images = ec2.describe_images(Owners=["self"])["Images"]
    return {
        **seeded.snapshot(),
        "document": seeded.secret()[1],
        "groups": groups,
        "image_states": sorted((i["ImageId"], i["State"]) for i in images),
    }


def revoke(seeded: Estate, ami: str, reason: str = "CVE-2026-7") -> None:
    result = seeded.cli("revoke", "--ami", ami, "--reason", reason)
    assert result.exit_code == 0, result.output


def strip_revoked_tags(seeded: Estate, ami: str) -> None:
    """What anyone with ec2:DeleteTags can do."""
    seeded.client("ec2").delete_tags(
        Resources=[ami],
        Tags=[{"Key": k} for k in ("promote:revoked", "promote:revoked-by", "promote:revoked-at")],
    )


def tag(seeded: Estate, ami: str, **tags: str) -> None:
    seeded.client("ec2").create_tags(
        Resources=[ami], Tags=[{"Key": k.replace("_", ":"), "Value": v} for k, v in tags.items()]
    )


def foreign_image(seeded: Estate) -> str:
    """A public image another account owns (moto's Amazon-owned catalogue), made to look like
    one of ours."""
    found = seeded.client("ec2").describe_images(Owners=["amazon"])["Images"]
    ami = str(found[0]["ImageId"])
    return ami


def roll(*args: str) -> list[str]:
    return ["rollout", *args, *FAST]


# --- the rows ----------------------------------------------------------------------------------


def rollout_pinned_prod_to_revoked_untested(seeded: Estate) -> list[str]:
    revoke(seeded, seeded.untested)
    return roll("--env", PROD, "--ami", seeded.untested)


def rollout_test_env_to_revoked(seeded: Estate) -> list[str]:
    revoke(seeded, seeded.tested)
    return roll("--env", DEV, "--ami", seeded.tested)


def rollout_test_env_to_copy_of_revoked(seeded: Estate) -> list[str]:
    source = source_of_tested(seeded)
    revoke(seeded, source)
    return roll("--env", DEV, "--ami", seeded.tested)


def rollout_around_the_secret(seeded: Estate) -> list[str]:
    return roll("--env", DEV, "--ami", seeded.tested)


def rollout_override_without_reason(seeded: Estate) -> list[str]:
    return roll("--env", DEV, "--ami", seeded.tested, "--override-secret")


def rollout_override_with_blank_reason(seeded: Estate) -> list[str]:
    return roll("--env", DEV, "--ami", seeded.tested, "--override-secret", "--reason", " ")


def rollout_override_does_not_lift_revocation(seeded: Estate) -> list[str]:
    revoke(seeded, seeded.tested)
    return roll("--env", DEV, "--ami", seeded.tested, "--override-secret", "--reason", "INC-1")


def rollout_ami_with_newline(seeded: Estate) -> list[str]:
    return roll("--env", DEV, "--ami", f"{seeded.untested}\n")


def rollout_foreign_image(seeded: Estate) -> list[str]:
    ami = foreign_image(seeded)
    return roll("--env", DEV, "--ami", ami, "--override-secret", "--reason", "try it")


def set_ids_foreign_image(seeded: Estate) -> list[str]:
    ami = foreign_image(seeded)
    return ["set-ids", "--env", DEV, "--ami", ami]


def set_ids_copy_of_revoked(seeded: Estate) -> list[str]:
    source = source_of_tested(seeded)
    revoke(seeded, source)
    return ["set-ids", "--env", DEV, "--ami", seeded.tested]


def set_ids_after_the_revoked_tag_is_removed(seeded: Estate) -> list[str]:
    revoke(seeded, seeded.tested)
    strip_revoked_tags(seeded, seeded.tested)
    return ["set-ids", "--env", DEV, "--ami", seeded.tested]


def set_ids_source_of_revoked_copy(seeded: Estate) -> list[str]:
    source = source_of_tested(seeded)
    revoke(seeded, seeded.tested)
    return ["set-ids", "--env", DEV, "--ami", source]


def set_ids_forged_stage_into_pinned_prod(seeded: Estate) -> list[str]:
    tag(seeded, seeded.untested, promote_stage="tested")
    return ["set-ids", "--env", PROD, "--ami", seeded.untested]


def pin_after_the_revoked_tag_is_removed(seeded: Estate) -> list[str]:
    revoke(seeded, seeded.untested)
    strip_revoked_tags(seeded, seeded.untested)
    return ["pin", "--env", DEV, "--ami", seeded.untested, "--reason", "hold"]


def pin_foreign_image(seeded: Estate) -> list[str]:
    return ["pin", "--env", DEV, "--ami", foreign_image(seeded), "--reason", "hold"]


def gate_copy_of_revoked(seeded: Estate) -> list[str]:
    revoke(seeded, source_of_tested(seeded))
    return ["gate", "--ami", seeded.tested]


def gate_after_the_revoked_tag_is_removed(seeded: Estate) -> list[str]:
    revoke(seeded, seeded.tested)
    strip_revoked_tags(seeded, seeded.tested)
    return ["gate", "--ami", seeded.tested]


def publish_after_the_revoked_tag_is_removed(seeded: Estate) -> list[str]:
    revoke(seeded, seeded.untested)
    strip_revoked_tags(seeded, seeded.untested)
    return ["publish", "--ami", seeded.untested]


def revoke_disable_while_launched(seeded: Estate) -> list[str]:
    return ["revoke", "--ami", seeded.untested, "--reason", "CVE", "--disable"]


def revoke_force_without_disable(seeded: Estate) -> list[str]:
    return ["revoke", "--ami", seeded.untested, "--reason", "CVE", "--force"]


def source_of_tested(seeded: Estate) -> str:
    """The image the seeded tested copy was published from."""
    image = seeded.client("ec2").describe_images(ImageIds=[seeded.tested])["Images"][0]
    tags = {t["Key"]: t["Value"] for t in image.get("Tags", [])}
    return tags["promote:source-image"]


ROWS = {
    "rollout-pinned-prod-to-revoked-untested": Row(
        rollout_pinned_prod_to_revoked_untested, 3, "management is pinned to"
    ),
    "rollout-test-env-to-revoked": Row(
        rollout_test_env_to_revoked, 3, lambda s: f"{s.tested} is revoked: CVE-2026-7"
    ),
    "rollout-test-env-to-copy-of-revoked": Row(
        rollout_test_env_to_copy_of_revoked, 3, lambda s: f"{s.tested} is revoked"
    ),
    "rollout-around-the-secret": Row(
        rollout_around_the_secret, 3, "is not what management-dev's secret names"
    ),
    "rollout-override-without-reason": Row(
        rollout_override_without_reason, 2, "--override-secret needs --reason"
    ),
    "rollout-override-blank-reason": Row(
        rollout_override_with_blank_reason, 2, "--override-secret needs --reason"
    ),
    "rollout-override-does-not-lift-revocation": Row(
        rollout_override_does_not_lift_revocation, 3, "is revoked: CVE-2026-7"
    ),
    "rollout-ami-with-newline": Row(rollout_ami_with_newline, 2, "is not an AMI id"),
    "rollout-foreign-image": Row(rollout_foreign_image, 3, "not by the tooling account"),
    "set-ids-foreign-image": Row(set_ids_foreign_image, 3, "not by the tooling account"),
    "set-ids-copy-of-revoked": Row(
        set_ids_copy_of_revoked, 3, lambda s: f"{s.tested} is revoked: CVE-2026-7 (through "
    ),
    "set-ids-revoked-tag-removed": Row(
        set_ids_after_the_revoked_tag_is_removed, 3, lambda s: f"{s.tested} is revoked"
    ),
    "set-ids-source-of-revoked-copy": Row(
        set_ids_source_of_revoked_copy, 3, "is revoked through its copy"
    ),
    "set-ids-forged-stage-into-pinned-prod": Row(
        set_ids_forged_stage_into_pinned_prod, 3, "management is pinned to"
    ),
    "pin-revoked-tag-removed": Row(
        pin_after_the_revoked_tag_is_removed, 3, lambda s: f"{s.untested} is revoked"
    ),
    "pin-foreign-image": Row(pin_foreign_image, 3, "not by the tooling account"),
    "gate-copy-of-revoked": Row(
        gate_copy_of_revoked, 3, lambda s: f"{s.tested} is revoked: CVE-2026-7 (through "
    ),
    "gate-revoked-tag-removed": Row(
        gate_after_the_revoked_tag_is_removed, 3, lambda s: f"{s.tested} is revoked"
    ),
    "publish-revoked-tag-removed": Row(
        publish_after_the_revoked_tag_is_removed, 3, lambda s: f"{s.untested} is revoked"
    ),
    "revoke-disable-while-launched": Row(revoke_disable_while_launched, 3, "cannot disable"),
    "revoke-force-without-disable": Row(
        revoke_force_without_disable, 2, "--force goes with --disable"
    ),
}


@pytest.mark.parametrize("name", sorted(ROWS))
def test_a_bypass_is_refused_named_and_changes_nothing(seeded: Estate, name: str) -> None:
    row = ROWS[name]
    args = row.arrange(seeded)
    before = world(seeded)

    result = seeded.cli(*args, env=NO_IMDS)

    message = row.message(seeded) if callable(row.message) else row.message
    assert result.exit_code == row.exit_code, result.output
    assert message in result.output, result.output
    assert world(seeded) == before


def test_a_refusal_lists_every_reason_pin_first(seeded: Estate) -> None:
    revoke(seeded, seeded.untested)

    result = seeded.cli(*rollout_pinned_prod_to_revoked_untested(seeded), env=NO_IMDS)

    assert result.exit_code == 3
    reasons = result.stderr
    pinned = reasons.index("management is pinned to")
    assert pinned < reasons.index("accepts only tested images") < reasons.index("is revoked")


def test_an_overridden_rollout_records_its_reason_and_both_amis(seeded: Estate) -> None:
    result = seeded.cli(
        *roll("--env", DEV, "--ami", seeded.tested, "--no-validate"),
        *("--override-secret", "--reason", "INC-42 hotfix"),
        env=NO_IMDS,
    )

    assert result.exit_code == 0, result.output
    phases = [(e["phase"], e["reason"], e["override_secret"]) for e in seeded.events("rollout")]
    assert phases == [("start", "INC-42 hotfix", True), ("done", "INC-42 hotfix", True)]
    [done] = [e for e in seeded.events("rollout") if e["phase"] == "done"]
    assert done["before"]["secret_ami"] == seeded.untested
    assert done["after"]["ami"] == seeded.tested
    assert len(done["terminated"]) == 4


def test_a_removed_revoked_tag_is_reported_and_restored(seeded: Estate) -> None:
    revoke(seeded, seeded.tested, "CVE-2026-8")
    strip_revoked_tags(seeded, seeded.tested)

    status = seeded.cli("status")
    audit = seeded.cli("audit")
    again = seeded.cli("revoke", "--ami", seeded.tested, "--reason", "again")

    assert f"{seeded.tested} is revoked (CVE-2026-8) but its promote:revoked tag was removed" in (
        status.stderr
    )
    assert audit.exit_code == 3 and "revoked-untagged" in audit.output
    assert again.exit_code == 0, again.output
    assert "tag restored" in again.stdout
    image = seeded.client("ec2").describe_images(ImageIds=[seeded.tested])["Images"][0]
    assert {t["Key"]: t["Value"] for t in image["Tags"]}["promote:revoked"] == "CVE-2026-8"


def test_revoking_an_image_revokes_its_tested_copy(seeded: Estate) -> None:
    source = source_of_tested(seeded)

    result = seeded.cli("revoke", "--ami", source, "--reason", "CVE-2026-9")

    assert result.exit_code == 0, result.output
    assert f"tested copy {seeded.tested}: revoked" in result.stdout
    revoked = {e["ami"]: e for e in seeded.events("revoke")}
    assert set(revoked) == {source, seeded.tested}
    assert revoked[seeded.tested]["through"] == source


def test_revoke_disable_disables_an_image_nothing_launches(seeded: Estate) -> None:
    ec2 = seeded.client("ec2")
    instance = ec2.run_instances(
        ImageId=seeded.report.base_image, MinCount=1, MaxCount=1, InstanceType="t3.micro"
    )["Instances"][0]["InstanceId"]
    fresh = ec2.create_image(
        InstanceId=instance,
        Name="concourse-untested-unused",
        TagSpecifications=[
            {"ResourceType": "image", "Tags": [{"Key": "promote:stage", "Value": "untested"}]}
        ],
    )["ImageId"]

    result = seeded.cli("revoke", "--ami", fresh, "--reason", "CVE", "--disable")

    assert result.exit_code == 0, result.output
    assert f"{fresh} disabled: no new launches" in result.stdout
    assert ec2.describe_images(ImageIds=[fresh])["Images"][0]["State"] == "disabled"


def test_revoke_disable_refuses_while_a_tested_copy_is_launched(seeded: Estate) -> None:
    before = world(seeded)

    result = seeded.cli(
        "revoke", "--ami", source_of_tested(seeded), "--reason", "CVE", "--disable", env=NO_IMDS
    )

    assert result.exit_code == 3
    assert "management concourse-web-management (launch template" in result.stderr
    assert f"launches {seeded.tested}" in result.stderr
    assert world(seeded) == before


def test_revoke_disable_force_disables_a_launched_image_and_says_so(seeded: Estate) -> None:
    result = seeded.cli(
        "revoke", "--ami", seeded.untested, "--reason", "CVE", "--disable", "--force"
    )

    assert result.exit_code == 0, result.output
    assert "disabled although management-dev" in result.stderr
    state = seeded.client("ec2").describe_images(ImageIds=[seeded.untested])["Images"][0]["State"]
    assert state == "disabled"
