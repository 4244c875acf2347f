"""`promote validate` and `promote gate` against the local AWS (a real moto server)."""

from __future__ import annotations

import json
import threading
import time

from tests.support.estate import Estate

WEB_DEV = "concourse-web-management-dev"
WORKER_DEV = "concourse-worker-management-dev"


def _members(seeded: Estate, group: str) -> list[str]:
    return [i["InstanceId"] for i in seeded.group(group)["Instances"]]


def _evidence(seeded: Estate, ami: str, env: str) -> list[str]:
    return seeded.evidence_keys(ami, env)


def test_validate_succeeds_when_every_instance_runs_the_secrets_ami(seeded: Estate) -> None:
    result = seeded.cli("validate", "--env", "management-dev", "--timeout", "0")

    assert result.exit_code == 0, result.output
    assert f"SUCCESS: management-dev expected {seeded.untested}" in result.stdout
    assert f"management-dev: 4/4 on {seeded.untested}" in result.stderr
    [key] = _evidence(seeded, seeded.untested, "management-dev")
    assert key.endswith("-SUCCESS.json")
    record = seeded.record(key)
    assert record["result"] == "PASSED"
    assert record["statement"]["subject"][0]["name"] == seeded.untested
    assert record["expected_ami"] == seeded.untested
    assert record["desired_capacity"] == {WEB_DEV: 2, WORKER_DEV: 2}
    assert {i["instance_id"] for i in record["instances"]} == set(
        _members(seeded, WEB_DEV) + _members(seeded, WORKER_DEV)
    )
    assert record["actor"]["aws_identity"]
    assert record["tool_version"]
    assert seeded.ledger_object("results/concourse.test") == f"{seeded.untested} SUCCESS\n".encode()


def test_validate_fails_naming_the_one_instance_on_the_old_ami(seeded: Estate) -> None:
    ec2, autoscaling = seeded.client("ec2"), seeded.client("autoscaling")
    ec2.create_launch_template_version(
        LaunchTemplateName=WORKER_DEV,
        SourceVersion="$Latest",
        LaunchTemplateData={"ImageId": seeded.tested},
    )
    before = set(_members(seeded, WORKER_DEV))
    autoscaling.terminate_instance_in_auto_scaling_group(
        InstanceId=sorted(before)[0], ShouldDecrementDesiredCapacity=False
    )
    [replacement] = set(_members(seeded, WORKER_DEV)) - before
    image = ec2.describe_instances(InstanceIds=[replacement])["Reservations"][0]["Instances"][0]
    assert image["ImageId"] == seeded.tested

    result = seeded.cli("validate", "--env", "management-dev", "--timeout", "0")

    assert result.exit_code == 3, result.output
    assert "FAILED: management-dev" in result.stdout
    reasons = [line.strip() for line in result.stdout.splitlines() if line.strip().startswith("- ")]
    assert reasons == [
        f"- {replacement} in {WORKER_DEV}: runs {seeded.tested}, expected {seeded.untested}"
    ]
    assert "3/4 on" in result.stderr and "1 on other AMIs" in result.stderr
    assert seeded.ledger_object("results/concourse.test") == f"{seeded.untested} FAILED\n".encode()


def test_validate_waits_for_an_instance_that_comes_back_in_service(seeded: Estate) -> None:
    autoscaling = seeded.client("autoscaling")
    instance = _members(seeded, WEB_DEV)[0]
    autoscaling.enter_standby(
        InstanceIds=[instance], AutoScalingGroupName=WEB_DEV, ShouldDecrementDesiredCapacity=True
    )

    def back_in_service() -> None:
        time.sleep(1.5)
        autoscaling.exit_standby(InstanceIds=[instance], AutoScalingGroupName=WEB_DEV)

    helper = threading.Thread(target=back_in_service)
    helper.start()
    result = seeded.cli(
        "validate", "--env", "management-dev", "--timeout", "20s", "--interval", "0.5s"
    )
    helper.join()

    assert result.exit_code == 0, result.output
    assert "1 standby" in result.stderr
    assert f"management-dev: 4/4 on {seeded.untested}" in result.stderr.splitlines()[-1]
    record = seeded.record(_evidence(seeded, seeded.untested, "management-dev")[0])
    assert record["polls"] >= 2


