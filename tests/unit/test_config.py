"""promote.toml lookup, overrides, and every way a config can be wrong (exit 2)."""

from __future__ import annotations

from pathlib import Path

import pytest

from promote.config import Overrides, load
from promote.errors import PromoteError

GOOD = """
region = "eu-west-1"
secret_id = "/concourse/x/ami-ids"
evidence_bucket = "x-evidence"
untested_name = "untested-x"
tested_name = "x"
test_env = "dev"
github_repo = "acme/concourse"

[env.dev]
secret_key = "ami_dev"
autoscaling_groups = ["web-dev", "worker-dev"]
accepts = "untested"

[env.prod]
secret_key = "ami_prod"
autoscaling_groups = ["web-prod", "worker-prod"]
accepts = "tested"
role_arn = "arn:aws:iam::222222222222:role/concourse-ami-promoter"
region = "eu-west-2"
"""


def write(tmp_path: Path, text: str, name: str = "promote.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def error_of(tmp_path: Path, text: str) -> PromoteError:
    path = write(tmp_path, text)
    with pytest.raises(PromoteError) as caught:
        load(Overrides(config_path=str(path)), {}, tmp_path)
    assert caught.value.exit_code == 2
    assert str(path) in caught.value.message
    return caught.value


def test_a_full_file_is_read_with_every_env(tmp_path: Path) -> None:
    config = load(Overrides(config_path=str(write(tmp_path, GOOD))), {}, tmp_path)

    assert config.region == "eu-west-1"
    assert config.test_env == "dev"
    prod = config.environment("prod")
    assert prod.autoscaling_groups == ("web-prod", "worker-prod")
    assert prod.role_arn == "arn:aws:iam::222222222222:role/concourse-ami-promoter"
    assert config.env_region(prod) == "eu-west-2"
    assert config.sources["region"].startswith("file ")
    assert config.sources["config_file"] == "flag --config"


def test_lookup_prefers_the_flag_then_promote_config_then_the_local_file(tmp_path: Path) -> None:
    local = write(tmp_path, GOOD.replace("eu-west-1", "eu-central-1"))
    other = write(tmp_path, GOOD.replace("eu-west-1", "us-east-2"), "other.toml")
    flag = write(tmp_path, GOOD.replace("eu-west-1", "ap-south-1"), "flag.toml")
    environ = {"PROMOTE_CONFIG": str(other)}

    assert load(Overrides(config_path=str(flag)), environ, tmp_path).region == "ap-south-1"
    assert load(Overrides(), environ, tmp_path).region == "us-east-2"
    assert load(Overrides(), {}, tmp_path).path == local


def test_without_any_file_the_built_in_estate_is_used(tmp_path: Path) -> None:
    config = load(Overrides(), {}, tmp_path)

    assert config.path is None
    assert set(config.envs) == {"management-dev", "management"}
    assert config.environment("management").accepts == "tested"
    assert config.sources["secret_id"] == "default"


def test_env_vars_override_the_file_and_flags_override_env_vars(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD)
    environ = {"PROMOTE_REGION": "us-west-2", "PROMOTE_EVIDENCE_BUCKET": "other-bucket"}

    from_env = load(Overrides(config_path=str(path)), environ, tmp_path)
    from_flag = load(Overrides(config_path=str(path), region="ca-central-1"), environ, tmp_path)

    assert from_env.region == "us-west-2"
    assert from_env.sources["region"] == "env PROMOTE_REGION"
    assert from_env.evidence_bucket == "other-bucket"
    assert from_flag.region == "ca-central-1"
    assert from_flag.sources["region"] == "flag --region"


def test_aws_region_applies_only_when_the_file_names_none(tmp_path: Path) -> None:
    without_region = write(tmp_path, GOOD.replace('region = "eu-west-1"\n', "", 1))

    config = load(Overrides(config_path=str(without_region)), {"AWS_REGION": "sa-east-1"}, tmp_path)

    assert config.region == "sa-east-1"
    assert config.sources["region"] == "env AWS_REGION"


def test_the_endpoint_comes_from_the_flag_or_aws_endpoint_url(tmp_path: Path) -> None:
    environ = {"AWS_ENDPOINT_URL": "http://127.0.0.1:5000"}

    assert load(Overrides(), environ, tmp_path).endpoint_url == "http://127.0.0.1:5000"
    flagged = load(Overrides(endpoint_url="http://127.0.0.1:6000"), environ, tmp_path)
    assert flagged.endpoint_url == "http://127.0.0.1:6000"


def test_an_unknown_top_level_key_is_named(tmp_path: Path) -> None:
    error = error_of(tmp_path, 'colour = "blue"\n' + GOOD)
    assert "unknown key 'colour'" in error.message


def test_an_unknown_env_key_is_named(tmp_path: Path) -> None:
    error = error_of(
        tmp_path, GOOD.replace('accepts = "untested"', 'accepts = "untested"\nasg = 1')
    )
    assert "unknown key 'env.dev.asg'" in error.message


def test_a_missing_env_key_is_named(tmp_path: Path) -> None:
    error = error_of(tmp_path, GOOD.replace('secret_key = "ami_dev"\n', ""))
    assert "missing key 'env.dev.secret_key'" in error.message


def test_a_missing_test_env_is_named(tmp_path: Path) -> None:
    error = error_of(tmp_path, GOOD.replace('test_env = "dev"\n', ""))
    assert "missing key 'test_env'" in error.message


def test_a_wrong_type_is_named(tmp_path: Path) -> None:
    error = error_of(tmp_path, GOOD.replace('region = "eu-west-1"', "region = 3"))
    assert "'region' must be a non-empty string, got 3" in error.message


def test_an_env_with_no_asgs_is_refused(tmp_path: Path) -> None:
    error = error_of(
        tmp_path,
        GOOD.replace('autoscaling_groups = ["web-dev", "worker-dev"]', "autoscaling_groups = []"),
    )
    assert "env.dev has no autoscaling_groups" in error.message


def test_asgs_given_as_a_string_are_refused(tmp_path: Path) -> None:
    error = error_of(
        tmp_path,
        GOOD.replace(
            'autoscaling_groups = ["web-dev", "worker-dev"]', 'autoscaling_groups = "web-dev"'
        ),
    )
    assert "'env.dev.autoscaling_groups' must be a list of ASG names" in error.message


def test_accepts_must_be_untested_or_tested(tmp_path: Path) -> None:
    error = error_of(tmp_path, GOOD.replace('accepts = "tested"', 'accepts = "prod"'))
    assert '\'env.prod.accepts\' must be "untested" or "tested"' in error.message


def test_a_role_that_is_not_an_arn_is_refused(tmp_path: Path) -> None:
    error = error_of(tmp_path, GOOD.replace("arn:aws:iam::222222222222:role/", "role/"))
    assert "'env.prod.role_arn' is not an IAM role ARN" in error.message


def test_two_envs_sharing_a_secret_key_are_refused(tmp_path: Path) -> None:
    error = error_of(tmp_path, GOOD.replace('secret_key = "ami_prod"', 'secret_key = "ami_dev"'))
    assert "'ami_dev' is also used by env.dev" in error.message


def test_test_env_must_be_one_of_the_envs(tmp_path: Path) -> None:
    error = error_of(tmp_path, GOOD.replace('test_env = "dev"', 'test_env = "staging"'))
    assert "test_env 'staging' is not one of the [env.*] tables" in error.message


def test_invalid_toml_says_where(tmp_path: Path) -> None:
    error = error_of(tmp_path, GOOD + "[env.broken\n")
    assert "not valid TOML" in error.message
    assert "line" in error.message


def test_a_config_path_that_does_not_exist_is_refused(tmp_path: Path) -> None:
    with pytest.raises(PromoteError) as caught:
        load(Overrides(), {"PROMOTE_CONFIG": str(tmp_path / "nope.toml")}, tmp_path)
    assert caught.value.exit_code == 2
    assert "(from env PROMOTE_CONFIG) does not exist" in caught.value.message


def test_an_unknown_env_lists_the_known_ones(tmp_path: Path) -> None:
    config = load(Overrides(config_path=str(write(tmp_path, GOOD))), {}, tmp_path)
    with pytest.raises(PromoteError) as caught:
        config.environment("staging")
    assert caught.value.exit_code == 2
    assert caught.value.message == f"unknown environment 'staging' in {tmp_path / 'promote.toml'}"
    assert caught.value.hint == "known environments: dev, prod"


def test_an_empty_override_is_refused(tmp_path: Path) -> None:
    with pytest.raises(PromoteError) as caught:
        load(Overrides(), {"PROMOTE_SECRET_ID": " "}, tmp_path)
    assert caught.value.exit_code == 2
    assert caught.value.message == "PROMOTE_SECRET_ID is set but empty"


def test_a_region_that_is_not_a_region_is_refused(tmp_path: Path) -> None:
    with pytest.raises(PromoteError) as caught:
        load(Overrides(region="london"), {}, tmp_path)
    assert "'london' (from flag --region) is not an AWS region name" in caught.value.message


TERRAFORM = (
    'deploy = "terraform"\n'
    'deploy_dir = "infra/concourse"\n'
    'deploy_command = ["terraform", "apply", "-auto-approve"]\n'
    'drift_command = ["terraform", "plan", "-detailed-exitcode"]\n'
)


def test_an_env_deployed_by_terraform_keeps_its_commands_and_dir(tmp_path: Path) -> None:
    path = write(
        tmp_path, GOOD.replace('accepts = "untested"\n', 'accepts = "untested"\n' + TERRAFORM)
    )

    dev = load(Overrides(config_path=str(path)), {}, tmp_path).environment("dev")

    assert dev.deploy == "terraform"
    assert dev.deploy_command == ("terraform", "apply", "-auto-approve")
    assert dev.drift_command == ("terraform", "plan", "-detailed-exitcode")
    assert dev.deploy_dir == str(tmp_path / "infra/concourse")  # relative to promote.toml


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        ('deploy = "terraform"\n', 'has deploy = "terraform" but no deploy_command'),
        ('deploy = "ansible"\n', "'env.dev.deploy' must be one of promote, terraform"),
        (
            'deploy = "terraform"\ndeploy_command = "terraform apply"\n'
            'drift_command = ["terraform", "plan"]\n',
            "'env.dev.deploy_command' must be a command as a list of strings",
        ),
        (
            'drift_command = ["terraform", "plan"]\n',
            'sets drift_command but not deploy = "terraform"',
        ),
    ],
)
def test_a_deployer_that_cannot_run_is_a_usage_error(
    tmp_path: Path, lines: str, message: str
) -> None:
    error = error_of(
        tmp_path, GOOD.replace('accepts = "untested"\n', 'accepts = "untested"\n' + lines)
    )

    assert message in error.message


