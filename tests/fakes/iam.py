"""A stand-in for IAM's policy evaluation, for what the local AWS does not check.

moto authorizes Secrets Manager, EC2 and Auto Scaling calls against resource "*" and ignores
every Condition, so a policy scoped to an env's groups, to `promote:*` tag keys or to a KMS
alias proves nothing there. This stand-in does what IAM does with such a request: it turns each
API call into the authorization requests AWS makes for it (`requests_of`: the action, the
resource ARN, the condition keys, as the Service Authorization Reference lists them for the
operations promote calls) and evaluates identity policies (and resource policies with
`Principal: "*"`) the way IAM's evaluation logic does (`decide`): an explicit Deny wins, then
an Allow whose Action, Resource and every Condition match, else an implicit deny.

Matching follows IAM: `*` and `?` wildcards in Action (case-insensitive) and Resource (case-
sensitive); condition operators StringEquals, StringNotEquals, StringLike, StringNotLike,
ArnLike, ArnNotLike, Bool, with the ForAllValues:/ForAnyValue: set qualifiers. A key missing
from the request fails a plain operator, passes a negated one, passes ForAllValues (vacuously,
as IAM does) and fails ForAnyValue. Anything else (NotAction, NotResource, other operators)
raises: the stand-in refuses to guess.

Facts the parameters do not carry (a group's ARN, which group an instance is in, a template's
tags, a secret's full ARN, a key's aliases) come from a `Directory` the test fills with the
estate's own answers before the run, and that learns from the run's DescribeAutoScalingGroups
and CopyImage responses.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

ACCOUNT = "123456789012"  # the local AWS's account

Context = Mapping[str, str | Sequence[str]]


@dataclass(frozen=True)
class Request:
    """One authorization request: what IAM decides on."""

    action: str
    resource: str
    context: Context = field(default_factory=dict)

    def __str__(self) -> str:
        extra = f" {dict(self.context)}" if self.context else ""
        return f"{self.action} on {self.resource}{extra}"


@dataclass
class Directory:
    """What AWS knows about the resources a request names, that its parameters do not say."""

    region: str
    group_arns: dict[str, str] = field(default_factory=dict)  # group name -> ARN
    instance_groups: dict[str, str] = field(default_factory=dict)  # instance id -> group name
    template_ids: dict[str, str] = field(default_factory=dict)  # template name -> id
    template_tags: dict[str, dict[str, str]] = field(default_factory=dict)  # id -> tags
    secret_arns: dict[str, str] = field(default_factory=dict)  # name -> ARN
    key_arns: dict[str, str] = field(default_factory=dict)  # key id, ARN or alias -> key ARN
    key_aliases: dict[str, list[str]] = field(default_factory=dict)  # key ARN -> aliases
    copies: dict[str, dict[str, str]] = field(default_factory=dict)  # new image -> its tags

    @classmethod
    def of(cls, clients: Any, region: str) -> Directory:
        """Filled from the estate (CLIENTS(service) gives a client that is not enforced)."""
        found = cls(region)
        for page in clients("autoscaling").get_paginator("describe_auto_scaling_groups").paginate():
            found.learn_groups(page["AutoScalingGroups"])
        for template in clients("ec2").describe_launch_templates()["LaunchTemplates"]:
            found.template_ids[template["LaunchTemplateName"]] = template["LaunchTemplateId"]
            found.template_tags[template["LaunchTemplateId"]] = {
                t["Key"]: t["Value"] for t in template.get("Tags", [])
            }
        for secret in clients("secretsmanager").list_secrets()["SecretList"]:
            found.secret_arns[secret["Name"]] = secret["ARN"]
        kms = clients("kms")
        for alias in kms.list_aliases()["Aliases"]:
            if "TargetKeyId" not in alias or alias["AliasName"].startswith("alias/aws/"):
                continue  # AWS-managed keys: promote signs with none
            arn = kms.describe_key(KeyId=alias["TargetKeyId"])["KeyMetadata"]["Arn"]
            found.key_arns.update({alias["AliasName"]: arn, alias["TargetKeyId"]: arn, arn: arn})
            found.key_aliases.setdefault(arn, []).append(alias["AliasName"])
        return found

    def learn_groups(self, groups: Sequence[Mapping[str, Any]]) -> None:
        """Remember the groups' ARNs and members (from a DescribeAutoScalingGroups answer)."""
        for group in groups:
            name = group["AutoScalingGroupName"]
            self.group_arns[name] = group["AutoScalingGroupARN"]
            for member in group.get("Instances", []):
                self.instance_groups[member["InstanceId"]] = name

    def group_arn(self, name: str) -> str:
        known = self.group_arns.get(name)
        if known:
            return known
        return (
            f"arn:aws:autoscaling:{self.region}:{ACCOUNT}:autoScalingGroup:"
            f"00000000-0000-0000-0000-000000000000:autoScalingGroupName/{name}"
        )


