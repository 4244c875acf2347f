"""`promote build --if-stale`: the staleness decision on in-memory ports. Each input that
changed is named, nothing changed means up to date, and a revoked base image is refused."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from promote.domain import build, revoke
from promote.domain.build import base_query, stale_reasons, staleness, wanted
from promote.errors import PromoteError
from tests.support.fakes import FakeImages, image, make_services
from tests.support.scenes import promotion_secret

AMAZON = "137112412989"
BASE_1 = "ami-0000000000000b001"
BASE_2 = "ami-0000000000000b002"
BUILT = "ami-0000000000000c001"
SHA256 = "a" * 64
SHA1 = "b" * 40
COMMIT = "c" * 40

VALUES = {
    "source_ami_owner": AMAZON,
    "source_ami_name": "al2023-ami-2023.*-x86_64",
    "sandbox_source_ami_owner": AMAZON,
    "sandbox_source_ami_name": "al2023-ami-2023.*-x86_64",
    "untested_name": "untested-dw-al2-concourse-ami",
    "concourse_version": "7.12.1",
    "concourse_tarball_sha256": SHA256,
    "playbook_commit": COMMIT,
}


def base(ami: str, name: str, created: str) -> Any:
    return replace(image(ami, stage=None, created=created, owner=AMAZON), name=name)


def built_from(
    source: str = BASE_1,
    name: str = "al2023-ami-2023.6.20241111.0-kernel-6.1-x86_64",
    **tags: str,
) -> Any:
    recorded = {
        "promote:source-ami": source,
        "promote:source-ami-name": name,
        "concourse:version": "7.12.1",
        "promote:concourse-sha256": SHA256,
        "promote:playbook-commit": COMMIT,
        **tags,
    }
    return image(BUILT, created="2026-11-20T00:00:00.000Z", tags=recorded)


def estate(*extra: Any) -> FakeImages:
    images = FakeImages()
    images.add(base(BASE_1, "al2023-ami-2023.6.20241111.0-kernel-6.1-x86_64", "2024-11-11"))
    for made in extra:
        images.add(made)
    return images


def test_nothing_changed_is_up_to_date() -> None:
    services, _ = make_services(images=estate(built_from()))

    check = staleness(services, "aws", VALUES)

    assert check.reasons == ()
    assert check.newest is not None and check.newest.image_id == BUILT
    assert check.base.image_id == BASE_1


def test_a_newer_base_image_is_stale_and_names_both() -> None:
    images = estate(built_from())
    images.add(base(BASE_2, "al2023-ami-2023.6.20241212.0-kernel-6.1-x86_64", "2024-12-12"))
    services, _ = make_services(images=images)

    check = staleness(services, "aws", VALUES)

    assert check.base.image_id == BASE_2
    assert check.reasons == (
        f"base image changed: {BASE_1} (al2023-ami-2023.6.20241111.0-kernel-6.1-x86_64) -> "
        f"{BASE_2} (al2023-ami-2023.6.20241212.0-kernel-6.1-x86_64)",
    )


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"concourse_version": "7.12.2"}, "Concourse release changed: 7.12.1 -> 7.12.2"),
        (
            {"concourse_tarball_sha256": "d" * 64},
            f"Concourse tarball sha256 changed: {SHA256} -> {'d' * 64}",
        ),
        (
            {"concourse_tarball_sha256": "", "concourse_tarball_sha1": SHA1},
            f"Concourse tarball sha1 changed: (not recorded) -> {SHA1}",
        ),
        ({"playbook_commit": "e" * 40}, f"playbook changed: {COMMIT} -> {'e' * 40}"),
        (
            {"playbook_commit": f"{COMMIT}+dirty"},
            f"the playbook has uncommitted changes (ansible/ or packer/ at {COMMIT}+dirty): "
            "an image built from them would be told from no other",
        ),
        ({"playbook_commit": "unknown"}, "playbook changed: " + COMMIT + " -> unknown"),
    ],
)
def test_each_input_that_changed_is_named_alone(change: dict[str, str], reason: str) -> None:
    services, _ = make_services(images=estate(built_from()))

    check = staleness(services, "aws", {**VALUES, **change})

    assert check.reasons == (reason,)


def test_no_digest_given_compares_the_version_only() -> None:
    services, _ = make_services(images=estate(built_from()))

    check = staleness(services, "aws", {**VALUES, "concourse_tarball_sha256": ""})

    assert check.reasons == ()


def test_no_untested_image_yet_is_stale() -> None:
    assert stale_reasons(wanted(base(BASE_1, "n", "2024"), VALUES), None) == [
        "no untested image has been built yet"
    ]


def test_an_image_without_ancestry_tags_is_stale_on_every_input() -> None:
    old = image(BUILT, tags={"concourse:version": "7.12.1"})
    services, _ = make_services(images=estate(old))

    reasons = staleness(services, "aws", VALUES).reasons

    assert [r.split(":")[0] for r in reasons] == [
        "base image changed",
        "Concourse tarball sha256 changed",
        "playbook changed",
    ]


def test_the_newest_untested_image_of_the_family_is_compared() -> None:
    older = replace(
        built_from(source=BASE_2),
        image_id="ami-0000000000000c000",
        creation_date="2026-01-01T00:00:00.000Z",
    )
    tested = image("ami-0000000000000d001", stage="tested", created="2026-12-01T00:00:00.000Z")
    services, _ = make_services(images=estate(older, built_from(), tested))

    check = staleness(services, "aws", VALUES)

    assert check.newest is not None and check.newest.image_id == BUILT
    assert check.reasons == ()


def test_a_revoked_newest_image_is_stale_whatever_its_inputs() -> None:
    images = estate(built_from(**{"promote:revoked": "broken build"}))
    services, _ = make_services(images=images)

    check = staleness(services, "aws", VALUES)

    assert check.reasons == (
        f"the newest image {BUILT} may not be used: {BUILT} is revoked: broken build",
    )


def test_a_base_image_revoked_by_tag_is_refused_exit_3() -> None:
    images = estate(built_from())
    images.images[BASE_1] = replace(images.images[BASE_1], tags={"promote:revoked": "CVE-2026-1"})
    services, _ = make_services(images=images)

    with pytest.raises(PromoteError) as raised:
        staleness(services, "aws", VALUES)

    assert raised.value.exit_code == 3
    assert raised.value.message.startswith(f"the base image is revoked: {BASE_1} is revoked: CVE")
    assert "--var source_ami=" in raised.value.hint


def test_a_base_image_revoked_by_event_is_refused_exit_3() -> None:
    images = estate(built_from())
    services, _ = make_services(promotion_secret(), images)
    revoke.revoke(services, BASE_1, "CVE-2026-2 in the kernel")
    # The tag is only a cache: gone, the signed event still refuses the base.
    images.images[BASE_1] = replace(images.images[BASE_1], tags={})
    fresh, _ = make_services(images=images, ledger=services.ledger)

    with pytest.raises(PromoteError) as raised:
        staleness(fresh, "aws", VALUES)

    assert raised.value.exit_code == 3
    assert "CVE-2026-2 in the kernel" in raised.value.message


def test_no_base_image_matching_is_exit_4() -> None:
    services, _ = make_services(images=estate(built_from()))

    with pytest.raises(PromoteError) as raised:
        staleness(services, "aws", {**VALUES, "source_ami_name": "no-such-*"})

    assert raised.value.exit_code == 4
    assert "owner 137112412989, name no-such-*" in raised.value.message


def test_the_base_query_is_the_sources_filter() -> None:
    aws = base_query("aws", {**VALUES, "source_ami": BASE_1})
    sandbox = base_query("sandbox", {**VALUES, "sandbox_source_ami_name": "test-base-*"})

    assert aws.owner == AMAZON
    assert dict(aws.filters) == {
        "name": "al2023-ami-2023.*-x86_64",
        "architecture": "x86_64",
        "root-device-type": "ebs",
        "virtualization-type": "hvm",
        "image-id": BASE_1,
    }
    assert dict(sandbox.filters) == {"name": "test-base-*"}


def test_templates_without_the_owner_variable_are_a_usage_error() -> None:
    with pytest.raises(PromoteError) as raised:
        base_query("aws", {"source_ami_name": "x"})

    assert raised.value.exit_code == 2
    assert "source_ami_owner" in raised.value.message


def test_if_stale_declares_the_reads_it_adds_to_the_build() -> None:
    added = set(build.AWS_ACTIONS["build --if-stale"]) - set(build.AWS_ACTIONS["build"])

    assert added == {"s3:ListBucket", "s3:GetObject", "kms:GetPublicKey"}