def test_validate_fails_when_an_instance_never_comes_back_in_service(seeded: Estate) -> None:
    instance = _members(seeded, WEB_DEV)[0]
    seeded.client("autoscaling").enter_standby(
        InstanceIds=[instance], AutoScalingGroupName=WEB_DEV, ShouldDecrementDesiredCapacity=True
    )

    result = seeded.cli(
        "validate", "--env", "management-dev", "--timeout", "1s", "--interval", "0.4s"
    )

    assert result.exit_code == 3
    assert f"{instance} in {WEB_DEV}: lifecycle state Standby, not InService" in result.stdout
    assert len(result.stderr.strip().splitlines()) >= 2  # one progress line per poll
    [key] = _evidence(seeded, seeded.untested, "management-dev")
    assert key.endswith("-FAILED.json")


def test_validate_fails_when_fewer_instances_are_in_service_than_desired(seeded: Estate) -> None:
    autoscaling = seeded.client("autoscaling")
    standby = _members(seeded, WEB_DEV)[0]
    autoscaling.enter_standby(
        InstanceIds=[standby], AutoScalingGroupName=WEB_DEV, ShouldDecrementDesiredCapacity=True
    )
    # The local AWS fills desired capacity at once, so stop one of the new instances in EC2:
    # desired 3, of which 2 are InService and running, 1 stopped, 1 in Standby.
    autoscaling.set_desired_capacity(AutoScalingGroupName=WEB_DEV, DesiredCapacity=3)
    members = seeded.group(WEB_DEV)["Instances"]
    in_service = [m["InstanceId"] for m in members if m["LifecycleState"] == "InService"]
    seeded.client("ec2").stop_instances(InstanceIds=[in_service[-1]])

    result = seeded.cli("-o", "json", "validate", "--env", "management-dev", "--timeout", "0")

    assert result.exit_code == 3
    document = json.loads(result.stdout)
    assert document["schema"] == "promote/v1"
    assert document["result"] == "FAILED"
    assert document["desired_capacity"][WEB_DEV] == 3
    assert f"{in_service[-1]} in {WEB_DEV}: EC2 state stopped, not running" in document["reasons"]
    assert f"{standby} in {WEB_DEV}: lifecycle state Standby, not InService" in document["reasons"]


def test_validate_never_counts_an_empty_environment_as_success(seeded: Estate) -> None:
    autoscaling = seeded.client("autoscaling")
    for group in (WEB_DEV, WORKER_DEV):
        autoscaling.set_desired_capacity(AutoScalingGroupName=group, DesiredCapacity=0)

    result = seeded.cli("validate", "--env", "management-dev", "--timeout", "0")

    assert result.exit_code == 3
    assert f"{WEB_DEV}: desired capacity is 0" in result.stdout
    assert f"{WORKER_DEV}: desired capacity is 0" in result.stdout
    assert "management-dev: 0/0 on" in result.stderr


def test_validate_of_a_missing_asg_exits_4_and_records_nothing(seeded: Estate) -> None:
    config = seeded.tmp / "promote.toml"
    config.write_text(
        'test_env = "management-dev"\n'
        "[env.management-dev]\n"
        'secret_key = "concourse_ami_mgmt_dev"\n'
        f'autoscaling_groups = ["{WEB_DEV}", "concourse-worker-gone"]\n'
        'accepts = "untested"\n'
    )
    before = seeded.snapshot()

    result = seeded.cli("--config", str(config), "validate", "--env", "management-dev")

    assert result.exit_code == 4
    assert "error: auto scaling group concourse-worker-gone of management-dev not found" in (
        result.stderr
    )
    assert f"hint: check env.management-dev.autoscaling_groups in {config}" in result.stderr
    assert "Traceback" not in result.output
    assert seeded.snapshot() == before


def test_validate_refuses_a_malformed_ami_id_and_records_nothing(seeded: Estate) -> None:
    before = seeded.snapshot()

    result = seeded.cli("validate", "--env", "management-dev", "--ami", "ami-XYZ")

    assert result.exit_code == 2
    assert result.stderr.splitlines()[0] == "error: 'ami-XYZ' is not an AMI id"
    assert seeded.snapshot() == before


def test_a_second_validate_adds_a_record_and_overwrites_nothing(seeded: Estate) -> None:
    first = seeded.cli("validate", "--env", "management-dev", "--timeout", "0")
    [first_key] = _evidence(seeded, seeded.untested, "management-dev")
    first_body = seeded.ledger_object(first_key)

    second = seeded.cli("validate", "--env", "management-dev", "--timeout", "0")

    assert first.exit_code == second.exit_code == 0
    keys = _evidence(seeded, seeded.untested, "management-dev")
    assert len(keys) == 2 and first_key in keys
    assert seeded.ledger_object(first_key) == first_body