def _tag_keys(tags: Sequence[Mapping[str, Any]]) -> list[str]:
    return [t["Key"] for t in tags]


def _ec2_arn(region: str, resource: str) -> str:
    kinds = {
        "ami-": ("image", ""),
        "snap-": ("snapshot", ""),
        "i-": ("instance", ACCOUNT),
        "lt-": ("launch-template", ACCOUNT),
        "vol-": ("volume", ACCOUNT),
        "sg-": ("security-group", ACCOUNT),
    }
    for prefix, (kind, account) in kinds.items():
        if resource.startswith(prefix):
            return f"arn:aws:ec2:{region}:{account}:{kind}/{resource}"
    raise AssertionError(f"the IAM stand-in knows no ARN for EC2 resource {resource}")


def requests_of(
    action: str, params: Mapping[str, Any], region: str, directory: Directory
) -> list[Request]:
    """The authorization requests AWS makes for one call of ACTION with PARAMS."""
    service, name = action.split(":", 1)
    if service == "s3":
        bucket = f"arn:aws:s3:::{params['Bucket']}"
        if "Key" in params:
            return [Request(action, f"{bucket}/{params['Key']}")]
        return [Request(action, bucket)]
    if service == "secretsmanager":
        secret = str(params["SecretId"])
        return [Request(action, directory.secret_arns.get(secret, secret))]
    if service == "kms":
        key = directory.key_arns.get(str(params["KeyId"]), str(params["KeyId"]))
        aliases = directory.key_aliases.get(key, [])
        return [Request(action, key, {"kms:ResourceAliases": aliases})]
    if service == "sts":
        return [Request(action, str(params.get("RoleArn", "*")))]
    if service == "autoscaling":
        return _autoscaling(action, name, params, directory)
    if service == "ec2":
        return _ec2(action, name, params, region, directory)
    return [Request(action, "*")]


def _autoscaling(
    action: str, name: str, params: Mapping[str, Any], directory: Directory
) -> list[Request]:
    if name.startswith("Describe"):
        return [Request(action, "*")]  # no resource-level permissions for reads
    if name in ("CreateOrUpdateTags", "DeleteTags"):
        groups = sorted({t["ResourceId"] for t in params["Tags"]})
        keys = _tag_keys(params["Tags"])
        return [Request(action, directory.group_arn(g), {"aws:TagKeys": keys}) for g in groups]
    if "AutoScalingGroupName" in params:
        return [Request(action, directory.group_arn(params["AutoScalingGroupName"]))]
    if "InstanceId" in params:
        group = directory.instance_groups[params["InstanceId"]]
        return [Request(action, directory.group_arn(group))]
    raise AssertionError(f"the IAM stand-in cannot place autoscaling:{name} {dict(params)}")


