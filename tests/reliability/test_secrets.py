"""Secrets never leak: tokens and the AWS secret key stay out of output, logs and the ledger."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.fakes.concourse_server import FakeConcourse
from tests.fakes.github_server import FakeGitHub
from tests.support.estate import Estate, git_checkout
from tests.support.workers import following_workers

GITHUB_SENTINEL = "ghp_SENTINELgithub0000000000000000000000000"
WRONG_GITHUB_SENTINEL = "ghp_SENTINELwrong00000000000000000000000000"
CONCOURSE_SENTINEL = "SENTINELconcourse-bearer-0000000000000000"
AWS_SENTINEL = "SENTINELawsSecretAccessKey000000000000000"
SENTINELS = (GITHUB_SENTINEL, WRONG_GITHUB_SENTINEL, CONCOURSE_SENTINEL, AWS_SENTINEL)
REPO = "acme/aws-concourse"
WORKER_DEV = "concourse-worker-management-dev"


@pytest.fixture
def hub(fake_github: Callable[..., FakeGitHub]) -> FakeGitHub:
    """A fake GitHub that accepts only the sentinel token."""
    return fake_github(GITHUB_SENTINEL, inputs={"ami"})


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    """A clean git checkout for the release's changelog."""
    git_checkout(tmp_path / "checkout")
    return tmp_path / "checkout"


def _leaks(text: str | bytes) -> list[str]:
    """The sentinels found in TEXT."""
    data = text.decode("utf-8", "replace") if isinstance(text, bytes) else text
    return [s for s in SENTINELS if s in data]


def _old_untested(seeded: Estate) -> str:
    image = seeded.client("ec2").describe_images(ImageIds=[seeded.tested])["Images"][0]
    tags: dict[str, str] = {t["Key"]: t["Value"] for t in image["Tags"]}
    return tags["promote:source-image"]


