"""`promote rollback`: put ENV back on its last known good image, then roll it."""

from __future__ import annotations

import dataclasses

import click

from promote.cli.app import AppContext
from promote.cli.commands.rollout import run, warn_protected, worker_drain
from promote.cli.options import (
    AMI,
    dry_run_option,
    env_option,
    interval_option,
    pass_app,
    rolling_options,
    timeout_option,
)
from promote.domain import rollback as rollback_module
from promote.domain import rollout as rollout_module
from promote.errors import ExitCode


@click.command()
@env_option("Environment to roll back.")
@click.option(
    "--to",
    type=AMI,
    help="The AMI to go back to; default: the env's previous entry (AWSPREVIOUS, then the "
    "ledger), else the newest image with SUCCESS evidence in ENV.",
)
@click.option("--reason", help="Why (recorded in the event).")
@dry_run_option("Show where ENV would go back to and the rollout; change nothing.")
@timeout_option("30m", "Bound on the rollout.")
@interval_option("5s", "Time between polls while waiting.")
@rolling_options()
@click.option(
    "--no-validate",
    is_flag=True,
    help="Skip the closing validate (the validator runs it: only it may write evidence).",
)
@pass_app
def rollback(
    app: AppContext,
    env_name: str,
    to: str | None,
    reason: str | None,
    dry_run: bool,
    timeout: float,
    interval: float,
    keep_template: bool,
    resume: bool,
    engine: str,
    concourse_url: str | None,
    insecure_http: bool,
    drain_timeout: float,
    no_validate: bool,
) -> None:
    """Put ENV back on its last known good image (never one it was rolled back from), through
    the same admission as set-ids, then roll it out and validate.

    SUCCESS evidence in ENV itself counts for returning ENV to an image it ran.
    """
    app.config.environment(env_name)
    services = app.services()
    reason = reason.strip() if reason and reason.strip() else None
    options = rollout_module.RolloutOptions(
        timeout=timeout,
        interval=interval,
        update_template=not keep_template,
        resume=resume,
        validate=not no_validate,
        this_instance=app.this_instance(),
        engine=engine,
    )
    plan = rollback_module.plan(services, env_name, to, reason)
    if dry_run:
        # The rollout as it will run once the secret names the target.
        preview = dataclasses.replace(options, override_reason=plan.reason or "rollback")
        plan.rollout = rollout_module.plan(services, env_name, plan.target, preview)
        warn_protected(app, plan.rollout)
        app.output.result("rollback", plan)
        return
    drain = worker_drain(app, concourse_url, insecure_http, drain_timeout, interval)
    for passed in plan.passed_over:
        app.output.progress(passed.describe())
    moved = rollback_module.move_secret(plan, services)
    if moved is not None:
        app.output.progress(
            f"set {plan.env}: {plan.current or '(none)'} -> {plan.target}"
            + (f" (event {moved.event_key})" if moved.event_key else "")
        )
    rolling = rollout_module.plan(services, env_name, None, options)
    result = rollback_module.RollbackResult(
        dataclasses.replace(plan, dry_run=False), moved, run(app, services, rolling, drain)
    )
    app.output.result("rollback", result)
    validation = result.rollout.validation
    if validation is not None and not validation.succeeded:
        click.get_current_context().exit(ExitCode.CHECK_FAILED)
