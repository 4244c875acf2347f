"""`promote sandbox up | seed | down` as an operator uses it: eval the exports, then promote."""

from __future__ import annotations

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
