"""`promote init [--from-aws]` against the local AWS: the promote.toml it writes is one promote
loads, and --from-aws finds the estate's envs, groups and secret keys."""

from __future__ import annotations

import tomllib

from tests.support.estate import ENVS, Estate


def test_init_from_aws_fills_the_envs_groups_and_secret_keys(seeded: Estate) -> None:
    path = seeded.tmp / "found.toml"

    result = seeded.cli("init", "--from-aws", "--path", str(path))

    assert result.exit_code == 0, result.output
    assert f"wrote {path} (aws; envs: management, management-dev)" in result.stdout
    document = tomllib.loads(path.read_text())
    assert document["test_env"] == "management-dev"
    assert document["secret_id"] == seeded.config.secret_id
    envs = document["env"]
    assert envs["management-dev"]["secret_key"] == "concourse_ami_mgmt_dev"
    assert envs["management"]["secret_key"] == "concourse_ami"
    assert (envs["management-dev"]["accepts"], envs["management"]["accepts"]) == (
        "untested",
        "tested",
    )
    for env, groups in ENVS.items():
        assert sorted(envs[env]["autoscaling_groups"]) == sorted(groups)
    assert "# The ami-ids secret Terraform reads" in path.read_text()  # commented

    status = seeded.cli("--config", str(path), "status")
    assert status.exit_code == 0, status.output
    again = seeded.cli("init", "--from-aws", "--path", str(path))
    assert again.exit_code == 0 and "kept" in again.stdout


def test_init_writes_a_commented_example_promote_loads(seeded: Estate) -> None:
    path = seeded.tmp / "promote.toml"

    result = seeded.cli("init", "--path", str(path))
    config = seeded.cli("--config", str(path), "-o", "json", "config")

    assert result.exit_code == 0, result.output
    assert config.exit_code == 0, config.output
    assert path.read_text().startswith("# promote.toml:")


def test_init_never_writes_over_a_different_file(seeded: Estate) -> None:
    path = seeded.tmp / "promote.toml"
    path.write_text("# mine\n")

    result = seeded.cli("init", "--path", str(path))

    assert result.exit_code == 2
    assert "exists and says something else; nothing written" in result.stderr
    assert path.read_text() == "# mine\n"
