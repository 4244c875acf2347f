"""Evidence as signed attestations: what validate signs, and what a reader believes.

A record is a DSSE envelope around an in-toto Statement v1 whose subject is the AMI and whose
predicate (`VALIDATION_PREDICATE`: in-toto's test-result predicate has no place for the env,
the instances or the desired counts) carries the env, the expected AMI, the result (PASSED or
FAILED, test-result's words), the desired capacity per ASG, the counts, the actor, the tool
version and the times. Every instance seen and every reason go to a detail object the
predicate names by sha256, so the signed Statement stays far under KMS's 4096-byte RAW limit
however large the env is.

A reader believes a record only when (`read`):

- its signature verifies with the evidence key's public key (a legacy unsigned record counts
  only with `allow_unsigned_evidence = true`, with a warning each time);
- the Statement names this AMI, and its env, result and time agree with the object's key;
- for SUCCESS: it lists at least one instance, as many as it says, each running InService on
  the AMI, and its detail object matches the signed sha256.

Anything else is skipped with a reason that names the object.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from promote.clock import utc_stamp
from promote.domain import ledger
from promote.domain.ledger import EvidenceRef
from promote.domain.results import to_data

if TYPE_CHECKING:
    from promote.domain.fleet import Validation
    from promote.domain.services import Services

STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PREDICATE_BASE = "https://concourse-ami-promote.dev/attestation"
VALIDATION_PREDICATE = f"{PREDICATE_BASE}/validation/v1"
# The signed Statement's budget: KMS signs at most 4096 bytes RAW, and the DSSE pre-auth
# encoding adds the payload type and two lengths.
STATEMENT_BUDGET = 3800
RESULT_WORDS = {"SUCCESS": "PASSED", "FAILED": "FAILED"}


def build_record(
    validation: Validation, actor: dict[str, Any], tool_version: str, region: str
) -> dict[str, Any]:
    """The validation as `promote validate -o json` shows it (and legacy records held it)."""
    return {
        "schema": ledger.EVIDENCE_SCHEMA,
        "result": validation.result,
        "env": validation.env,
        "expected_ami": validation.expected_ami,
        "region": region,
        "started_at": validation.started_at.isoformat(),
        "checked_at": validation.finished_at.isoformat(),
        "polls": validation.polls,
        "timeout_seconds": validation.timeout_seconds,
        "desired_capacity": validation.snapshot.desired,
        "instance_count": len(validation.snapshot.instances),
        "instances": to_data(validation.snapshot.instances),
        "reasons": list(validation.reasons),
        "actor": actor,
        "tool_version": tool_version,
        **validation.extra,
    }


def statement(record: dict[str, Any], at: datetime, detail: dict[str, str]) -> dict[str, Any]:
    """The in-toto Statement signed for RECORD, checked at AT, its bulk in DETAIL."""
    bulky = ("schema", "instances", "reasons", "result", "checked_at")
    predicate = {k: v for k, v in record.items() if k not in bulky}
    predicate.update(
        result=RESULT_WORDS[record["result"]],
        checked_at=at.isoformat(),
        reason_count=len(record["reasons"]),
        detail=detail,
    )
    return {
        "_type": STATEMENT_TYPE,
        "subject": [ledger.subject(record["expected_ami"])],
        "predicateType": VALIDATION_PREDICATE,
        "predicate": predicate,
    }


def write(services: Services, validation: Validation, record: dict[str, Any]) -> str:
    """Sign and store the record of VALIDATION (its detail first), and, for the test env
    only, update the compatibility file (existing consumers read it as the test env's
    verdict); the record's key."""
    store = services.ledger
    ami, env = validation.expected_ami, validation.env
    prefix = f"evidence/{ami}/{env}/"
    detail = ledger.Detail.of(
        prefix, {"instances": record["instances"], "reasons": record["reasons"]}
    )

    def signed(at: datetime) -> bytes:
        envelope = services.evidence_signer.sign(statement(record, at, detail.reference))
        detail.store(store)  # only once signing worked: a refused signature writes nothing
        return envelope

    key = ledger.put_new_object(
        store,
        lambda at: ledger.evidence_key(ami, env, at, validation.result),
        signed,
        validation.finished_at,
        services.clock,
        f"a new evidence record for {ami} in {env}",
    )
    if env == services.config.test_env:
        store.put(ledger.COMPAT_KEY, f"{ami} {validation.result}\n".encode())
    return key


@dataclass(frozen=True)
class Record:
    """A record a reader may rely on: its key, its predicate, the instances it lists."""

    ref: EvidenceRef
    predicate: dict[str, Any]
    instances: list[dict[str, Any]] = field(default_factory=list)
    signed: bool = True


