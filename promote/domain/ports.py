"""Every outside world the domain talks to, as a Protocol (the adapters implement them).

The domain never imports an adapter: commands hand it a `Services` bundle whose members satisfy
these Protocols (the AWS, GitHub, git, Concourse and Packer adapters in production; in-memory
fakes in unit tests).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from promote.config import Environment
    from promote.domain.ami_ids import SecretVersion
    from promote.domain.build import BuildRequest, BuildResult
    from promote.domain.fleet import Group, Instance, SeenInstance
    from promote.domain.hooks import LifecycleHook
    from promote.domain.images import Image


# --- the fleet: Auto Scaling groups, their instances and launch templates ---


@dataclass(frozen=True)
class ScheduledAction:
    """A scheduled scaling action of an ASG (the night schedule of a test env, say)."""

    name: str
    recurrence: str | None
    desired: int | None
    min_size: int | None
    max_size: int | None

    @property
    def scales_to_zero(self) -> bool:
        """True when it empties the group."""
        return self.desired == 0 or self.max_size == 0


class FleetReader(Protocol):
    """What validation needs to know about an environment's instances."""

    def groups(self, env: Environment) -> list[Group]:
        """The environment's ASGs, in config order; not-found error for a missing one."""
        ...

    def instances(self, env: Environment, groups: Sequence[Group]) -> dict[str, Instance]:
        """EC2's view of the groups' members, by instance id (absent when EC2 has none)."""
        ...

    def scheduled_actions(self, env: Environment, group: str) -> list[ScheduledAction]:
        """The group's scheduled scaling actions."""
        ...


@dataclass(frozen=True)
class TemplateRef:
    """The launch template an ASG launches from, and the version it asks for."""

    template_id: str
    name: str
    version_spec: str  # "$Latest", "$Default" or a number
    version: int  # the version that spec resolves to now
    image_id: str | None


@dataclass(frozen=True)
class GroupState:
    """An ASG's capacity bounds and the scaling processes suspended on it."""

    desired: int
    min_size: int
    max_size: int
    suspended: frozenset[str] = frozenset()
    mirrored: bool = False  # the group carries the `promote:rollout` tag (a lease's mirror)


@dataclass(frozen=True)
class RefreshStatus:
    """An ASG instance refresh as DescribeInstanceRefreshes reports it."""

    refresh_id: str
    status: str
    percentage: int
    to_update: int
    reason: str = ""


class FleetControl(Protocol):
    """What a rollout changes in Auto Scaling and EC2."""

    def launch_template(self, env: Environment, group: str) -> TemplateRef | None:
        """The template the group launches from; None for a launch configuration."""
        ...

    def use_image(self, env: Environment, group: str, template: TemplateRef, ami: str) -> int:
        """Make the group launch AMI: a new template version with only ImageId changed."""
        ...

    def state(self, env: Environment, group: str) -> GroupState:
        """The group's desired, min and max, and its suspended processes, read now."""
        ...

    def set_capacity(self, env: Environment, group: str, desired: int, max_size: int) -> None:
        """Set desired capacity and MaxSize."""
        ...

    def terminate(self, env: Environment, instance_id: str) -> None:
        """Terminate a member and decrement the desired capacity."""
        ...

    def suspend(self, env: Environment, group: str, processes: Sequence[str]) -> None:
        """Suspend those scaling processes (ScheduledActions, AlarmNotification, ...)."""
        ...

    def resume(self, env: Environment, group: str, processes: Sequence[str]) -> None:
        """Resume those scaling processes."""
        ...

    def mirror(self, env: Environment, group: str, summary: dict[str, Any] | None) -> None:
        """Show (or with None, clear) who rolls the group, as a tag for people."""
        ...

    def terminating_hooks(self, env: Environment, group: str) -> list[str]:
        """The group's EC2_INSTANCE_TERMINATING lifecycle hooks (the drain agent's)."""
        ...

    def lifecycle_hooks(self, env: Environment, group: str) -> list[LifecycleHook]:
        """The group's EC2_INSTANCE_TERMINATING lifecycle hooks, with their settings."""
        ...

    def put_lifecycle_hook(self, env: Environment, group: str, hook: LifecycleHook) -> None:
        """Create or update HOOK on the group (PutLifecycleHook)."""
        ...

    def start_refresh(self, env: Environment, group: str, preferences: dict[str, Any]) -> str:
        """StartInstanceRefresh; its id (a conflict error when one already runs)."""
        ...

    def refresh(self, env: Environment, group: str, refresh_id: str) -> RefreshStatus:
        """The refresh's status now."""
        ...


