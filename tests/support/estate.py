"""The moto estate: a seeded local AWS and the ways a test talks to it (fixtures in conftest)."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import git
from click.testing import CliRunner, Result

from promote.adapters.attest import EnvelopeSigner, EnvelopeVerifier
from promote.adapters.aws.autoscaling import AwsFleet, AwsFleetControl
from promote.adapters.aws.ec2 import AwsImages, AwsImageUsage
from promote.adapters.aws.kms import KmsKey
from promote.adapters.aws.s3 import S3Ledger
from promote.adapters.aws.secrets import AwsSecrets
from promote.adapters.aws.session import Aws
from promote.cli import cli
from promote.clock import Clock, SystemClock
from promote.config import Config, Overrides, load
from promote.domain import events
from promote.domain.services import Services
from promote.sandbox import estate
from promote.sandbox import server as sandbox

REGION = "eu-west-2"
ENVS = {
    "management-dev": ("concourse-web-management-dev", "concourse-worker-management-dev"),
    "management": ("concourse-web-management", "concourse-worker-management"),
}


@dataclass
class Estate:
    """A seeded local AWS and the ways a test talks to it."""

    server: sandbox.Sandbox
    config: Config
    env: dict[str, str]
    tmp: Path
    report: estate.SeedReport
    aws: Aws
    notes: dict[str, Any] = field(default_factory=dict)

    @property
    def untested(self) -> str:
        """The image management-dev runs."""
        return self.report.groups["concourse-web-management-dev"]["image_id"]

    @property
    def tested(self) -> str:
        """The image management runs."""
        return self.report.groups["concourse-web-management"]["image_id"]

    def client(self, service: str) -> Any:
        """A raw client on the local AWS, for arranging a scene."""
        return self.aws.client(service)

    def cli(self, *args: str, env: dict[str, str] | None = None) -> Result:
        """Run promote in-process through click's CliRunner."""
        return CliRunner().invoke(cli, list(args), env={**self.env, **(env or {})})

    def run(
        self, *args: str, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run promote as a subprocess, as an operator would."""
        return subprocess.run(
            [sys.executable, "-m", "promote", *args],
            env={**os.environ, **self.env, **(env or {})},
            capture_output=True,
            text=True,
            timeout=120,
            cwd=self.tmp,
            check=False,
        )

    def services(self, clock: Clock | None = None, **ports: Any) -> Services:
        """The domain's Services over this estate's AWS (as the CLI builds them), with PORTS
        (e.g. a fleet_control that plays a rival) in place of the real adapters."""
        aws = self.aws
        secrets = AwsSecrets(aws)
        evidence_key = KmsKey(aws, self.config.evidence_signing_key)
        event_key = KmsKey(aws, self.config.event_signing_key)
        defaults: dict[str, Any] = {
            "evidence_signer": EnvelopeSigner(evidence_key),
            "evidence_verifier": EnvelopeVerifier(evidence_key.name, evidence_key.public_pem),
            "event_signer": EnvelopeSigner(event_key),
            "event_verifier": EnvelopeVerifier(event_key.name, event_key.public_pem),
            "images": AwsImages(aws),
            "ledger": S3Ledger(aws, self.config.evidence_bucket),
            "secrets": secrets,
            "writer": secrets,
            "fleet": AwsFleet(aws),
            "fleet_control": AwsFleetControl(aws),
            "usage": AwsImageUsage(aws),
        }
        return Services(
            config=self.config,
            clock=clock or SystemClock(),
            actor=lambda: {
                "user": "tester",
                "aws_identity": "arn:aws:iam::123456789012:user/tester",
            },
            tool_version="test",
            user="tester",
            **{**defaults, **ports},
        )

    def make_image(self, name: str, stage: str = "untested") -> str:
        """A new image of the tooling account with a promote stage tag (as promote's builders
        make them), from an instance of the base image."""
        ec2 = self.client("ec2")
        instance = ec2.run_instances(
            ImageId=self.report.base_image, MinCount=1, MaxCount=1, InstanceType="t3.micro"
        )["Instances"][0]["InstanceId"]
        image: str = ec2.create_image(
            InstanceId=instance,
            Name=name,
            TagSpecifications=[
                {"ResourceType": "image", "Tags": [{"Key": "promote:stage", "Value": stage}]}
            ],
        )["ImageId"]
        ec2.terminate_instances(InstanceIds=[instance])
        return image

    def point(self, env: str, ami: str) -> None:
        """Point ENV's entry in its secret at AMI with `promote set-ids` (as an operator would
        before a rollout to AMI); a refusal fails the test."""
        result = self.cli("set-ids", "--ami", ami, "--env", env)
        assert result.exit_code == 0, result.output

    def ledger_keys(self) -> list[str]:
        """Every object in the evidence bucket."""
        s3 = self.client("s3")
        pages = s3.get_paginator("list_objects_v2").paginate(Bucket=self.config.evidence_bucket)
        return sorted(o["Key"] for p in pages for o in p.get("Contents", []))

    def ledger_object(self, key: str) -> bytes:
        """The body of one ledger object."""
        body: bytes = (
            self.client("s3").get_object(Bucket=self.config.evidence_bucket, Key=key)["Body"].read()
        )
        return body

    def record(self, key: str) -> dict[str, Any]:
        """A stored evidence record, verified with the evidence key's public half (KMS): its
        predicate with its detail (instances, reasons) merged in, and the Statement."""
        opened = self.services().evidence_verifier.open(self.ledger_object(key))
        assert opened.statement is not None, (key, opened.problem)
        predicate = dict(opened.statement["predicate"])
        detail = json.loads(self.ledger_object(predicate["detail"]["key"]))
        return {**predicate, **detail, "statement": opened.statement}

    def events(self, kind: str) -> list[dict[str, Any]]:
        """The believed events of KIND (signed by the event key), oldest first."""
        loaded = events.load(self.services())
        return [e.document for e in reversed(loaded) if e.document.get("kind") == kind]

    def ledger_text(self, key: str) -> bytes:
        """What an object says: an envelope's payload decoded (and its detail), else its body."""
        body = self.ledger_object(key)
        try:
            document = json.loads(body)
        except ValueError:
            return body
        if isinstance(document, dict) and "payload" in document:
            return base64.b64decode(document["payload"])
        return body

    def evidence_keys(self, ami: str, env: str) -> list[str]:
        """The records (not their detail objects) of AMI in ENV, oldest first."""
        prefix = f"evidence/{ami}/{env}/"
        return [k for k in self.ledger_keys() if k.startswith(prefix) and "/detail/" not in k]

    def secret(self) -> tuple[str, dict[str, Any]]:
        """The current secret version id and document."""
        # AWSCURRENT by name, as promote reads it (the sandbox's moto server also serves it when
        # no stage is given: promote/sandbox/moto_patches.py).
        raw = self.client("secretsmanager").get_secret_value(
            SecretId=self.config.secret_id, VersionStage="AWSCURRENT"
        )
        return raw["VersionId"], json.loads(raw["SecretString"])

    def group(self, name: str) -> dict[str, Any]:
        """One ASG as Auto Scaling describes it."""
        groups = self.client("autoscaling").describe_auto_scaling_groups(
            AutoScalingGroupNames=[name]
        )["AutoScalingGroups"]
        found: dict[str, Any] = groups[0]
        return found

    def snapshot(self) -> dict[str, Any]:
        """Everything a bad input must leave unchanged: ledger, secret version, images."""
        images = self.client("ec2").describe_images(Owners=["self"])["Images"]
        return {
            "ledger": {k: self.ledger_object(k) for k in self.ledger_keys()},
            "secret": self.client("secretsmanager").get_secret_value(
                SecretId=self.config.secret_id, VersionStage="AWSCURRENT"
            )["VersionId"],
            "images": sorted((i["ImageId"], json.dumps(i.get("Tags", []))) for i in images),
        }


