"""GitHub releases that name the AMIs, the Concourse version, the evidence and the changes.

The tag is derived from the AMI (`concourse-<version>-<ami>`), so a re-run finds the release it
made instead of cutting a second one. A release of a tested image needs SUCCESS evidence in the
test environment (it is named in the body); `--prerelease` releases an untested image, with the
evidence when there is some. Two backends: the GitHub API (with a token) and, without a token,
a local one: `releases/<tag>.md` committed to the given git repository and an annotated tag, so
the whole lifecycle runs offline.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from promote.domain import events, release_tags
from promote.domain.gate import GateResult, evaluate
from promote.domain.images import TAG_CONCOURSE_VERSION, TAG_GIT_SHA, Image, require_image
from promote.domain.ledger import Event
from promote.domain.policy import check_image, validation_steps
from promote.domain.results import FLATTEN
from promote.errors import check_failed, usage_error

if TYPE_CHECKING:
    from promote.domain.ports import Commit, GitHub, LocalRepository
    from promote.domain.services import Services

AWS_ACTIONS = {
    "release": (
        "ec2:DescribeImages",
        "s3:ListBucket",
        "s3:GetObject",
        "s3:PutObject",
        "kms:GetPublicKey",
        "kms:Sign",
    )
}

TAG_PREFIX = "concourse-"
MANIFEST_ASSET = "packer-manifest.json"
CHANGELOG_MAX = 30


def release_tag(image: Image) -> str:
    """`concourse-<version>-<ami>`: the same AMI always gives the same tag."""
    version = image.tags.get(TAG_CONCOURSE_VERSION, "unknown")
    return f"{TAG_PREFIX}{version}-{image.image_id}"


@dataclass(frozen=True)
class ReleaseDraft:
    """Everything a release says, before it is published."""

    tag: str
    title: str
    body: str
    prerelease: bool
    manifest: Path | None


@dataclass(frozen=True)
class Published:
    """Where the release lives and whether this run made it."""

    tag: str
    location: str
    created: bool
    backend: str


def draft(
    image: Image,
    source: Image | None,
    region: str,
    gate: GateResult,
    test_env: str,
    changes: list[Commit],
    previous_tag: str | None,
    prerelease: bool,
    manifest: Path | None,
    tag: str | None = None,
    proving: str | None = None,
) -> ReleaseDraft:
    """The release for IMAGE (tagged TAG, default `concourse-<version>-<ami>`); refused when
    it is revoked or, unless a prerelease, unproven."""
    if image.revoked:
        raise check_failed(f"{image.image_id} is revoked: {image.revoked}", "release another image")
    untested = source if image.stage == "tested" else image
    tested = image if image.stage == "tested" else None
    prerelease = prerelease or tested is None
    if not gate.open and not prerelease:
        raise check_failed(
            f"{image.image_id} has no SUCCESS evidence in {test_env}: {gate.reason}",
            f"{proving or f'validate it in {test_env} first'}, or pass --prerelease",
        )
    version = image.tags.get(TAG_CONCOURSE_VERSION, "unknown")
    sha = image.tags.get(TAG_GIT_SHA) or (untested.tags.get(TAG_GIT_SHA) if untested else None)
    lines = [
        f"## Concourse {version} AMI",
        "",
        "| stage | AMI | name | region |",
        "|---|---|---|---|",
    ]
    for stage, item in (("untested", untested), ("tested", tested)):
        if item is not None:
            lines.append(f"| {stage} | `{item.image_id}` | {item.name} | {region} |")
    lines += ["", f"- Concourse version: {version}", f"- Built from git sha: `{sha or 'unknown'}`"]
    if gate.open and gate.evidence:
        record = gate.evidence
        lines.append(
            f"- Evidence: {record.get('result')} in {record.get('env')} at "
            f"{record.get('checked_at')}, {record.get('instance_count')} instance(s) on "
            f"`{record.get('expected_ami')}` (`{gate.evidence_key}`)"
        )
    else:
        lines.append(f"- Evidence: none yet ({gate.reason})")
    lines += ["", f"### Changes since {previous_tag or 'the first commit'}", ""]
    if changes:
        lines += [f"- {c.sha[:7]} {c.subject} ({c.author})" for c in changes[:CHANGELOG_MAX]]
        if len(changes) > CHANGELOG_MAX:
            lines.append(f"- ... and {len(changes) - CHANGELOG_MAX} earlier commits")
    else:
        lines.append(f"- no commits since {previous_tag or 'the first commit'}")
    title = f"Concourse {version} AMI {image.image_id}" + (" (prerelease)" if prerelease else "")
    return ReleaseDraft(
        tag=tag or release_tag(image),
        title=title,
        body="\n".join(lines) + "\n",
        prerelease=prerelease,
        manifest=manifest,
    )


def publish_github(repo: GitHub, release: ReleaseDraft) -> Published:
    """Create (or find) the release on GitHub and attach the Packer manifest."""
    info = repo.create_release(release.tag, release.title, release.body, release.prerelease, None)
    if release.manifest:
        repo.upload_asset(release.tag, release.manifest, MANIFEST_ASSET)
    return Published(release.tag, info.url, bool(info.created), f"github {repo.name}")


def publish_local(repo: LocalRepository, release: ReleaseDraft) -> Published:
    """Commit `releases/<tag>.md` (and the manifest) and tag it, unless the tag exists."""
    notes = repo.root / "releases" / f"{release.tag}.md"
    if repo.has_tag(release.tag):
        return Published(release.tag, str(notes), False, f"git {repo.root}")
    if repo.is_dirty():
        raise usage_error(
            f"the git repository {repo.root} has uncommitted changes",
            "commit or stash them first: the release commit must hold only the release notes",
        )
    attachments: tuple[Path, ...] = ()
    if release.manifest:
        target = repo.root / "releases" / f"{release.tag}.manifest.json"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(release.manifest, target)
        attachments = (target,)
    repo.write_release(release.tag, release.body, release.title, attachments)
    return Published(release.tag, str(notes), True, f"git {repo.root}")


def prepare(
    services: Services,
    ami: str,
    local: LocalRepository,
    prerelease: bool,
    manifest: Path | None,
    hub: GitHub | None = None,
) -> ReleaseDraft:
    """The release for AMI, tagged by the release_tag template, with the changelog since the
    previous release; writes nothing."""
    config = services.config
    template = release_tags.check(config.release_tag)
    image = require_image(services.images, ami, config.region)
    check_image(services, image)  # provenance; neither it nor its family revoked
    source = services.images.image(image.source_image) if image.source_image else None
    gate = evaluate(services, ami, config.test_env)
    existing: str | None = None
    tags: list[str] = []
    if "{semver}" in template:  # the tag does not name the AMI: find the one already made
        where = hub if hub is not None else local
        existing = where.tag_naming(image.image_id)
        tags = where.tags(release_tags.prefix_of(template))
    version = image.tags.get(TAG_CONCOURSE_VERSION, "unknown")
    tag = release_tags.tag_for(template, version, image.image_id, existing, tags)
    previous = local.previous_tag(release_tags.prefix_of(template), excluding=tag)
    if manifest is None and (local.root / "packer" / "manifest.json").is_file():
        manifest = local.root / "packer" / "manifest.json"
    return draft(
        image,
        source,
        config.region,
        gate,
        config.test_env,
        local.commits_since(previous),
        previous,
        prerelease,
        manifest,
        tag,
        proving=None if gate.open else validation_steps(services, image.image_id),
    )


@dataclass(frozen=True)
class ReleasePreview:
    """The release --dry-run shows: nothing is published."""

    draft: ReleaseDraft = field(metadata=FLATTEN)
    dry_run: bool = True


@dataclass(frozen=True)
class ReleaseResult:
    """The release and where it went."""

    draft: ReleaseDraft = field(metadata=FLATTEN)
    published: Published = field(metadata=FLATTEN)
    event_key: str | None = None
    dry_run: bool = False


@dataclass(frozen=True)
class Dispatched:
    """A workflow_dispatch run that was asked for."""

    repo: str
    workflow: str
    ref: str
    inputs: dict[str, str]


def dispatch(hub: GitHub, workflow: str, ref: str, inputs: dict[str, str]) -> Dispatched:
    """Trigger WORKFLOW on REF in HUB's repository with INPUTS."""
    hub.dispatch(workflow, ref, inputs)
    return Dispatched(hub.name, workflow, ref, inputs)