def test_gate_opens_on_success_and_prints_the_record(seeded: Estate) -> None:
    assert seeded.cli("gate", "--ami", seeded.untested).exit_code == 3
    seeded.cli("validate", "--env", "management-dev", "--timeout", "0")

    result = seeded.cli("-o", "json", "gate", "--ami", seeded.untested)

    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["open"] is True
    assert document["evidence_key"].startswith(f"evidence/{seeded.untested}/management-dev/")
    assert document["evidence"]["result"] == "PASSED"


def test_gate_stays_closed_with_only_failed_evidence(seeded: Estate) -> None:
    seeded.cli("validate", "--env", "management", "--ami", seeded.untested, "--timeout", "0")

    result = seeded.cli("gate", "--ami", seeded.untested, "--env", "management")

    assert result.exit_code == 3
    assert f"CLOSED: only FAILED evidence for {seeded.untested} in management" in result.stdout


def test_gate_stays_closed_for_a_revoked_image_even_with_success(seeded: Estate) -> None:
    seeded.cli("validate", "--env", "management-dev", "--timeout", "0")
    seeded.client("ec2").create_tags(
        Resources=[seeded.untested],
        Tags=[{"Key": "promote:revoked", "Value": "CVE-2026-0001 by alice"}],
    )

    result = seeded.cli("gate", "--ami", seeded.untested)

    assert result.exit_code == 3
    assert f"CLOSED: {seeded.untested} is revoked: CVE-2026-0001 by alice" in result.stdout


def test_validate_of_an_ami_that_does_not_exist_exits_4_and_writes_nothing(
    seeded: Estate,
) -> None:
    before = seeded.snapshot()

    result = seeded.cli(
        "validate", "--env", "management-dev", "--ami", "ami-0123456789abcdef0", "--timeout", "0"
    )

    assert result.exit_code == 4
    assert "error: ami-0123456789abcdef0 not found in eu-west-2" in result.stderr
    assert seeded.snapshot() == before


def test_gate_of_an_unknown_ami_exits_4(seeded: Estate) -> None:
    result = seeded.cli("gate", "--ami", "ami-0123456789abcdef0")

    assert result.exit_code == 4
    assert "error: ami-0123456789abcdef0 not found in eu-west-2" in result.stderr


def test_gate_for_a_tested_copy_relies_on_its_source_images_evidence(seeded: Estate) -> None:
    tested_tags = {
        t["Key"]: t["Value"]
        for t in seeded.client("ec2").describe_images(ImageIds=[seeded.tested])["Images"][0]["Tags"]
    }
    source = tested_tags["promote:source-image"]
    assert seeded.cli("gate", "--ami", seeded.tested).exit_code == 3
    seeded.cli("validate", "--env", "management-dev", "--ami", source, "--timeout", "0")
    # management-dev does not run the old source image, so that check FAILED: still closed.
    assert seeded.cli("gate", "--ami", seeded.tested).exit_code == 3

    seeded.cli("validate", "--env", "management", "--ami", seeded.tested, "--timeout", "0")
    result = seeded.cli("gate", "--ami", seeded.tested, "--env", "management")

    assert result.exit_code == 0
    assert f"SUCCESS evidence for {seeded.tested} in management" in result.stdout


def test_validate_runs_as_a_subprocess_with_json_output(seeded: Estate) -> None:
    process = seeded.run("-o", "json", "validate", "--env", "management-dev", "--timeout", "0")

    assert process.returncode == 0, process.stderr
    document = json.loads(process.stdout)
    assert document["command"] == "validate"
    assert document["result"] == "SUCCESS"
    assert document["evidence_key"] in seeded.ledger_keys()


def test_only_the_test_envs_validate_writes_the_compatibility_file(seeded: Estate) -> None:
    """Existing consumers read results/concourse.test as the test env's verdict."""
    assert seeded.cli("validate", "--env", "management-dev", "--timeout", "0").exit_code == 0
    before = seeded.ledger_object("results/concourse.test")

    result = seeded.cli("validate", "--env", "management", "--timeout", "0")

    assert result.exit_code == 0, result.output
    assert seeded.ledger_object("results/concourse.test") == before
