"""Text views of set-ids, pin, unpin, publish, revoke, prune and history."""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Console
from rich.table import Table

from promote.cli.render import lines, safe, view
from promote.cli.render import table as render_table
from promote.domain.audit import AuditReport
from promote.domain.history import History
from promote.domain.pins import PinResult, UnpinPlan, UnpinResult
from promote.domain.prune import DELETE, Candidate, PrunePlan, PruneResult
from promote.domain.publish import PublishPlan, PublishResult
from promote.domain.revoke import RevokeResult
from promote.domain.set_ids import SetIdsPlan, SetIdsResult

# --- set-ids, pin, unpin ---


@view(SetIdsPlan)
def set_ids_plan(console: Console, plan: SetIdsPlan) -> None:
    """What set-ids would write."""
    out = [f"would {step.describe()}" for step in plan.steps]
    out.extend(f"{env} is already on {plan.ami}: nothing to write" for env in plan.unchanged)
    if plan.evidence_key:
        out.append(f"evidence: {plan.evidence_key}")
    lines(console, out)


@view(SetIdsResult)
def set_ids_done(console: Console, result: SetIdsResult) -> None:
    """What set-ids wrote."""
    out = [
        f"set {env}: {change['before'] or '(none)'} -> {change['after']}"
        for env, change in result.changes.items()
    ]
    out.extend(f"{env} is already on {result.ami}: nothing to write" for env in result.unchanged)
    out.extend(
        f"shared {result.ami} with {env} (account {account})"
        for env, account in result.shared.items()
    )
    if result.evidence_key:
        out.append(f"evidence: {result.evidence_key}")
    if result.version_id:
        out.append(f"secret version: {result.version_id}")
    if result.recovered_event:
        out.append(f"recorded the missing event (recovered): {result.event_key}")
    elif result.event_key:
        out.append(f"event: {result.event_key}")
    lines(console, out)


@view(PinResult)
def pin(console: Console, result: PinResult) -> None:
    """What pin did."""
    held = result.pin
    if not result.changed:
        out = [f"{result.env} is already pinned to {held['ami']} by {held['owner']}: no change"]
        if result.recovered_event:
            out.append(f"recorded the missing event (recovered): {result.event_key}")
        lines(console, out)
        return
    out = [f"pinned {result.env} to {held['ami']} (owner {held['owner']}): {held['reason']}"]
    if held.get("expires"):
        out.append(f"  expires {held['expires']} (the pin still holds after that)")
    if result.ami_before != held["ami"]:
        out.append(f"  {result.env} moved {result.ami_before or '(none)'} -> {held['ami']}")
    if result.previous_pin:
        prev = result.previous_pin
        out.append(f"  replaced the pin by {prev['owner']} on {prev['ami']}: {prev['reason']}")
    if result.event_key:
        out.append(f"event: {result.event_key}")
    lines(console, out)


def _unpin_lines(plan: UnpinPlan, done: bool = False) -> list[str]:
    if plan.pin is None:
        return [f"{plan.env} is not pinned: nothing to do"]
    held = plan.pin
    out = [
        f"{plan.env} is pinned to {held['ami']} by {held['owner']} since {held['since']}: "
        f"{held['reason']}"
    ]
    if plan.move_to is None:
        out.append(
            "nothing is eligible (no tested, non-revoked image with SUCCESS evidence): "
            f"{plan.env} stays on {plan.ami_before}"
        )
    elif plan.move_to == plan.ami_before:
        out.append(f"{plan.env} stays on {plan.ami_before}, the newest eligible image")
    elif done:
        out.append(f"moved {plan.env} in its secret: {plan.ami_before} -> {plan.move_to}")
    else:
        out.append(f"{plan.env} would move {plan.ami_before} -> {plan.move_to}")
    if plan.evidence_key:
        out.append(f"  evidence: {plan.evidence_key}")
    if plan.repin_owner and not done:
        target = plan.move_to or plan.ami_before
        out.append(f"would re-pin {plan.env} to {target} (owner {plan.repin_owner})")
    return out


@view(UnpinPlan)
def unpin_plan(console: Console, plan: UnpinPlan) -> None:
    """What unpin would do."""
    tail = ["dry run: pass --apply to unpin"] if plan.pin is not None else []
    lines(console, [*_unpin_lines(plan), *tail])


