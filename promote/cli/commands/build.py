"""`promote build` / `make ami`: build an untested AMI with Packer and print its id."""

from __future__ import annotations

from pathlib import Path

import click

from promote.cli.app import AppContext
from promote.cli.options import DURATION, key_values, pass_app
from promote.domain import build as build_module
from promote.errors import PromoteError


@click.command()
@click.option(
    "--target",
    type=click.Choice(["auto", "aws", "sandbox"]),
    default="auto",
    show_default=True,
    help="auto: the local AWS when AWS_ENDPOINT_URL is set or no credentials are found.",
)
@click.option(
    "--packer-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default="packer",
    show_default=True,
    help="The Packer templates.",
)
@click.option(
    "--manifest",
    type=click.Path(dir_okay=False, path_type=Path),
    default="packer/manifest.json",
    show_default=True,
    help="Where Packer's manifest post-processor writes.",
)
@click.option(
    "--var",
    "variables",
    multiple=True,
    metavar="KEY=VALUE",
    help="A Packer variable (concourse_version, concourse_tarball_url, ...); repeatable.",
)
@click.option("--timeout", type=DURATION, default="60m", show_default=True)
@click.option(
    "--if-stale",
    is_flag=True,
    help="Build only when the base image, the Concourse release or the playbook changed since "
    "the newest untested image (else print that image); refuse a revoked base image.",
)
@pass_app
def build(
    app: AppContext,
    target: str,
    packer_dir: Path,
    manifest: Path,
    variables: tuple[str, ...],
    timeout: float,
    if_stale: bool,
) -> None:
    """Build an untested AMI with Packer and print its id alone on stdout (`make ami`).

    With --if-stale, the newest untested image's ancestry tags (promote:source-ami,
    concourse:version, promote:concourse-sha256/-sha1, promote:playbook-commit) are compared
    with what a build would use now; when nothing changed it prints `up to date: AMI` on
    stderr and that AMI on stdout, and builds nothing."""
    values = key_values(variables, "--var", "concourse_version=7.12.0")
    inputs = build_module.BuildInputs(target, packer_dir, manifest, values, timeout)
    sha, playbook = playbook_commit(app, packer_dir)
    result = build_module.build(
        app.config,
        inputs,
        app.environ,
        Path.cwd(),
        app.packer(),
        sha,
        app.aws.has_credentials,
        lambda: app.start_sandbox().sandbox.endpoint,
        app.output.progress,
        playbook,
        app.services_at if if_stale else None,
    )
    for line in (
        f"name: {result.name}",
        f"region: {result.region}",
        f"manifest: {result.manifest}" if result.manifest else "manifest: (nothing built)",
    ):
        app.output.progress(line)
    app.output.result("build", result)


def playbook_commit(app: AppContext, packer_dir: Path) -> tuple[str | None, str | None]:
    """HEAD, and the last commit that changed the playbook or the templates (none outside git)."""
    try:
        repository = app.repository(Path.cwd())
    except PromoteError:
        return None, None
    ansible_dir = packer_dir.resolve().parent / "ansible"
    return repository.head_sha(), repository.last_change([ansible_dir, packer_dir])