def _lifecycle(
    seeded: Estate, hub: FakeGitHub, checkout: Path, concourse: FakeConcourse, verbose: str
) -> list[tuple[str, subprocess.CompletedProcess[str]]]:
    """validate, publish, set-ids, rollout (landing via Concourse), release, dispatch, failures."""
    env = {
        "AWS_SECRET_ACCESS_KEY": AWS_SENTINEL,
        "GITHUB_TOKEN": GITHUB_SENTINEL,
        "GH_TOKEN": "",
        "GITHUB_API_URL": hub.url,
        "CONCOURSE_TOKEN": CONCOURSE_SENTINEL,
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    old = _old_untested(seeded)
    flags = [verbose] if verbose else []
    steps: list[tuple[str, list[str], dict[str, str], int]] = [
        ("validate", ["validate", "--env", "management-dev", "--timeout", "0"], {}, 0),
        ("publish", ["publish", "--ami", seeded.untested, "--interval", "0.1s"], {}, 0),
        ("set-ids", ["set-ids", "--ami", old, "--env", "management-dev"], {}, 0),
        (
            "rollout",
            [
                *("rollout", "--env", "management-dev", "--interval", "0.1s"),
                *("--timeout", "60s", "--concourse-url", concourse.url, "--drain-timeout", "10s"),
            ],
            {},
            0,
        ),
        (
            "release",
            ["release", "--ami", seeded.untested, "--repo", REPO, "--git-repo", str(checkout)],
            {},
            0,
        ),
        (
            "dispatch",
            [
                *("dispatch", "--workflow", "ami-test-apply.yml"),
                *("--repo", REPO, "--input", f"ami={old}"),
            ],
            {},
            0,
        ),
        (
            "release-wrong-token",
            ["-o", "json", "release", "--ami", old, "--repo", REPO, "--git-repo", str(checkout)],
            {"GITHUB_TOKEN": WRONG_GITHUB_SENTINEL},
            5,
        ),
        (
            "dispatch-wrong-token",
            ["dispatch", "--workflow", "ami-test-apply.yml", "--repo", REPO],
            {"GITHUB_TOKEN": WRONG_GITHUB_SENTINEL},
            5,
        ),
        (
            "rollout-wrong-concourse-token",
            [
                *("rollout", "--env", "management-dev", "--ami", seeded.untested),
                *("--interval", "0.1s", "--timeout", "20s", "--concourse-url", concourse.url),
            ],
            {"CONCOURSE_TOKEN": f"{CONCOURSE_SENTINEL}-wrong"},
            -1,
        ),
        ("status", ["-o", "json", "status"], {}, 0),
        ("history", ["history"], {}, 0),
    ]
    runs = []
    for name, args, extra, expected in steps:
        process = seeded.run(*flags, *args, env={**env, **extra})
        if expected >= 0:
            assert process.returncode == expected, (name, process.stdout, process.stderr)
        runs.append((name, process))
    return runs


@pytest.mark.parametrize("verbose", ["", "-v", "-vv"], ids=["quiet", "verbose", "debug"])
def test_no_sentinel_secret_appears_in_output_ledger_or_logs(
    seeded: Estate, hub: FakeGitHub, checkout: Path, verbose: str
) -> None:
    """A whole lifecycle, with failures, never prints or records a token or the AWS secret key."""
    log = Path(seeded.server.log)
    log_start = log.stat().st_size if log.exists() else 0
    with (
        FakeConcourse(token=CONCOURSE_SENTINEL) as concourse,
        following_workers(seeded, concourse, [WORKER_DEV]),
    ):
        runs = _lifecycle(seeded, hub, checkout, concourse, verbose)
        assert concourse.landed, "the rollout retired workers through the fake Concourse"

    assert hub.releases and hub.dispatches, "the GitHub calls really happened"
    for name, process in runs:
        assert not _leaks(process.stdout), (name, "stdout")
        assert not _leaks(process.stderr), (name, "stderr")
    keys = seeded.ledger_keys()
    assert any(k.startswith("evidence/") for k in keys)
    assert any(k.startswith("events/") for k in keys)
    assert "results/concourse.test" in keys
    for key in keys:
        assert not _leaks(seeded.ledger_object(key)), key
        assert not _leaks(seeded.ledger_text(key)), key
    for release in hub.releases.values():
        assert not _leaks(f"{release.name} {release.body}"), release.tag_name
    for asset in hub.assets.values():
        assert not _leaks(asset.data), asset.name
    secret = seeded.client("secretsmanager").get_secret_value(
        SecretId=seeded.config.secret_id, VersionStage="AWSCURRENT"
    )
    assert not _leaks(json.dumps(secret, default=str))
    images = seeded.client("ec2").describe_images(Owners=["self"])["Images"]
    assert not _leaks(json.dumps(images, default=str))
    notes = list((checkout / "releases").glob("*.md")) if (checkout / "releases").exists() else []
    assert all(not _leaks(note.read_bytes()) for note in notes)
    server_log = log.read_bytes()[log_start:] if log.exists() else b""
    assert server_log, "the moto server logged this test's requests"
    assert not _leaks(server_log)


def test_github_calls_carry_the_token_only_in_the_authorization_header(
    seeded: Estate, hub: FakeGitHub, checkout: Path
) -> None:
    """The token reaches GitHub as a header, never in a URL, a body or a query."""
    seeded.cli("validate", "--env", "management-dev", "--timeout", "0")
    env = {"GITHUB_TOKEN": GITHUB_SENTINEL, "GH_TOKEN": "", "GITHUB_API_URL": hub.url}

    result = seeded.cli(
        "release", "--ami", seeded.untested, "--repo", REPO, "--git-repo", str(checkout), env=env
    )

    assert result.exit_code == 0, result.output
    assert hub.requests
    for request in hub.requests:
        assert GITHUB_SENTINEL not in request.path
        assert GITHUB_SENTINEL not in request.body.decode("utf-8", "replace")
        assert request.headers.get("authorization", "").endswith(GITHUB_SENTINEL)


SESSION_SENTINEL = "SENTINELsessionToken00000000000000000000"


def test_debug_logs_of_an_env_reached_through_a_role_show_no_credentials(seeded: Estate) -> None:
    """-vv prints botocore's wire log: the caller's session token, the assumed role's
    credentials and the secret's value never appear in it."""
    config = seeded.tmp / "promote.toml"
    config.write_text(
        'test_env = "management-dev"\n'
        "[env.management-dev]\n"
        'secret_key = "concourse_ami_mgmt_dev"\n'
        'autoscaling_groups = ["concourse-web-management-dev"]\n'
        'accepts = "untested"\n'
        'role_arn = "arn:aws:iam::123456789012:role/concourse-ami-promoter"\n'
    )
    env = {
        "PROMOTE_CONFIG": str(config),
        "AWS_SECRET_ACCESS_KEY": AWS_SENTINEL,
        "AWS_SESSION_TOKEN": SESSION_SENTINEL,
    }

    process = seeded.run("-vv", "status", env=env)

    assert process.returncode == 0, process.stderr[-3000:]
    assert "AssumeRole" in process.stderr and "<redacted>" in process.stderr
    for leaked in (SESSION_SENTINEL, AWS_SENTINEL, "concourse_ami_mgmt_dev\\"):
        assert leaked not in process.stderr, leaked
    for shape in (
        r"<(AccessKeyId|SecretAccessKey|SessionToken)>(?!<redacted>)",
        r"""['"]X-Amz-Security-Token['"]: b?['"](?!<redacted>)""",
        r""""SecretString"\s*:\s*"(?!<redacted>)""",
    ):
        assert not re.search(shape, process.stderr), shape


def test_a_password_in_a_concourse_url_is_never_printed(seeded: Estate) -> None:
    seeded.point("management-dev", seeded.tested)
    process = seeded.run(
        "-vv",
        "rollout",
        *("--env", "management-dev", "--ami", seeded.tested),
        *("--concourse-url", "https://alice:SENTINELurlPassword@127.0.0.1:9"),
        env={"CONCOURSE_TOKEN": CONCOURSE_SENTINEL, "AWS_EC2_METADATA_DISABLED": "true"},
    )

    assert process.returncode == 5, process.stderr[-2000:]
    assert "cannot reach Concourse at https://alice:<redacted>@127.0.0.1:9" in process.stderr
    assert "SENTINELurlPassword" not in process.stderr + process.stdout
    assert CONCOURSE_SENTINEL not in process.stderr + process.stdout
