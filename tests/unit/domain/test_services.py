"""Exactly one event per change: a run killed after its secret write and before its event
loses nothing; the re-run records the event (marked recovered), once (in-memory fakes)."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from promote.domain import audit, events, history, ledger, pins, set_ids
from promote.domain.ledger import Event
from tests.support.fakes import DyingLedger, FakeClock, Killed, make_services
from tests.support.scenes import (
    DEV_AMI,
    NEW_TESTED,
    NEW_UNTESTED,
    PIN,
    PROD_AMI,
    promotion_images,
    promotion_secret,
    secret_document,
    success,
)


def at_index(key: str) -> bool:
    """Killed before the change index entry: neither it nor the event is written."""
    return key.startswith(ledger.CHANGE_INDEX_PREFIX)


def at_event(key: str) -> bool:
    """Killed after the change index entry, before the event itself."""
    return ledger.parse_event_key(key) is not None


KILL_POINTS = pytest.mark.parametrize("dies_at", [at_index, at_event], ids=["index", "event"])


@KILL_POINTS
def test_set_ids_killed_before_its_event_is_recorded_once_by_the_rerun(
    dies_at: Callable[[str], bool],
) -> None:
    secrets, store = promotion_secret(), DyingLedger(dies_at)
    b, _ = make_services(secrets, promotion_images(), store)
    with pytest.raises(Killed):
        set_ids.execute(set_ids.plan(b, NEW_UNTESTED, ["management-dev"]), b)
    assert secret_document(secrets)["concourse_ami_mgmt_dev"] == NEW_UNTESTED
    assert store.event_keys() == []
    missing = [f for f in audit.audit(b).findings if f.key.startswith("secret ")]
    assert [f.problem for f in missing] == ["event-missing"]
    assert secrets.current("x").version_id in missing[0].detail

    again = set_ids.execute(set_ids.plan(b, NEW_UNTESTED, ["management-dev"]), b)
    third = set_ids.execute(set_ids.plan(b, NEW_UNTESTED, ["management-dev"]), b)

    [key] = store.event_keys()
    version = secrets.current("x").version_id
    assert again.recovered_event and again.event_key == key
    assert again.unchanged == ["management-dev"] and not again.changes
    assert key.endswith(f"-set-ids-{NEW_UNTESTED}+{version}.json")
    document = events.load(b)[0].document
    assert document["recovered"] is True and document["change"] == version
    assert document["before"] == {"management-dev": DEV_AMI}
    assert document["after"] == {"management-dev": NEW_UNTESTED}
    assert document["secret_version_id"] == version
    assert not third.recovered_event and third.event_key is None
    assert store.event_keys() == [key]
    assert audit.audit(b).clean
    assert history.history(b)[0].summary.endswith(f"-> {NEW_UNTESTED} by tester (recovered)")


def test_a_change_made_without_promote_is_not_recorded_as_promotes() -> None:
    secrets, store = promotion_secret(), DyingLedger()
    document = {**secret_document(secrets), "concourse_ami_mgmt_dev": NEW_UNTESTED}
    secrets.write_directly(json.dumps(document, indent=2))
    b, _ = make_services(secrets, promotion_images(), store)

    result = set_ids.execute(set_ids.plan(b, NEW_UNTESTED, ["management-dev"]), b)

    assert not result.recovered_event and store.event_keys() == []


def test_another_commands_change_is_not_recorded_as_this_ones() -> None:
    secrets, store = promotion_secret(pinned=False), DyingLedger(at_event)
    clock = FakeClock()
    b, _ = make_services(secrets, promotion_images(), store, clock)
    with pytest.raises(Killed):
        pins.pin(b, "management-dev", NEW_UNTESTED, "hold", None, "alice")

    by_set_ids = set_ids.execute(set_ids.plan(b, NEW_UNTESTED, ["management-dev"]), b)
    clock.sleep(30)  # the re-run pins at its own time; the stored pin keeps the first one's
    by_pin = pins.pin(b, "management-dev", NEW_UNTESTED, "hold", None, "alice")

    assert not by_set_ids.recovered_event and not by_set_ids.changes
    assert by_set_ids.unchanged == ["management-dev"]
    assert by_pin.recovered_event and not by_pin.changed
    [key] = store.event_keys()
    assert "-pin-management-dev+" in key
    document = events.load(b)[0].document
    stored = secret_document(secrets)["_pins"]["management-dev"]
    assert document["after"] == {"ami": NEW_UNTESTED, "pin": stored}
    assert document["before"]["ami"] == DEV_AMI and document["recovered"] is True


@KILL_POINTS
def test_unpin_killed_before_its_event_is_recorded_once_by_the_rerun(
    dies_at: Callable[[str], bool],
) -> None:
    secrets, store = promotion_secret(), DyingLedger(dies_at)
    success(store, NEW_UNTESTED)
    b, _ = make_services(secrets, promotion_images(), store)
    with pytest.raises(Killed):
        pins.execute_unpin(pins.plan_unpin(b, "management", "release"), b)
    assert "_pins" not in secret_document(secrets)

    again = pins.execute_unpin(pins.plan_unpin(b, "management", "release"), b)
    third = pins.execute_unpin(pins.plan_unpin(b, "management", "release"), b)

    [key] = store.event_keys()
    assert again.recovered_event and again.event_key == key
    document = events.load(b)[0].document
    assert document["before"] == {"ami": PROD_AMI, "pin": PIN}
    assert document["after"] == {"ami": NEW_TESTED, "pin": None}
    assert not third.recovered_event and store.event_keys() == [key]


def test_two_writers_of_one_change_write_one_event_at_the_key_the_index_names() -> None:
    store, clock = DyingLedger(at_event), FakeClock()
    b, _ = make_services(promotion_secret(), ledger=store, clock=clock)
    change = Event("revoke", NEW_UNTESTED, NEW_UNTESTED, reason="CVE", change=NEW_UNTESTED)
    with pytest.raises(Killed):
        events.record_change(b, change)
    [index] = store.keys(ledger.CHANGE_INDEX_PREFIX)
    claimed = json.loads(store.objects[index])["key"]
    assert [f.problem for f in audit.audit(b).findings] == ["event-missing"]
    clock.sleep(5)

    second = events.record_change(b, change)
    third = events.record_change(b, change)

    assert (second.key, second.written, second.recovered) == (claimed, True, True)
    assert (third.key, third.written) == (claimed, False)
    assert store.event_keys() == [claimed]
    assert events.load(b)[0].document["recovered"] is True
    assert audit.audit(b).clean


def test_an_event_recovered_late_keeps_its_chain_in_order() -> None:
    store, clock = DyingLedger(), FakeClock()
    b, _ = make_services(promotion_secret(), ledger=store, clock=clock)
    first = events.record(b, Event("pin", "management", PROD_AMI, reason="one", change="v1"))
    clock.sleep(1)
    store.dies_at = at_event
    killed = Event("pin", "management", PROD_AMI, reason="two", change="v2")
    with pytest.raises(Killed):
        events.record(b, killed)
    clock.sleep(1)
    meanwhile = events.record(b, Event("pin", "management", PROD_AMI, reason="3", change="v3"))

    recovered = events.record(b, killed)

    chain = events.chain_keys(store.event_keys(), "management")
    assert chain == [first, recovered, meanwhile]
    assert events.load(b, [recovered])[0].previous["key"] == first  # type: ignore[index]
    assert audit.audit(b).clean


def test_an_event_key_names_its_change_and_old_keys_still_decode() -> None:
    moment = FakeClock().now()
    key = ledger.event_key("publish", "ami-1", moment, "ami-2")
    ref = ledger.EventRef.parse(key)

    assert key == "events/20261123T120000.000000Z-publish-ami-1+ami-2.json"
    assert ref is not None and (ref.kind, ref.subject, ref.change) == ("publish", "ami-1", "ami-2")
    assert ledger.parse_event_key(key) == ("20261123T120000.000000Z", "publish", "ami-1")
    old = ledger.EventRef.parse("events/20261123T120000.000000Z-pin-management.json")
    assert old is not None and (old.subject, old.change) == ("management", None)
    assert ledger.EventRef.parse("events/20261123T120000.000000Z-pin-management+.json") is None
    assert ledger.EventRef.parse("events/by-change/pin-v1.json") is None
    assert ledger.change_index_key("release", "v1.2/rc") == "events/by-change/release-v1.2_rc.json"
    assert ledger.moment_of(ledger.stamp_of(key)) == moment


def test_an_event_moved_to_another_changes_key_is_not_believed() -> None:
    store = DyingLedger()
    b, _ = make_services(promotion_secret(), ledger=store)
    key = events.record(b, Event("pin", "management", PROD_AMI, reason="r", change="v1"))
    moved = key.replace("+v1.json", "+v9.json")
    store.objects[moved] = store.objects.pop(key)

    assert events.load(b) == []
    assert "its key says change v9 but its statement says v1" in b.skips[moved]
