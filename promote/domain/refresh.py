"""AWS's own rollout engine: ASG instance refresh (`rollout --engine instance-refresh`).

On AWS, where a group has the drain agent's EC2_INSTANCE_TERMINATING lifecycle hook, an
instance refresh does what the client-side engine does, inside Auto Scaling: launch before
terminate (MinHealthyPercentage 100, MaxHealthyPercentage 200), skip instances already on the
launch template (SkipMatching), pause at checkpoints, and roll back by itself when it fails
(AutoRollback). One refresh per group at a time is AWS's own lock (a second start is exit 6).
promote points the launch template at the AMI first (unless Terraform owns it), starts one
refresh per group in config order, follows it with DescribeInstanceRefreshes and ends with
validate. Ctrl-C leaves the refresh running and says how to follow or cancel it.

The local AWS implements no instance refresh: there the client-side engine is the default.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from promote.errors import check_failed, remote_error

if TYPE_CHECKING:
    from promote.config import Environment
    from promote.domain.rollout import RolloutPlan
    from promote.domain.rollout_engine import RolloutLog
    from promote.domain.services import Services

DONE, FAILED = {"Successful"}, {"Failed", "Cancelled", "RollbackSuccessful", "RollbackFailed"}
CHECKPOINTS = [50, 100]
CHECKPOINT_DELAY_SECONDS = 300
PREFERENCES: dict[str, Any] = {
    "MinHealthyPercentage": 100,
    "MaxHealthyPercentage": 200,
    "SkipMatching": True,
    "AutoRollback": True,
    "CheckpointPercentages": CHECKPOINTS,
    "CheckpointDelay": CHECKPOINT_DELAY_SECONDS,
    "ScaleInProtectedInstances": "Wait",
    "StandbyInstances": "Wait",
}


def choose(requested: str, services: Services, env: Environment, groups: list[str]) -> str:
    """The engine to use: as asked, or (auto) instance refresh on AWS when every group that
    will be replaced has the drain hook; the client-side engine elsewhere."""
    if requested != "auto":
        return requested
    if services.config.endpoint_url:
        return "client"  # the local AWS has no instance refresh
    control = services.fleet_control
    if groups and all(control.terminating_hooks(env, g) for g in groups):
        return "instance-refresh"
    return "client"


def follow_hint(group: str, refresh_id: str) -> str:
    """How to follow or cancel a refresh with the AWS CLI."""
    return (
        f"follow it: aws autoscaling describe-instance-refreshes --auto-scaling-group-name "
        f"{group} --instance-refresh-ids {refresh_id}; cancel it: aws autoscaling "
        f"cancel-instance-refresh --auto-scaling-group-name {group}"
    )


@dataclass
class RefreshEngine:
    """Carries out a plan with one instance refresh per group."""

    env: Environment
    services: Services
    timeout: float = 1800.0
    interval: float = 15.0
    replaced: Callable[[], None] = lambda: None
    started: dict[str, str] = field(default_factory=dict)  # group -> refresh id

    def run(
        self,
        rollout: RolloutPlan,
        log: RolloutLog,
        started: Callable[[], None] = lambda: None,
    ) -> RolloutLog:
        """Point templates at the AMI, then refresh group by group (config order); STARTED
        is called before the first change."""
        clock, control = self.services.clock, self.services.fleet_control
        deadline = clock.monotonic() + self.timeout
        for group in rollout.groups:
            if group.replace or group.update_template:
                started()
            if group.update_template and group.template:
                version = control.use_image(
                    self.env, group.group, group.template, rollout.expected_ami
                )
                self._step(log, f"{group.group}: launch template {group.template.name} v{version}")
            if not group.replace:
                continue
            refresh_id = control.start_refresh(self.env, group.group, dict(PREFERENCES))
            self.started[group.group] = refresh_id
            self._step(log, f"{group.group}: instance refresh {refresh_id} started")
            try:
                self._follow(group.group, refresh_id, deadline, log)
            except KeyboardInterrupt:
                self.services.progress(
                    f"interrupted: the instance refresh {refresh_id} of {group.group} goes on; "
                    + follow_hint(group.group, refresh_id)
                )
                raise
            log.terminated.extend(group.replace)
        return log

    def _follow(self, group: str, refresh_id: str, deadline: float, log: RolloutLog) -> None:
        clock, control = self.services.clock, self.services.fleet_control
        while True:
            status = control.refresh(self.env, group, refresh_id)
            self.services.progress(
                f"{group}: instance refresh {status.status}, {status.percentage}% done, "
                f"{status.to_update} to update"
            )
            if status.status in DONE:
                self._step(log, f"{group}: instance refresh {refresh_id} Successful")
                return
            if status.status in FAILED:
                raise check_failed(
                    f"{group}: instance refresh {refresh_id} ended {status.status}"
                    + (f": {status.reason}" if status.reason else ""),
                    "AWS rolled the group back where it could; look at its activity history",
                )
            if clock.monotonic() >= deadline:
                raise remote_error(
                    f"{group}: instance refresh {refresh_id} still {status.status} at the "
                    "rollout's timeout; it goes on",
                    follow_hint(group, refresh_id),
                )
            clock.sleep(min(self.interval, max(0.0, deadline - clock.monotonic())))

    def _step(self, log: RolloutLog, line: str) -> None:
        log.steps.append(line)
        self.services.progress(line)
