"""Text for people: how each result looks in a terminal (rich)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table

from promote.config import Config
from promote.fleet import Validation
from promote.gate import GateResult
from promote.status import EnvStatus

if TYPE_CHECKING:
    from collections.abc import Callable

    from promote.estate import SeedReport
    from promote.releases import Published, ReleaseDraft
    from promote.rollout import RolloutLog, RolloutPlan


def validation(console: Console, result: Validation, evidence_key: str) -> None:
    """SUCCESS or FAILED, what was seen, and every reason."""
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
        console.print(table)
    for reason in result.reasons:
        console.print(f"  - {reason}")
    console.print(f"evidence: {evidence_key}")


def gate(console: Console, result: GateResult) -> None:
    """OPEN or CLOSED and the record relied on."""
    if result.open:
        console.print(f"[bold green]OPEN[/]: {result.reason}")
        record = result.evidence or {}
        console.print(
            f"  record {result.evidence_key}\n"
            f"  checked {record.get('checked_at')} by "
            f"{(record.get('actor') or {}).get('user')}, "
            f"{record.get('instance_count')} instance(s)"
        )
        for key in result.newer_failures:
            console.print(f"  [yellow]note[/]: a newer FAILED record exists: {key}")
    else:
        console.print(f"[bold red]CLOSED[/]: {result.reason}")


def status(console: Console, rows: Sequence[EnvStatus]) -> None:
    """One row per environment."""
    table = Table("env", "accepts", "secret AMI", "running", "pin", "latest evidence")
    for row in rows:
        running = (
            row.problem
            if row.problem
            else "\n".join(f"{ami} x{count}" for ami, count in row.running.items())
            or f"none (desired {row.desired})"
        )
        if row.pin:
            pin = f"pinned by {row.pin.owner} since {row.pin.since}: {row.pin.reason}"
            if row.pin_overdue:
                pin += f" [red](expired {row.pin.expires}, still holds)[/]"
        else:
            pin = "-"
        evidence = (
            f"{row.latest_result} {row.latest_evidence.rsplit('/', 1)[-1]}"
            if row.latest_evidence
            else "none"
        )
        table.add_row(row.env, row.accepts, row.secret_ami or "-", running, pin, evidence)
    console.print(table)


def config(console: Console, cfg: Config) -> None:
    """Every resolved value with where it came from."""
    table = Table("key", "value", "from", box=None)
    data = cfg.as_dict()
    for key, value in data.items():
        if key == "env":
            continue
        table.add_row(key, "" if value is None else str(value), cfg.sources.get(key, "default"))
    for name, env in data["env"].items():
        for key, value in env.items():
            if value is None:
                continue
            shown = ", ".join(value) if isinstance(value, list) else str(value)
            table.add_row(f"env.{name}.{key}", shown, cfg.sources.get(f"env.{name}.{key}", ""))
    if cfg.path:
        console.print(f"config file: {cfg.path} ({cfg.sources.get('config_file')})")
    else:
        console.print("config file: none found; using the built-in defaults")
    console.print(table)


def sandbox(console: Console, lines: Sequence[str]) -> None:
    """Shell lines to eval."""
    for line in lines:
        console.print(line, markup=False)


def seed(console: Console, report: SeedReport) -> None:
    """What the local AWS now holds."""
    console.print(f"local AWS at {report.endpoint} ({report.region})")
    console.print(f"  base image  {report.base_image}")
    for name, image_id in report.images.items():
        console.print(f"  image       {image_id}  {name}")
    for name, group in report.groups.items():
        console.print(
            f"  asg         {name}  ({group['env']}, {group['desired']} x {group['image_id']})"
        )
    console.print(f"  secret      {report.secret}")
    console.print(f"  bucket      {report.bucket}")
    console.print(f"created {len(report.created)}, kept {len(report.kept)} existing")


def mapping(console: Console, data: Mapping[str, Any]) -> None:
    """A plain key: value listing."""
    for key, value in data.items():
        console.print(f"{key}: {value}", markup=False)


def _plan_lines(plan: RolloutPlan) -> list[str]:
    lines = [f"rollout plan for {plan.env} -> {plan.expected_ami}: replace {plan.replacements}"]
    for group in plan.groups:
        template = (
            f"launch template {group.template.name} -> new version"
            if group.update_template and group.template
            else "launch template unchanged"
        )
        lines.append(
            f"  {group.group}: desired {group.desired}, replace {len(group.replace)}, "
            f"keep {len(group.keep)}, {template}"
        )
        lines.extend(f"    replace {i}" for i in group.replace)
    return lines


def rollout_plan(console: Console, plan: RolloutPlan) -> None:
    """The plan, for --dry-run."""
    for line in _plan_lines(plan):
        console.print(line, markup=False)
    console.print("dry run: nothing changed")


def progress_plan(progress: Callable[[str], None], plan: RolloutPlan) -> None:
    """The plan, on stderr, before it is carried out."""
    for line in _plan_lines(plan):
        progress(line)


def rollout_done(
    console: Console, plan: RolloutPlan, log: RolloutLog, result: Validation | None
) -> None:
    """What the rollout did and how the env validated afterwards."""
    console.print(
        f"rolled {plan.env} to {plan.expected_ami}: {len(log.terminated)} replaced, "
        f"{len(log.launched)} launched"
    )
    for step in log.steps:
        console.print(f"  {step}", markup=False)
    if result is not None:
        style = "bold green" if result.succeeded else "bold red"
        console.print(f"validate: [{style}]{result.result}[/]")
        for reason in result.reasons:
            console.print(f"  - {reason}")


def release_draft(console: Console, draft: ReleaseDraft) -> None:
    """The release that would be cut."""
    console.print(f"release {draft.tag}: {draft.title}", markup=False)
    console.print(draft.body, markup=False)
    console.print("dry run: nothing published")


def release_done(console: Console, draft: ReleaseDraft, published: Published) -> None:
    """Where the release is."""
    verb = "created" if published.created else "already there"
    console.print(
        f"release {draft.tag} {verb}: {published.location} ({published.backend})", markup=False
    )
