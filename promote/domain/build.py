"""`promote build` / `make ami`: build an untested AMI with Packer, on AWS or the local AWS.

The target is chosen first (`--target auto`: the local AWS when an endpoint is set or no AWS
credentials are found, else AWS); the Packer variables promote always passes get their
defaults (git sha, image name, region, manifest path, the local endpoint); then the Packer
port runs the build and reads the AMI from Packer's manifest.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from promote.errors import usage_error

if TYPE_CHECKING:
    from promote.config import Config
    from promote.domain.ports import Packer

Target = Literal["aws", "sandbox"]
SOURCES: dict[str, str] = {"aws": "amazon-ebs.aws", "sandbox": "amazon-ebs.sandbox"}
# Packer makes these calls; the least-privilege test finds the needed set by removal.
AWS_ACTIONS = {
    "build": (
        "ec2:DescribeImages",
        "ec2:DescribeRegions",
        "ec2:DescribeSubnets",
        "ec2:DescribeVpcs",
        "ec2:DescribeSecurityGroups",
        "ec2:CreateSecurityGroup",
        "ec2:AuthorizeSecurityGroupIngress",
        "ec2:DeleteSecurityGroup",
        "ec2:CreateKeyPair",
        "ec2:DeleteKeyPair",
        "ec2:RunInstances",
        "ec2:DescribeInstances",
        "ec2:DescribeInstanceStatus",
        "ec2:StopInstances",
        "ec2:TerminateInstances",
        "ec2:CreateImage",
        "ec2:ModifyImageAttribute",
        "ec2:DescribeVolumes",
        "ec2:CreateTags",
    )
}
SANDBOX_CREDENTIALS = ("sandbox", "sandbox")


@dataclass(frozen=True)
class BuildRequest:
    """One Packer build."""

    target: Target
    template_dir: Path
    manifest: Path
    variables: Mapping[str, str]
    timeout_seconds: float = 3600.0


@dataclass(frozen=True)
class BuildResult:
    """The AMI Packer made."""

    target: Target
    ami: str
    region: str
    name: str
    manifest: Path
    seconds: float


def choose_target(
    target: str, endpoint_url: str | None, has_credentials: Callable[[], bool]
) -> tuple[Target, str | None]:
    """The target to build on, and why (None when it was asked for by name)."""
    if target == "aws":
        return "aws", None
    if target == "sandbox":
        return "sandbox", None
    if endpoint_url:
        return "sandbox", f"AWS_ENDPOINT_URL is {endpoint_url}"
    if has_credentials():
        return "aws", "AWS credentials were found and work"
    return "sandbox", "no AWS credential source is configured at all"


@dataclass(frozen=True)
class BuildInputs:
    """What the operator asked for."""

    target: str
    packer_dir: Path
    manifest: Path
    variables: Mapping[str, str]
    timeout_seconds: float


def build(
    config: Config,
    inputs: BuildInputs,
    environ: Mapping[str, str],
    cwd: Path,
    packer: Packer,
    git_sha: str | None,
    has_credentials: Callable[[], bool],
    start_local: Callable[[], str],
    progress: Callable[[str], None],
    playbook_commit: str | None = None,
) -> BuildResult:
    """Build an untested AMI (`make ami`); the AMI Packer made."""
    if not inputs.packer_dir.is_dir():
        raise usage_error(
            f"no Packer templates in {inputs.packer_dir}", "run from the repository root"
        )
    values = dict(inputs.variables)
    env = dict(environ)
    chosen, why = choose_target(inputs.target, config.endpoint_url, has_credentials)
    if why:
        progress(f"building on {'AWS' if chosen == 'aws' else 'the local AWS'}: {why}")
    if chosen == "sandbox":
        endpoint = config.endpoint_url or start_local()
        key, secret = SANDBOX_CREDENTIALS
        env["AWS_ACCESS_KEY_ID"] = env.get("AWS_ACCESS_KEY_ID") or key
        env["AWS_SECRET_ACCESS_KEY"] = env.get("AWS_SECRET_ACCESS_KEY") or secret
        values.setdefault("endpoint", endpoint)
    values.setdefault("git_sha", (git_sha or "unknown")[:12])
    values.setdefault("playbook_commit", playbook_commit or "unknown")
    values.setdefault("untested_name", config.untested_name)
    values.setdefault("aws_region", config.region)
    values.setdefault("manifest_path", str(inputs.manifest))
    env.setdefault("AWS_REGION", config.region)
    env["CHECKPOINT_DISABLE"] = "1"
    request = BuildRequest(
        chosen, inputs.packer_dir, inputs.manifest, values, inputs.timeout_seconds
    )
    return packer.build(request, env, cwd, progress)
