"""`promote status --check` on the local AWS: exit 0 on a consistent estate, exit 3 with one
line per problem when an env drifts."""

from __future__ import annotations

import json

from tests.support.estate import Estate


def test_a_consistent_estate_passes_the_check(seeded: Estate) -> None:
    result = seeded.cli("status", "--check")

    assert result.exit_code == 0, result.output
    assert "problem:" not in result.stderr


def test_an_env_running_other_than_its_secret_fails_the_check(seeded: Estate) -> None:
    seeded.point("management-dev", seeded.tested)  # the secret moved; the instances did not

    result = seeded.cli("status", "--check")

    assert result.exit_code == 3
    assert (
        f"problem: management-dev runs {seeded.untested} (4 instance(s)), not {seeded.tested} "
        "its secret names (promote rollout --env management-dev)"
    ) in result.stderr


def test_a_revoked_image_in_production_fails_the_check(seeded: Estate) -> None:
    assert seeded.cli("revoke", "--ami", seeded.tested, "--reason", "CVE-1").exit_code == 0

    result = seeded.cli("status", "--check", "--env", "management")

    assert result.exit_code == 3
    assert (
        f"problem: management is set to and runs (4 instance(s)) revoked image {seeded.tested}"
        in (result.stderr)
    )


def test_a_pin_dropped_by_a_raw_secret_write_fails_the_check(seeded: Estate) -> None:
    pinned = seeded.cli("pin", "--env", "management", "--reason", "hold for the audit")
    assert pinned.exit_code == 0, pinned.output  # recorded: the newest pin event of management
    _, document = seeded.secret()
    document.pop("_pins")
    seeded.client("secretsmanager").put_secret_value(  # a raw write, as `sed` + the CLI would
        SecretId=seeded.config.secret_id, SecretString=json.dumps(document)
    )

    status = seeded.cli("status", "--check")
    audit = seeded.cli("audit")

    assert status.exit_code == 3
    assert f"problem: management was pinned to {seeded.tested}" in status.stderr
    assert "no unpin was recorded" in status.stderr
    assert audit.exit_code == 3 and "pin-dropped" in audit.output
