"""`promote init [--from-aws]`: write a commented promote.toml."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import click

from promote.cli.app import AppContext
from promote.cli.options import pass_app
from promote.config import Environment
from promote.domain import init as init_module
from promote.errors import usage_error


@click.command()
@click.option("--from-aws", is_flag=True, help="Fill it from the ASGs and the secret found.")
@click.option(
    "--path",
    "path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("promote.toml"),
    show_default=True,
    help="Where to write it.",
)
@click.option("--force", is_flag=True, help="Replace an existing, different file.")
@pass_app
def init(app: AppContext, from_aws: bool, path: Path, force: bool) -> None:
    """Write a commented promote.toml (an example, or what AWS holds with --from-aws)."""
    config = app.config
    if from_aws:
        from promote.adapters.aws.autoscaling import AwsFleet

        services = app.services()
        names = AwsFleet(app.aws).group_names()
        secret = services.read_ids(check=False).document

        def running(env: str, groups: tuple[str, ...]) -> Counter[str]:
            draft = Environment(env, "", groups, "tested")
            found = services.fleet.groups(draft)
            return Counter(i.image_id for i in services.fleet.instances(draft, found).values())

        draft = init_module.from_estate(
            config.region, config.secret_id, config.evidence_bucket, names, secret, running
        )
    else:
        draft = init_module.example(config.region, config.secret_id, config.evidence_bucket)
    text = init_module.render(draft)
    try:
        written = init_module.write(path, text, force)
    except FileExistsError:
        raise usage_error(
            f"{path} exists and says something else; nothing written",
            "move it away, pass --path for another file, or --force to replace it",
        ) from None
    envs = [e.name for e in draft.envs]
    app.output.result("init", init_module.InitResult(str(path), written, draft.source, envs, text))
