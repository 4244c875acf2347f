"""`promote rollout`: replace the instances of ENV not on the expected AMI, keeping capacity."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from promote.cli.app import AppContext
from promote.cli.options import (
    ami_option,
    dry_run_option,
    env_option,
    interval_option,
    pass_app,
    rolling_options,
    timeout_option,
)
from promote.domain import rollout as rollout_module
from promote.domain.workers import WorkerDrain
from promote.errors import ExitCode, usage_error

if TYPE_CHECKING:
    from promote.domain.services import Services


@click.command()
@env_option("Environment to roll.")
@ami_option("AMI to roll to; default: the env's entry in the ami-ids secret.")
@timeout_option("30m", "Bound on the whole rollout.")
@interval_option("5s", "Time between polls while waiting.")
@dry_run_option("Print the plan and change nothing.")
@rolling_options()
@click.option(
    "--replace-all",
    is_flag=True,
    help="Replace every instance, also those on the AMI (periodic worker refresh).",
)
@click.option("--no-validate", is_flag=True, help="Skip the validate that ends the rollout.")
@click.option(
    "--asg",
    "asgs",
    multiple=True,
    help="Only this ASG of ENV (repeatable), e.g. the workers for a worker refresh.",
)
@click.option(
    "--override-secret",
    is_flag=True,
    help="Roll to an --ami the env's secret does not name (needs --reason; recorded).",
)
@click.option("--reason", help="Why the secret is overridden (with --override-secret).")
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
    engine: str,
    no_validate: bool,
    asgs: tuple[str, ...],
    concourse_url: str | None,
    insecure_http: bool,
    drain_timeout: float,
    override_secret: bool,
    reason: str | None,
) -> None:
    """Replace the instances of ENV not on the expected AMI, keeping capacity.

    The AMI must pass the same admission as set-ids (pin, provenance, stage, revocation), and
    be what ENV's secret names unless --override-secret --reason R says why (recorded).
    """
    app.config.environment(env_name)
    if override_secret and not (reason or "").strip():
        raise usage_error("--override-secret needs --reason", "e.g. --reason 'INC-123 hotfix'")
    if reason and not override_secret:
        raise usage_error("--reason goes with --override-secret", "add --override-secret")
    services = app.services()
    options = rollout_module.RolloutOptions(
        timeout=timeout,
        interval=interval,
        update_template=not keep_template,
        replace_all=replace_all,
        resume=resume,
        validate=not no_validate,
        only=asgs,
        this_instance=app.this_instance(),
        engine=engine,
        override_reason=reason.strip() if override_secret and reason else None,
    )
    plan = rollout_module.plan(services, env_name, ami, options)
    if dry_run:
        warn_protected(app, plan)
        app.output.result("rollout", rollout_module.RolloutPreview(plan))
        return
    drain = worker_drain(app, concourse_url, insecure_http, drain_timeout, interval)
    result = run(app, services, plan, drain)
    app.output.result("rollout", result)
    if result.validation is not None and not result.validation.succeeded:
        click.get_current_context().exit(ExitCode.CHECK_FAILED)


def warn_protected(app: AppContext, plan: rollout_module.RolloutPlan) -> None:
    """Say which instance is kept because it runs this command."""
    for protected in plan.protected:
        app.output.warn(f"{protected} runs this command: it is kept, never terminated")


def worker_drain(
    app: AppContext,
    concourse_url: str | None,
    insecure_http: bool,
    drain_timeout: float,
    interval: float,
) -> WorkerDrain | None:
    """Drain through Concourse when a web node is given; a wrong URL or token fails here,
    before anything changes."""
    if not concourse_url:
        return None
    api = app.concourse(concourse_url, insecure_http)
    api.workers()
    return WorkerDrain(api, app.clock, app.output.progress, drain_timeout, interval)


def run(
    app: AppContext,
    services: Services,
    plan: rollout_module.RolloutPlan,
    drain: WorkerDrain | None,
) -> rollout_module.RolloutResult:
    """Show the plan on stderr, then carry it out under a progress bar."""
    from promote.cli.views.fleet import plan_lines  # rich loads only when a rollout runs

    warn_protected(app, plan)
    for line in plan_lines(plan):
        app.output.progress(line)
    with app.output.bar(f"rolling {plan.env}", plan.replacements) as advance:
        return rollout_module.execute(plan, services, drain, advance)
