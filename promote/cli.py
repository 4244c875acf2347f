"""The `promote` command line: parse, build the AppContext, call one function, render.

The only module that imports click. Expected failures (PromoteError) are shown as one line and
a hint, with the documented exit code; -v adds the traceback.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from promote import __version__
from promote.config import Overrides
from promote.context import AppContext
from promote.durations import parse_duration
from promote.errors import ExitCode, PromoteError
from promote.output import Output

F = TypeVar("F", bound=Callable[..., Any])
SANDBOX_CREDENTIALS = ("sandbox", "sandbox")


class Duration(click.ParamType):  # type: ignore[type-arg]
    """90s, 15m, 1h30m, or seconds."""

    name = "duration"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> float:
        """Seconds."""
        if isinstance(value, int | float):
            return float(value)
        try:
            return parse_duration(str(value))
        except PromoteError as exc:
            self.fail(f"{exc.message} ({exc.hint})", param, ctx)


DURATION = Duration()


class PromoteGroup(click.Group):
    """Turns PromoteError into one line, a hint and the exit code, for every subcommand."""

    def invoke(self, ctx: click.Context) -> Any:
        """Run the subcommand; show expected failures without a traceback."""
        try:
            return super().invoke(ctx)
        except PromoteError as exc:
            _output(ctx).error(exc)
            ctx.exit(exc.exit_code)
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except KeyboardInterrupt:
            _output(ctx).progress("interrupted")
            ctx.exit(130)
        except Exception as exc:  # a bug: say so, exit 1
            _output(ctx).crash(exc)
            ctx.exit(ExitCode.INTERNAL)


def _output(ctx: click.Context) -> Output:
    app = ctx.find_object(AppContext)
    return app.output if app else Output()


pass_app = click.make_pass_decorator(AppContext)


@click.group(cls=PromoteGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="promote")
@click.option(
    "--output",
    "-o",
    "fmt",
    type=click.Choice(["text", "json"]),
    default="text",
    help="text for people, json for machines (one document on stdout).",
)
@click.option("-v", "--verbose", count=True, help="Show tracebacks and debug logs.")
@click.option("--config", "config_path", metavar="PATH", help="promote.toml to use.")
@click.option("--region", help="AWS region of the tooling account.")
@click.option("--endpoint-url", help="AWS endpoint (the local AWS); else AWS_ENDPOINT_URL.")
@click.option("--profile", help="AWS profile; else AWS_PROFILE.")
@click.pass_context
def cli(
    ctx: click.Context,
    fmt: str,
    verbose: int,
    config_path: str | None,
    region: str | None,
    endpoint_url: str | None,
    profile: str | None,
) -> None:
    """Build, prove and promote Concourse AMIs: untested -> test env -> tested -> production."""
    if verbose >= 2:
        import logging

        logging.basicConfig(level=logging.DEBUG, stream=sys.stderr)
    ctx.obj = AppContext(
        overrides=Overrides(config_path, region, endpoint_url, profile),
        environ=os.environ,
        cwd=Path.cwd(),
        output=Output("json" if fmt == "json" else "text", verbose),
    )


@cli.command()
@click.option("--env", "env_name", required=True, help="Environment to check.")
@click.option("--ami", help="Expected AMI; default: the env's entry in the ami-ids secret.")
@click.option(
    "--timeout",
    type=DURATION,
    default="15m",
    show_default=True,
    help="How long to wait for the env to converge before FAILED.",
)
@click.option(
    "--interval", type=DURATION, default="15s", show_default=True, help="Time between polls."
)
@pass_app
def validate(
    app: AppContext, env_name: str, ami: str | None, timeout: float, interval: float
) -> None:
    """Compare the AMI ids of the running instances of ENV with the expected AMI."""
    from promote import evidence, fleet, render
    from promote.images import check_ami_id

    env = app.config.environment(env_name)
    expected = check_ami_id(ami) if ami else app.expected_ami(env)
    if interval <= 0:
        raise click.BadParameter("must be more than 0", param_hint="--interval")
    previous = evidence.records_for(app.ledger, expected, env.name)  # fails fast: no bucket
    result = fleet.validate(
        env, expected, app.fleet, app.clock, timeout, interval, app.output.progress
    )
    record = evidence.build_record(result, app.actor(), __version__, app.config.env_region(env))
    key = evidence.record(app.ledger, result, record, app.clock)
    app.output.result(
        "validate",
        {**record, "evidence_key": key, "previous_records": len(previous)},
        lambda console: render.validation(console, result, key),
    )
    if not result.succeeded:
        click.get_current_context().exit(ExitCode.CHECK_FAILED)


@cli.command()
@click.option("--env", "env_name", required=True, help="Environment to roll.")
@click.option("--ami", help="AMI to roll to; default: the env's entry in the ami-ids secret.")
@click.option(
    "--timeout", type=DURATION, default="30m", show_default=True, help="Bound on the whole rollout."
)
@click.option(
    "--interval",
    type=DURATION,
    default="5s",
    show_default=True,
    help="Time between polls while waiting.",
)
@click.option("--dry-run", is_flag=True, help="Print the plan and change nothing.")
@click.option(
    "--no-launch-template",
    "keep_template",
    is_flag=True,
    help="Leave the launch template alone (Terraform points it at the AMI).",
)
@click.option(
    "--replace-all",
    is_flag=True,
    help="Replace every instance, also those on the AMI (periodic worker refresh).",
)
@click.option("--resume", is_flag=True, help="Take over a crashed rollout's marker.")
@click.option("--no-validate", is_flag=True, help="Skip the validate that ends the rollout.")
@click.option(
    "--asg",
    "asgs",
    multiple=True,
    help="Only this ASG of ENV (repeatable), e.g. the workers for a worker refresh.",
)
@click.option(
    "--concourse-url",
    help="Land each worker through this Concourse web node first (token: CONCOURSE_TOKEN).",
)
@click.option(
    "--drain-timeout",
    type=DURATION,
    default="15m",
    show_default=True,
    help="How long to wait for a landing worker's builds.",
)
@pass_app
def rollout(
    app: AppContext,
    env_name: str,
    ami: str | None,
    timeout: float,
    interval: float,
    dry_run: bool,
    keep_template: bool,
    replace_all: bool,
    resume: bool,
    no_validate: bool,
    asgs: tuple[str, ...],
    concourse_url: str | None,
    drain_timeout: float,
) -> None:
    """Replace the instances of ENV not on the expected AMI, keeping capacity."""
    from promote import evidence, fleet, render
    from promote import rollout as rollout_module
    from promote.images import check_ami_id
    from promote.imds import this_instance_id

    env = app.config.environment(env_name)
    expected = check_ami_id(ami) if ami else app.expected_ami(env)
    this_instance = this_instance_id(app.environ)
    plan = rollout_module.plan(
        env,
        expected,
        app.fleet,
        app.fleet_control,
        replace_all=replace_all,
        update_template=not keep_template,
        this_instance=this_instance,
        only=asgs,
    )
    rollout_module.check_plan(env, plan, not keep_template)
    for protected in plan.protected:
        app.output.warn(f"{protected} runs this command: it is kept, never terminated")
    if dry_run:
        app.output.result(
            "rollout",
            {"dry_run": True, "plan": plan.as_dict()},
            lambda console: render.rollout_plan(console, plan),
        )
        return
    lander = None
    if concourse_url:
        from promote.concourse import ConcourseAPI, WorkerLander
        from promote.errors import usage_error

        token = app.environ.get("CONCOURSE_TOKEN")
        if not token:
            raise usage_error(
                "--concourse-url needs CONCOURSE_TOKEN",
                "export CONCOURSE_TOKEN (a bearer token of a team that may land workers)",
            )
        api = ConcourseAPI(concourse_url, token)
        api.workers()  # a wrong URL or token fails here, before anything changes
        lander = WorkerLander(api, app.clock, app.output.progress, drain_timeout, interval)
    render.progress_plan(app.output.progress, plan)
    executor = rollout_module.Executor(
        env,
        app.fleet,
        app.fleet_control,
        app.clock,
        app.output.progress,
        timeout=timeout,
        interval=interval,
        resume=resume,
        actor=_actor_name(app),
        lander=lander,
    )
    with app.output.bar(f"rolling {env.name}", plan.replacements) as advance:
        executor.replaced = advance
        log = executor.run(plan)
    data: dict[str, Any] = {
        "dry_run": False,
        "plan": plan.as_dict(),
        "steps": log.steps,
        "terminated": log.terminated,
        "launched": log.launched,
        "landed": log.landed,
    }
    result = None
    if not no_validate:
        result = fleet.validate(
            env, expected, app.fleet, app.clock, min(timeout, 300), interval, app.output.progress
        )
        record = evidence.build_record(result, app.actor(), __version__, app.config.env_region(env))
        data["validation"] = {
            "result": result.result,
            "reasons": list(result.reasons),
            "evidence_key": evidence.record(app.ledger, result, record, app.clock),
        }
    app.output.result(
        "rollout", data, lambda console: render.rollout_done(console, plan, log, result)
    )
    if result is not None and not result.succeeded:
        click.get_current_context().exit(ExitCode.CHECK_FAILED)


def _actor_name(app: AppContext) -> str:
    import getpass

    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return app.environ.get("USER", "unknown")


@cli.command()
@click.option("--ami", required=True, help="AMI to check.")
@click.option("--env", "env_name", help="Environment; default: test_env from the config.")
@click.option(
    "--wait",
    type=DURATION,
    default="0",
    show_default=True,
    help="Keep asking until the gate opens or this much time has passed (a pipeline's gate).",
)
@click.option("--interval", type=DURATION, default="30s", show_default=True)
@pass_app
def gate(app: AppContext, ami: str, env_name: str | None, wait: float, interval: float) -> None:
    """Exit 0 only when AMI has SUCCESS evidence in ENV and is not revoked."""
    from promote import gate as gate_module
    from promote import render

    env = app.config.environment(env_name or app.config.test_env)
    result = gate_module.wait_open(
        lambda: gate_module.evaluate(ami, env.name, app.images, app.ledger, app.config.region),
        app.clock,
        wait,
        interval,
        app.output.progress,
    )
    app.output.result("gate", result.as_dict(), lambda console: render.gate(console, result))
    if not result.open:
        click.get_current_context().exit(ExitCode.CHECK_FAILED)


@cli.command()
@click.option("--env", "env_name", help="Only this environment.")
@pass_app
def status(app: AppContext, env_name: str | None) -> None:
    """What each env is set to, what it runs, its pin and its latest evidence."""
    from promote import render
    from promote import status as status_module

    envs = [app.config.environment(env_name)] if env_name else list(app.config.envs.values())
    rows = status_module.status(envs, app.ami_ids(), app.fleet, app.ledger, app.clock.now())
    for message in status_module.revoked_warnings(rows, app.images):
        app.output.warn(message)
    for row in rows:
        if row.pin_overdue and row.pin:
            app.output.warn(f"the pin on {row.env} expired {row.pin.expires} and still holds")
    app.output.result(
        "status",
        {"secret_id": app.config.secret_id, "envs": [row.as_dict() for row in rows]},
        lambda console: render.status(console, rows),
    )


@cli.command("config")
@pass_app
def show_config(app: AppContext) -> None:
    """The resolved configuration and where each value came from."""
    from promote import render

    cfg = app.config
    app.output.result(
        "config",
        {
            "config_file": str(cfg.path) if cfg.path else None,
            "config": cfg.as_dict(),
            "sources": dict(cfg.sources),
        },
        lambda console: render.config(console, cfg),
    )


@cli.group()
def sandbox() -> None:
    """The local AWS (a moto server) with a seeded Concourse estate."""


@sandbox.command("up")
@click.option(
    "--seed/--no-seed", default=True, show_default=True, help="Seed the estate after starting."
)
@pass_app
def sandbox_up(app: AppContext, seed: bool) -> None:
    """Start the local AWS on a free loopback port; print the export lines to eval."""
    from dataclasses import replace

    from promote import estate, render
    from promote import sandbox as sandbox_module

    running, started = sandbox_module.up(app.environ)
    app.output.progress(
        f"local AWS {'started' if started else 'already running'} at {running.endpoint} "
        f"(pid {running.pid})"
    )
    if seed:
        from promote.aws import Aws

        local = replace(app.config, endpoint_url=running.endpoint, profile=None)
        report = estate.seed(Aws(local, credentials=SANDBOX_CREDENTIALS), local, app.clock)
        app.output.progress(
            f"seeded: {len(report.created)} created, {len(report.kept)} already there"
        )
    lines = running.exports(app.config.region)
    app.output.result(
        "sandbox up",
        {**running.as_dict(), "started": started, "exports": lines},
        lambda console: render.sandbox(console, lines),
    )


@sandbox.command("seed")
@click.option(
    "--instances",
    default=2,
    show_default=True,
    type=click.IntRange(0, 500),
    help="Instances per auto scaling group.",
)
@pass_app
def sandbox_seed(app: AppContext, instances: int) -> None:
    """Create whatever is missing of the estate in the local AWS (safe to re-run)."""
    from promote import estate, render

    _require_endpoint(app)
    report = estate.seed(app.aws, app.config, app.clock, instances)
    app.output.result("sandbox seed", report.as_dict(), lambda c: render.seed(c, report))


@sandbox.command("down")
@pass_app
def sandbox_down(app: AppContext) -> None:
    """Stop the local AWS this machine started (and nothing else)."""
    from promote import render
    from promote import sandbox as sandbox_module

    stopped = sandbox_module.down(app.environ)
    message = (
        f"stopped the local AWS at {stopped.endpoint} (pid {stopped.pid})"
        if stopped
        else "no local AWS was running"
    )
    app.output.result(
        "sandbox down",
        {"stopped": stopped.as_dict() if stopped else None, "message": message},
        lambda console: render.mapping(console, {"sandbox": message}),
    )


@cli.command()
@click.option(
    "--ami", required=True, help="The AMI to release (tested, or untested with --prerelease)."
)
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
@click.option("--dry-run", is_flag=True, help="Print the release and publish nothing.")
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
    from promote import gate as gate_module
    from promote import releases, render
    from promote.git import Repository
    from promote.github import token_from
    from promote.images import require_image

    image = require_image(app.images, ami, app.config.region)
    source = app.images.image(image.source_image) if image.source_image else None
    gate = gate_module.evaluate(ami, app.config.test_env, app.images, app.ledger, app.config.region)
    local = Repository(git_repo)
    tag = releases.release_tag(image)
    previous = local.previous_tag(releases.TAG_PREFIX, excluding=tag)
    changes = [
        releases.ChangeEntry(c.sha, c.subject, c.author) for c in local.commits_since(previous)
    ]
    if manifest is None and (local.root / "packer" / "manifest.json").is_file():
        manifest = local.root / "packer" / "manifest.json"
    draft = releases.draft(
        image,
        source,
        app.config.region,
        gate,
        app.config.test_env,
        changes,
        previous,
        prerelease,
        manifest,
    )
    if dry_run:
        app.output.result(
            "release",
            {"dry_run": True, **draft.as_dict()},
            lambda console: render.release_draft(console, draft),
        )
        return
    token = token_from(app.environ)
    if token:
        from promote.github import GitHubRepo

        hub = GitHubRepo(repo or app.config.github_repo, token, app.environ.get("GITHUB_API_URL"))
        published = releases.publish_github(hub, draft)
    else:
        app.output.progress("no GITHUB_TOKEN/GH_TOKEN: releasing to the local git repository")
        published = releases.publish_local(local, draft)
    if published.created:
        from promote import events

        event = events.Event(
            kind="release",
            subject=image.image_id,
            ami=image.image_id,
            after={"tag": draft.tag, "location": published.location, "backend": published.backend},
            reason=draft.title,
        )
        events.record(app.ledger, event, app.clock, app.actor(), __version__)
    app.output.result(
        "release",
        {
            "dry_run": False,
            **draft.as_dict(),
            "location": published.location,
            "created": published.created,
            "backend": published.backend,
        },
        lambda console: render.release_done(console, draft, published),
    )


@cli.command()
@click.option("--workflow", required=True, help="Workflow file name, e.g. ami-test-apply.yml.")
@click.option("--ref", default="main", show_default=True, help="Branch or tag to run on.")
@click.option(
    "--input",
    "inputs",
    multiple=True,
    metavar="KEY=VALUE",
    help="A workflow_dispatch input; repeatable.",
)
@click.option("--repo", help="owner/name on GitHub; default: github_repo from the config.")
@pass_app
def dispatch(
    app: AppContext, workflow: str, ref: str, inputs: tuple[str, ...], repo: str | None
) -> None:
    """Trigger a GitHub Actions workflow_dispatch run (needs GITHUB_TOKEN or GH_TOKEN)."""
    from promote import render
    from promote.errors import usage_error
    from promote.github import GitHubRepo, token_from

    values = _key_values(inputs, "--input", "ami=ami-0123456789abcdef0")
    token = token_from(app.environ)
    if not token:
        raise usage_error("dispatch needs a GitHub token", "set GITHUB_TOKEN or GH_TOKEN")
    name = repo or app.config.github_repo
    GitHubRepo(name, token, app.environ.get("GITHUB_API_URL")).dispatch(workflow, ref, values)
    data = {"repo": name, "workflow": workflow, "ref": ref, "inputs": values}
    app.output.result(
        "dispatch",
        data,
        lambda console: render.mapping(
            console, {"dispatched": f"{workflow} on {ref} in {name}", "inputs": values}
        ),
    )


@cli.command()
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
@pass_app
def build(
    app: AppContext,
    target: str,
    packer_dir: Path,
    manifest: Path,
    variables: tuple[str, ...],
    timeout: float,
) -> None:
    """Build an untested AMI with Packer and print its id (`make ami`)."""
    from promote import build as build_module
    from promote import render
    from promote.errors import usage_error
    from promote.git import Repository

    values = _key_values(variables, "--var", "concourse_version=7.12.0")
    if not packer_dir.is_dir():
        raise usage_error(f"no Packer templates in {packer_dir}", "run from the repository root")
    env = dict(app.environ)
    chosen = target
    if target == "auto":
        if app.config.endpoint_url:
            chosen, why = "sandbox", f"AWS_ENDPOINT_URL is {app.config.endpoint_url}"
        elif app.aws.has_credentials():
            chosen, why = "aws", "AWS credentials were found"
        else:
            chosen, why = "sandbox", "no AWS credentials were found"
        app.output.progress(f"building on {'AWS' if chosen == 'aws' else 'the local AWS'}: {why}")
    if chosen == "sandbox":
        endpoint = app.config.endpoint_url or _start_sandbox(app)
        env.update(
            {
                "AWS_ACCESS_KEY_ID": env.get("AWS_ACCESS_KEY_ID") or "sandbox",
                "AWS_SECRET_ACCESS_KEY": env.get("AWS_SECRET_ACCESS_KEY") or "sandbox",
            }
        )
        values.setdefault("endpoint", endpoint)
    try:
        sha = Repository(Path.cwd()).head_sha()
    except PromoteError:
        sha = None
    values.setdefault("git_sha", (sha or "unknown")[:12])
    values.setdefault("untested_name", app.config.untested_name)
    values.setdefault("aws_region", app.config.region)
    values.setdefault("manifest_path", str(manifest))
    env.setdefault("AWS_REGION", app.config.region)
    env["CHECKPOINT_DISABLE"] = "1"
    request = build_module.BuildRequest(
        "aws" if chosen == "aws" else "sandbox", packer_dir, manifest, values, timeout
    )
    result = build_module.build(request, env, Path.cwd(), app.output.progress)
    app.output.result(
        "build",
        result.as_dict(),
        lambda console: render.mapping(
            console,
            {
                "ami": result.ami,
                "name": result.name,
                "region": result.region,
                "manifest": result.manifest,
            },
        ),
    )


def _start_sandbox(app: AppContext) -> str:
    """Start (or find) the local AWS, seeded, for a build; its endpoint."""
    from dataclasses import replace

    from promote import estate
    from promote import sandbox as sandbox_module
    from promote.aws import Aws

    running, started = sandbox_module.up(app.environ)
    app.output.progress(
        f"local AWS {'started' if started else 'already running'} at {running.endpoint}"
    )
    local = replace(app.config, endpoint_url=running.endpoint, profile=None)
    estate.seed(Aws(local, credentials=SANDBOX_CREDENTIALS), local, app.clock)
    return running.endpoint


@cli.command("iam-policy")
@click.argument("commands", nargs=-1)
@pass_app
def iam_policy(app: AppContext, commands: tuple[str, ...]) -> None:
    """The least-privilege IAM policy for COMMANDS (every command when none are named)."""
    import json

    from promote import permissions

    document = permissions.policy(app.config, list(commands))
    app.output.result(
        "iam-policy",
        {"commands": list(commands), "policy": document},
        lambda console: console.print(json.dumps(document, indent=2), markup=False),
    )


def _key_values(items: tuple[str, ...], flag: str, example: str) -> dict[str, str]:
    """KEY=VALUE options as a dict; a usage error naming the flag for anything else."""
    from promote.errors import usage_error

    values: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise usage_error(f"{flag} '{item}' is not KEY=VALUE", f"e.g. {flag} {example}")
        values[key.strip()] = value
    return values


def _require_endpoint(app: AppContext) -> None:
    """Seeding writes a whole estate: refuse to do that anywhere but a local endpoint."""
    from promote.errors import usage_error

    endpoint = app.config.endpoint_url or ""
    if not endpoint.startswith(("http://127.", "http://localhost", "http://[::1]")):
        raise usage_error(
            "sandbox seed only writes to a local AWS endpoint, and none is set",
            'start one with: eval "$(promote sandbox up)"',
        )


# --- promotion core (issue 4) ---

from typing import TYPE_CHECKING  # noqa: E402 - kept in this block for an easy merge

if TYPE_CHECKING:
    from promote.promotion import Backends


def _backends(app: AppContext) -> Backends:
    """The readers and writers of the promotion commands, on the AppContext's AWS."""
    from functools import cache

    from promote.aws import AwsImageCatalog, AwsSecretVersions
    from promote.promotion import Backends

    secrets = AwsSecretVersions(app.aws)
    return Backends(
        config=app.config,
        images=AwsImageCatalog(app.aws),
        ledger=app.ledger,
        secrets=secrets,
        writer=secrets,
        clock=app.clock,
        actor=cache(app.actor),
        tool_version=__version__,
        progress=app.output.progress,
        warn=app.output.warn,
    )


