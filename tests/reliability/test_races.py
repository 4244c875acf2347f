"""Races (issue 8): concurrent promote processes against one local AWS never lose or double work.

Every command runs as a real subprocess (click's CliRunner swaps sys.stdout, so it is not
thread-safe); the processes of one race are started together with Popen.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from promote.adapters.aws.autoscaling import AwsFleetControl
from promote.config import Environment
from promote.domain.rollout import RolloutOptions, execute, plan
from promote.domain.rollout_engine import MARKER_SETTLE_SECONDS, MARKER_TAG
from promote.errors import PromoteError
from tests.support.estate import Estate
from tests.support.fakes import FakeClock

RACERS = 20
WEB, WORKER = "concourse-web-management-dev", "concourse-worker-management-dev"
NO_IMDS = {"AWS_EC2_METADATA_DISABLED": "true"}


def race(
    seeded: Estate, commands: Sequence[Sequence[str]]
) -> list[subprocess.CompletedProcess[str]]:
    """Start every command as a promote subprocess at once; their results, in order."""
    environ = {**os.environ, **seeded.env, **NO_IMDS}
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "promote", *args],
            env=environ,
            cwd=seeded.tmp,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for args in commands
    ]
    results = []
    for args, process in zip(commands, processes, strict=True):
        stdout, stderr = process.communicate(timeout=180)
        results.append(subprocess.CompletedProcess(list(args), process.returncode, stdout, stderr))
    return results


def race_config(seeded: Estate) -> Path:
    """A promote.toml with management-dev plus RACERS envs, each with its own secret key."""
    lines = [
        'test_env = "management-dev"',
        "",
        "[env.management-dev]",
        'secret_key = "concourse_ami_mgmt_dev"',
        f'autoscaling_groups = ["{WEB}", "{WORKER}"]',
        'accepts = "untested"',
    ]
    for n in range(RACERS):
        lines += [
            "",
            f"[env.race-{n:02d}]",
            f'secret_key = "race_{n:02d}"',
            f'autoscaling_groups = ["{WEB}"]',
            'accepts = "untested"',
        ]
    path = seeded.tmp / "races.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def untested_images(seeded: Estate, count: int) -> list[str]:
    """COUNT new untested images, made from one instance of the base image."""
    ec2 = seeded.client("ec2")
    instance = ec2.run_instances(
        ImageId=seeded.report.base_image, MinCount=1, MaxCount=1, InstanceType="t3.micro"
    )["Instances"][0]["InstanceId"]
    images = [
        ec2.create_image(
            InstanceId=instance,
            Name=f"untested-dw-al2-concourse-ami-2026010{n // 10}T0000{n % 10:02d}Z",
            TagSpecifications=[
                {"ResourceType": "image", "Tags": [{"Key": "promote:stage", "Value": "untested"}]}
            ],
        )["ImageId"]
        for n in range(count)
    ]
    ec2.terminate_instances(InstanceIds=[instance])
    return images


def copies_of(seeded: Estate, source: str) -> list[dict[str, Any]]:
    """Every tested image whose promote:source-image is SOURCE."""
    images: list[dict[str, Any]] = seeded.client("ec2").describe_images(
        Owners=["self"], Filters=[{"Name": "tag:promote:source-image", "Values": [source]}]
    )["Images"]
    return images


def test_twenty_concurrent_set_ids_on_different_envs_lose_no_update(seeded: Estate) -> None:
    """Every set-ids that exits 0 is in the final AWSCURRENT; exit 6 only after the CAS gave up."""
    config = str(race_config(seeded))
    amis = untested_images(seeded, RACERS)
    envs = [f"race-{n:02d}" for n in range(RACERS)]

    results = race(
        seeded,
        [
            ("--config", config, "set-ids", "--ami", ami, "--env", env)
            for ami, env in zip(amis, envs, strict=True)
        ],
    )

    _, document = seeded.secret()
    codes = [r.returncode for r in results]
    assert set(codes) <= {0, 6}, [r.stderr for r in results if r.returncode not in (0, 6)]
    for n, result in enumerate(results):
        if result.returncode == 0:
            assert document[f"race_{n:02d}"] == amis[n], result.stderr
        else:
            assert "kept changing under us: gave up after 5 attempts" in result.stderr
            assert f"race_{n:02d}" not in document
    print(f"{codes.count(0)}/{RACERS} set-ids succeeded, {codes.count(6)} gave up (exit 6)")
    assert codes.count(0) >= RACERS * 3 // 4, f"only {codes.count(0)}/{RACERS} succeeded"
    assert document["concourse_ami_mgmt_dev"] == seeded.untested


def test_pin_always_wins_against_a_concurrent_set_ids(seeded: Estate) -> None:
    """`pin --ami A` racing `set-ids --ami B` on one env: the pin always wins.

    Precisely, in each of 10 rounds: the pin exits 0; afterwards the env's key is A and its pin
    names A; set-ids either exits 3 (it saw the pin) or exits 0 having been applied before the
    pin (the pin's compare-and-swap write then put the env back on A); it never leaves the env
    on B under a pin to A.
    """
    config = str(race_config(seeded))
    pinned, moved = untested_images(seeded, 2)
    envs = [f"race-{n:02d}" for n in range(10)]
    _, document = seeded.secret()
    seeded.client("secretsmanager").put_secret_value(
        SecretId=seeded.config.secret_id,
        SecretString=json.dumps({**document, **{f"race_{e[-2:]}": pinned for e in envs}}),
    )
    outcomes = []

    for env in envs:
        pin, set_ids = race(
            seeded,
            [
                (
                    *("--config", config, "pin", "--env", env, "--ami", pinned),
                    *("--reason", "hold", "--owner", "rm@example.com"),
                ),
                ("--config", config, "set-ids", "--ami", moved, "--env", env),
            ],
        )
        _, document = seeded.secret()
        key = f"race_{env[-2:]}"

        assert pin.returncode == 0, pin.stderr
        assert document[key] == pinned
        assert document["_pins"][env]["ami"] == pinned
        assert set_ids.returncode in (0, 3), set_ids.stderr
        if set_ids.returncode == 3:
            assert f"{env} is pinned" in set_ids.stderr
        outcomes.append(set_ids.returncode)

    print(f"set-ids against pin: {outcomes.count(0)} applied first, {outcomes.count(3)} refused")


def test_two_publishes_of_one_ami_at_once_make_one_copy_and_print_its_id(seeded: Estate) -> None:
    """Both runs exit 0 and print the same tested id; exactly one copy and one event remain."""
    validated = seeded.run("validate", "--env", "management-dev", "--timeout", "0")
    assert validated.returncode == 0, validated.stderr

    results = race(seeded, [("publish", "--ami", seeded.untested)] * 2)

    assert [r.returncode for r in results] == [0, 0], [r.stderr for r in results]
    printed = {r.stdout.strip() for r in results}
    copies = copies_of(seeded, seeded.untested)
    assert len(printed) == 1, printed
    assert [c["ImageId"] for c in copies] == list(printed)
    assert copies[0]["State"] == "available"
    events = [k for k in seeded.ledger_keys() if "-publish-" in k]
    assert len(events) == 1, events
    rerun = seeded.run("publish", "--ami", seeded.untested)
    assert rerun.returncode == 0, rerun.stderr
    assert rerun.stdout.strip() in printed


def test_second_of_two_simultaneous_rollouts_of_one_env_refuses_with_exit_6(
    seeded: Estate,
) -> None:
    """Exactly one rollout exits 0; the other exits 6 before touching capacity; capacity holds."""
    original = {g: seeded.group(g)["DesiredCapacity"] for g in (WEB, WORKER)}
    command = (
        "rollout",
        "--env",
        "management-dev",
        "--ami",
        seeded.tested,
        "--interval",
        "0.2s",
        "--timeout",
        "60s",
        "--no-validate",
    )

    results = race(seeded, [command, command])

    codes = sorted(r.returncode for r in results)
    assert codes == [0, 6], [r.stderr for r in results]
    refused = next(r for r in results if r.returncode == 6)
    assert f"error: another rollout of {WEB} is running" in refused.stderr
    assert "scaled out" not in refused.stderr
    assert {g: seeded.group(g)["DesiredCapacity"] for g in (WEB, WORKER)} == original
    assert not any(
        t["Key"] == "promote:rollout" for g in (WEB, WORKER) for t in seeded.group(g)["Tags"]
    )


class RivalWritesAfterUs(AwsFleetControl):
    """The real control, but a rival rollout's marker lands just after our first marker write."""

    rival = {"run": "rival", "by": "bob", "started_at": "2026-11-23T12:00:00+00:00", "ami": "x"}

    def set_marker(self, env: Environment, group: str, marker: dict[str, Any] | None) -> None:
        """Write MARKER, then (once) the rival's, as two rollouts racing on one ASG would."""
        super().set_marker(env, group, marker)
        if marker is not None and self.rival:
            super().set_marker(env, group, {**marker, **self.rival})
            self.rival = {}


def test_a_rollout_whose_marker_was_overwritten_backs_off_without_touching_capacity(
    seeded: Estate,
) -> None:
    """Both saw no marker and both wrote one: the one whose write did not last refuses (exit 6)."""
    env = seeded.config.environment("management-dev")
    control, clock = RivalWritesAfterUs(seeded.aws), FakeClock()
    services = seeded.services(clock, fleet_control=control)
    rollout = plan(services, env.name, seeded.tested, RolloutOptions(interval=0.2))
    before = (seeded.group(WEB)["DesiredCapacity"], seeded.group(WEB)["MaxSize"])

    with pytest.raises(PromoteError) as refused:
        execute(rollout, services)

    assert refused.value.exit_code == 6
    assert f"another rollout of {WEB} is running" in refused.value.message
    assert clock.slept == [MARKER_SETTLE_SECONDS]
    assert (seeded.group(WEB)["DesiredCapacity"], seeded.group(WEB)["MaxSize"]) == before
    assert (control.marker(env, WEB) or {}).get("run") == "rival"
    assert not any(t["Key"] == MARKER_TAG for t in seeded.group(WORKER)["Tags"])