class ImageUsage(Protocol):
    """What uses images, across the tooling account and every env's account."""

    def instance_images(self, envs: Sequence[Environment]) -> dict[str, list[str]]:
        """AMI id -> instance ids (any state)."""
        ...

    def launch_template_images(self, envs: Sequence[Environment]) -> dict[str, list[str]]:
        """AMI id -> launch template versions (default or latest) naming it."""
        ...


# --- images in the tooling account ---


class ImageReader(Protocol):
    """Looks images up by id in the tooling account's region."""

    def image(self, ami: str) -> Image | None:
        """The image, or None when the region has no such image."""
        ...


class ImageCatalog(ImageReader, Protocol):
    """Lists, copies, tags, shares, deprecates and deletes images in the tooling account."""

    def owned(self) -> list[Image]:
        """Every image the tooling account owns in its region."""
        ...

    def copies_of(self, source: str) -> list[Image]:
        """Images tagged `promote:source-image=SOURCE` and `promote:stage=tested`."""
        ...

    def newest_base(self, owner: str, filters: Mapping[str, str]) -> Image | None:
        """The newest available image of OWNER matching FILTERS (a base image, as Packer's
        source_ami_filter with most_recent finds it), or None."""
        ...

    def copy(
        self, source: str, name: str, description: str, tags: dict[str, str], token: str
    ) -> str:
        """Start copying SOURCE to a new image NAME with TAGS; its id. TOKEN makes it idempotent."""
        ...

    def tag(self, ami: str, tags: dict[str, str]) -> None:
        """Add or replace TAGS on AMI."""
        ...

    def launch_permissions(self, ami: str) -> list[str]:
        """The account ids AMI is shared with."""
        ...

    def grant_launch(self, ami: str, accounts: list[str]) -> None:
        """Share AMI and its snapshots with ACCOUNTS (idempotent)."""
        ...

    def deprecate(self, ami: str, at: str) -> str | None:
        """Mark AMI deprecated from AT (ISO time): None, or why the endpoint failed at it
        (a server error); a PromoteError when AWS refuses (AccessDenied)."""
        ...

    def deregister(self, image: Image) -> list[str]:
        """Deregister IMAGE and delete its snapshots; the snapshot ids deleted."""
        ...

    def disable(self, ami: str) -> None:
        """Disable AMI: no new launches from it (idempotent)."""
        ...


# --- the ami-ids secret ---


class SecretReader(Protocol):
    """Reads versions of a secret."""

    def current(self, secret_id: str) -> SecretVersion:
        """The AWSCURRENT version; not-found error when the secret does not exist."""
        ...

    def version(self, secret_id: str, stage: str) -> SecretVersion | None:
        """The version labelled STAGE (e.g. AWSPREVIOUS), or None."""
        ...


class SecretWriter(Protocol):
    """Writes a new version of a secret and moves AWSCURRENT to it only from a known version."""

    def put_pending(self, secret_id: str, token: str, value: str | bytes) -> str:
        """Store VALUE as a new version labelled promote-pending (AWSCURRENT does not move).

        The same TOKEN with the same value returns the same version (idempotent re-run).
        """
        ...

    def make_current(self, secret_id: str, version_id: str, from_version_id: str) -> bool:
        """Move AWSCURRENT to VERSION_ID from FROM_VERSION_ID; False when another writer won."""
        ...

    def clear_pending(self, secret_id: str, version_id: str) -> None:
        """Remove the promote-pending label from VERSION_ID (best effort)."""
        ...


# --- the evidence bucket ---


