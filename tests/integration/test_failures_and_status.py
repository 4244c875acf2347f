"""AWS-side failures as an operator meets them, and `promote status`, on the local AWS."""

from __future__ import annotations

import json
import socket

from tests.support.estate import Estate


def test_no_credentials_is_one_line_exit_5_and_writes_nothing(seeded: Estate) -> None:
    before = seeded.snapshot()

    result = seeded.run(
        "validate",
        "--env",
        "management-dev",
        env={"AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": ""},
    )

    assert result.returncode == 5
    assert result.stderr.startswith("error: no AWS credentials found while reading secret")
    assert "Traceback" not in result.stderr
    assert seeded.snapshot() == before


def test_an_unreachable_endpoint_is_exit_5_and_suggests_the_sandbox(seeded: Estate) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]

    result = seeded.run("status", env={"AWS_ENDPOINT_URL": f"http://127.0.0.1:{closed_port}"})

    assert result.returncode == 5
    assert f"error: cannot reach http://127.0.0.1:{closed_port}" in result.stderr
    assert "hint: is the local AWS running? `promote sandbox up`" in result.stderr


def test_a_missing_bucket_is_exit_4_before_any_polling(seeded: Estate) -> None:
    before = seeded.snapshot()

    result = seeded.cli(
        "validate", "--env", "management-dev", env={"PROMOTE_EVIDENCE_BUCKET": "no-such-bucket"}
    )

    assert result.exit_code == 4
    assert "error: evidence bucket no-such-bucket does not exist" in result.stderr
    assert result.stderr.count("management-dev:") == 0  # never polled
    assert seeded.snapshot() == before


def test_a_missing_secret_is_exit_4(seeded: Estate) -> None:
    result = seeded.cli("status", env={"PROMOTE_SECRET_ID": "/no/such/secret"})

    assert result.exit_code == 4
    assert "error: secret /no/such/secret not found in eu-west-2" in result.stderr


def test_a_malformed_secret_is_exit_2_and_left_as_it_is(seeded: Estate) -> None:
    client = seeded.client("secretsmanager")
    client.put_secret_value(SecretId=seeded.config.secret_id, SecretString='{"concourse_ami": 42')
    before = seeded.snapshot()

    result = seeded.cli("validate", "--env", "management-dev")

    assert result.exit_code == 2
    assert f"error: secret {seeded.config.secret_id} is not valid JSON" in result.stderr
    assert seeded.snapshot() == before


def test_status_shows_what_each_env_is_set_to_runs_and_its_pin(seeded: Estate) -> None:
    seeded.cli("validate", "--env", "management-dev", "--timeout", "0")

    result = seeded.cli("-o", "json", "status")

    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["schema"] == "promote/v1"
    envs = {row["env"]: row for row in document["envs"]}
    assert envs["management-dev"]["secret_ami"] == seeded.untested
    assert envs["management-dev"]["running"] == {seeded.untested: 4}
    assert envs["management-dev"]["latest_result"] == "SUCCESS"
    assert envs["management"]["running"] == {seeded.tested: 4}
    assert envs["management"]["pin"]["owner"] == "release-manager@example.com"
    assert envs["management"]["latest_evidence"] is None


def test_status_text_is_a_table_a_person_can_read(seeded: Estate) -> None:
    result = seeded.cli("status")

    assert result.exit_code == 0
    assert "management-dev" in result.stdout
    assert f"{seeded.tested} x4" in result.stdout
    assert "pinned by release-manager@example.com" in result.stdout
