"""Auto Scaling: an environment's groups and their members, capacity, terminations, the marker.

`AwsFleet` is the domain's FleetReader (groups from Auto Scaling, instances from EC2);
`AwsFleetControl` its FleetControl (for `promote rollout`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from promote.adapters.aws import ec2
from promote.adapters.aws.session import Aws, chunks
from promote.config import Environment
from promote.domain.fleet import Group, GroupMember, Instance
from promote.domain.hooks import LifecycleHook
from promote.domain.ports import GroupState, RefreshStatus, ScheduledAction, TemplateRef
from promote.domain.rollout_engine import MARKER_TAG
from promote.errors import conflict, not_found

ASG_NAMES_MAX = 50


def _group(raw: dict[str, Any]) -> Group:
    return Group(
        name=raw["AutoScalingGroupName"],
        desired_capacity=int(raw["DesiredCapacity"]),
        members=tuple(
            GroupMember(
                instance_id=m["InstanceId"],
                lifecycle_state=m["LifecycleState"],
                health_status=m.get("HealthStatus", "Healthy"),
            )
            for m in raw.get("Instances", [])
        ),
    )


class AwsFleet:
    """FleetReader over Auto Scaling and EC2."""

    def __init__(self, aws: Aws) -> None:
        self.aws = aws

    def group_names(self) -> list[str]:
        """Every auto scaling group in the tooling account's region (promote init --from-aws)."""
        client = self.aws.client("autoscaling")
        names: list[str] = []
        with self.aws.calling("listing the auto scaling groups"):
            for page in client.get_paginator("describe_auto_scaling_groups").paginate():
                names.extend(raw["AutoScalingGroupName"] for raw in page["AutoScalingGroups"])
        return sorted(names)

    def groups(self, env: Environment) -> list[Group]:
        """The environment's ASGs in config order; not found (exit 4) for a missing one."""
        client = self.aws.client("autoscaling", env)
        found: dict[str, Group] = {}
        with self.aws.calling(f"describing the auto scaling groups of {env.name}"):
            paginator = client.get_paginator("describe_auto_scaling_groups")
            for names in chunks(env.autoscaling_groups, ASG_NAMES_MAX):
                for page in paginator.paginate(AutoScalingGroupNames=names):
                    for raw in page["AutoScalingGroups"]:
                        found[raw["AutoScalingGroupName"]] = _group(raw)
        for name in env.autoscaling_groups:
            if name not in found:
                raise not_found(
                    f"auto scaling group {name} of {env.name} not found in "
                    f"{self.aws.config.env_region(env)}",
                    f"check env.{env.name}.autoscaling_groups in {self.aws.config.origin}",
                )
        return [found[name] for name in env.autoscaling_groups]

    def instances(self, env: Environment, groups: Sequence[Group]) -> dict[str, Instance]:
        """EC2's view of the groups' members."""
        return ec2.group_instances(self.aws, env, groups)

    def scheduled_actions(self, env: Environment, group: str) -> list[ScheduledAction]:
        """DescribeScheduledActions of GROUP (paginated)."""
        client = self.aws.client("autoscaling", env)
        with self.aws.calling(f"reading the scheduled actions of {group}"):
            pages = client.get_paginator("describe_scheduled_actions").paginate(
                AutoScalingGroupName=group
            )
            return [
                ScheduledAction(
                    name=raw["ScheduledActionName"],
                    recurrence=raw.get("Recurrence"),
                    desired=raw.get("DesiredCapacity"),
                    min_size=raw.get("MinSize"),
                    max_size=raw.get("MaxSize"),
                )
                for page in pages
                for raw in page["ScheduledUpdateGroupActions"]
            ]


