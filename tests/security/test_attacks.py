"""Evidence no one can forge, proved by attack on the local AWS (moto server, its KMS and S3).

Each row arranges a genuine ledger (records signed by the evidence key through moto's KMS,
events by the event key), then plays an attacker who can write to the bucket (what the
validate policy alone allowed before) or tag an image: a forged `{}`, an unsigned statement,
a statement signed by another KMS key, a genuine record replayed under another AMI or env, a
FAILED statement under a `-SUCCESS.json` key, an overwritten version, a delete marker, a
tampered event, a removed event, a tag-laundered copy, legacy unsigned records. Then `gate` (or
`audit`, or the command the attack aims at) runs as an operator would, and the row asserts the
outcome, the message, the exit code, and that the command wrote nothing.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from promote.adapters.attest import EnvelopeSigner
from promote.adapters.aws.kms import KmsKey
from promote.domain.ledger import parse_event_key
from tests.support.estate import Estate

DEV = "management-dev"
FAST = ("--timeout", "0")
FORGED_STAMP = "20991231T000000.000000Z"


@dataclass
class Attack:
    """What the attacker did, and what the operator then runs."""

    args: list[str]
    env: dict[str, str] = field(default_factory=dict)


@dataclass
class Row:
    """One attack: arrange it, then the exit code and the message the command must give."""

    attack: Callable[[Estate], Attack]
    exit_code: int
    message: str


# --- what an attacker has to work with -------------------------------------------------------


def put(seeded: Estate, key: str, body: bytes) -> None:
    """Write KEY as anyone with s3:PutObject on the bucket can."""
    seeded.client("s3").put_object(Bucket=seeded.config.evidence_bucket, Key=key, Body=body)


def genuine(seeded: Estate, ami: str | None = None, env: str = DEV, ok: bool = True) -> str:
    """A genuine record (validate run for real, signed through KMS); its key."""
    args = ["validate", "--env", env, *FAST] + (["--ami", ami] if ami else [])
    result = seeded.cli(*args)
    assert result.exit_code == (0 if ok else 3), result.output
    return str(json.loads(seeded.cli("-o", "json", *args).stdout)["evidence_key"])


def forged_key(ami: str, env: str = DEV, result: str = "SUCCESS") -> str:
    return f"evidence/{ami}/{env}/{FORGED_STAMP}-{result}.json"


def envelope(seeded: Estate, key: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(seeded.ledger_object(key))
    return document


def statement_of(seeded: Estate, key: str) -> dict[str, Any]:
    payload = base64.b64decode(envelope(seeded, key)["payload"])
    found: dict[str, Any] = json.loads(payload)
    return found


def attacker_key(seeded: Estate) -> EnvelopeSigner:
    """A KMS key of the attacker's own (ECC_NIST_P256, SIGN_VERIFY, in the same account)."""
    key_id = seeded.client("kms").create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")[
        "KeyMetadata"
    ]["KeyId"]
    return EnvelopeSigner(KmsKey(seeded.aws, key_id))


def events_of(seeded: Estate, subject: str) -> list[str]:
    return [
        k
        for k in seeded.ledger_keys()
        if (parsed := parse_event_key(k)) is not None and parsed[2] == subject
    ]


# --- the attacks ------------------------------------------------------------------------------


def forged_empty(seeded: Estate) -> Attack:
    put(seeded, forged_key(seeded.untested), b"{}")
    return Attack(["gate", "--ami", seeded.untested])


def unsigned_statement(seeded: Estate) -> Attack:
    """A well-formed in-toto Statement about the other image, stored as it is: no envelope."""
    statement = statement_of(seeded, genuine(seeded))
    statement["subject"][0]["name"] = seeded.tested
    statement["predicate"].update(expected_ami=seeded.tested)
    put(seeded, forged_key(seeded.tested), json.dumps(statement).encode())
    return Attack(["gate", "--ami", seeded.tested])


