"""Text views of config, the sandbox, build, iam-policy, release and dispatch."""

from __future__ import annotations

import json

from rich.console import Console
from rich.table import Table

from promote.cli.render import lines, view
from promote.cli.render import table as render_table
from promote.config import ConfigReport
from promote.domain.build import BuildResult
from promote.domain.init import InitResult
from promote.domain.permissions import PolicyReport
from promote.domain.releases import Dispatched, ReleasePreview, ReleaseResult
from promote.domain.results import to_data
from promote.sandbox.estate import SeedReport
from promote.sandbox.server import SandboxDown, SandboxUp


@view(ConfigReport)
def config(console: Console, report: ConfigReport) -> None:
    """Every resolved value with where it came from."""
    cfg = report.config
    table = Table("key", "value", "from", box=None)
    data = to_data(cfg)
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
    render_table(console, table)


# --- the sandbox ---


@view(SandboxUp)
def sandbox_up(console: Console, result: SandboxUp) -> None:
    """Shell lines to eval."""
    lines(console, result.exports)


@view(SandboxDown)
def sandbox_down(console: Console, result: SandboxDown) -> None:
    """What was stopped."""
    lines(console, [f"sandbox: {result.message}"])


@view(SeedReport)
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
    for alias, key_id in report.keys.items():
        console.print(f"  key         {alias}  ({key_id})")
    console.print(f"created {len(report.created)}, kept {len(report.kept)} existing")


# --- releases, dispatch, build, iam-policy ---


@view(ReleasePreview)
def release_draft(console: Console, preview: ReleasePreview) -> None:
    """The release that would be cut."""
    draft = preview.draft
    lines(
        console, [f"release {draft.tag}: {draft.title}", draft.body, "dry run: nothing published"]
    )


@view(ReleaseResult)
def release_done(console: Console, result: ReleaseResult) -> None:
    """Where the release is."""
    published = result.published
    verb = "created" if published.created else "already there"
    lines(
        console,
        [f"release {result.draft.tag} {verb}: {published.location} ({published.backend})"],
    )


@view(Dispatched)
def dispatched(console: Console, result: Dispatched) -> None:
    """The run that was asked for."""
    lines(
        console,
        [
            f"dispatched: {result.workflow} on {result.ref} in {result.repo}",
            f"inputs: {result.inputs}",
        ],
    )


@view(InitResult)
def init(console: Console, result: InitResult) -> None:
    """Where promote.toml went, and what to do next."""
    what = "wrote" if result.written else "kept (it already says this)"
    todo = result.text.count("# TODO")
    out = [f"{what} {result.path} ({result.source}; envs: {', '.join(result.envs) or 'none'})"]
    if todo:
        out.append(f"{todo} TODO(s) in it: see the comments")
    out.append(f"next: promote --config {result.path} config")
    lines(console, out)


@view(BuildResult)
def build(console: Console, result: BuildResult) -> None:
    """The AMI Packer made, alone on stdout (`ami=$(promote build)`); the command has put its
    name, region and manifest on stderr."""
    lines(console, [result.ami])


@view(PolicyReport)
def iam_policy(console: Console, report: PolicyReport) -> None:
    """The policy document, as JSON (it is meant to be pasted)."""
    console.print(json.dumps(report.policy, indent=2), markup=False)
