"""AMIs as promote sees them: ids, stages, provenance and revocation, read from image tags."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Protocol

from promote.errors import PromoteError, not_found, usage_error

TAG_STAGE = "promote:stage"
TAG_SOURCE = "promote:source-image"
TAG_REVOKED = "promote:revoked"
TAG_REVOKED_BY = "promote:revoked-by"
TAG_REVOKED_AT = "promote:revoked-at"
TAG_CONCOURSE_VERSION = "concourse:version"
TAG_GIT_SHA = "git:sha"

_AMI_ID = re.compile(r"^ami-[0-9a-f]{8}([0-9a-f]{9})?$")


def check_ami_id(text: str) -> str:
    """TEXT if it looks like an AMI id (ami- and 8 or 17 hex digits), else a usage error."""
    if not _AMI_ID.match(text):
        raise usage_error(f"'{text}' is not an AMI id", "AMI ids look like ami-0123456789abcdef0")
    return text


@dataclass(frozen=True)
class Image:
    """An AMI and its tags."""

    image_id: str
    name: str
    state: str
    creation_date: str
    tags: dict[str, str] = field(default_factory=dict)
    snapshot_ids: tuple[str, ...] = ()

    @property
    def stage(self) -> str | None:
        """untested, tested, or None for an image promote did not make."""
        return self.tags.get(TAG_STAGE)

    @property
    def source_image(self) -> str | None:
        """For a tested copy, the untested image it was published from."""
        return self.tags.get(TAG_SOURCE)

    @property
    def revoked(self) -> str | None:
        """The revocation note when the image is revoked, else None."""
        return self.tags.get(TAG_REVOKED) or None

    def as_dict(self) -> dict[str, Any]:
        """Plain data for JSON output."""
        return {
            "image_id": self.image_id,
            "name": self.name,
            "state": self.state,
            "creation_date": self.creation_date,
            "stage": self.stage,
            "source_image": self.source_image,
            "revoked": self.revoked,
            "concourse_version": self.tags.get(TAG_CONCOURSE_VERSION),
            "git_sha": self.tags.get(TAG_GIT_SHA),
        }


class ImageReader(Protocol):
    """Looks images up by id in the tooling account's region."""

    def image(self, ami: str) -> Image | None:
        """The image, or None when the region has no such image."""
        ...


def require_image(reader: ImageReader, ami: str, region: str) -> Image:
    """The image AMI, or a not-found error (exit 4)."""
    image = reader.image(check_ami_id(ami))
    if image is None:
        raise not_found(
            f"{ami} not found in {region}",
            "check the AMI id and --region (images are regional)",
        )
    return image


# --- writing images: publish, revoke, prune (issue 4) ---

_ROLE_ACCOUNT = re.compile(r"^arn:aws[a-z-]*:iam::(\d{12}):role/")
TAG_VALUE_MAX = 256


class ImageCatalog(ImageReader, Protocol):
    """Lists, copies, tags, shares, deprecates and deletes images in the tooling account."""

    def owned(self) -> list[Image]:
        """Every image the tooling account owns in its region."""
        ...

    def copies_of(self, source: str) -> list[Image]:
        """Images tagged `promote:source-image=SOURCE` and `promote:stage=tested`."""
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


def account_of(role_arn: str) -> str | None:
    """The account id in an IAM role ARN, or None."""
    match = _ROLE_ACCOUNT.match(role_arn)
    return match.group(1) if match else None


def revoked_error(image: Image) -> PromoteError:
    """Exit 3: IMAGE is revoked and may not be used again."""
    from promote.errors import check_failed

    return check_failed(
        f"{image.image_id} is revoked: {image.revoked}",
        "revoked images are never promoted again; pick another AMI",
    )


def tag_value(text: str) -> str:
    """TEXT cut to the length EC2 allows in a tag value."""
    return text if len(text) <= TAG_VALUE_MAX else text[: TAG_VALUE_MAX - 1] + "…"
