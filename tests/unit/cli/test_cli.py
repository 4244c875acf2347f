"""The CLI surface that needs no AWS: version, durations, config, usage errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from promote.cli import cli
from promote.cli.options import parse_duration
from promote.errors import PromoteError


def test_version_does_not_load_boto3_or_rich() -> None:
    code = (
        "import sys\n"
        "from promote.cli import cli\n"
        "try:\n    cli(['--version'], prog_name='promote')\n"
        "except SystemExit:\n    pass\n"
        "print(sorted(m for m in ('boto3', 'botocore', 'rich') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)

    assert out.stdout.splitlines() == ["promote, version 0.1.0", "[]"]


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("0", 0), ("90s", 90), ("15m", 900), ("1h30m", 5400), ("2d", 172800), ("1.5h", 5400)],
)
def test_durations_read_as_operators_write_them(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "15 minutes", "m15", "1x", "30", "90"])
def test_a_duration_that_is_not_one_is_refused(text: str) -> None:
    with pytest.raises(PromoteError) as caught:
        parse_duration(text)
    assert caught.value.exit_code == 2


def test_a_bad_timeout_is_a_usage_error() -> None:
    result = CliRunner().invoke(cli, ["validate", "--env", "management-dev", "--timeout", "soon"])

    assert result.exit_code == 2
    assert "'soon' is not a duration" in result.output


def test_a_duration_without_a_unit_is_exit_2_with_a_hint() -> None:
    result = CliRunner().invoke(cli, ["prune", "--older-than", "30"])

    assert result.exit_code == 2
    assert "'30' needs a unit (write 30s, 30m, 30h or 30d)" in result.output


def test_config_shows_each_value_and_where_it_came_from(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli, ["-o", "json", "config"], env={"PROMOTE_CONFIG": "", "PROMOTE_TEST_ENV": "management"}
    )

    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["schema"] == "promote/v1"
    assert document["config"]["test_env"] == "management"
    assert document["sources"]["test_env"] == "env PROMOTE_TEST_ENV"
    assert document["sources"]["region"] in ("default", "env AWS_REGION", "env AWS_DEFAULT_REGION")


def test_a_bad_config_file_is_one_line_and_exit_2_without_traceback(tmp_path: Path) -> None:
    path = tmp_path / "promote.toml"
    path.write_text('test_env = "dev"\nregion = ["eu-west-2"]\n[env.dev]\n')

    result = CliRunner().invoke(cli, ["--config", str(path), "status"])

    assert result.exit_code == 2
    assert result.stderr.splitlines()[0] == (
        f"error: {path}: 'region' must be a non-empty string, got ['eu-west-2']"
    )
    assert "Traceback" not in result.output


def test_an_unknown_env_is_exit_2_and_lists_the_known_ones() -> None:
    result = CliRunner().invoke(
        cli, ["gate", "--ami", "ami-0123456789abcdef0", "--env", "prod"], env={"PROMOTE_CONFIG": ""}
    )

    assert result.exit_code == 2
    assert "error: unknown environment 'prod' in the built-in defaults" in result.stderr
    assert "hint: known environments: management, management-dev" in result.stderr


# --- global options before and after the subcommand ------------------------------------------


def test_global_options_after_the_subcommand_work_as_before_it() -> None:
    env = {"PROMOTE_CONFIG": "", "AWS_REGION": "", "AWS_DEFAULT_REGION": ""}
    before = CliRunner().invoke(cli, ["-o", "json", "--region", "eu-west-1", "config"], env=env)
    after = CliRunner().invoke(cli, ["config", "--region", "eu-west-1", "--output=json"], env=env)
    short = CliRunner().invoke(cli, ["config", "-ojson", "-v", "--region=eu-west-1"], env=env)

    assert before.exit_code == after.exit_code == short.exit_code == 0, after.output
    assert json.loads(after.stdout) == json.loads(before.stdout) == json.loads(short.stdout)
    assert json.loads(after.stdout)["config"]["region"] == "eu-west-1"


def test_hoisting_leaves_a_subcommands_own_option_and_option_values_alone() -> None:
    from promote.cli import hoist_global_options

    @click.group()
    def group() -> None: ...

    @group.command()
    @click.option("--region")
    @click.option("--reason")
    def own(region: str, reason: str) -> None: ...

    ctx = click.Context(group)
    argv = ["own", "--region", "r", "--reason", "-o", "-v", "--profile", "p", "--", "-o", "json"]

    assert hoist_global_options(group, ctx, argv) == [
        "-v", "--profile", "p", "own", "--region", "r", "--reason", "-o", "--", "-o", "json",
    ]  # fmt: skip


def test_a_usage_error_under_o_json_is_a_json_document_too() -> None:
    result = CliRunner().invoke(
        cli, ["history", "--no-such-option", "-o", "json"], prog_name="promote"
    )

    assert result.exit_code == 2
    document = json.loads(result.stdout)
    assert document["schema"] == "promote/v1"
    assert document["error"]["exit_code"] == 2
    assert "No such option" in document["error"]["message"]
    assert document["error"]["hint"] == "see 'promote history --help'"
    assert "No such option" in result.stderr


def test_a_usage_error_in_text_stays_on_stderr() -> None:
    result = CliRunner().invoke(cli, ["history", "--no-such-option"])

    assert result.exit_code == 2
    assert result.stdout == ""
    assert "No such option" in result.stderr


# --- build never falls back quietly to the local AWS when a configured source fails ----------

SSO_PROFILE = """[profile tooling]
sso_start_url = https://example.awsapps.com/start
sso_region = eu-west-2
sso_account_id = 123456789012
sso_role_name = Builder
region = eu-west-2
"""


def _build_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    (tmp_path / "aws-config").write_text(SSO_PROFILE)
    return {
        "HOME": str(tmp_path),  # no SSO token cache
        "AWS_CONFIG_FILE": str(tmp_path / "aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-credentials"),
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_ENDPOINT_URL": "",
        "AWS_ACCESS_KEY_ID": "",
        "AWS_SECRET_ACCESS_KEY": "",
        "PROMOTE_CONFIG": "",
        "PROMOTE_SANDBOX_DIR": str(tmp_path / "sandbox"),
        **extra,
    }


@pytest.mark.parametrize(
    ("profile", "said"),
    [("nope", "could not be found"), ("tooling", "do not work")],
    ids=["unknown profile", "expired SSO"],
)
def test_build_with_a_configured_source_that_fails_is_exit_5(
    tmp_path: Path, profile: str, said: str
) -> None:
    (tmp_path / "packer").mkdir()
    env = _build_env(tmp_path, AWS_PROFILE=profile)

    result = CliRunner().invoke(cli, ["build", "--packer-dir", str(tmp_path / "packer")], env=env)

    assert result.exit_code == 5, result.output
    assert said in result.stderr
    assert "hint: run `aws sso login` (SSO)" in result.stderr
    assert "local AWS" not in result.stderr.split("hint:")[0]
    assert not (tmp_path / "sandbox").exists()  # no local AWS was started


STS_REFUSAL = (
    b'<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type>'
    b"<Code>InvalidClientTokenId</Code><Message>The security token included in the request is "
    b"invalid.</Message></Error><RequestId>1</RequestId></ErrorResponse>"
)


def test_build_with_keys_aws_refuses_is_exit_5(tmp_path: Path) -> None:
    """A stand-in STS on loopback answers as AWS does to unknown keys (403 InvalidClientTokenId)."""
    import http.server
    import threading

    class RefusingSts(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            self.send_response(403)
            self.send_header("Content-Type", "text/xml")
            self.send_header("Content-Length", str(len(STS_REFUSAL)))
            self.end_headers()
            self.wfile.write(STS_REFUSAL)

        def log_message(self, *args: object) -> None: ...

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), RefusingSts)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    (tmp_path / "packer").mkdir()
    keys = _build_env(
        tmp_path,
        AWS_ACCESS_KEY_ID="AKIAIOSFODNN7EXAMPLE",
        AWS_SECRET_ACCESS_KEY="wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        AWS_ENDPOINT_URL_STS=f"http://127.0.0.1:{server.server_address[1]}",
    )
    env: dict[str, str | None] = {**keys, "AWS_PROFILE": None}
    try:
        result = CliRunner().invoke(
            cli, ["build", "--packer-dir", str(tmp_path / "packer")], env=env
        )
    finally:
        server.shutdown()

    assert result.exit_code == 5, result.output
    assert "the AWS credentials from env do not work" in result.stderr
    assert "InvalidClientTokenId" in result.stderr
    assert not (tmp_path / "sandbox").exists()