@view(UnpinResult)
def unpin_done(console: Console, result: UnpinResult) -> None:
    """What unpin did."""
    plan = result.plan
    out = _unpin_lines(plan, result.applied) if plan else [f"{result.env} is not pinned"]
    if result.applied and result.pin is not None:
        out.append(
            f"unpinned {result.env}"
            + (
                f"; event: {result.event_key}"
                if result.event_key and not result.recovered_event
                else ""
            )
        )
    if result.repinned:
        held = result.repinned
        out.append(f"re-pinned {result.env} to {held['ami']} by {held['owner']}: {held['reason']}")
    if result.recovered_event:
        out.append(f"recorded the missing event (recovered): {result.event_key}")
    if result.next_step:
        out.append(f"next: {result.next_step} (the instances keep their AMI until then)")
    lines(console, out)


# --- publish, revoke, prune, history ---


@view(PublishPlan)
def publish_plan(console: Console, plan: PublishPlan) -> None:
    """The steps publish would take."""
    existing = f" (existing copy {plan.existing.image_id})" if plan.existing else ""
    lines(
        console,
        [
            f"plan for {plan.source.image_id}{existing}",
            *(f"  {step.describe()}" for step in plan.steps),
            "dry run: nothing written",
        ],
    )


@view(PublishResult)
def publish_done(console: Console, result: PublishResult) -> None:
    """The tested image id alone (pipelines read it)."""
    console.print(result.tested)


@view(RevokeResult)
def revoke(console: Console, result: RevokeResult) -> None:
    """What revoke did, per image of the family."""
    if result.already:
        out = [f"{result.ami} was already revoked by {result.by} at {result.at}: {result.reason}"]
    else:
        out = [f"revoked {result.ami}: {result.reason}"]
        out.append(f"  deprecated: {'yes' if result.deprecated else 'no (see warning)'}")
    for entry in result.images:
        if entry.through is not None:
            out.append(f"  tested copy {entry.ami}: {entry.outcome}")
        elif entry.outcome not in ("revoked", "already revoked"):
            out.append(f"  {entry.ami}: {entry.outcome}")
        if entry.disabled:
            out.append(f"  {entry.ami} disabled: no new launches")
    for env in result.still_set_for:
        out.append(f"  {env} is still set to it; its running instances are untouched")
    if result.event_key:
        out.append(f"event: {result.event_key}")
    lines(console, out)


def _candidates(console: Console, candidates: Sequence[Candidate]) -> int:
    table = Table("image", "name", "stage", "created", "decision", "reason")
    for c in candidates:
        style = "red" if c.decision == DELETE else "green"
        table.add_row(
            c.image.image_id,
            safe(c.image.name),
            c.image.stage or "-",
            c.image.creation_date,
            f"[{style}]{c.decision}[/]",
            safe("\n".join(c.reasons)),
        )
    render_table(console, table)
    return sum(1 for c in candidates if c.decision == DELETE)


@view(PrunePlan)
def prune_plan(console: Console, plan: PrunePlan) -> None:
    """Every candidate with KEEP/DELETE and the reason (a dry run)."""
    deleting = _candidates(console, plan.candidates)
    console.print(f"dry run: {deleting} image(s) would be deleted; pass --apply to delete")


@view(PruneResult)
def prune_done(console: Console, result: PruneResult) -> None:
    """Every candidate, and what was deleted."""
    deleting = _candidates(console, result.candidates)
    console.print(f"deleted {deleting} image(s) and their snapshots")


@view(History)
def history(console: Console, report: History) -> None:
    """Newest first."""
    if not report.entries:
        console.print("no history")
        return
    table = Table("when (UTC)", "kind", "what", box=None)
    for e in report.entries:
        table.add_row(e.stamp, e.kind, safe(e.summary))
    render_table(console, table)


@view(AuditReport)
def audit(console: Console, report: AuditReport) -> None:
    """Each finding with its key, then the count."""
    for finding in report.findings:
        console.print(f"[bold red]{finding.problem}[/] {safe(finding.key)}: {safe(finding.detail)}")
    verdict = "[bold green]clean[/]" if report.clean else f"{len(report.findings)} finding(s)"
    console.print(f"audit: {report.records} record(s), {report.events} event(s): {verdict}")
