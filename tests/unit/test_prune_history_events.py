"""prune decides KEEP/DELETE without I/O; history and events read the ledger newest first."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from promote import events, history, prune
from promote.ids import SecretVersion
from tests.unit.promotion_fakes import FakeClock, FakeLedger, image

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
OLD = "2026-01-01T00:00:00.000Z"


def _decisions(candidates: list[prune.Candidate]) -> dict[str, str]:
    return {c.image.image_id: c.decision for c in candidates}


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


class _History:
    def __init__(self, versions: dict[str, str | bytes]) -> None:
        self.versions = versions

    def version(self, secret_id: str, stage: str) -> SecretVersion | None:
        value = self.versions.get(stage)
        return SecretVersion(stage, value) if value is not None else None


def test_secret_references_cover_current_and_previous_even_when_malformed() -> None:
    history_ = _History(
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
        "ami-0000000000000000a": ["named in the ami-ids secret (AWSCURRENT)"],
        "ami-0000000000000000b": ["named in the ami-ids secret (AWSCURRENT)"],
        "ami-0000000000000000c": ["named in the ami-ids secret (AWSPREVIOUS)"],
    }


def test_an_event_key_never_replaces_another() -> None:
    ledger, clock = FakeLedger(), FakeClock()
    event = events.Event(kind="pin", subject="management", envs=("management",), reason="r")

    first = events.record(ledger, event, clock, {"user": "a"}, "1")
    second = events.record(ledger, event, clock, {"user": "a"}, "1")

    assert first == "events/20261123T120000.000000Z-pin-management.json"
    assert second == "events/20261123T120000.000001Z-pin-management.json"
    assert json.loads(ledger.get(first))["kind"] == "pin"


def test_history_mixes_evidence_and_events_newest_first_and_filters() -> None:
    ledger, clock = FakeLedger(), FakeClock()
    ami = "ami-0000000000000000a"
    ledger.put_new(f"evidence/{ami}/management-dev/20261123T110000.000000Z-SUCCESS.json", b"{}")
    ledger.put_new(f"evidence/{ami}/management/20261123T113000.000000Z-FAILED.json", b"{}")
    events.record(
        ledger,
        events.Event("set-ids", ami, ami, ("management-dev",), {}, {"management-dev": ami}),
        clock,
        {"user": "a"},
        "1",
    )
    clock.sleep(60)
    events.record(
        ledger, events.Event("pin", "management", ami, ("management",)), clock, {"user": "b"}, "1"
    )

    everything = history.history(ledger)
    dev = history.history(ledger, env="management-dev")
    other = history.history(ledger, ami="ami-0000000000000000b")

    assert [e.kind for e in everything] == ["pin", "set-ids", "evidence", "evidence"]
    assert [e.stamp for e in everything] == sorted((e.stamp for e in everything), reverse=True)
    assert [e.kind for e in dev] == ["set-ids", "evidence"]
    assert other == []
    assert everything[2].summary == f"validate FAILED for {ami} in management"