def _ami(value: str) -> str:
    from promote.images import check_ami_id

    return check_ami_id(value.strip())


@cli.command("set-ids")
@click.option("--ami", required=True, help="AMI to set.")
@click.option("--env", "env_names", required=True, multiple=True, help="Environment (repeat).")
@click.option("--dry-run", is_flag=True, help="Show the change; write nothing.")
@pass_app
def set_ids(app: AppContext, ami: str, env_names: tuple[str, ...], dry_run: bool) -> None:
    """Set ENV's entry in the ami-ids secret to AMI (never a pinned env, never a revoked AMI)."""
    from promote import promotion, render_promotion

    for name in env_names:
        app.config.environment(name)
    result = promotion.set_ids(_backends(app), _ami(ami), env_names, dry_run)
    app.output.result(
        "set-ids", result.as_dict(), lambda c: render_promotion.lines(c, result.lines())
    )


@cli.command()
@click.option("--env", "env_name", required=True, help="Environment to pin.")
@click.option("--ami", help="AMI to pin it to; default: what the secret sets for it now.")
@click.option("--reason", required=True, help="Why (required, not empty).")
@click.option("--expires", help="Date the pin should be reviewed (it still holds after).")
@click.option("--owner", help="Who owns the pin; default: git user.email, then $USER.")
@pass_app
def pin(
    app: AppContext,
    env_name: str,
    ami: str | None,
    reason: str,
    expires: str | None,
    owner: str | None,
) -> None:
    """Hold ENV on an AMI until a release manager unpins it (moving a pin is recorded)."""
    from promote import pins, render_promotion

    pins.require_reason(reason)
    app.config.environment(env_name)
    who = owner.strip() if owner and owner.strip() else None
    who = who or pins.default_owner(app.environ, pins.git_user_email())
    result = pins.pin(_backends(app), env_name, _ami(ami) if ami else None, reason, expires, who)
    app.output.result("pin", result.as_dict(), lambda c: render_promotion.lines(c, result.lines()))


