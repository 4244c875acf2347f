"""The gate: open only for an AMI with believed SUCCESS evidence in an environment, not revoked
(the image, its source or its copies: `domain/revocations.py`).

A record counts only when `domain/evidence.py` believes it: signed by the evidence key, about
this AMI and env, PASSED, with instances all on the AMI, and agreeing with its object key.
Everything else is skipped with a warning naming the object, and the closed gate says why.

A tested copy inherits its source image's evidence only when AWS says it was copied from it
(DescribeImages `SourceImageId`) or a signed publish record links the two; the
`promote:source-image` tag alone is only where to look. The gate opens on any believed SUCCESS;
when a newer FAILED record exists as well it still opens, and says so, because the SUCCESS
proved the image can run there and the later failure may be about the environment.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from promote.domain import events, evidence
from promote.domain.images import Image, require_image
from promote.domain.ledger import EvidenceRef, records_for
from promote.domain.revocations import why_revoked

if TYPE_CHECKING:
    from promote.clock import Clock
    from promote.domain.services import Services

# What every reader of evidence needs: the listing, the objects, the key that verifies them.
READ_EVIDENCE = ("s3:ListBucket", "s3:GetObject", "kms:GetPublicKey")
AWS_ACTIONS = {"gate": ("ec2:DescribeImages", *READ_EVIDENCE)}


@dataclass(frozen=True)
class GateResult:
    """Whether the gate is open for AMI in ENV, and the evidence behind the answer."""

    ami: str
    env: str
    open: bool
    reason: str
    image: Image
    evidence_key: str | None = None
    evidence: dict[str, Any] | None = None
    newer_failures: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    revoked: bool = False  # closed because the image or a relative is revoked


def sources_of(services: Services, image: Image) -> tuple[list[str], str | None]:
    """The images whose evidence counts for IMAGE (itself first), and why its tagged source
    does not count when it does not."""
    if image.copied_from:
        return [image.image_id, image.copied_from], None
    tagged = image.source_image
    if not tagged:
        return [image.image_id], None
    if events.publish_link(services, tagged, image.image_id) is not None:
        return [image.image_id, tagged], None
    return [image.image_id], (
        f"{image.image_id} is tagged promote:source-image={tagged}, but no signed publish "
        "record links them, so its source's evidence does not count"
    )


def evaluate(services: Services, ami: str, env: str, latest: bool = False) -> GateResult:
    """Open the gate for AMI in ENV only with believed SUCCESS evidence and no revocation;
    with LATEST, only when the newest believed record is a SUCCESS (the verdict as existing
    consumers read it)."""
    store = services.ledger
    image = require_image(services.images, ami, services.config.region)
    why = why_revoked(services, image)
    if why is not None:
        return GateResult(ami, env, False, why, image, revoked=True)
    candidates, unlinked = sources_of(services, image)
    refs: list[EvidenceRef] = []
    for candidate in candidates:
        refs.extend(records_for(store, candidate, env))
    refs.sort(key=lambda r: r.stamp, reverse=True)
    chosen = evidence.believed(services, refs, lambda r: r.result == "SUCCESS", full=True)
    skipped = [f"{r.key}: {services.skips[r.key]}" for r in refs if r.key in services.skips]
    if chosen is None:
        successes = [r for r in refs if r.result == "SUCCESS"]
        if skipped and successes:
            reason = f"no SUCCESS evidence for {ami} in {env} that verifies: skipped {skipped[0]}"
        elif refs:
            reason = (
                f"only FAILED evidence for {ami} in {env} ({len(refs)} record(s), "
                f"latest {refs[0].key})"
            )
        else:
            reason = f"no evidence for {ami} in {env}"
        if unlinked:
            reason += f"; {unlinked}"
        return GateResult(ami, env, False, reason, image, skipped=skipped)
    ref = chosen.ref
    newer = [r for r in refs if r.result == "FAILED" and r.stamp > ref.stamp]
    newer_failures = [r.key for r in newer if evidence.read(services, r, full=False)]
    if latest and newer_failures:
        return GateResult(
            ami,
            env,
            False,
            f"the newest verified record of {ami} in {env} is FAILED ({newer_failures[0]}); "
            "--latest wants the newest to be SUCCESS",
            image,
            newer_failures=newer_failures,
            skipped=skipped,
        )
    via = f" (via its source image {ref.ami})" if ref.ami != ami else ""
    unsigned = "" if chosen.signed else " (unsigned legacy record)"
    return GateResult(
        ami,
        env,
        True,
        f"SUCCESS evidence for {ami} in {env}{via}{unsigned}",
        image,
        evidence_key=ref.key,
        evidence={**chosen.predicate, "instance_count": len(chosen.instances)},
        newer_failures=newer_failures,
        skipped=[f"{r.key}: {services.skips[r.key]}" for r in refs if r.key in services.skips],
    )


def wait_open(
    check: Callable[[], GateResult],
    clock: Clock,
    wait: float,
    interval: float,
    progress: Callable[[str], None],
) -> GateResult:
    """Ask CHECK until the gate opens or WAIT seconds pass; a revoked image stops at once."""
    deadline = clock.monotonic() + wait
    while True:
        result = check()
        remaining = deadline - clock.monotonic()
        if result.open or result.revoked or remaining <= 0:
            return result
        progress(f"gate closed for {result.ami} in {result.env}: {result.reason}; waiting")
        clock.sleep(min(interval, remaining))
