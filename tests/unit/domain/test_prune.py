"""prune decides KEEP/DELETE without I/O, and protects what any version of the secret names."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from promote.domain import prune
from promote.domain.ami_ids import SecretVersion
from tests.support.fakes import image

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
OLD = "2026-01-01T00:00:00.000Z"


def _decisions(candidates: list[prune.Candidate]) -> dict[str, str]:
    return {c.image.image_id: c.decision for c in candidates}


class _Versions:
    """The staged versions of a secret (the SecretReader.version prune asks)."""

    def __init__(self, versions: dict[str, str | bytes]) -> None:
        self.versions = versions

    def version(self, secret_id: str, stage: str) -> SecretVersion | None:
        value = self.versions.get(stage)
        return SecretVersion(stage, value) if value is not None else None


def test_prune_keeps_every_protected_image_and_says_why() -> None:
    images = [image("ami-0000000000000000a", created=OLD), image("ami-0000000000000000b")]
    protected = {"ami-0000000000000000a": ["used by instance(s) i-1"]}

    candidates = prune.decide(images, protected, keep=0, older_than=None, now=NOW)

    assert _decisions(candidates) == {
        "ami-0000000000000000a": "KEEP",
        "ami-0000000000000000b": "DELETE",
    }
    kept = next(c for c in candidates if c.decision == "KEEP")
    assert kept.reasons == ("used by instance(s) i-1",)


def test_prune_keeps_the_newest_n_of_each_stage_separately() -> None:
    images = [
        image("ami-0000000000000000a", "untested", "2026-11-01T00:00:00.000Z"),
        image("ami-0000000000000000b", "untested", "2026-11-02T00:00:00.000Z"),
        image("ami-0000000000000000c", "tested", "2026-10-01T00:00:00.000Z"),
    ]

    candidates = prune.decide(images, {}, keep=1, older_than=None, now=NOW)

    assert _decisions(candidates) == {
        "ami-0000000000000000b": "KEEP",
        "ami-0000000000000000a": "DELETE",
        "ami-0000000000000000c": "KEEP",
    }
    assert candidates[0].image.image_id == "ami-0000000000000000b"  # newest first


def test_prune_keeps_images_younger_than_older_than_and_not_available_ones() -> None:
    images = [
        image("ami-0000000000000000a", created="2026-11-20T00:00:00.000Z"),
        image("ami-0000000000000000b", created=OLD, state="pending"),
        image("ami-0000000000000000c", created=OLD),
    ]

    candidates = prune.decide(images, {}, keep=0, older_than=30 * 86400, now=NOW)

    assert _decisions(candidates) == {
        "ami-0000000000000000a": "KEEP",
        "ami-0000000000000000b": "KEEP",
        "ami-0000000000000000c": "DELETE",
    }


def test_secret_references_cover_current_and_previous_even_when_malformed() -> None:
    history_ = _Versions(
        {
            "AWSCURRENT": json.dumps(
                {
                    "concourse_ami": "ami-0000000000000000a",
                    "_pins": {"m": {"ami": "ami-0000000000000000b"}},
                }
            ),
            "AWSPREVIOUS": b"not json but names ami-0000000000000000c",
        }
    )

    found = prune.secret_references(history_, "s")

    assert found == {
        "ami-0000000000000000a": ["named in the ami-ids secret s (AWSCURRENT)"],
        "ami-0000000000000000b": ["named in the ami-ids secret s (AWSCURRENT)"],
        "ami-0000000000000000c": ["named in the ami-ids secret s (AWSPREVIOUS)"],
    }
