"""`promote sandbox up | seed | down` as an operator uses it: eval the exports, then promote."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from tests.support.estate import Estate


def promote(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "promote", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_up_seed_and_down_round_trip(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "PROMOTE_SANDBOX_DIR": str(tmp_path),
        "AWS_CONFIG_FILE": str(tmp_path / "none"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
    }
    env.pop("AWS_ENDPOINT_URL", None)
    up = promote("sandbox", "up", env=env)
    try:
        assert up.returncode == 0, up.stderr
        exports = dict(
            line.removeprefix("export ").split("=", 1)
            for line in up.stdout.splitlines()
            if line.startswith("export ")
        )
        assert exports["AWS_ENDPOINT_URL"].startswith("http://127.0.0.1:")
        local = {**env, **exports}

        again = promote("sandbox", "up", env=local)
        assert "already running" in again.stderr
        assert again.stdout == up.stdout
        reseed = promote("sandbox", "seed", env=local)
        assert reseed.returncode == 0 and "created 0, kept" in reseed.stdout
        validate = promote("validate", "--env", "management-dev", "--timeout", "0", env=local)
        assert validate.returncode == 0, validate.stderr
    finally:
        down = promote("sandbox", "down", env=env)
    assert down.returncode == 0 and "stopped the local AWS" in down.stdout
    assert not (tmp_path / "state.json").exists()
    assert promote("sandbox", "down", env=env).stdout.strip() == "sandbox: no local AWS was running"


def test_down_never_signals_a_process_it_did_not_start(tmp_path: Path) -> None:
    stranger = subprocess.Popen(["sleep", "60"])
    try:
        (tmp_path / "state.json").write_text(f'{{"pid": {stranger.pid}, "port": 1, "log": "x"}}')

        result = promote(
            "sandbox", "down", env={**os.environ, "PROMOTE_SANDBOX_DIR": str(tmp_path)}
        )

        assert result.returncode == 0
        assert stranger.poll() is None  # still alive
    finally:
        stranger.send_signal(signal.SIGTERM)
        stranger.wait()


def test_seed_refuses_an_endpoint_that_is_not_local(seeded: Estate) -> None:
    result = seeded.cli(
        "sandbox", "seed", env={"AWS_ENDPOINT_URL": "https://ec2.eu-west-2.amazonaws.com"}
    )

    assert result.exit_code == 2
    assert "sandbox seed only writes to a local AWS endpoint" in result.stderr


def _aws(seeded: Estate, *args: str) -> subprocess.CompletedProcess[str]:
    """The real AWS CLI (awscli from PyPI) against the sandbox, as a user checks promote's work."""
    aws = Path(sys.executable).with_name("aws")
    return subprocess.run(
        [str(aws), *args, "--endpoint-url", seeded.server.endpoint, "--output", "json"],
        env={**os.environ, **seeded.env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_aws_cli_sees_what_set_ids_wrote_without_naming_a_stage(seeded: Estate) -> None:
    tags = seeded.client("ec2").describe_images(ImageIds=[seeded.tested])["Images"][0]["Tags"]
    old = next(t["Value"] for t in tags if t["Key"] == "promote:source-image")
    secret = seeded.config.secret_id

    assert seeded.cli("set-ids", "--ami", old, "--env", "management-dev").exit_code == 0
    shown = _aws(seeded, "secretsmanager", "get-secret-value", "--secret-id", secret)

    assert shown.returncode == 0, shown.stderr
    answer = json.loads(shown.stdout)
    assert "AWSCURRENT" in answer["VersionStages"]
    assert json.loads(answer["SecretString"])["concourse_ami_mgmt_dev"] == old
    assert answer["VersionId"] == seeded.secret()[0]

    # A raw write after promote's compare-and-swap leaves exactly one AWSCURRENT version.
    document = {**json.loads(answer["SecretString"]), "concourse_ami_mgmt_dev": seeded.untested}
    put = _aws(
        seeded, "secretsmanager", "put-secret-value", "--secret-id", secret,
        "--secret-string", json.dumps(document),
    )  # fmt: skip
    assert put.returncode == 0, put.stderr
    listed = _aws(seeded, "secretsmanager", "list-secret-version-ids", "--secret-id", secret)
    stages = [v.get("VersionStages", []) for v in json.loads(listed.stdout)["Versions"]]
    assert sum("AWSCURRENT" in s for s in stages) == 1
    assert seeded.secret()[1]["concourse_ami_mgmt_dev"] == seeded.untested


def test_two_checkouts_keep_two_sandboxes_and_never_stop_each_other(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "PROMOTE_"))}
    checkouts = [tmp_path / "one", tmp_path / "two"]
    for checkout in checkouts:
        (checkout / "sub").mkdir(parents=True)
        (checkout / ".git").mkdir()  # a checkout: its root holds .git

    def run(where: Path, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "promote", *args],
            env=env, cwd=where, capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip

    one = run(checkouts[0] / "sub", "sandbox", "up", "--no-seed")
    two = run(checkouts[1], "sandbox", "up", "--no-seed")
    try:
        assert one.returncode == 0 and two.returncode == 0, one.stderr + two.stderr
        assert "started" in one.stderr and "started" in two.stderr
        assert one.stdout != two.stdout  # two servers, two ports
        assert (checkouts[0] / ".promote" / "sandbox" / "state.json").exists()
        assert (checkouts[0] / ".promote" / ".gitignore").read_text().endswith("*\n")

        down = run(checkouts[0], "sandbox", "down")

        assert "stopped the local AWS" in down.stdout
        again = run(checkouts[1] / ".promote", "sandbox", "up", "--no-seed")
        assert "already running" in again.stderr and again.stdout == two.stdout
    finally:
        run(checkouts[0], "sandbox", "down")
        run(checkouts[1], "sandbox", "down")