def envelope_without_signatures(seeded: Estate) -> Attack:
    """A genuine envelope's payload retargeted at the other image, its signatures removed."""
    key = genuine(seeded)
    statement = statement_of(seeded, key)
    statement["subject"][0]["name"] = seeded.tested
    document = {
        **envelope(seeded, key),
        "payload": base64.b64encode(json.dumps(statement).encode()).decode(),
        "signatures": [],
    }
    put(seeded, forged_key(seeded.tested), json.dumps(document).encode())
    return Attack(["gate", "--ami", seeded.tested])


def signed_by_another_key(seeded: Estate) -> Attack:
    key = genuine(seeded, ami=seeded.tested, env=DEV, ok=False)  # a FAILED one to copy from
    statement = statement_of(seeded, key)
    statement["predicate"].update(result="PASSED", checked_at="2099-12-31T00:00:00+00:00")
    put(seeded, forged_key(seeded.tested), attacker_key(seeded).sign(statement))
    return Attack(["gate", "--ami", seeded.tested])


def replayed_under_another_ami(seeded: Estate) -> Attack:
    key = genuine(seeded)
    put(seeded, key.replace(seeded.untested, seeded.tested), seeded.ledger_object(key))
    return Attack(["gate", "--ami", seeded.tested])


def replayed_under_another_env(seeded: Estate) -> Attack:
    key = genuine(seeded)
    put(seeded, key.replace(f"/{DEV}/", "/management/"), seeded.ledger_object(key))
    return Attack(["gate", "--ami", seeded.untested, "--env", "management"])


def failed_under_a_success_key(seeded: Estate) -> Attack:
    key = genuine(seeded, ami=seeded.tested, ok=False)
    put(seeded, key.replace("-FAILED.json", "-SUCCESS.json"), seeded.ledger_object(key))
    return Attack(["gate", "--ami", seeded.tested])


def overwritten_version(seeded: Estate) -> Attack:
    key = genuine(seeded)
    put(seeded, key, b'{"result": "SUCCESS"}')
    return Attack(["audit"])


def hidden_by_a_delete_marker(seeded: Estate) -> Attack:
    key = genuine(seeded)
    seeded.client("s3").delete_object(Bucket=seeded.config.evidence_bucket, Key=key)
    return Attack(["audit"])


def tampered_event(seeded: Estate) -> Attack:
    assert seeded.cli("pin", "--env", DEV, "--reason", "soak").exit_code == 0
    [key] = events_of(seeded, DEV)
    document = envelope(seeded, key)
    statement = json.loads(base64.b64decode(document["payload"]))
    statement["predicate"]["reason"] = "nobody pinned this"
    document["payload"] = base64.b64encode(json.dumps(statement).encode()).decode()
    put(seeded, key, json.dumps(document).encode())
    return Attack(["audit"])


def removed_event(seeded: Estate) -> Attack:
    for reason in ("soak", "soak longer", "soak for a week"):
        assert seeded.cli("pin", "--env", DEV, "--reason", reason).exit_code == 0
    middle = events_of(seeded, DEV)[1]
    seeded.client("s3").delete_object(Bucket=seeded.config.evidence_bucket, Key=middle)
    return Attack(["audit"])


def tag_laundered_copy(seeded: Estate) -> Attack:
    genuine(seeded)
    old = seeded.report.images[f"{seeded.config.untested_name}-20261001T090000Z"]
    seeded.client("ec2").create_tags(
        Resources=[old],
        Tags=[
            {"Key": "promote:stage", "Value": "tested"},
            {"Key": "promote:source-image", "Value": seeded.untested},
        ],
    )
    return Attack(["gate", "--ami", old])


def legacy_record(seeded: Estate) -> str:
    """A record as promote wrote them before they were signed (from a genuine check)."""
    record = seeded.record(genuine(seeded))
    legacy = {
        **{k: v for k, v in record.items() if k not in ("statement", "detail", "reason_count")},
        "schema": "promote/evidence/v1",
        "result": "SUCCESS",
    }
    key = forged_key(seeded.tested).replace(FORGED_STAMP, "20261001T000000.000000Z")
    legacy.update(
        expected_ami=seeded.tested,
        instances=[{**i, "image_id": seeded.tested} for i in legacy["instances"]],
    )
    put(seeded, key, json.dumps(legacy).encode())
    return key