def test_a_role_arn_with_a_trailing_newline_is_refused(tmp_path: Path) -> None:
    text = GOOD.replace('role/concourse-ami-promoter"', 'role/concourse-ami-promoter\\n"')

    error = error_of(tmp_path, text)

    assert "'env.prod.role_arn' is not an IAM role ARN" in error.message


def test_a_file_nested_deeper_than_promote_reads_is_a_usage_error(tmp_path: Path) -> None:
    error = error_of(tmp_path, GOOD + "deep = " + "[" * 3000 + "]" * 3000 + "\n")

    assert "nests tables or arrays deeper than promote reads" in error.message


def test_envs_in_separate_secrets_may_use_the_same_key(tmp_path: Path) -> None:
    text = GOOD.replace('secret_key = "ami_prod"', 'secret_key = "ami_dev"').replace(
        'region = "eu-west-2"\n',
        'region = "eu-west-2"\nsecret_id = "/concourse/prod/ami-ids"\n'
        'secret_role_arn = "arn:aws:iam::333333333333:role/ami-ids"\n',
    )

    config = load(Overrides(config_path=str(write(tmp_path, text))), {}, tmp_path)

    prod = config.environment("prod")
    assert config.secret_of(prod).secret_id == "/concourse/prod/ami-ids"
    assert config.secret_of(prod).role_arn == "arn:aws:iam::333333333333:role/ami-ids"
    assert config.secret_of(config.environment("dev")).secret_id == "/concourse/x/ami-ids"
    assert len(config.secret_locations()) == 2


