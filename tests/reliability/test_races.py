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

from promote.adapters.aws.s3 import S3Ledger
from promote.domain.locks import lock_key
from promote.domain.rollout import RolloutOptions, execute, plan
from promote.domain.rollout_engine import MARKER_TAG
from promote.errors import PromoteError
from tests.support.estate import Estate

RACERS = 20
WEB, WORKER = "concourse-web-management-dev", "concourse-worker-management-dev"
NO_IMDS = {"AWS_EC2_METADATA_DISABLED": "true"}
FAST_ROLL = ("--interval", "0.2s", "--timeout", "90s", "--no-validate")
PIPES: dict[str, Any] = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE, "text": True}
ROOT = Path(__file__).resolve().parents[2]


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
    seeded.point("management-dev", seeded.tested)
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


class RivalCreatesFirst(S3Ledger):
    """The real ledger, but a rival rollout's lease lands between our read and our create."""

    def __init__(self, aws: Any, bucket: str, rival: bytes) -> None:
        super().__init__(aws, bucket)
        self.rival: bytes | None = rival

    def create(self, key: str, body: bytes) -> str | None:
        """Write the rival's lease first (once), as a rollout that started just before us."""
        if key.startswith("locks/") and self.rival is not None:
            super().create(key, self.rival)
            self.rival = None
        return super().create(key, body)


def rival_lease(seeded: Estate, group: str) -> bytes:
    """A lease another rollout holds."""
    return json.dumps(
        {
            "group": group,
            "env": "management-dev",
            "run": "rival",
            "by": "bob",
            "ami": seeded.tested,
            "state": "held",
            "started_at": "2026-11-23T12:00:00+00:00",
            "expires_at": "2999-01-01T00:00:00+00:00",
            "desired": 2,
            "min_size": 0,
            "max_size": 4,
            "surge": 2,
        }
    ).encode()


def test_a_rollout_that_loses_the_lease_race_backs_off_without_touching_capacity(
    seeded: Estate,
) -> None:
    """Both saw no lease; the rival created it first: we refuse (exit 6), its lease stays."""
    seeded.point("management-dev", seeded.tested)
    ledger = RivalCreatesFirst(seeded.aws, seeded.config.evidence_bucket, rival_lease(seeded, WEB))
    services = seeded.services(ledger=ledger)
    rollout = plan(services, "management-dev", seeded.tested, RolloutOptions(interval=0.2))
    before = seeded.group(WEB)

    with pytest.raises(PromoteError) as refused:
        execute(rollout, services)

    assert refused.value.exit_code == 6
    assert f"another rollout of {WEB} is running" in refused.value.message
    assert "by bob" in refused.value.message
    after = seeded.group(WEB)
    assert (after["DesiredCapacity"], after["MaxSize"]) == (
        before["DesiredCapacity"],
        before["MaxSize"],
    )
    assert not after["SuspendedProcesses"]
    assert json.loads(seeded.ledger_object(lock_key(WEB)))["run"] == "rival"
    assert not any(t["Key"] == MARKER_TAG for g in (WEB, WORKER) for t in seeded.group(g)["Tags"])


def test_of_two_rollouts_one_delayed_three_seconds_exactly_one_proceeds(seeded: Estate) -> None:
    """The loser is slowed down between reading the lease and creating it (throttling): it
    must refuse without ever touching capacity; sampled, desired never drops below the start."""
    seeded.point("management-dev", seeded.tested)
    original = seeded.group(WEB)["DesiredCapacity"]
    command = ["rollout", "--env", "management-dev", "--ami", seeded.tested, *FAST_ROLL]
    environ = {**os.environ, **seeded.env, **NO_IMDS}
    slow = {
        **environ,
        "PROMOTE_TEST_HOOKS": "tests.support.faults:delay_lease",
        "PYTHONPATH": str(ROOT),
    }
    samples: list[int] = []
    first = subprocess.Popen([sys.executable, "-m", "promote", *command], env=slow, **PIPES)
    second = subprocess.Popen([sys.executable, "-m", "promote", *command], env=environ, **PIPES)
    while first.poll() is None or second.poll() is None:
        samples.append(seeded.group(WEB)["DesiredCapacity"])
    outputs = [p.communicate() for p in (first, second)]

    codes = sorted(p.returncode for p in (first, second))
    assert codes == [0, 6], outputs
    assert min(samples) >= original, samples
    loser = outputs[[first, second].index(next(p for p in (first, second) if p.returncode == 6))]
    assert "scaled out" not in loser[1] and "suspended" not in loser[1]
    assert seeded.group(WEB)["DesiredCapacity"] == original