def _ec2(
    action: str, name: str, params: Mapping[str, Any], region: str, directory: Directory
) -> list[Request]:
    if name.startswith(("Describe", "Get")):
        return [Request(action, "*")]
    if name == "CreateTags":
        tags = {t["Key"]: t["Value"] for t in params["Tags"]}
        found = []
        for resource in params["Resources"]:
            context: dict[str, str | Sequence[str]] = {"aws:TagKeys": sorted(tags)}
            copied = directory.copies.get(resource)
            if copied is not None and tags.items() <= copied.items():
                # The local AWS drops CopyImage's TagSpecifications, so the adapter writes them
                # straight after: judged as the tag-on-create AWS would have checked.
                context["ec2:CreateAction"] = "CopyImage"
            found.append(Request(action, _ec2_arn(region, resource), context))
        return found
    if name == "CopyImage":
        found = [Request(action, _ec2_arn(region, params["SourceImageId"]))]
        for spec in params.get("TagSpecifications", []):
            keys = sorted(_tag_keys(spec["Tags"]))
            context = {"aws:TagKeys": keys, "ec2:CreateAction": "CopyImage"}
            found.append(Request("ec2:CreateTags", f"arn:aws:ec2:{region}::image/*", context))
        return found
    if name in ("CreateLaunchTemplateVersion", "ModifyLaunchTemplate"):
        template = (
            params.get("LaunchTemplateId") or directory.template_ids[params["LaunchTemplateName"]]
        )
        tags = directory.template_tags.get(template, {})
        context = {f"ec2:ResourceTag/{k}": v for k, v in tags.items()}
        context |= {f"aws:ResourceTag/{k}": v for k, v in tags.items()}
        return [Request(action, _ec2_arn(region, template), context)]
    for key in ("ImageId", "SnapshotId"):
        if key in params:
            return [Request(action, _ec2_arn(region, params[key]))]
    return [Request(action, "*")]


def _like(pattern: str, value: str, case: bool = True) -> bool:
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, value, 0 if case else re.IGNORECASE) is not None


_OPERATORS = {
    "StringEquals": lambda p, v: p == v,
    "StringLike": _like,
    "ArnLike": _like,
    "ArnEquals": lambda p, v: p == v,
    "Bool": lambda p, v: p.lower() == v.lower(),
}
_NEGATED = {
    "StringNotEquals": "StringEquals",
    "StringNotLike": "StringLike",
    "ArnNotLike": "ArnLike",
}


def _condition_holds(operator: str, key: str, wanted: Any, context: Context) -> bool:
    qualifier, _, base = operator.rpartition(":")
    patterns = [str(w) for w in (wanted if isinstance(wanted, list) else [wanted])]
    negated = base in _NEGATED
    test = _OPERATORS.get(_NEGATED.get(base, base))
    if test is None or qualifier not in ("", "ForAllValues", "ForAnyValue"):
        raise AssertionError(f"the IAM stand-in does not evaluate {operator}")
    present = key in context
    value = context.get(key)
    values = [value] if isinstance(value, str) else list(value or [])

    def matches(v: str) -> bool:
        hit = any(test(p, v) for p in patterns)
        return not hit if negated else hit

    if qualifier == "ForAllValues":
        return all(matches(v) for v in values)  # no values: vacuously true, as in IAM
    if qualifier == "ForAnyValue":
        return any(matches(v) for v in values)
    if not present:
        return negated
    if not isinstance(value, str):
        raise AssertionError(f"{key} is multivalued: a policy must qualify {operator}")
    return matches(value)


def _applies(statement: Mapping[str, Any], request: Request) -> bool:
    for unsupported in ("NotAction", "NotResource", "NotPrincipal"):
        if unsupported in statement:
            raise AssertionError(f"the IAM stand-in does not evaluate {unsupported}")
    principal = statement.get("Principal", "*")
    if principal != "*":
        raise AssertionError("the IAM stand-in evaluates resource policies for Principal * only")
    actions = statement["Action"]
    resources = statement.get("Resource", "*")
    if not any(
        _like(a, request.action, case=False)
        for a in ([actions] if isinstance(actions, str) else actions)
    ):
        return False
    if not any(
        _like(r, request.resource)
        for r in ([resources] if isinstance(resources, str) else resources)
    ):
        return False
    return all(
        _condition_holds(operator, key, wanted, request.context)
        for operator, keys in statement.get("Condition", {}).items()
        for key, wanted in keys.items()
    )


def decide(request: Request, *documents: Mapping[str, Any]) -> str:
    """Allow, ExplicitDeny or ImplicitDeny: IAM's answer to REQUEST under DOCUMENTS."""
    statements = [s for d in documents for s in d["Statement"]]
    if any(s["Effect"] == "Deny" and _applies(s, request) for s in statements):
        return "ExplicitDeny"
    if any(s["Effect"] == "Allow" and _applies(s, request) for s in statements):
        return "Allow"
    return "ImplicitDeny"


def allowed(request: Request, *documents: Mapping[str, Any]) -> bool:
    """Whether DOCUMENTS allow REQUEST."""
    return decide(request, *documents) == "Allow"