class AwsFleetControl:
    """FleetControl over Auto Scaling and EC2 launch templates (for `promote rollout`)."""

    def __init__(self, aws: Aws) -> None:
        self.aws = aws

    def _group(self, env: Environment, group: str) -> dict[str, Any]:
        client = self.aws.client("autoscaling", env)
        with self.aws.calling(f"describing {group}"):
            groups = client.describe_auto_scaling_groups(AutoScalingGroupNames=[group])
        if not groups["AutoScalingGroups"]:
            raise not_found(f"auto scaling group {group} of {env.name} not found")
        found: dict[str, Any] = groups["AutoScalingGroups"][0]
        return found

    def launch_template(self, env: Environment, group: str) -> TemplateRef | None:
        """The template the group launches from; None for a launch configuration."""
        raw = self._group(env, group)
        spec = raw.get("LaunchTemplate") or (
            raw.get("MixedInstancesPolicy", {})
            .get("LaunchTemplate", {})
            .get("LaunchTemplateSpecification")
        )
        if not spec:
            return None
        return ec2.template_ref(self.aws, env, group, spec)

    def use_image(self, env: Environment, group: str, template: TemplateRef, ami: str) -> int:
        """A new template version with only ImageId changed, and the group pointed at it."""
        version = ec2.new_template_version(self.aws, env, template, ami)
        if template.version_spec not in ("$Default", "$Latest"):
            with self.aws.calling(f"pointing {group} at launch template version {version}"):
                self.aws.client("autoscaling", env).update_auto_scaling_group(
                    AutoScalingGroupName=group,
                    LaunchTemplate={
                        "LaunchTemplateId": template.template_id,
                        "Version": str(version),
                    },
                )
        return version

    def state(self, env: Environment, group: str) -> GroupState:
        """The group's desired, min and max, and its suspended processes, read now."""
        raw = self._group(env, group)
        return GroupState(
            desired=int(raw["DesiredCapacity"]),
            min_size=int(raw["MinSize"]),
            max_size=int(raw["MaxSize"]),
            suspended=frozenset(p["ProcessName"] for p in raw.get("SuspendedProcesses", [])),
            mirrored=any(t.get("Key") == MARKER_TAG for t in raw.get("Tags", [])),
        )

    def suspend(self, env: Environment, group: str, processes: Sequence[str]) -> None:
        """SuspendProcesses (nothing when PROCESSES is empty)."""
        if processes:
            with self.aws.calling(f"suspending {', '.join(processes)} on {group}"):
                self.aws.client("autoscaling", env).suspend_processes(
                    AutoScalingGroupName=group, ScalingProcesses=list(processes)
                )

    def resume(self, env: Environment, group: str, processes: Sequence[str]) -> None:
        """ResumeProcesses (nothing when PROCESSES is empty)."""
        if processes:
            with self.aws.calling(f"resuming {', '.join(processes)} on {group}"):
                self.aws.client("autoscaling", env).resume_processes(
                    AutoScalingGroupName=group, ScalingProcesses=list(processes)
                )

    def set_capacity(self, env: Environment, group: str, desired: int, max_size: int) -> None:
        """Set desired capacity and MaxSize."""
        client = self.aws.client("autoscaling", env)
        with self.aws.calling(f"setting the capacity of {group}"):
            client.update_auto_scaling_group(
                AutoScalingGroupName=group, DesiredCapacity=desired, MaxSize=max_size
            )

    def terminate(self, env: Environment, instance_id: str) -> None:
        """Terminate a member and decrement the desired capacity."""
        client = self.aws.client("autoscaling", env)
        with self.aws.calling(f"terminating {instance_id}"):
            client.terminate_instance_in_auto_scaling_group(
                InstanceId=instance_id, ShouldDecrementDesiredCapacity=True
            )

    def terminating_hooks(self, env: Environment, group: str) -> list[str]:
        """The names of the group's EC2_INSTANCE_TERMINATING lifecycle hooks."""
        client = self.aws.client("autoscaling", env)
        with self.aws.calling(f"reading the lifecycle hooks of {group}"):
            hooks = client.describe_lifecycle_hooks(AutoScalingGroupName=group)["LifecycleHooks"]
        return [
            h["LifecycleHookName"]
            for h in hooks
            if h.get("LifecycleTransition") == "autoscaling:EC2_INSTANCE_TERMINATING"
        ]

    def lifecycle_hooks(self, env: Environment, group: str) -> list[LifecycleHook]:
        """The group's EC2_INSTANCE_TERMINATING lifecycle hooks, with their settings."""
        client = self.aws.client("autoscaling", env)
        with self.aws.calling(f"reading the lifecycle hooks of {group}"):
            hooks = client.describe_lifecycle_hooks(AutoScalingGroupName=group)["LifecycleHooks"]
        return [
            LifecycleHook(
                name=h["LifecycleHookName"],
                transition=h["LifecycleTransition"],
                heartbeat_timeout=int(h.get("HeartbeatTimeout", 3600)),
                default_result=h.get("DefaultResult", "ABANDON"),
            )
            for h in hooks
            if h.get("LifecycleTransition") == "autoscaling:EC2_INSTANCE_TERMINATING"
        ]

    def put_lifecycle_hook(self, env: Environment, group: str, hook: LifecycleHook) -> None:
        """Create or update HOOK on the group (PutLifecycleHook: the same call either way)."""
        client = self.aws.client("autoscaling", env)
        with self.aws.calling(f"putting the lifecycle hook {hook.name} on {group}"):
            client.put_lifecycle_hook(
                AutoScalingGroupName=group,
                LifecycleHookName=hook.name,
                LifecycleTransition=hook.transition,
                HeartbeatTimeout=hook.heartbeat_timeout,
                DefaultResult=hook.default_result,
            )

    def start_refresh(self, env: Environment, group: str, preferences: dict[str, Any]) -> str:
        """StartInstanceRefresh (rolling); exit 6 when the group already has one running."""
        client = self.aws.client("autoscaling", env)
        with self.aws.calling(
            f"starting an instance refresh of {group}", absorb=("InstanceRefreshInProgress",)
        ) as call:
            refresh_id: str = client.start_instance_refresh(
                AutoScalingGroupName=group, Strategy="Rolling", Preferences=preferences
            )["InstanceRefreshId"]
        if call.absorbed:
            raise conflict(
                f"{group} already has an instance refresh running",
                f"follow it: aws autoscaling describe-instance-refreshes "
                f"--auto-scaling-group-name {group}; then re-run",
            )
        return refresh_id

    def refresh(self, env: Environment, group: str, refresh_id: str) -> RefreshStatus:
        """DescribeInstanceRefreshes of one refresh."""
        client = self.aws.client("autoscaling", env)
        with self.aws.calling(f"following the instance refresh of {group}"):
            found = client.describe_instance_refreshes(
                AutoScalingGroupName=group, InstanceRefreshIds=[refresh_id]
            )["InstanceRefreshes"]
        if not found:
            raise not_found(f"instance refresh {refresh_id} of {group} not found")
        raw = found[0]
        return RefreshStatus(
            refresh_id=refresh_id,
            status=str(raw["Status"]),
            percentage=int(raw.get("PercentageComplete") or 0),
            to_update=int(raw.get("InstancesToUpdate") or 0),
            reason=str(raw.get("StatusReason") or ""),
        )

    def mirror(self, env: Environment, group: str, summary: dict[str, Any] | None) -> None:
        """Show (or with None, clear) who rolls the group in the `promote:rollout` tag."""
        client = self.aws.client("autoscaling", env)
        tag = {"ResourceId": group, "ResourceType": "auto-scaling-group", "Key": MARKER_TAG}
        with self.aws.calling(f"tagging {group}"):
            if summary is None:
                client.delete_tags(Tags=[tag])
            else:
                value = json.dumps(summary, separators=(",", ":"), sort_keys=True)
                client.create_or_update_tags(
                    Tags=[{**tag, "Value": value[:256], "PropagateAtLaunch": False}]
                )