def test_a_secret_role_that_is_no_role_arn_is_refused(tmp_path: Path) -> None:
    error = error_of(tmp_path, GOOD.replace('region = "eu-west-2"\n', 'secret_role_arn = "x"\n'))

    assert "'env.prod.secret_role_arn' is not an IAM role ARN" in error.message


# --- the AWS profile's own region and endpoint_url (as the AWS CLI reads them) ----------------

AWS_CONFIG = """[default]
region = us-east-1

[profile tooling]
region = eu-west-1
endpoint_url = http://127.0.0.1:4566
"""


def _aws_config(tmp_path: Path) -> dict[str, str]:
    (tmp_path / "aws-config").write_text(AWS_CONFIG)
    return {"AWS_CONFIG_FILE": str(tmp_path / "aws-config")}


def test_the_profiles_region_and_endpoint_url_are_used(tmp_path: Path) -> None:
    environ = {**_aws_config(tmp_path), "AWS_PROFILE": "tooling"}

    config = load(Overrides(), environ, tmp_path)

    assert config.region == "eu-west-1"
    assert config.endpoint_url == "http://127.0.0.1:4566"
    assert config.sources["region"] == f"AWS profile tooling ({tmp_path / 'aws-config'})"
    assert config.sources["endpoint_url"].startswith("AWS profile tooling")