def legacy_refused(seeded: Estate) -> Attack:
    legacy_record(seeded)
    return Attack(["gate", "--ami", seeded.tested])


def legacy_allowed(seeded: Estate) -> Attack:
    legacy_record(seeded)
    return Attack(["gate", "--ami", seeded.tested], {"PROMOTE_ALLOW_UNSIGNED_EVIDENCE": "true"})


def legacy_audited(seeded: Estate) -> Attack:
    legacy_record(seeded)
    return Attack(["audit"], {"PROMOTE_ALLOW_UNSIGNED_EVIDENCE": "true"})


def forged_then_published(seeded: Estate) -> Attack:
    put(seeded, forged_key(seeded.untested), b"{}")
    return Attack(["publish", "--ami", seeded.untested, "--interval", "0.2s"])


NOT_SIGNED = "not signed by alias/promote-evidence"
ROWS: dict[str, Row] = {
    "forged-empty-record": Row(forged_empty, 3, f"skipped {forged_key('AMI')}: {NOT_SIGNED}"),
    "unsigned-statement": Row(unsigned_statement, 3, NOT_SIGNED),
    "envelope-without-signatures": Row(envelope_without_signatures, 3, NOT_SIGNED),
    "signed-by-another-kms-key": Row(signed_by_another_key, 3, NOT_SIGNED),
    "replayed-under-another-ami": Row(replayed_under_another_ami, 3, "its statement is about"),
    "replayed-under-another-env": Row(
        replayed_under_another_env, 3, "its key says env management but its statement says"
    ),
    "failed-under-a-success-key": Row(
        failed_under_a_success_key, 3, "its key says result PASSED but its statement says FAILED"
    ),
    "overwritten-version": Row(overwritten_version, 3, "overwritten"),
    "delete-marker": Row(hidden_by_a_delete_marker, 3, "hidden by a delete marker"),
    "tampered-event": Row(tampered_event, 3, "not signed by alias/promote-events"),
    "removed-event": Row(removed_event, 3, "which is missing"),
    "tag-laundered-copy": Row(tag_laundered_copy, 3, "no signed publish record links them"),
    "legacy-unsigned-refused": Row(legacy_refused, 3, "an unsigned legacy record"),
    "legacy-unsigned-allowed": Row(legacy_allowed, 0, "unsigned legacy record counted"),
    "legacy-unsigned-audited": Row(legacy_audited, 3, "unsigned"),
    "forged-record-then-publish": Row(forged_then_published, 3, NOT_SIGNED),
}


@pytest.mark.parametrize("name", list(ROWS))
def test_an_attack_is_refused_named_and_changes_nothing(seeded: Estate, name: str) -> None:
    row = ROWS[name]
    attack = row.attack(seeded)
    before = seeded.snapshot()

    result = seeded.cli(*attack.args, env=attack.env)

    assert "Traceback" not in result.output
    assert result.exit_code == row.exit_code, result.output
    message = row.message.replace("AMI", seeded.untested)
    assert message in " ".join(result.output.split()), result.output  # rich wraps long lines
    if attack.args[0] in ("gate", "audit") or row.exit_code:
        assert seeded.snapshot() == before, "the command wrote to the ledger, secret or images"


MISSING_KEY = {
    "validate": (["validate", "--env", DEV, *FAST], "PROMOTE_EVIDENCE_SIGNING_KEY"),
    "pin": (["pin", "--env", DEV, "--reason", "soak"], "PROMOTE_EVENT_SIGNING_KEY"),
    "revoke": (["revoke", "--ami", "UNTESTED", "--reason", "CVE"], "PROMOTE_EVENT_SIGNING_KEY"),
}


@pytest.mark.parametrize("command", list(MISSING_KEY))
def test_a_missing_signing_key_is_exit_4_before_anything_is_written(
    seeded: Estate, command: str
) -> None:
    args, variable = MISSING_KEY[command]
    before = seeded.snapshot()

    result = seeded.cli(
        *[seeded.untested if a == "UNTESTED" else a for a in args],
        env={variable: "alias/no-such-key"},
    )

    assert result.exit_code == 4, result.output
    assert "error: signing key alias/no-such-key does not exist" in result.output
    assert seeded.snapshot() == before
