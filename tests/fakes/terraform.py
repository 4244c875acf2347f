"""A stand-in for `terraform` (real Terraform cannot be installed here): `apply` and `plan`.

It reads the `*.tf.json` files of its working directory (Terraform's JSON configuration
syntax) and understands the one shape an estate like DWP's aws-concourse uses for its AMI:

    {"data": {"aws_secretsmanager_secret_version": {"ami_ids": {"secret_id": "..."}}},
     "resource": {"aws_launch_template": {"web": {
         "name": "concourse-web-management-dev",
         "image_id": "${jsondecode(data.aws_secretsmanager_secret_version.ami_ids
                        .secret_string)[\"concourse_ami_mgmt_dev\"]}",   (one line)
         "update_default_version": true}}}}

(`secret_binary` works too, as for a secret stored as SecretBinary.) Like the AWS provider,
`apply` makes a new launch template version with the new ImageId when the secret's entry
differs from the template's latest version, and makes it the default with
`update_default_version`; `plan -detailed-exitcode` exits 0 when nothing would change, 2 when
something would, 1 on an error. AWS is reached with boto3 (AWS_ENDPOINT_URL: the local AWS).

Test knobs, never set by promote: TF_STAND_IN_DRIFT=1 makes `plan` always report a change (a
resource Terraform keeps wanting to change), TF_STAND_IN_FAIL=apply makes `apply` fail.
"""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path
from typing import Any

import boto3

_IMAGE = re.compile(
    r"^\$\{jsondecode\(data\.aws_secretsmanager_secret_version\.(\w+)\."
    r'(secret_string|secret_binary)\)\["([^"]+)"\]\}$'
)


def _config() -> dict[str, Any]:
    merged: dict[str, Any] = {"data": {}, "resource": {}}
    for path in sorted(Path.cwd().glob("*.tf.json")):
        raw = json.loads(path.read_text())
        for block in ("data", "resource"):
            for kind, items in raw.get(block, {}).items():
                merged[block].setdefault(kind, {}).update(items)
    return merged


def _wanted(config: dict[str, Any], secrets: Any) -> list[tuple[str, str, bool]]:
    """(template name, AMI the configuration says, update_default_version) per template."""
    versions = config["data"].get("aws_secretsmanager_secret_version", {})
    out = []
    for resource in config["resource"].get("aws_launch_template", {}).values():
        match = _IMAGE.match(resource["image_id"])
        if not match:
            raise SystemExit(f"stand-in terraform: unsupported image_id {resource['image_id']}")
        data, attribute, key = match.groups()
        raw = secrets.get_secret_value(
            SecretId=versions[data]["secret_id"], VersionStage="AWSCURRENT"
        )
        text = raw["SecretString"] if attribute == "secret_string" else raw["SecretBinary"]
        document = json.loads(text)
        out.append((resource["name"], document[key], bool(resource.get("update_default_version"))))
    return out


def _changes(ec2: Any, wanted: list[tuple[str, str, bool]]) -> list[tuple[str, str, bool, Any]]:
    changes = []
    for name, ami, make_default in wanted:
        latest = ec2.describe_launch_template_versions(
            LaunchTemplateName=name, Versions=["$Latest"]
        )["LaunchTemplateVersions"][0]
        if latest.get("LaunchTemplateData", {}).get("ImageId") != ami:
            changes.append((name, ami, make_default, latest))
    return changes


def main(argv: list[str]) -> int:
    """`terraform apply ...` or `terraform plan [-detailed-exitcode] ...`."""
    command = argv[0] if argv else ""
    session = boto3.Session(region_name=os.environ.get("AWS_DEFAULT_REGION", "eu-west-2"))
    ec2, secrets = session.client("ec2"), session.client("secretsmanager")
    changes = _changes(ec2, _wanted(_config(), secrets))
    if command == "plan":
        if os.environ.get("TF_STAND_IN_DRIFT") == "1" and not changes:
            print('  ~ resource "aws_autoscaling_group" "worker" (tags changed outside)')
            print("Plan: 0 to add, 1 to change, 0 to destroy.")
            return 2 if "-detailed-exitcode" in argv else 0
        if not changes:
            print("No changes. Your infrastructure matches the configuration.")
            return 0
        for name, ami, _, _ in changes:
            print(f'  ~ resource "aws_launch_template" "{name}": image_id -> "{ami}"')
        print(f"Plan: 0 to add, {len(changes)} to change, 0 to destroy.")
        return 2 if "-detailed-exitcode" in argv else 0
    if command == "apply":
        if os.environ.get("TF_STAND_IN_FAIL") == "apply":
            print("Error: creating EC2 Launch Template Version: UnauthorizedOperation")
            return 1
        for name, ami, make_default, latest in changes:
            data = {
                k: v for k, v in latest.get("LaunchTemplateData", {}).items() if k != "UserData"
            }
            created = ec2.create_launch_template_version(
                LaunchTemplateName=name,
                SourceVersion=str(latest["VersionNumber"]),
                VersionDescription="terraform",
                LaunchTemplateData={**data, "ImageId": ami},
            )["LaunchTemplateVersion"]
            if make_default:
                ec2.modify_launch_template(
                    LaunchTemplateName=name, DefaultVersion=str(created["VersionNumber"])
                )
            print(f"aws_launch_template.{name}: Modifications complete")
        print(f"Apply complete! Resources: 0 added, {len(changes)} changed, 0 destroyed.")
        return 0
    print(f"stand-in terraform: unsupported command {command!r}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
