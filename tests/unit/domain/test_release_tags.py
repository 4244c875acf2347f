"""Release tags from a template: the AMI's own tag by default, or the next semver patch, and the
same tag again for an AMI already released."""

from __future__ import annotations

import pytest

from promote.domain import release_tags
from promote.errors import PromoteError

AMI = "ami-0123456789abcdef0"


def test_the_default_tag_names_the_version_and_the_ami() -> None:
    tag = release_tags.tag_for(release_tags.DEFAULT_TEMPLATE, "7.12.0", AMI, None, [])

    assert tag == f"concourse-7.12.0-{AMI}"


def test_semver_bumps_the_patch_of_the_newest_tag_of_its_form() -> None:
    tags = ["v1.2.3", "v1.10.0", "v1.9.9", "concourse-7.11.2-ami-1", "v2.0.0-rc1", "other"]

    assert release_tags.tag_for("v{semver}", "7.12.0", AMI, None, tags) == "v1.10.1"
    assert release_tags.tag_for("v{semver}", "7.12.0", AMI, None, []) == "v0.1.0"


def test_an_ami_already_released_keeps_its_tag() -> None:
    assert release_tags.tag_for("v{semver}", "7.12.0", AMI, "v1.2.3", ["v1.2.4"]) == "v1.2.3"


@pytest.mark.parametrize("template", ["v{major}", "{version}", "concourse-{version"])
def test_a_template_that_cannot_make_one_tag_per_release_is_refused(template: str) -> None:
    with pytest.raises(PromoteError) as refused:
        release_tags.check(template)

    assert refused.value.exit_code == 2