@cli.command()
@click.option("--env", "env_name", required=True, help="Environment to unpin.")
@click.option("--reason", required=True, help="Why (required, not empty).")
@click.option("--apply", is_flag=True, help="Remove the pin and move the env (one write).")
@pass_app
def unpin(app: AppContext, env_name: str, reason: str, apply: bool) -> None:
    """Show what ENV would move to without its pin; --apply unpins and moves it."""
    from promote import pins, render_promotion

    result = pins.unpin(_backends(app), env_name, reason, apply)
    app.output.result(
        "unpin", result.as_dict(), lambda c: render_promotion.lines(c, result.lines())
    )


@cli.command()
@click.option("--ami", required=True, help="Untested AMI with SUCCESS evidence in test_env.")
@click.option("--dry-run", is_flag=True, help="Show the plan; write nothing.")
@click.option(
    "--timeout",
    type=DURATION,
    default="30m",
    show_default=True,
    help="How long to wait for the copy to be available.",
)
@click.option(
    "--interval",
    type=DURATION,
    default="15s",
    show_default=True,
    help="Time between polls while waiting.",
)
@pass_app
def publish(app: AppContext, ami: str, dry_run: bool, timeout: float, interval: float) -> None:
    """Copy AMI to a tested image (tags, launch permissions); print the tested image id."""
    from promote import publish as publish_module
    from promote import render_promotion

    backends = _backends(app)
    plan = publish_module.plan(backends, _ami(ami), timeout)
    if dry_run:
        app.output.result(
            "publish",
            {**plan.as_dict(), "dry_run": True},
            lambda c: render_promotion.lines(
                c,
                [
                    f"plan for {ami}"
                    + (f" (existing copy {plan.existing.image_id})" if plan.existing else "")
                ]
                + [f"  {s.describe()}" for s in plan.steps]
                + ["dry run: nothing written"],
            ),
        )
        return
    result = publish_module.execute(backends, plan, max(interval, 0.1))
    app.output.result("publish", result.as_dict(), lambda c: c.print(result.tested))


