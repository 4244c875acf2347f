"""`promote hooks`: the EC2_INSTANCE_TERMINATING lifecycle hooks the drain agent needs.

The image's drain agent (ansible/roles/concourse/files/concourse-drain-agent) drains a worker
only when an EC2_INSTANCE_TERMINATING hook holds its instance in Terminating:Wait: scale-in, AZ
rebalance, instance refresh and a Terraform replacement then all wait for it. `plan` reads the
hooks of an env's worker groups (a group whose name says `worker`, or those named with
`--asg`); `execute` puts the missing or different ones (PutLifecycleHook creates or updates,
so a re-run converges and changes nothing). Teams whose Terraform owns the hooks use the
README's snippet instead.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from promote.errors import usage_error

if TYPE_CHECKING:
    from promote.config import Environment
    from promote.domain.services import Services

HOOK_NAME = "concourse-worker-drain"
TRANSITION = "autoscaling:EC2_INSTANCE_TERMINATING"
# The agent heartbeats every 60 s by default; the hook gives it five minutes between beats.
HEARTBEAT_TIMEOUT = 300
# When the agent never answers (no agent, a dead instance) the instance still goes.
DEFAULT_RESULT = "CONTINUE"

_READ = ("autoscaling:DescribeLifecycleHooks", "sts:AssumeRole")
# What the drain agent's instance role calls (not promote: the worker itself).
AGENT_ACTIONS = (
    "autoscaling:RecordLifecycleActionHeartbeat",
    "autoscaling:CompleteLifecycleAction",
)
# Only to find its group when instance metadata tags are off (it supports no resource).
AGENT_LOOKUP = "autoscaling:DescribeAutoScalingInstances"
AWS_ACTIONS = {"hooks": _READ, "hooks --apply": (*_READ, "autoscaling:PutLifecycleHook")}


@dataclass(frozen=True)
class LifecycleHook:
    """One lifecycle hook of a group, as Auto Scaling describes it."""

    name: str
    transition: str
    heartbeat_timeout: int
    default_result: str


WANTED = LifecycleHook(HOOK_NAME, TRANSITION, HEARTBEAT_TIMEOUT, DEFAULT_RESULT)


@dataclass(frozen=True)
class GroupHooks:
    """A worker group's terminating hooks now, and whether the drain hook must be put."""

    group: str
    existing: list[LifecycleHook]
    action: str  # "ok" | "create" | "update"

    def describe(self) -> dict[str, object]:
        """As JSON."""
        return {
            "group": self.group,
            "action": self.action,
            "existing": [h.__dict__ for h in self.existing],
            "wanted": WANTED.__dict__,
        }


@dataclass(frozen=True)
class HooksPlan:
    """What `promote hooks` shows, and with --apply carries out."""

    env: str
    groups: list[GroupHooks]
    applied: bool = False
    changed: list[str] = field(default_factory=list)


def worker_groups(env: Environment, asgs: tuple[str, ...]) -> list[str]:
    """The groups to hook: ASGS (each must be the env's), else those whose name says worker."""
    unknown = [a for a in asgs if a not in env.autoscaling_groups]
    if unknown:
        raise usage_error(
            f"{', '.join(unknown)} is not an auto scaling group of {env.name}",
            f"its groups: {', '.join(env.autoscaling_groups)}",
        )
    chosen = list(asgs) or [g for g in env.autoscaling_groups if "worker" in g]
    if not chosen:
        raise usage_error(
            f"no group of {env.name} is named like a worker group",
            "name the worker groups with --asg",
        )
    return chosen


def plan(services: Services, env_name: str, asgs: tuple[str, ...] = ()) -> HooksPlan:
    """The drain hook of each worker group of ENV_NAME: there, different, or missing."""
    env = services.config.environment(env_name)
    groups = []
    for group in worker_groups(env, asgs):
        existing = services.fleet_control.lifecycle_hooks(env, group)
        same = next((h for h in existing if h.name == HOOK_NAME), None)
        action = "create" if same is None else ("ok" if same == WANTED else "update")
        groups.append(GroupHooks(group, existing, action))
    return HooksPlan(env.name, groups)


def execute(services: Services, hooks: HooksPlan) -> HooksPlan:
    """Put the drain hook where it is missing or different; nothing else is touched."""
    env = services.config.environment(hooks.env)
    changed = []
    for group in hooks.groups:
        if group.action != "ok":
            services.fleet_control.put_lifecycle_hook(env, group.group, WANTED)
            changed.append(group.group)
    return HooksPlan(hooks.env, hooks.groups, applied=True, changed=changed)