def git_checkout(path: Path, *messages: str) -> git.Repo:
    """A clean git repository at PATH for release changelogs: a README, then one commit per
    message (default: one Concourse bump), by a release engineer."""
    repo = git.Repo.init(path)
    with repo.config_writer() as config:
        config.set_value("user", "name", "Rel Eng")
        config.set_value("user", "email", "releng@example.com")
    (path / "README.md").write_text("concourse\n")
    repo.index.add(["README.md"])
    for message in messages or ("Bump Concourse to 7.12.0",):
        repo.index.commit(message)
    return repo


def reset(server: sandbox.Sandbox) -> None:
    """Wipe the local AWS (the base image comes back on the next call)."""
    request = urllib.request.Request(f"{server.endpoint}/moto-api/reset", method="POST")
    with urllib.request.urlopen(request, timeout=10):
        pass


def aws_environment(moto_server: sandbox.Sandbox, tmp_path: Path) -> dict[str, str]:
    """Environment variables that point promote at the local AWS and nothing else."""
    return {
        "AWS_ENDPOINT_URL": moto_server.endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_CONFIG_FILE": str(tmp_path / "no-aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-aws-credentials"),
        "AWS_EC2_METADATA_DISABLED": "true",
        "PROMOTE_CONFIG": "",
        "PROMOTE_SANDBOX_DIR": str(tmp_path / "sandbox-state"),
    }


def seed_estate(moto_server: sandbox.Sandbox, aws_env: dict[str, str], tmp_path: Path) -> Estate:
    """A fresh estate: management-dev on the untested image, management on the tested one."""
    reset(moto_server)
    config = load(Overrides(endpoint_url=moto_server.endpoint), {}, tmp_path)
    aws = Aws(config, credentials=("testing", "testing"))
    report = estate.seed(aws, config, SystemClock())
    return Estate(moto_server, config, aws_env, tmp_path, report, aws)


def end_state(seeded: Estate) -> dict[str, Any]:
    """What a person would compare: the secret, the images, the fleet, the ledger, by role."""
    ec2 = seeded.client("ec2")
    images = ec2.describe_images(Owners=["self"])["Images"]
    tested = [i for i in images if {"Key": "promote:stage", "Value": "tested"} in i.get("Tags", [])]
    names = {seeded.untested: "untested", seeded.tested: "previous"}
    names.update({i["ImageId"]: "tested-copy" for i in tested if i["ImageId"] not in names})
    _, secret = seeded.secret()
    fleet = {}
    for groups in ENVS.values():
        for group in groups:
            raw = seeded.group(group)
            ids = [m["InstanceId"] for m in raw["Instances"]]
            found = ec2.describe_instances(InstanceIds=ids)["Reservations"]
            amis = sorted(names.get(i["ImageId"], "?") for r in found for i in r["Instances"])
            fleet[group] = {
                "desired": raw["DesiredCapacity"],
                "max": raw["MaxSize"],
                "amis": amis,
                "tags": sorted(t["Key"] for t in raw.get("Tags", [])),
            }
    ledger = [k for k in seeded.ledger_keys() if "/detail/" not in k and "/by-change/" not in k]
    return {
        "secret": {k: names.get(v, v) for k, v in secret.items() if k != "_pins"},
        "pins": sorted(secret.get("_pins", {})),
        "tested_images": len(tested),
        "fleet": fleet,
        "evidence": sorted(k.rsplit("-", 1)[-1] for k in ledger if k.startswith("evidence/")),
        "events": sorted(
            k.split("-", 2)[1] if k.count("-") else k for k in ledger if k.startswith("events/")
        ),
    }
