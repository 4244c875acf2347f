"""Bad inputs: one line on stderr, the documented exit code, no traceback, nothing written."""

from __future__ import annotations

import json
import socket
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import boto3
import pytest

from tests.fakes.github_server import FakeGitHub
from tests.fakes.loopback import Loopback
from tests.support.estate import Estate, git_checkout

TOKEN = "ghp_RELIABILITY000000000000000000000000000"
REPO = "acme/aws-concourse"
WEB_DEV = "concourse-web-management-dev"
WORKER_DEV = "concourse-worker-management-dev"
NO_GITHUB: dict[str, str | None] = {"GITHUB_TOKEN": "", "GH_TOKEN": ""}


@dataclass
class Scene:
    """What a row's arrange step may use: the estate, a scratch dir and a stack for fakes."""

    seeded: Estate
    tmp: Path
    stack: ExitStack


@dataclass
class Call:
    """The CLI invocation a row makes, and the environment it adds."""

    args: list[str]
    env: dict[str, str | None] = field(default_factory=dict)


@dataclass
class Row:
    """One bad input: how to arrange it, the exit code and the stable part of the error line."""

    arrange: Callable[[Scene], Call]
    exit_code: int
    message: str
    failed_record: bool = False  # validate-style rows write exactly one FAILED record by design
    click_usage: bool = False  # click's own parameter errors: `Error: ...` after a usage line


# --- arranging helpers -----------------------------------------------------------------------


def _put_secret(seeded: Estate, **value: Any) -> None:
    seeded.client("secretsmanager").put_secret_value(SecretId=seeded.config.secret_id, **value)


def _document(seeded: Estate) -> dict[str, Any]:
    return seeded.secret()[1]


def _old_untested(seeded: Estate) -> str:
    image = seeded.client("ec2").describe_images(ImageIds=[seeded.tested])["Images"][0]
    tags: dict[str, str] = {t["Key"]: t["Value"] for t in image["Tags"]}
    return tags["promote:source-image"]


def _members(seeded: Estate, group: str) -> list[str]:
    return [i["InstanceId"] for i in seeded.group(group)["Instances"]]


def _config_file(scene: Scene, text: str) -> str:
    path = scene.tmp / "promote.toml"
    path.write_text(text)
    return str(path)


def _validated(seeded: Estate) -> None:
    result = seeded.cli("validate", "--env", "management-dev", "--timeout", "0")
    assert result.exit_code == 0, result.output


def _hub(scene: Scene, **workflow_inputs: set[str]) -> FakeGitHub:
    hub = scene.stack.enter_context(FakeGitHub(token=TOKEN))
    hub.add_repo(REPO)
    hub.add_workflow(REPO, "ami-test-apply.yml", inputs=workflow_inputs.get("inputs"))
    return hub


def _checkout(scene: Scene) -> Path:
    git_checkout(scene.tmp / "checkout")
    return scene.tmp / "checkout"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


