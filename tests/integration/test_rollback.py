"""`promote rollback` on the local AWS: back to the last known good image, never forward again."""

from __future__ import annotations

import json
from typing import Any

from promote.domain import rollback
from tests.support.estate import Estate

WEB, WORKER = "concourse-web-management-dev", "concourse-worker-management-dev"
NO_IMDS = {"AWS_EC2_METADATA_DISABLED": "true"}
FAST = ("--interval", "0.2s", "--timeout", "60s")
DEV_KEY = "concourse_ami_mgmt_dev"


def images_of(seeded: Estate, group: str) -> set[str]:
    ids = [i["InstanceId"] for i in seeded.group(group)["Instances"]]
    reservations = seeded.client("ec2").describe_instances(InstanceIds=ids)["Reservations"]
    return {i["ImageId"] for r in reservations for i in r["Instances"]}


def _state(seeded: Estate) -> dict[str, Any]:
    """What a refused rollback must leave unchanged."""
    raw = seeded.client("secretsmanager").get_secret_value(
        SecretId=seeded.config.secret_id, VersionStage="AWSCURRENT"
    )
    return {
        "ledger": seeded.ledger_keys(),
        "secret": raw["VersionId"],
        "web": images_of(seeded, WEB),
        "worker": images_of(seeded, WORKER),
    }


def _bad_rollout(seeded: Estate) -> tuple[str, str]:
    """management-dev proven on its image, then moved to a new (bad) one: (good, bad)."""
    good = seeded.untested
    assert seeded.cli("validate", "--env", "management-dev", "--timeout", "0").exit_code == 0
    bad = seeded.make_image("untested-dw-al2-concourse-ami-20261201T000000Z")
    seeded.point("management-dev", bad)
    rolled = seeded.cli("rollout", "--env", "management-dev", *FAST, env=NO_IMDS)
    assert rolled.exit_code == 0, rolled.output
    assert images_of(seeded, WEB) == {bad}
    return good, bad


def test_rollback_returns_to_the_previous_entry_and_a_second_one_never_goes_forward(
    seeded: Estate,
) -> None:
    good, bad = _bad_rollout(seeded)

    result = seeded.cli(
        "rollback", "--env", "management-dev", "--reason", "INC-7 bad build", *FAST, env=NO_IMDS
    )

    assert result.exit_code == 0, result.output
    assert f"rolled back management-dev: {bad} -> {good} (from AWSPREVIOUS)" in result.stdout
    assert "validate: SUCCESS" in result.stdout
    assert images_of(seeded, WEB) == images_of(seeded, WORKER) == {good}
    assert seeded.secret()[1][DEV_KEY] == good
    moved = seeded.events("set-ids")[-1]
    assert moved["rollback"] == {
        "env": "management-dev",
        "from": bad,
        "to": good,
        "source": "AWSPREVIOUS",
    }
    assert moved["reason"] == "INC-7 bad build"
    assert moved["before"] == {"management-dev": bad}
    phases = [e["phase"] for e in seeded.events("rollout") if e["ami"] == good]
    assert phases == ["start", "done"]
    before = _state(seeded)

    again = seeded.cli("rollback", "--env", "management-dev", *FAST, env=NO_IMDS)

    assert again.exit_code == 3
    assert "nothing to roll management-dev back to" in again.stderr
    assert f"passed over {bad} (AWSPREVIOUS): management-dev was rolled back from it" in (
        again.stderr
    )
    assert _state(seeded) == before


def test_rollback_dry_run_names_the_target_and_the_rollout_and_changes_nothing(
    seeded: Estate,
) -> None:
    good, bad = _bad_rollout(seeded)
    before = _state(seeded)

    result = seeded.cli("-o", "json", "rollback", "--env", "management-dev", "--dry-run")

    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert (document["current"], document["target"], document["source"]) == (
        bad,
        good,
        "AWSPREVIOUS",
    )
    assert document["rollout"]["replacements"] == 4
    assert document["dry_run"] is True
    assert _state(seeded) == before
    text = seeded.cli("rollback", "--env", "management-dev", "--dry-run")
    assert f"would roll back management-dev: {bad} -> {good}" in text.stdout
    assert "dry run: nothing changed" in text.stdout


def test_a_rollback_that_crashed_after_the_secret_write_finishes_its_rollout(
    seeded: Estate,
) -> None:
    good, bad = _bad_rollout(seeded)
    services = seeded.services()
    planned = rollback.plan(services, "management-dev", None, "INC-8")
    rollback.move_secret(planned, services)  # then the process died: no rollout yet
    assert seeded.secret()[1][DEV_KEY] == good
    assert images_of(seeded, WEB) == {bad}

    result = seeded.cli("rollback", "--env", "management-dev", "--no-validate", *FAST, env=NO_IMDS)

    assert result.exit_code == 0, result.output
    assert f"management-dev's secret already names {good}: finishing its rollout" in result.stdout
    assert "validate:" not in result.stdout  # --no-validate: the validator proves it
    assert images_of(seeded, WEB) == images_of(seeded, WORKER) == {good}
    assert seeded.secret()[1][DEV_KEY] == good
    assert len([e for e in seeded.events("set-ids") if e.get("rollback")]) == 1


def test_rollback_to_an_unproven_image_lists_every_reason_and_never_hints_a_failing_validate(
    seeded: Estate,
) -> None:
    stranger = seeded.make_image("untested-dw-al2-concourse-ami-20261202T000000Z")
    seeded.cli("revoke", "--ami", stranger, "--reason", "CVE-2026-1")
    before = _state(seeded)

    result = seeded.cli("rollback", "--env", "management", "--to", stranger, "--reason", "x")

    assert result.exit_code == 3
    assert "management is pinned to" in result.stderr
    assert "accepts only tested images" in result.stderr
    assert "revoked" in result.stderr
    assert "promote validate" not in result.stderr
    assert _state(seeded) == before
    fresh = seeded.make_image("untested-dw-al2-concourse-ami-20261203T000000Z")
    seeded.cli("unpin", "--env", "management", "--reason", "test", "--apply")

    unproven = seeded.cli("rollback", "--env", "management", "--to", fresh)

    assert unproven.exit_code == 3
    assert "accepts only tested images" in unproven.stderr
    assert (
        f"deploy it to management-dev first: promote set-ids --env management-dev --ami {fresh}"
        in unproven.stderr
    )
    assert "promote validate" not in unproven.stderr