def cut(
    services: Services,
    release: ReleaseDraft,
    ami: str,
    hub: GitHub | None,
    local: LocalRepository,
) -> ReleaseResult:
    """Publish RELEASE on GitHub (HUB) or, without one, to the local repository; record it."""
    services.ready_to_record(ami)  # before the first write
    if hub is not None:
        published = publish_github(hub, release)
    else:
        services.progress("no GITHUB_TOKEN/GH_TOKEN: releasing to the local git repository")
        published = publish_local(local, release)
    # One event per release, its change id the tag: a re-run that finds the release made by an
    # earlier run killed before its event records it now (marked recovered), once.
    recorded = services.record_change(
        Event(
            kind="release",
            subject=ami,
            ami=ami,
            after={
                "tag": release.tag,
                "location": published.location,
                "backend": published.backend,
            },
            reason=release.title,
            extra={} if published.created else {"recovered": True},
            change=release.tag,
        ),
        legacy=lambda: events.find(
            services, "release", ami, lambda d: (d.get("after") or {}).get("tag") == release.tag
        ),
    )
    event_key = recorded.key if recorded.written or published.created else None
    if recorded.written and recorded.recovered:
        services.warn(f"recorded the missing event (recovered): {recorded.key}")
    return ReleaseResult(release, published, event_key)
