"""The gate: open only for an AMI with SUCCESS evidence in an environment, and not revoked.

A tested image inherits its source image's evidence: SUCCESS for its `promote:source-image`
counts as SUCCESS for the copy. The gate opens on any SUCCESS record; when a newer FAILED record
exists as well it still opens, and says so, because the SUCCESS proved the image can run there
and the later failure may be about the environment (a scale-in, a replacement in progress).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from promote.domain.images import Image, require_image
from promote.domain.ledger import EvidenceRef, load, records_for

if TYPE_CHECKING:
    from promote.clock import Clock
    from promote.domain.services import Services

AWS_ACTIONS = {"gate": ("ec2:DescribeImages", "s3:ListBucket", "s3:GetObject")}


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


def evaluate(services: Services, ami: str, env: str) -> GateResult:
    """Open the gate for AMI in ENV only with SUCCESS evidence and no revocation."""
    store = services.ledger
    image = require_image(services.images, ami, services.config.region)
    if image.revoked:
        return GateResult(ami, env, False, f"{ami} is revoked: {image.revoked}", image)
    candidates = [ami] + ([image.source_image] if image.source_image else [])
    refs: list[EvidenceRef] = []
    for candidate in candidates:
        refs.extend(records_for(store, candidate, env))
    refs.sort(key=lambda r: r.stamp, reverse=True)
    successes = [r for r in refs if r.result == "SUCCESS"]
    if not successes:
        if refs:
            reason = (
                f"only FAILED evidence for {ami} in {env} ({len(refs)} record(s), "
                f"latest {refs[0].key})"
            )
        else:
            reason = f"no evidence for {ami} in {env}"
        return GateResult(ami, env, False, reason, image)
    chosen = successes[0]
    newer_failures = [r.key for r in refs if r.result == "FAILED" and r.stamp > chosen.stamp]
    via = f" (via its source image {chosen.ami})" if chosen.ami != ami else ""
    return GateResult(
        ami,
        env,
        True,
        f"SUCCESS evidence for {ami} in {env}{via}",
        image,
        evidence_key=chosen.key,
        evidence=load(store, chosen),
        newer_failures=newer_failures,
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
        if result.open or result.image.revoked or remaining <= 0:
            return result
        progress(f"gate closed for {result.ami} in {result.env}: {result.reason}; waiting")
        clock.sleep(min(interval, remaining))