@cli.command()
@click.option("--ami", required=True, help="AMI to revoke.")
@click.option("--reason", required=True, help="Why (required, not empty).")
@pass_app
def revoke(app: AppContext, ami: str, reason: str) -> None:
    """Mark AMI revoked: never promoted again; running instances untouched."""
    from promote import render_promotion
    from promote import revoke as revoke_module

    result = revoke_module.revoke(_backends(app), _ami(ami), reason)
    app.output.result(
        "revoke", result.as_dict(), lambda c: render_promotion.lines(c, result.lines())
    )


@cli.command()
@click.option(
    "--keep",
    type=click.IntRange(0),
    default=3,
    show_default=True,
    help="Always keep the N newest images of each stage.",
)
@click.option("--older-than", type=DURATION, help="Only delete images older than this (30d).")
@click.option("--apply", is_flag=True, help="Delete; without it, a dry run.")
@pass_app
def prune(app: AppContext, keep: int, older_than: float | None, apply: bool) -> None:
    """List old images with KEEP/DELETE and why; --apply deletes them and their snapshots."""
    from promote import prune as prune_module
    from promote import render_promotion
    from promote.aws import AwsImageUsage, AwsSecretVersions

    backends = _backends(app)
    candidates = prune_module.plan(
        backends, AwsSecretVersions(app.aws), AwsImageUsage(app.aws), keep, older_than
    )
    if apply:
        result = prune_module.execute(backends, candidates)
    else:
        result = prune_module.PruneResult(candidates, applied=False)
    app.output.result(
        "prune",
        result.as_dict(),
        lambda c: render_promotion.prune(c, result.candidates, result.applied),
    )


@cli.command()
@click.option("--ami", help="Only this AMI.")
@click.option("--env", "env_name", help="Only this environment.")
@pass_app
def history(app: AppContext, ami: str | None, env_name: str | None) -> None:
    """Evidence and events, newest first."""
    from promote import history as history_module
    from promote import render_promotion

    if env_name:
        app.config.environment(env_name)
    entries = history_module.history(app.ledger, _ami(ami) if ami else None, env_name)
    app.output.result(
        "history",
        {"entries": [e.as_dict() for e in entries]},
        lambda c: render_promotion.history(c, entries),
    )


def main() -> None:
    """Console script entry point."""
    cli(prog_name="promote")