def test_the_default_profile_and_the_precedence_of_env_and_flags(tmp_path: Path) -> None:
    environ = _aws_config(tmp_path)

    assert load(Overrides(), environ, tmp_path).region == "us-east-1"
    assert load(Overrides(), environ, tmp_path).endpoint_url is None
    assert load(Overrides(), {**environ, "AWS_REGION": "eu-west-3"}, tmp_path).region == (
        "eu-west-3"
    )
    flagged = load(Overrides(region="eu-north-1", profile="tooling"), environ, tmp_path)
    assert flagged.region == "eu-north-1"
    assert flagged.endpoint_url == "http://127.0.0.1:4566"
    ignored = {**environ, "AWS_PROFILE": "tooling", "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS": "true"}
    assert load(Overrides(), ignored, tmp_path).endpoint_url is None
    local = load(Overrides(endpoint_url="http://127.0.0.1:9"), ignored, tmp_path)
    assert local.endpoint_url == "http://127.0.0.1:9"


def test_promote_config_shows_the_profiles_values_and_where_they_came_from(
    tmp_path: Path,
) -> None:
    import json

    from click.testing import CliRunner

    from promote.cli import cli

    env = {
        **_aws_config(tmp_path),
        "PROMOTE_CONFIG": "",
        "AWS_REGION": "",
        "AWS_DEFAULT_REGION": "",
    }
    env |= {"AWS_ENDPOINT_URL": ""}
    result = CliRunner().invoke(cli, ["config", "--profile", "tooling", "-o", "json"], env=env)

    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["config"]["region"] == "eu-west-1"
    assert document["sources"]["region"].startswith("AWS profile tooling")
    assert document["config"]["endpoint_url"] == "http://127.0.0.1:4566"
