"""AMIs as promote sees them: ids, stages, provenance and revocation, read from image tags."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Protocol

from promote.errors import not_found, usage_error

TAG_STAGE = "promote:stage"
TAG_SOURCE = "promote:source-image"
TAG_REVOKED = "promote:revoked"
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