class LedgerStore(Protocol):
    """An object store: the evidence bucket."""

    def put_new(self, key: str, body: bytes) -> bool:
        """Create KEY with BODY unless it exists; False when it already existed."""
        ...

    def put(self, key: str, body: bytes) -> None:
        """Create or replace KEY."""
        ...

    def keys(self, prefix: str) -> list[str]:
        """Every key under PREFIX."""
        ...

    def get(self, key: str) -> bytes:
        """The body of KEY."""
        ...

    def read(self, key: str) -> tuple[bytes, str] | None:
        """The body of KEY and its ETag; None when it does not exist."""
        ...

    def create(self, key: str, body: bytes) -> str | None:
        """Create KEY unless it exists (If-None-Match: *); its ETag, or None when it existed."""
        ...

    def replace(self, key: str, body: bytes, etag: str) -> str | None:
        """Replace KEY only while its ETag is ETAG (If-Match); the new ETag, or None."""
        ...

    def versions(self, prefix: str) -> list[ObjectVersion]:
        """Every version and delete marker under PREFIX (ListObjectVersions), in key order."""
        ...


@dataclass(frozen=True)
class ObjectVersion:
    """One version of a ledger object, or a delete marker that hides the object."""

    key: str
    version_id: str
    latest: bool
    delete_marker: bool = False


# --- signing: DSSE envelopes around in-toto Statements ---


class SigningKey(Protocol):
    """An asymmetric key (KMS): its public half, and raw signatures (ECDSA_SHA_256)."""

    name: str

    def public_pem(self) -> str:
        """The public key as PEM (asked for once per run)."""
        ...

    def sign_raw(self, message: bytes) -> bytes:
        """A signature over MESSAGE itself (not a digest of it); at most 4096 bytes."""
        ...


@dataclass(frozen=True)
class Opened:
    """What a stored object turned out to be: a verified Statement, or why it is not one.

    `plain` is the JSON object found where no envelope is (a record or event written before
    evidence was signed), for the domain to judge; `statement` is set only when the signature
    verified with the configured key.
    """

    statement: dict[str, Any] | None = None
    problem: str | None = None
    plain: dict[str, Any] | None = None


class StatementSigner(Protocol):
    """Signs in-toto Statements into DSSE envelopes with one key."""

    key_name: str

    def ready(self) -> None:
        """Fail (exit 4 or 5) when the key is missing or cannot sign, before any write."""
        ...

    def sign(self, statement: Mapping[str, Any]) -> bytes:
        """The DSSE envelope (JSON) around STATEMENT, signed."""
        ...


class StatementVerifier(Protocol):
    """Opens DSSE envelopes signed by one key."""

    key_name: str

    def open(self, body: bytes) -> Opened:
        """The Statement in BODY when its signature verifies, else the problem."""
        ...


# --- releases: GitHub and the local git repository ---


@dataclass(frozen=True)
class Commit:
    """One commit of a changelog."""

    sha: str
    subject: str
    author: str


@dataclass(frozen=True)
class ReleaseInfo:
    """A release as GitHub reports it."""

    tag: str
    url: str
    release_id: int
    prerelease: bool
    assets: tuple[str, ...]
    created: bool = False


class GitHub(Protocol):
    """One GitHub repository: releases and workflow dispatch."""

    name: str

    def create_release(
        self, tag: str, name: str, body: str, prerelease: bool, target: str | None
    ) -> ReleaseInfo:
        """Create the release, or find the one that exists."""
        ...

    def upload_asset(self, tag: str, path: Path, name: str) -> bool:
        """Attach an asset once."""
        ...

    def dispatch(self, workflow: str, ref: str, inputs: Mapping[str, str]) -> None:
        """Trigger a workflow_dispatch run."""
        ...

    def tags(self, prefix: str) -> list[str]:
        """The tags of the repository's releases starting with PREFIX."""
        ...

    def tag_naming(self, text: str) -> str | None:
        """The tag of a release whose title names TEXT (an AMI id), if any."""
        ...


