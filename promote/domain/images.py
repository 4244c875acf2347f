"""AMIs as promote sees them: ids, stages, provenance and revocation, read from image tags."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar

from promote.domain.results import HIDDEN
from promote.errors import PromoteError, check_failed, not_found, usage_error

if TYPE_CHECKING:
    from promote.domain.ports import ImageReader

TAG_STAGE = "promote:stage"
TAG_SOURCE = "promote:source-image"
TAG_REVOKED = "promote:revoked"
TAG_REVOKED_BY = "promote:revoked-by"
TAG_REVOKED_AT = "promote:revoked-at"
TAG_CONCOURSE_VERSION = "concourse:version"
TAG_GIT_SHA = "git:sha"

# An AMI id: ami- and 8 or 17 hex digits. AMI_IDS finds them in free text (prune).
AMI_IDS = re.compile(r"\bami-[0-9a-f]{8}(?:[0-9a-f]{9})?\b")


def check_ami_id(text: str) -> str:
    """TEXT if it is an AMI id, matched whole (no trailing newline), else a usage error."""
    if not AMI_IDS.fullmatch(text):
        raise usage_error(f"'{text}' is not an AMI id", "AMI ids look like ami-0123456789abcdef0")
    return text


@dataclass(frozen=True)
class Image:
    """An AMI and its tags."""

    image_id: str
    name: str
    state: str
    creation_date: str
    tags: dict[str, str] = field(default_factory=dict, metadata=HIDDEN)
    snapshot_ids: tuple[str, ...] = field(default=(), metadata=HIDDEN)
    # AWS's own record of the image a copy was made from (DescribeImages SourceImageId).
    copied_from: str | None = field(default=None, metadata=HIDDEN)
    # The account that owns the image (DescribeImages OwnerId): provenance.
    owner_id: str | None = field(default=None, metadata=HIDDEN)

    DATA_PROPERTIES: ClassVar[tuple[str, ...]] = (
        "stage",
        "source_image",
        "revoked",
        "concourse_version",
        "git_sha",
    )

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

    @property
    def concourse_version(self) -> str | None:
        """The Concourse release baked into the image."""
        return self.tags.get(TAG_CONCOURSE_VERSION)

    @property
    def git_sha(self) -> str | None:
        """The commit of this repository the image was built from."""
        return self.tags.get(TAG_GIT_SHA)


def require_image(reader: ImageReader, ami: str, region: str) -> Image:
    """The image AMI, or a not-found error (exit 4)."""
    image = reader.image(check_ami_id(ami))
    if image is None:
        raise not_found(
            f"{ami} not found in {region}",
            "check the AMI id and --region (images are regional)",
        )
    return image


_ROLE_ACCOUNT = re.compile(r"arn:aws[a-z-]*:iam::(\d{12}):role/")
TAG_VALUE_MAX = 256


def account_of(role_arn: str) -> str | None:
    """The account id in an IAM role ARN, or None."""
    match = _ROLE_ACCOUNT.match(role_arn)
    return match.group(1) if match else None


_ARN_ACCOUNT = re.compile(r"arn:aws[a-z-]*:(?:iam|sts)::(\d{12}):")


def account_in(arn: str | None) -> str | None:
    """The account id in an IAM or STS ARN (a caller identity), or None."""
    match = _ARN_ACCOUNT.match(arn or "")
    return match.group(1) if match else None


def revoked_error(image: Image) -> PromoteError:
    """Exit 3: IMAGE is revoked and may not be used again."""
    return check_failed(
        f"{image.image_id} is revoked: {image.revoked}",
        "revoked images are never promoted again; pick another AMI",
    )


def tag_value(text: str) -> str:
    """TEXT cut to the length EC2 allows in a tag value."""
    return text if len(text) <= TAG_VALUE_MAX else text[: TAG_VALUE_MAX - 1] + "…"