class Unbelievable(ValueError):
    """Why a record is not believed (the message names no key: the caller adds it)."""


def _legacy(services: Services, document: dict[str, Any]) -> dict[str, Any]:
    """A record written before evidence was signed, as a predicate; refused unless allowed."""
    if document.get("schema") != ledger.EVIDENCE_SCHEMA:
        raise Unbelievable(f"not signed by {services.evidence_verifier.key_name}")
    if not services.config.allow_unsigned_evidence:
        raise Unbelievable(
            "an unsigned legacy record (counted only with allow_unsigned_evidence = true)"
        )
    result = RESULT_WORDS.get(str(document.get("result")), str(document.get("result")))
    return {**document, "result": result}


def open_record(services: Services, ref: EvidenceRef, body: bytes, full: bool) -> Record:
    """The record stored under REF with BODY when it is believed; Unbelievable otherwise.

    FULL also reads the detail object and checks every instance (what the gate relies on).
    """
    opened = services.evidence_verifier.open(body)
    signed = opened.statement is not None
    if opened.statement is not None:
        found = opened.statement
        if found.get("predicateType") != VALIDATION_PREDICATE:
            raise Unbelievable(f"not a validation record ({found.get('predicateType')})")
        names = [s.get("name") for s in found.get("subject", [])]
        if names != [ref.ami]:
            raise Unbelievable(f"its statement is about {', '.join(map(str, names))}")
        predicate: dict[str, Any] = found["predicate"]
    elif opened.plain is not None:
        predicate = _legacy(services, opened.plain)
    else:
        raise Unbelievable(
            f"not signed by {services.evidence_verifier.key_name} ({opened.problem})"
        )
    _agrees(ref, predicate, signed)
    instances: list[dict[str, Any]] = []
    if full and ref.result == "SUCCESS":
        if signed:
            try:
                detail = ledger.get_detail(
                    services.ledger, predicate.get("detail"), f"evidence/{ref.ami}/{ref.env}/"
                )
            except ValueError as exc:
                raise Unbelievable(str(exc)) from None
            instances = list(detail.get("instances") or [])
        else:
            instances = list(predicate.get("instances") or [])
        _proves(ref, predicate, instances)
    return Record(ref, predicate, instances, signed)


def _agrees(ref: EvidenceRef, predicate: dict[str, Any], signed: bool) -> None:
    """The object's key says what the statement says: AMI, env, result and (signed) time."""
    said = {
        "AMI": predicate.get("expected_ami"),
        "env": predicate.get("env"),
        "result": predicate.get("result"),
    }
    wanted = {"AMI": ref.ami, "env": ref.env, "result": RESULT_WORDS[ref.result]}
    for what, value in said.items():
        if value != wanted[what]:
            raise Unbelievable(f"its key says {what} {wanted[what]} but its statement says {value}")
    if signed:
        try:
            stamp = utc_stamp(datetime.fromisoformat(str(predicate.get("checked_at"))))
        except ValueError:
            stamp = None
        if stamp != ref.stamp:
            raise Unbelievable(f"its key says {ref.stamp} but its statement was made at {stamp}")


def _proves(ref: EvidenceRef, predicate: dict[str, Any], instances: list[dict[str, Any]]) -> None:
    """A PASSED record proves the AMI only with instances, all running InService on it."""
    if not instances:
        raise Unbelievable("it says PASSED but lists no instance")
    if predicate.get("instance_count") != len(instances):
        raise Unbelievable(
            f"it counts {predicate.get('instance_count')} instances but lists {len(instances)}"
        )
    for instance in instances:
        if (
            instance.get("image_id") != ref.ami
            or instance.get("state") != "running"
            or instance.get("lifecycle_state") != "InService"
        ):
            raise Unbelievable(
                f"it says PASSED but {instance.get('instance_id')} is "
                f"{instance.get('lifecycle_state')}/{instance.get('state')} on "
                f"{instance.get('image_id')}"
            )


def read(services: Services, ref: EvidenceRef, full: bool = True) -> Record | None:
    """The record under REF when believed; None (with a warning naming it) when not."""
    try:
        record = open_record(services, ref, services.ledger.get(ref.key), full)
    except Unbelievable as exc:
        services.skipped(ref.key, str(exc))
        return None
    if not record.signed:
        services.skipped(
            ref.key, "unsigned legacy record counted (allow_unsigned_evidence = true)", counted=True
        )
    return record


def believed(
    services: Services, refs: list[EvidenceRef], want: Callable[[EvidenceRef], bool], full: bool
) -> Record | None:
    """The newest of REFS that WANT picks and that is believed (others are warned about)."""
    for ref in refs:
        if want(ref):
            record = read(services, ref, full)
            if record is not None:
                return record
    return None