class LocalRepository(Protocol):
    """A git work tree: the changelog, and the local release backend."""

    root: Path

    def head_sha(self) -> str | None:
        """The commit checked out, or None in an empty repository."""
        ...

    def is_dirty(self) -> bool:
        """Uncommitted changes?"""
        ...

    def last_change(self, paths: Sequence[Path]) -> str | None:
        """The last commit that changed any of PATHS (`+dirty` with uncommitted changes there)."""
        ...

    def has_tag(self, name: str) -> bool:
        """Does the tag exist?"""
        ...

    def tags(self, prefix: str) -> list[str]:
        """Tags starting with PREFIX, newest commit first."""
        ...

    def tag_naming(self, text: str) -> str | None:
        """An annotated tag whose message names TEXT (an AMI id), if any."""
        ...

    def previous_tag(self, prefix: str, excluding: str) -> str | None:
        """The newest tag with PREFIX that is an ancestor of HEAD, other than EXCLUDING."""
        ...

    def commits_since(self, tag: str | None, limit: int = 200) -> list[Commit]:
        """Commits on HEAD since TAG, newest first."""
        ...

    def write_release(
        self, tag: str, notes: str, message: str, attachments: tuple[Path, ...] = ()
    ) -> Path:
        """Commit the notes (and attachments) and tag."""
        ...


# --- Terraform (or any deployer an env names) ---


@dataclass(frozen=True)
class CommandRun:
    """How an operator-configured command ended, and the tail of what it printed."""

    argv: tuple[str, ...]
    exit_code: int
    tail: tuple[str, ...]


class Deployer(Protocol):
    """Runs an env's deploy and drift commands (argv lists from promote.toml)."""

    def run(
        self,
        argv: Sequence[str],
        cwd: str | None,
        env: Mapping[str, str],
        timeout_seconds: float,
        progress: Callable[[str], None],
    ) -> CommandRun:
        """Run ARGV in CWD with ENV added to promote's own environment; never raises on a
        non-zero exit (the caller decides what it means)."""
        ...


class ResultsRepository(Protocol):
    """The git repository existing pipelines read the test env's verdict from."""

    def publish(self, path: str, content: str, message: str) -> str | None:
        """Make PATH hold CONTENT (commit and push); the commit, or None when it already did."""
        ...


# --- Concourse and Packer ---


@dataclass(frozen=True)
class Worker:
    """A worker as the Concourse API lists it."""

    name: str
    state: str
    active_containers: int
    team: str = ""
    tags: tuple[str, ...] = ()
    platform: str = "linux"

    @property
    def pool(self) -> tuple[str, tuple[str, ...], str]:
        """What a build asks a worker for: its team, tags and platform."""
        return self.team, tuple(sorted(self.tags)), self.platform


class WorkersAPI(Protocol):
    """A Concourse web node's worker endpoints."""

    def workers(self) -> list[Worker]:
        """Every registered worker."""
        ...

    def retire(self, name: str) -> None:
        """Ask the worker to retire: no new work, running builds finish, then it goes."""
        ...


class WorkerDrain(Protocol):
    """Drains the Concourse workers of a rollout's old instances (domain.workers)."""

    def check(self, group: str, old: Sequence[SeenInstance]) -> None:
        """Refuse, before anything changes, old instances of a worker group with no worker."""
        ...

    def await_replacements(
        self, group: str, old: Sequence[SeenInstance], new: Sequence[SeenInstance], deadline: float
    ) -> None:
        """Wait until the new instances' workers run in the old workers' pools."""
        ...

    def drain(self, instance: SeenInstance) -> str | None:
        """Retire the worker on INSTANCE (never a pool's last running one) and wait; its name."""
        ...


class Packer(Protocol):
    """Runs `packer build` for one request, streaming its output."""

    def build(
        self,
        request: BuildRequest,
        env: Mapping[str, str],
        cwd: Path,
        progress: Callable[[str], None],
    ) -> BuildResult:
        """Run Packer for REQUEST; the AMI it made (Packer's errors on failure)."""
        ...

    def variables(self, template_dir: Path, env: Mapping[str, str], cwd: Path) -> dict[str, str]:
        """The input variables the templates in TEMPLATE_DIR declare, with their defaults."""
        ...
