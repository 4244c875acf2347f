"""Terraform as the deployer: an env whose launch templates Terraform owns (`deploy = "terraform"`).

promote never writes such a template (the next `terraform apply` would revert it, or the two
would diverge). Instead a rollout runs the env's `deploy_command` (e.g. `terraform apply`,
which reads the ami-ids secret as the estate's Terraform does), requires its `drift_command`
to be clean (`terraform plan -detailed-exitcode`: 0 no changes, 2 changes, anything else an
error) and every group's launch template to launch the AMI, and only then replaces instances.
Both commands get PROMOTE_ENV and PROMOTE_AMI in their environment.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from typing import TYPE_CHECKING

from promote.errors import check_failed, remote_error

if TYPE_CHECKING:
    from promote.config import Environment
    from promote.domain.services import Services

DRIFT_CLEAN, DRIFT_CHANGES = 0, 2
DEPLOY_TIMEOUT_SECONDS = 3600.0


@dataclass(frozen=True)
class TerraformDeploy:
    """A plan step: run the env's deployer, then insist on no drift."""

    deploy_command: tuple[str, ...]
    drift_command: tuple[str, ...]
    deploy_dir: str | None

    def describe(self) -> str:
        """One line for the plan."""
        where = f" in {self.deploy_dir}" if self.deploy_dir else ""
        return (
            f"run `{shlex.join(self.deploy_command)}`{where} (Terraform owns the launch "
            f"templates), then `{shlex.join(self.drift_command)}` must report no changes"
        )


def step_for(env: Environment) -> TerraformDeploy | None:
    """The deploy step of ENV's rollouts, when Terraform owns its templates."""
    if env.deploy != "terraform":
        return None
    return TerraformDeploy(env.deploy_command, env.drift_command, env.deploy_dir)


def deploy(
    services: Services,
    env: Environment,
    step: TerraformDeploy,
    ami: str,
    groups: tuple[str, ...],
    timeout: float = DEPLOY_TIMEOUT_SECONDS,
) -> None:
    """Run the deploy, require no drift and every group's template on AMI; else refuse."""
    if services.deployer is None:
        raise remote_error(f"{env.name} is deployed by Terraform, and no deployer is set up")
    variables = {"PROMOTE_ENV": env.name, "PROMOTE_AMI": ami}
    services.progress(f"{env.name}: deploying with {shlex.join(step.deploy_command)}")
    applied = services.deployer.run(
        step.deploy_command, step.deploy_dir, variables, timeout, services.progress
    )
    if applied.exit_code != 0:
        raise remote_error(
            f"{env.name}: `{shlex.join(step.deploy_command)}` failed (exit {applied.exit_code})"
            + (f": {applied.tail[-1]}" if applied.tail else ""),
            "its output is above (stderr); nothing was replaced",
        )
    drift = services.deployer.run(
        step.drift_command, step.deploy_dir, variables, timeout, services.progress
    )
    if drift.exit_code == DRIFT_CHANGES:
        raise check_failed(
            f"{env.name}: `{shlex.join(step.drift_command)}` still plans changes after the "
            "deploy (drift)",
            "the Terraform state and the estate disagree; look at the plan above, then re-run",
        )
    if drift.exit_code != DRIFT_CLEAN:
        raise remote_error(
            f"{env.name}: `{shlex.join(step.drift_command)}` failed (exit {drift.exit_code})"
            + (f": {drift.tail[-1]}" if drift.tail else ""),
            "its output is above (stderr); nothing was replaced",
        )
    for group in groups:
        template = services.fleet_control.launch_template(env, group)
        if template is None or template.image_id != ami:
            found = f"launches {template.image_id}" if template else "has no launch template"
            raise check_failed(
                f"{env.name}: after the deploy, {group} {found}, not {ami}",
                "make the Terraform that owns the template read the env's entry in the ami-ids "
                "secret; nothing was replaced",
            )
    services.progress(f"{env.name}: deployed; no drift; every launch template launches {ami}")
