"""`promote build` / `make ami`: build an untested AMI with Packer, on AWS or the local AWS.

The target is chosen first (`--target auto`: the local AWS when an endpoint is set or no AWS
credentials are found, else AWS); the Packer variables promote always passes get their
defaults (git sha, playbook commit, image name, region, manifest path, the local endpoint);
then the Packer port runs the build and reads the AMI from Packer's manifest.

`--if-stale` first compares what a build would be made from now (the base image the source
filter resolves to today, the Concourse release and its tarball digest, the playbook commit)
with the ancestry tags of the newest untested image, and builds only when one of them differs
(a revoked base image is refused, exit 3). The build then uses exactly the base it checked.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from promote.domain.images import TAG_CONCOURSE_VERSION, Image
from promote.errors import check_failed, not_found, usage_error

if TYPE_CHECKING:
    from promote.config import Config
    from promote.domain.ports import Packer
    from promote.domain.services import Services

Target = Literal["aws", "sandbox"]
SOURCES: dict[str, str] = {"aws": "amazon-ebs.aws", "sandbox": "amazon-ebs.sandbox"}
# Packer makes these calls; the least-privilege test finds the needed set by removal.
_PACKER_ACTIONS = (
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
    "ec2:ModifySnapshotAttribute",
    "ec2:DescribeVolumes",
    "ec2:CreateTags",
)
AWS_ACTIONS = {
    "build": _PACKER_ACTIONS,
    # --if-stale also reads the revoke events (a revoked base image is refused).
    "build --if-stale": (*_PACKER_ACTIONS, "s3:ListBucket", "s3:GetObject", "kms:GetPublicKey"),
}
SANDBOX_CREDENTIALS = ("sandbox", "sandbox")

# Ancestry: what an image was built from (packer/sources.pkr.hcl writes these tags).
TAG_SOURCE_AMI = "promote:source-ami"
TAG_SOURCE_AMI_NAME = "promote:source-ami-name"
TAG_PLAYBOOK_COMMIT = "promote:playbook-commit"
# Packer variable -> the tag that records it (only the digests given are tagged).
DIGEST_TAGS = {
    "concourse_tarball_sha256": "promote:concourse-sha256",
    "concourse_tarball_sha1": "promote:concourse-sha1",
}
DIRTY = "+dirty"


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
    """The AMI Packer made (or, under --if-stale, the up-to-date one it did not need to)."""

    target: Target
    ami: str
    region: str
    name: str
    manifest: Path | None
    seconds: float
    rebuilt: bool = True
    # Why it was rebuilt under --if-stale (empty without it, or when it was up to date).
    stale: tuple[str, ...] = ()
    source_ami: str | None = None


@dataclass(frozen=True)
class BaseQuery:
    """How the target's source finds its base image: the owner and the filters Packer uses."""

    owner: str
    filters: Mapping[str, str]

    def describe(self) -> str:
        """owner 137112412989, name al2023-ami-2023.*-x86_64"""
        shown = ", ".join(f"{k} {v}" for k, v in self.filters.items())
        return f"owner {self.owner}, {shown}"


def base_query(target: Target, values: Mapping[str, str]) -> BaseQuery:
    """The base-image lookup of TARGET's source, from the Packer variables VALUES (the
    templates' defaults overridden by --var): packer/sources.pkr.hcl's source_ami_filter."""
    prefix = "" if target == "aws" else "sandbox_"
    try:
        owner = values[f"{prefix}source_ami_owner"]
        filters = {"name": values[f"{prefix}source_ami_name"]}
    except KeyError as missing:
        raise usage_error(
            f"the Packer templates declare no {missing.args[0]} variable",
            "--if-stale resolves the base image with the source's owner and name variables",
        ) from None
    if target == "aws":
        filters |= {
            "architecture": "x86_64",
            "root-device-type": "ebs",
            "virtualization-type": "hvm",
        }
    if values.get("source_ami"):
        filters["image-id"] = values["source_ami"]
    return BaseQuery(owner, filters)


@dataclass(frozen=True)
class Ancestry:
    """What an image is (or would be) built from."""

    source_ami: str | None
    source_ami_name: str | None
    concourse_version: str | None
    # tag -> digest, for the digests given (promote:concourse-sha256 / -sha1)
    digests: Mapping[str, str]
    playbook_commit: str | None


def ancestry_of(image: Image) -> Ancestry:
    """What IMAGE's tags say it was built from."""
    tags = image.tags
    return Ancestry(
        source_ami=tags.get(TAG_SOURCE_AMI),
        source_ami_name=tags.get(TAG_SOURCE_AMI_NAME),
        concourse_version=tags.get(TAG_CONCOURSE_VERSION),
        digests={t: tags[t] for t in DIGEST_TAGS.values() if t in tags},
        playbook_commit=tags.get(TAG_PLAYBOOK_COMMIT),
    )


def wanted(base: Image, values: Mapping[str, str]) -> Ancestry:
    """What a build with the Packer variables VALUES, from BASE, would be made from."""
    return Ancestry(
        source_ami=base.image_id,
        source_ami_name=base.name,
        concourse_version=values.get("concourse_version"),
        digests={tag: values[var] for var, tag in DIGEST_TAGS.items() if values.get(var)},
        playbook_commit=values.get("playbook_commit"),
    )


