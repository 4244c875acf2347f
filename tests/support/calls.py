"""A PROMOTE_TEST_HOOKS seam (`tests.support.calls:record_calls`): every AWS call a CLI run
makes, by the IAM action AWS checks for it (read back from CALLS by in-process runs), with its
parameters and region (MADE); and, when a test sets ENFORCED, the stand-in IAM
(tests/fakes/iam.py) deciding each call on the resources and conditions the local AWS does not
check: a call it denies is answered with AWS's AccessDenied and never reaches the local AWS."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from botocore.awsrequest import AWSResponse

from promote.adapters.aws.session import Aws, iam_action
from tests.fakes.iam import Directory, Request, decide, requests_of

CALLS: list[str] = []


@dataclass(frozen=True)
class Call:
    """One AWS call: its IAM action, its parameters, the region it went to."""

    action: str
    params: dict[str, Any]
    region: str


MADE: list[Call] = []


@dataclass
class Enforced:
    """The stand-in IAM's switch: the policies it holds the caller to (none: record only),
    the directory it places resources with, and every request it denied."""

    policies: list[dict[str, Any]] = field(default_factory=list)
    directory: Directory | None = None
    denied: list[Request] = field(default_factory=list)

    def reset(self) -> None:
        self.policies, self.directory, self.denied = [], None, []


ENFORCED = Enforced()


def clear() -> None:
    """Forget what earlier runs called."""
    CALLS.clear()
    MADE.clear()


def record_calls(aws: Aws) -> None:
    """Test hook: remember each call the command makes; with ENFORCED set, decide it."""

    def remember(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        context["promote_test_params"] = dict(params)

    def before_call(model: Any, context: dict[str, Any], **_: Any) -> Any:
        action = iam_action(model.service_model.signing_name, model.name)
        params = context.get("promote_test_params", {})
        region = str(context.get("client_region") or aws.config.region)
        CALLS.append(action)
        MADE.append(Call(action, params, region))
        directory = ENFORCED.directory
        if not ENFORCED.policies or directory is None or action == "sts:GetCallerIdentity":
            return None
        for request in requests_of(action, params, region, directory):
            if decide(request, *ENFORCED.policies) != "Allow":
                ENFORCED.denied.append(request)
                code = "UnauthorizedOperation" if action.startswith("ec2:") else "AccessDenied"
                message = f"not authorized to perform: {request.action} on {request.resource}"
                error = {"Error": {"Code": code, "Message": message}}
                metadata = {"ResponseMetadata": {"HTTPStatusCode": 403}}
                return AWSResponse("", 403, {}, None), {**error, **metadata}
        return None

    def after_call(model: Any, parsed: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        directory = ENFORCED.directory
        if directory is None:
            return
        if model.name == "DescribeAutoScalingGroups":
            directory.learn_groups(parsed.get("AutoScalingGroups", []))
        elif model.name == "CopyImage" and "ImageId" in parsed:
            params = context.get("promote_test_params", {})
            tags = {
                t["Key"]: t["Value"]
                for spec in params.get("TagSpecifications", [])
                for t in spec["Tags"]
            }
            directory.copies[parsed["ImageId"]] = tags

    aws.on("before-parameter-build", remember)
    aws.on("before-call", before_call)
    aws.on("after-call", after_call)
