"""DSSE envelopes: what the signer makes verifies with its key only, and the signed Statement
of a 2,000-instance env stays under KMS's 4096-byte RAW limit."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

from promote.adapters.attest import PAYLOAD_TYPE, EnvelopeVerifier
from promote.domain import evidence
from promote.domain.evidence import build_record, statement
from promote.domain.ledger import Detail
from tests.support.fakes import FakeClock
from tests.support.keys import EVIDENCE_KEY, key, signer, verifier
from tests.support.scenes import validation

AMI = "ami-0aaaaaaaaaaaaaaa1"
AT = datetime(2026, 11, 23, 12, tzinfo=UTC)


def _statement(instances: int = 2) -> dict[str, object]:
    v = validation(FakeClock(AT), AMI, "management-dev", "SUCCESS", instances=instances)
    actor = {"user": "concourse", "host": "worker-1", "aws_identity": "arn:aws:sts::1:x/y"}
    record = build_record(v, actor, "1.0.0", "eu-west-2")
    detail = Detail.of(f"evidence/{AMI}/management-dev/", record["instances"])
    return statement(record, AT, detail.reference)


def test_an_envelope_is_dsse_around_an_in_toto_statement_and_verifies() -> None:
    body = signer().sign(_statement())

    document = json.loads(body)
    assert document["payloadType"] == PAYLOAD_TYPE
    assert [set(s) for s in document["signatures"]] == [{"keyid", "sig"}]
    opened = verifier().open(body)
    assert opened.problem is None and opened.statement is not None
    assert opened.statement["_type"] == "https://in-toto.io/Statement/v1"
    assert opened.statement["predicateType"] == evidence.VALIDATION_PREDICATE
    assert opened.statement["subject"][0]["name"] == AMI
    assert opened.statement["predicate"]["desired_capacity"] == {"web": 2}  # ints stay ints


def test_the_signed_payload_of_a_2000_instance_env_is_under_4096_bytes() -> None:
    big = key(EVIDENCE_KEY)
    before = len(big.signed)

    signer().sign(_statement(instances=2000))

    pae = big.signed[before]
    assert len(pae) <= 4096, len(pae)
    assert pae.startswith(f"DSSEv1 {len(PAYLOAD_TYPE)} {PAYLOAD_TYPE} ".encode())


def test_a_changed_payload_does_not_verify() -> None:
    document = json.loads(signer().sign(_statement()))
    payload = json.loads(base64.b64decode(document["payload"]))
    payload["predicate"]["env"] = "management"
    document["payload"] = base64.b64encode(json.dumps(payload).encode()).decode()

    opened = verifier().open(json.dumps(document).encode())

    assert opened.statement is None
    assert opened.problem == f"not signed by {EVIDENCE_KEY}"


def test_an_envelope_signed_by_another_key_does_not_verify() -> None:
    body = signer("attacker").sign(_statement())

    assert verifier().open(body).problem == f"not signed by {EVIDENCE_KEY}"
    assert EnvelopeVerifier("attacker", key("attacker").public_pem()).open(body).statement


def test_a_plain_json_object_is_handed_back_for_the_domain_to_judge() -> None:
    opened = verifier().open(b'{"schema": "promote/evidence/v1"}')

    assert opened.statement is None
    assert opened.plain == {"schema": "promote/evidence/v1"}
    assert verifier().open(b"not json").problem == "not JSON"
