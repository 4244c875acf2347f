"""`promote release`: cut the GitHub release for an AMI (or a local git tag without a token)."""

from __future__ import annotations

from pathlib import Path

import click

from promote.cli.app import AppContext
from promote.cli.options import ami_option, dry_run_option, pass_app
from promote.domain import releases


@click.command()
@ami_option("The AMI to release (tested, or untested with --prerelease).", required=True)
@click.option("--repo", help="owner/name on GitHub; default: github_repo from the config.")
@click.option(
    "--git-repo",
    type=click.Path(file_okay=False, path_type=Path),
    default=".",
    show_default=True,
    help="Local git repository: the changelog, and the local backend.",
)
@click.option("--prerelease", is_flag=True, help="Mark the release a prerelease.")
@click.option(
    "--manifest",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="Packer manifest to attach; default: packer/manifest.json when present.",
)
@dry_run_option("Print the release and publish nothing.")
@pass_app
def release(
    app: AppContext,
    ami: str,
    repo: str | None,
    git_repo: Path,
    prerelease: bool,
    manifest: Path | None,
    dry_run: bool,
) -> None:
    """Cut the release for AMI: GitHub with GITHUB_TOKEN/GH_TOKEN, else a local git tag."""
    services = app.services()
    local = app.repository(git_repo)
    hub = app.github(repo)
    draft = releases.prepare(services, ami, local, prerelease, manifest, hub)
    if dry_run:
        app.output.result("release", releases.ReleasePreview(draft))
        return
    result = releases.cut(services, draft, ami, hub, local)
    app.output.result("release", result)