def _was(value: str | None) -> str:
    return value if value else "(not recorded)"


def stale_reasons(now: Ancestry, newest: Image | None, revoked: str | None = None) -> list[str]:
    """Why a build from NOW would differ from NEWEST (the newest untested image); none: it
    would not. REVOKED: why NEWEST may not be used (then it is stale whatever its inputs)."""
    if newest is None:
        return ["no untested image has been built yet"]
    if revoked:
        return [f"the newest image {newest.image_id} may not be used: {revoked}"]
    had = ancestry_of(newest)
    reasons = []
    if had.source_ami != now.source_ami:
        before = f"{had.source_ami} ({_was(had.source_ami_name)})" if had.source_ami else None
        reasons.append(
            f"base image changed: {_was(before)} -> {now.source_ami} ({now.source_ami_name})"
        )
    if had.concourse_version != now.concourse_version:
        reasons.append(
            f"Concourse release changed: {_was(had.concourse_version)} -> {now.concourse_version}"
        )
    for tag, digest in now.digests.items():
        if had.digests.get(tag) != digest:
            kind = tag.rsplit("-", 1)[-1]
            reasons.append(
                f"Concourse tarball {kind} changed: {_was(had.digests.get(tag))} -> {digest}"
            )
    commit = now.playbook_commit or "unknown"
    if commit.endswith(DIRTY):
        reasons.append(
            f"the playbook has uncommitted changes (ansible/ or packer/ at {commit}): "
            "an image built from them would be told from no other"
        )
    elif commit == "unknown" or had.playbook_commit != commit:
        reasons.append(f"playbook changed: {_was(had.playbook_commit)} -> {commit}")
    return reasons


def newest_untested(images: list[Image], untested_name: str) -> Image | None:
    """The newest untested image named <untested_name>-<timestamp> (one promote build made)."""
    ours = [
        i
        for i in images
        if i.stage == "untested"
        and i.name.startswith(f"{untested_name}-")
        and i.state in ("available", "pending")
    ]
    return max(ours, key=lambda i: (i.creation_date, i.name), default=None)


@dataclass(frozen=True)
class Staleness:
    """The base image resolved now, the newest untested image, and why they differ."""

    base: Image
    newest: Image | None
    reasons: tuple[str, ...]


def staleness(services: Services, target: Target, values: Mapping[str, str]) -> Staleness:
    """Compare what a build with VALUES would be made from with the newest untested image;
    a revoked base image is refused (exit 3), a base filter matching nothing is exit 4."""
    from promote.domain import revocations

    query = base_query(target, values)
    base = services.images.newest_base(query.owner, query.filters)
    if base is None:
        raise not_found(
            f"no base image matches the source filter ({query.describe()})",
            "check source_ami_owner / source_ami_name (or source_ami) and the region",
        )
    why = revocations.why_revoked(services, base)
    if why is not None:
        raise check_failed(
            f"the base image is revoked: {why} ({base.name})",
            "a revoked base is never built on: wait for the next base image, or name another "
            "with --var source_ami=ami-...",
        )
    untested_name = values.get("untested_name") or services.config.untested_name
    newest = newest_untested(services.images.owned(), untested_name)
    revoked = revocations.why_revoked(services, newest) if newest is not None else None
    reasons = stale_reasons(wanted(base, values), newest, revoked)
    return Staleness(base, newest, tuple(reasons))


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
    if_stale: Callable[[str | None], Services] | None = None,
) -> BuildResult:
    """Build an untested AMI (`make ami`); the AMI Packer made.

    IF_STALE (--if-stale): the services to compare with (given the local endpoint when the
    target is the sandbox, else None); the newest untested image is returned, and nothing
    built, when a build would be made from the same inputs."""
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
    stale: tuple[str, ...] = ()
    if if_stale is not None:
        defaults = packer.variables(inputs.packer_dir, env, cwd)
        check = staleness(
            if_stale(values.get("endpoint") if chosen == "sandbox" else None),
            chosen,
            {**defaults, **values},
        )
        if not check.reasons and check.newest is not None:
            progress(
                f"up to date: {check.newest.image_id} ({check.newest.name}) was built from "
                f"base {check.base.image_id}, Concourse {values.get('concourse_version')}, "
                f"playbook {values.get('playbook_commit')}"
            )
            newest, region = check.newest, values.get("aws_region", config.region)
            base = check.base.image_id
            return BuildResult(
                chosen, newest.image_id, region, newest.name, None, 0.0, False, (), base
            )
        for reason in check.reasons:
            progress(f"stale: {reason}")
        stale = check.reasons
        # Build on exactly the base image that was checked, even if a newer one appears.
        values["source_ami"] = check.base.image_id
    request = BuildRequest(
        chosen, inputs.packer_dir, inputs.manifest, values, inputs.timeout_seconds
    )
    result = packer.build(request, env, cwd, progress)
    return replace(result, stale=stale, source_ami=values.get("source_ami") or None)