class DenyingProxy:
    """Forwards to the local AWS, but answers AccessDenied to one Secrets Manager operation."""

    def __init__(self, upstream: str, denied_target: str) -> None:
        self.upstream = upstream
        self.denied_target = denied_target
        self.denied = 0
        self.url = ""

    def __enter__(self) -> DenyingProxy:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_: Any) -> None:
                pass

            def _relay(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                if self.headers.get("X-Amz-Target") == proxy.denied_target:
                    proxy.denied += 1
                    self._answer(
                        400,
                        {"x-amzn-ErrorType": "AccessDeniedException"},
                        json.dumps(
                            {
                                "__type": "AccessDeniedException",
                                "Message": "User: arn:aws:iam::123456789012:user/ci is not "
                                f"authorized to perform: {proxy.denied_target}",
                            }
                        ).encode(),
                    )
                    return
                headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
                request = urllib.request.Request(
                    proxy.upstream + self.path, data=body, headers=headers, method=self.command
                )
                try:
                    with urllib.request.urlopen(request, timeout=30) as response:
                        self._answer(response.status, dict(response.headers), response.read())
                except urllib.error.HTTPError as error:
                    self._answer(error.code, dict(error.headers), error.read())

            def _answer(self, status: int, headers: dict[str, str], data: bytes) -> None:
                self.send_response(status)
                for key, value in headers.items():
                    if key.lower() not in {"content-length", "transfer-encoding", "connection"}:
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_HEAD = do_DELETE = _relay

        self._server = Loopback(Handler, "denying-proxy")
        self.url = self._server.url
        return self

    def __exit__(self, *_: object) -> None:
        self._server.stop()


# --- one arrange step per row ----------------------------------------------------------------


def secret_not_json(scene: Scene) -> Call:
    """The secret holds text that is not JSON."""
    _put_secret(scene.seeded, SecretString="concourse_ami=ami-0123456789abcdef0")
    return Call(["set-ids", "--ami", _old_untested(scene.seeded), "--env", "management-dev"])


def secret_binary_not_json(scene: Scene) -> Call:
    """The secret is a SecretBinary of bytes that are not JSON."""
    _put_secret(scene.seeded, SecretBinary=b"\x00\xff\xfe binary")
    return Call(["set-ids", "--ami", _old_untested(scene.seeded), "--env", "management-dev"])


def secret_not_an_object(scene: Scene) -> Call:
    """The secret is JSON, but a list."""
    _put_secret(scene.seeded, SecretString='["ami-0123456789abcdef0"]')
    return Call(["status"])


def secret_entry_not_an_ami(scene: Scene) -> Call:
    """An env key of the secret is not an AMI id."""
    document = {**_document(scene.seeded), "concourse_ami": "latest"}
    _put_secret(scene.seeded, SecretString=json.dumps(document))
    return Call(["set-ids", "--ami", _old_untested(scene.seeded), "--env", "management-dev"])


def secret_missing(scene: Scene) -> Call:
    """The ami-ids secret does not exist."""
    return Call(["set-ids", "--ami", scene.seeded.untested, "--env", "management-dev"])


def secret_entry_missing(scene: Scene) -> Call:
    """The secret has no entry for the env validate is asked about."""
    document = {k: v for k, v in _document(scene.seeded).items() if k != "concourse_ami_mgmt_dev"}
    _put_secret(scene.seeded, SecretString=json.dumps(document))
    return Call(["validate", "--env", "management-dev", "--timeout", "0"])


def unknown_env(scene: Scene) -> Call:
    """An env the config does not name."""
    return Call(["set-ids", "--ami", scene.seeded.untested, "--env", "staging"])


def malformed_ami_id(scene: Scene) -> Call:
    """An AMI id that is not ami- and 8 or 17 hex digits."""
    return Call(["gate", "--ami", "ami-XYZ"])


def ami_in_another_region(scene: Scene) -> Call:
    """An image that exists only in us-east-1 of the local AWS."""
    seeded = scene.seeded
    east = boto3.client(
        "ec2",
        region_name="us-east-1",
        endpoint_url=seeded.server.endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    copied = east.copy_image(
        Name="untested-dw-al2-concourse-ami-east",
        SourceImageId=seeded.untested,
        SourceRegion="eu-west-2",
    )["ImageId"]
    scene.seeded.notes["east"] = copied
    return Call(["gate", "--ami", copied])


def revoked_ami(scene: Scene) -> Call:
    """set-ids of an image tagged promote:revoked."""
    old = _old_untested(scene.seeded)
    revoked = scene.seeded.cli("revoke", "--ami", old, "--reason", "CVE-2026-0001")
    assert revoked.exit_code == 0, revoked.output
    return Call(["set-ids", "--ami", old, "--env", "management-dev"])


def untested_to_tested_env(scene: Scene) -> Call:
    """An untested image for an env that accepts only tested ones (unpinned first)."""
    unpinned = scene.seeded.cli("unpin", "--env", "management", "--reason", "open", "--apply")
    assert unpinned.exit_code == 0, unpinned.output
    return Call(["set-ids", "--ami", scene.seeded.untested, "--env", "management"])


def pinned_env(scene: Scene) -> Call:
    """set-ids of the pinned production env, with an image that would otherwise be allowed."""
    _validated(scene.seeded)
    published = scene.seeded.cli("publish", "--ami", scene.seeded.untested, "--interval", "0.1s")
    assert published.exit_code == 0, published.output
    return Call(["set-ids", "--ami", published.stdout.strip(), "--env", "management"])


def expired_pin_still_holds(scene: Scene) -> Call:
    """A pin whose expiry passed still refuses set-ids."""
    document = _document(scene.seeded)
    document["_pins"]["management"]["expires"] = "2020-01-01"
    _put_secret(scene.seeded, SecretString=json.dumps(document))
    _validated(scene.seeded)
    published = scene.seeded.cli("publish", "--ami", scene.seeded.untested, "--interval", "0.1s")
    assert published.exit_code == 0, published.output
    return Call(["set-ids", "--ami", published.stdout.strip(), "--env", "management"])


def empty_reason(scene: Scene) -> Call:
    """pin with a reason of only spaces."""
    return Call(["pin", "--env", "management-dev", "--reason", "   "])


def bad_toml(scene: Scene) -> Call:
    """A promote.toml that is not TOML."""
    path = _config_file(scene, 'test_env = "management-dev"\n[env.management-dev\n')
    return Call(["--config", path, "status"])


def unknown_toml_key(scene: Scene) -> Call:
    """A promote.toml with a key promote does not know (a typo)."""
    path = _config_file(
        scene,
        'test_env = "management-dev"\nevidence_bukket = "x"\n'
        "[env.management-dev]\n"
        'secret_key = "concourse_ami_mgmt_dev"\n'
        f'autoscaling_groups = ["{WEB_DEV}", "{WORKER_DEV}"]\n'
        'accepts = "untested"\n',
    )
    return Call(["--config", path, "status"])


def no_credentials(scene: Scene) -> Call:
    """No AWS credentials anywhere in the chain."""
    return Call(
        ["status"],
        {"AWS_ACCESS_KEY_ID": None, "AWS_SECRET_ACCESS_KEY": None, "AWS_PROFILE": None},
    )


def access_denied(scene: Scene) -> Call:
    """AWS answers AccessDenied to the secret write (a role without PutSecretValue)."""
    proxy = scene.stack.enter_context(
        DenyingProxy(scene.seeded.server.endpoint, "secretsmanager.PutSecretValue")
    )
    scene.seeded.notes["proxy"] = proxy
    old = _old_untested(scene.seeded)
    return Call(
        ["--endpoint-url", proxy.url, "set-ids", "--ami", old, "--env", "management-dev"],
        {"AWS_ENDPOINT_URL": proxy.url},
    )


def missing_asg(scene: Scene) -> Call:
    """The config names an ASG that does not exist."""
    path = _config_file(
        scene,
        'test_env = "management-dev"\n'
        "[env.management-dev]\n"
        'secret_key = "concourse_ami_mgmt_dev"\n'
        f'autoscaling_groups = ["{WEB_DEV}", "concourse-worker-gone"]\n'
        'accepts = "untested"\n',
    )
    return Call(["--config", path, "validate", "--env", "management-dev", "--timeout", "0"])


def zero_instances(scene: Scene) -> Call:
    """Every ASG of the env scaled to zero."""
    autoscaling = scene.seeded.client("autoscaling")
    for group in (WEB_DEV, WORKER_DEV):
        autoscaling.set_desired_capacity(AutoScalingGroupName=group, DesiredCapacity=0)
    return Call(["validate", "--env", "management-dev", "--timeout", "0"])


def mixed_amis(scene: Scene) -> Call:
    """One worker replaced from a launch template on another AMI."""
    seeded = scene.seeded
    seeded.client("ec2").create_launch_template_version(
        LaunchTemplateName=WORKER_DEV,
        SourceVersion="$Latest",
        LaunchTemplateData={"ImageId": seeded.tested},
    )
    seeded.client("autoscaling").terminate_instance_in_auto_scaling_group(
        InstanceId=_members(seeded, WORKER_DEV)[0], ShouldDecrementDesiredCapacity=False
    )
    return Call(["validate", "--env", "management-dev", "--timeout", "0"])


def pending_instance(scene: Scene) -> Call:
    """One web instance in Standby (not InService) for the whole, short, wait."""
    seeded = scene.seeded
    seeded.client("autoscaling").enter_standby(
        InstanceIds=[_members(seeded, WEB_DEV)[0]],
        AutoScalingGroupName=WEB_DEV,
        ShouldDecrementDesiredCapacity=True,
    )
    return Call(["validate", "--env", "management-dev", "--timeout", "1s", "--interval", "0.5s"])


def desired_above_running(scene: Scene) -> Call:
    """Desired 3 but one of the InService members is stopped in EC2."""
    seeded = scene.seeded
    seeded.client("autoscaling").set_desired_capacity(
        AutoScalingGroupName=WEB_DEV, DesiredCapacity=3
    )
    seeded.client("ec2").stop_instances(InstanceIds=[_members(seeded, WEB_DEV)[-1]])
    return Call(["validate", "--env", "management-dev", "--timeout", "0"])


def missing_bucket(scene: Scene) -> Call:
    """The evidence bucket does not exist."""
    return Call(["gate", "--ami", scene.seeded.untested])


def github_401(scene: Scene) -> Call:
    """release to GitHub with a token GitHub does not accept."""
    hub = _hub(scene)
    _validated(scene.seeded)
    checkout = _checkout(scene)
    return Call(
        ["release", "--ami", scene.seeded.untested, "--repo", REPO, "--git-repo", str(checkout)],
        {"GITHUB_TOKEN": "ghp_WRONG", "GH_TOKEN": "", "GITHUB_API_URL": hub.url},
    )


def github_404(scene: Scene) -> Call:
    """release to a repository GitHub does not have."""
    hub = _hub(scene)
    _validated(scene.seeded)
    checkout = _checkout(scene)
    return Call(
        [
            "release",
            "--ami",
            scene.seeded.untested,
            "--repo",
            "acme/nope",
            "--git-repo",
            str(checkout),
        ],
        {"GITHUB_TOKEN": TOKEN, "GH_TOKEN": "", "GITHUB_API_URL": hub.url},
    )


def github_422(scene: Scene) -> Call:
    """dispatch with an input the workflow does not declare."""
    hub = _hub(scene, inputs={"ami"})
    return Call(
        [
            "dispatch",
            "--workflow",
            "ami-test-apply.yml",
            "--repo",
            REPO,
            "--input",
            "ami=ami-0123456789abcdef0",
            "--input",
            "colour=blue",
        ],
        {"GITHUB_TOKEN": TOKEN, "GH_TOKEN": "", "GITHUB_API_URL": hub.url},
    )


def dirty_git_tree(scene: Scene) -> Call:
    """release to the local git backend from a tree with uncommitted changes."""
    _validated(scene.seeded)
    checkout = _checkout(scene)
    (checkout / "README.md").write_text("edited\n")
    return Call(["release", "--ami", scene.seeded.untested, "--git-repo", str(checkout)], NO_GITHUB)


def endpoint_refused(scene: Scene) -> Call:
    """The AWS endpoint refuses connections."""
    url = f"http://127.0.0.1:{_free_port()}"
    return Call(["--endpoint-url", url, "status"], {"AWS_ENDPOINT_URL": url})


def bad_duration(scene: Scene) -> Call:
    """validate --timeout that is not a duration."""
    return Call(["validate", "--env", "management-dev", "--timeout", "soon"])


def publish_without_evidence(scene: Scene) -> Call:
    """publish of an untested image with no SUCCESS evidence."""
    return Call(["publish", "--ami", scene.seeded.untested, "--timeout", "1s"])


def unknown_ami(scene: Scene) -> Call:
    """set-ids of a well-formed AMI id that does not exist."""
    return Call(["set-ids", "--ami", "ami-0123456789abcdef0", "--env", "management-dev"])


def revoke_empty_reason(scene: Scene) -> Call:
    """revoke with an empty reason."""
    return Call(["revoke", "--ami", scene.seeded.untested, "--reason", ""])


def dispatch_input_not_key_value(scene: Scene) -> Call:
    """dispatch --input without '='."""
    return Call(
        ["dispatch", "--workflow", "ami-test-apply.yml", "--input", "ami"],
        {"GITHUB_TOKEN": TOKEN},
    )


ROWS: dict[str, Row] = {
    "secret-not-json": Row(secret_not_json, 2, "is not valid JSON"),
    "secret-binary-not-json": Row(secret_binary_not_json, 2, "SecretBinary that is not UTF-8"),
    "secret-not-an-object": Row(secret_not_an_object, 2, "holds a JSON list, not an object"),
    "secret-entry-not-an-ami": Row(
        secret_entry_not_an_ami, 2, "'concourse_ami' holds 'latest', not an AMI id"
    ),
    "secret-missing": Row(secret_missing, 4, "secret /concourse/dataworks/ami-ids not found"),
    "secret-entry-missing": Row(
        secret_entry_missing, 4, "has no 'concourse_ami_mgmt_dev' for management-dev"
    ),
    "unknown-env": Row(unknown_env, 2, "unknown environment 'staging'"),
    "malformed-ami-id": Row(malformed_ami_id, 2, "'ami-XYZ' is not an AMI id"),
    "ami-in-another-region": Row(ami_in_another_region, 4, "not found in eu-west-2"),
    "revoked-ami": Row(revoked_ami, 3, "is revoked: CVE-2026-0001"),
    "untested-to-tested-env": Row(untested_to_tested_env, 3, "accepts only tested images"),
    "pinned-env": Row(pinned_env, 3, "management is pinned to ami-"),
    "expired-pin-still-holds": Row(expired_pin_still_holds, 3, "management is pinned to ami-"),
    "empty-reason": Row(empty_reason, 2, "a reason is required and may not be empty"),
    "bad-toml": Row(bad_toml, 2, "promote.toml: not valid TOML"),
    "unknown-toml-key": Row(unknown_toml_key, 2, "promote.toml: unknown key 'evidence_bukket'"),
    "no-credentials": Row(no_credentials, 5, "no AWS credentials found"),
    "access-denied": Row(access_denied, 5, "AWS denied secretsmanager:PutSecretValue"),
    "missing-asg": Row(missing_asg, 4, "auto scaling group concourse-worker-gone"),
    "zero-instances": Row(zero_instances, 3, "FAILED", failed_record=True),
    "mixed-amis": Row(mixed_amis, 3, "FAILED", failed_record=True),
    "pending-standby": Row(pending_instance, 3, "FAILED", failed_record=True),
    "desired-above-running": Row(desired_above_running, 3, "FAILED", failed_record=True),
    "missing-bucket": Row(
        missing_bucket, 4, "evidence bucket concourse-ami-evidence does not exist"
    ),
    "github-401": Row(github_401, 5, "GitHub rejected the token"),
    "github-404": Row(github_404, 4, "not found on GitHub"),
    "github-422": Row(github_422, 2, "Unexpected inputs"),
    "dirty-git-tree": Row(dirty_git_tree, 2, "has uncommitted changes"),
    "endpoint-refused": Row(endpoint_refused, 5, "cannot reach http://127.0.0.1:"),
    "bad-duration": Row(bad_duration, 2, "'soon' is not a duration", click_usage=True),
    "publish-without-evidence": Row(
        publish_without_evidence, 3, "cannot be published: no evidence for"
    ),
    "unknown-ami": Row(unknown_ami, 4, "ami-0123456789abcdef0 not found in eu-west-2"),
    "revoke-empty-reason": Row(revoke_empty_reason, 2, "a reason is required and may not be empty"),
    "dispatch-input-not-key-value": Row(dispatch_input_not_key_value, 2, "is not KEY=VALUE"),
}


# --- what must not change --------------------------------------------------------------------


def state(seeded: Estate) -> dict[str, Any]:
    """seeded.snapshot(), robust to a missing bucket or secret, reading AWSCURRENT by name."""
    s3, secrets = seeded.client("s3"), seeded.client("secretsmanager")
    bucket = seeded.config.evidence_bucket
    names = {b["Name"] for b in s3.list_buckets().get("Buckets", [])}
    ledger = {k: seeded.ledger_object(k) for k in seeded.ledger_keys()} if bucket in names else None
    listed = secrets.list_secrets().get("SecretList", [])
    if any(s["Name"] == seeded.config.secret_id for s in listed):
        current = secrets.get_secret_value(
            SecretId=seeded.config.secret_id, VersionStage="AWSCURRENT"
        )["VersionId"]
        versions = secrets.list_secret_version_ids(
            SecretId=seeded.config.secret_id, IncludeDeprecated=True
        )["Versions"]
        secret: Any = (current, sorted(v["VersionId"] for v in versions))
    else:
        secret = None
    images = seeded.client("ec2").describe_images(Owners=["self"])["Images"]
    return {
        "ledger": ledger,
        "secret": secret,
        "images": sorted((i["ImageId"], json.dumps(i.get("Tags", []))) for i in images),
    }


@pytest.fixture
def scene(seeded: Estate, tmp_path: Path) -> Iterator[Scene]:
    """The seeded estate, a scratch dir, and a stack that closes the row's fakes."""
    with ExitStack() as stack:
        yield Scene(seeded, tmp_path, stack)


REMOVED = {"secret-missing", "missing-bucket"}  # seeded.snapshot() needs both to exist


def _remove_for_row(seeded: Estate, name: str) -> None:
    """Rows about a missing secret or bucket remove it after the arrange step."""
    if name == "secret-missing":
        seeded.client("secretsmanager").delete_secret(
            SecretId=seeded.config.secret_id, ForceDeleteWithoutRecovery=True
        )
    if name == "missing-bucket":
        s3 = seeded.client("s3")
        for key in seeded.ledger_keys():
            s3.delete_object(Bucket=seeded.config.evidence_bucket, Key=key)
        s3.delete_bucket(Bucket=seeded.config.evidence_bucket)


# Rows where promote disagrees with DESIGN.md today (see the report); strict: a fix flips them.
# Rows where promote disagreed with DESIGN.md; each is a strict xfail until fixed.
DISAGREES: dict[str, str] = {}
PARAMS = [
    pytest.param(name, id=name, marks=pytest.mark.xfail(reason=DISAGREES[name], strict=True))
    if name in DISAGREES
    else pytest.param(name, id=name)
    for name in ROWS
]


@pytest.mark.parametrize("name", PARAMS)
def test_a_bad_input_fails_with_one_line_its_exit_code_and_writes_nothing(
    scene: Scene, name: str
) -> None:
    """Each bad input: one error line, the documented exit, no traceback, state unchanged."""
    row, seeded = ROWS[name], scene.seeded
    call = row.arrange(scene)
    _remove_for_row(seeded, name)
    before = state(seeded)
    snapshot = seeded.snapshot() if name not in REMOVED else None

    result = seeded.cli(*call.args, env=call.env)  # type: ignore[arg-type]

    assert "Traceback" not in result.stdout + result.stderr, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    assert result.exit_code == row.exit_code, result.output
    if "proxy" in seeded.notes:  # the AccessDenied came from the call promote really made
        assert seeded.notes["proxy"].denied >= 1
    after = state(seeded)
    if row.failed_record:  # by design: one FAILED record (+ results/concourse.test), no more
        assert row.message in result.stdout
        added = set(after["ledger"]) - set(before["ledger"]) - {"results/concourse.test"}
        new = sorted(k for k in added if "/detail/" not in k)  # its detail object beside it
        assert len(new) == 1, new
        assert new[0].startswith(f"evidence/{seeded.untested}/management-dev/")
        assert new[0].endswith("-FAILED.json")
        assert after["ledger"]["results/concourse.test"] == f"{seeded.untested} FAILED\n".encode()
        kept = {k: v for k, v in before["ledger"].items() if k != "results/concourse.test"}
        assert all(after["ledger"][k] == v for k, v in kept.items())
        assert {**after, "ledger": None} == {**before, "ledger": None}
        return
    prefix = "Error: " if row.click_usage else "error: "
    errors = [line for line in result.stderr.splitlines() if line.startswith(prefix)]
    assert len(errors) == 1, result.stderr
    assert row.message in errors[0], result.stderr
    assert after == before
    if snapshot is not None:
        assert seeded.snapshot() == snapshot
