"""Text views of validate, gate, status, rollout and hooks."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from promote.cli.render import lines, safe, view
from promote.cli.render import table as render_table
from promote.domain.fleet import ValidateResult, Validation
from promote.domain.gate import GateResult
from promote.domain.hooks import WANTED, HooksPlan
from promote.domain.rollback import RollbackPlan, RollbackResult
from promote.domain.rollout import RolloutPlan, RolloutPreview, RolloutResult
from promote.domain.status import StatusReport


def _validation(console: Console, result: Validation, evidence_key: str) -> None:
    style = "bold green" if result.succeeded else "bold red"
    desired = sum(result.snapshot.desired.values())
    console.print(
        f"[{style}]{result.result}[/]: {result.env} expected {result.expected_ami} "
        f"({len(result.snapshot.instances)} instance(s) seen, desired {desired}, "
        f"{result.polls} poll(s))"
    )
    table = Table("instance", "asg", "ami", "state", "lifecycle", "health", box=None)
    for i in result.snapshot.instances:
        ami_style = "green" if i.image_id == result.expected_ami else "red"
        table.add_row(
            i.instance_id,
            i.group,
            f"[{ami_style}]{i.image_id}[/]",
            i.state or "-",
            i.lifecycle_state,
            i.health_status,
        )
    if result.snapshot.instances:
        render_table(console, table)
    for reason in result.reasons:
        console.print(f"  - {safe(reason)}")
    console.print(f"evidence: {evidence_key}")


@view(ValidateResult)
def validate(console: Console, result: ValidateResult) -> None:
    """SUCCESS or FAILED, what was seen, and every reason."""
    _validation(console, result.validation, result.evidence_key)


@view(GateResult)
def gate(console: Console, result: GateResult) -> None:
    """OPEN or CLOSED and the record relied on."""
    if result.open:
        console.print(f"[bold green]OPEN[/]: {safe(result.reason)}")
        record = result.evidence or {}
        console.print(
            f"  record {result.evidence_key}\n"
            f"  checked {record.get('checked_at')} by "
            f"{safe(str((record.get('actor') or {}).get('user')))}, "
            f"{record.get('instance_count')} instance(s)"
        )
        for key in result.newer_failures:
            console.print(f"  [yellow]note[/]: a newer FAILED record exists: {key}")
    else:
        console.print(f"[bold red]CLOSED[/]: {safe(result.reason)}")


@view(StatusReport)
def status(console: Console, report: StatusReport) -> None:
    """One row per environment."""
    table = Table("env", "accepts", "secret AMI", "running", "pin", "latest evidence")
    for row in report.envs:
        running = (
            safe(row.problem)
            if row.problem
            else "\n".join(f"{ami} x{count}" for ami, count in row.running.items())
            or f"none (desired {row.desired})"
        )
        if row.pin:
            pin = safe(f"pinned by {row.pin.owner} since {row.pin.since}: {row.pin.reason}")
            if row.pin_overdue:
                pin += f" [red](expired {safe(str(row.pin.expires))}, still holds)[/]"
        else:
            pin = "-"
        evidence = (
            f"{row.latest_result} {row.latest_evidence.rsplit('/', 1)[-1]}"
            if row.latest_evidence
            else "none"
        )
        table.add_row(row.env, row.accepts, row.secret_ami or "-", running, pin, evidence)
    render_table(console, table)


# --- rollout ---


def plan_lines(plan: RolloutPlan) -> list[str]:
    """The rollout plan, line by line (also shown on stderr before it is carried out)."""
    out = [f"rollout plan for {plan.env} -> {plan.expected_ami}: replace {plan.replacements}"]
    if plan.deploy is not None:
        out.append(f"  first: {plan.deploy.describe()}")
    for group in plan.groups:
        template = (
            f"launch template {group.template.name} -> new version"
            if group.update_template and group.template
            else "launch template unchanged"
        )
        out.append(
            f"  {group.group}: desired {group.desired}, replace {len(group.replace)}, "
            f"keep {len(group.keep)}, {template}"
        )
        out.extend(f"    replace {i}" for i in group.replace)
    return out


@view(RolloutPreview)
def rollout_plan(console: Console, preview: RolloutPreview) -> None:
    """The plan, for --dry-run."""
    lines(console, [*plan_lines(preview.plan), "dry run: nothing changed"])


@view(RolloutResult)
def rollout_done(console: Console, result: RolloutResult) -> None:
    """What the rollout did and how the env validated afterwards."""
    console.print(
        f"rolled {result.plan.env} to {result.plan.expected_ami}: "
        f"{len(result.terminated)} replaced, {len(result.launched)} launched"
    )
    for step in result.steps:
        console.print(f"  {step}", markup=False)
    if result.validation is not None:
        outcome = result.validation.validation
        style = "bold green" if outcome.succeeded else "bold red"
        console.print(f"validate: [{style}]{outcome.result}[/]")
        for reason in outcome.reasons:
            console.print(f"  - {safe(reason)}")


# --- rollback ---


def _rollback_lines(plan: RollbackPlan) -> list[str]:
    out = [plan_passed.describe() for plan_passed in plan.passed_over]
    if plan.resumed:
        out.append(f"{plan.env}'s secret already names {plan.target}: finishing its rollout")
    else:
        out.append(
            f"{plan.env}: {plan.current or '(none)'} -> {plan.target} (from {plan.source})"
            + (f", reason: {plan.reason}" if plan.reason else "")
        )
    if plan.evidence_key:
        out.append(f"evidence: {plan.evidence_key}")
    return out


@view(RollbackPlan)
def rollback_plan(console: Console, plan: RollbackPlan) -> None:
    """Where the env would go back to, and the rollout, for --dry-run."""
    shown = [
        f"would roll back {line}" if i == len(plan.passed_over) else line
        for i, line in enumerate(_rollback_lines(plan))
    ]
    if plan.rollout is not None:
        shown.extend(plan_lines(plan.rollout))
    lines(console, [*shown, "dry run: nothing changed"])


@view(RollbackResult)
def rollback_done(console: Console, result: RollbackResult) -> None:
    """What the rollback wrote, then what its rollout did."""
    shown = [
        f"rolled back {line}" if i == len(result.plan.passed_over) else line
        for i, line in enumerate(_rollback_lines(result.plan))
    ]
    if result.set_ids is not None and result.set_ids.event_key:
        shown.append(f"event: {result.set_ids.event_key}")
    lines(console, shown)
    rollout_done(console, result.rollout)


@view(HooksPlan)
def hooks(console: Console, planned: HooksPlan) -> None:
    """Each worker group's drain hook: there, to create or to update (or done, with --apply)."""
    wanted = WANTED
    shown = [
        f"{planned.env}: the drain hook {wanted.name} ({wanted.transition}, heartbeat timeout "
        f"{wanted.heartbeat_timeout}s, default result {wanted.default_result})"
    ]
    for group in planned.groups:
        others = [h.name for h in group.existing if h.name != wanted.name]
        also = f"; other terminating hooks: {', '.join(others)}" if others else ""
        if group.action == "ok":
            state = "in place"
        elif planned.applied:
            state = "created" if group.action == "create" else "updated"
        else:
            state = (
                f"missing: would {group.action} it"
                if group.action == "create"
                else ("different: would update it")
            )
        shown.append(f"  {group.group}: {state}{also}")
    if not planned.applied and any(g.action != "ok" for g in planned.groups):
        shown.append(
            f"run again with --apply to put it (promote hooks --env {planned.env} --apply)"
        )
    lines(console, shown)
