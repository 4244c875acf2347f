"""The stand-in IAM evaluates as IAM does: explicit deny first, wildcards, set operators."""

from __future__ import annotations

from typing import Any

import pytest

from tests.fakes.iam import Directory, Request, decide, requests_of

GROUP = "arn:aws:autoscaling:eu-west-2:123456789012:autoScalingGroup:u-1:autoScalingGroupName/web"


def allow(action: str, resource: str, condition: dict[str, Any] | None = None) -> dict[str, Any]:
    statement: dict[str, Any] = {"Effect": "Allow", "Action": [action], "Resource": [resource]}
    if condition:
        statement["Condition"] = condition
    return {"Statement": [statement]}


PROMOTE_KEYS = {"ForAllValues:StringLike": {"aws:TagKeys": ["promote:*"]}}


@pytest.mark.parametrize(
    ("policy", "request_", "verdict"),
    [
        (
            allow("autoscaling:Update*", "*:autoScalingGroupName/web"),
            "autoscaling:updateautoscalinggroup",
            "Allow",
        ),
        (
            allow("autoscaling:UpdateAutoScalingGroup", "*:autoScalingGroupName/web"),
            "autoscaling:DeleteAutoScalingGroup",
            "ImplicitDeny",
        ),
        (
            allow("s3:PutObject", "arn:aws:s3:::b/events/*"),
            "s3:PutObject arn:aws:s3:::b/evidence/x",
            "ImplicitDeny",
        ),
        (
            allow("s3:PutObject", "arn:aws:s3:::b/locks/??.json"),
            "s3:PutObject arn:aws:s3:::b/locks/ab.json",
            "Allow",
        ),
        (
            allow("s3:PutObject", "arn:aws:s3:::b/locks/??.json"),
            "s3:PutObject arn:aws:s3:::b/locks/abc.json",
            "ImplicitDeny",
        ),
    ],
)
def test_actions_ignore_case_and_resources_take_wildcards(
    policy: dict[str, Any], request_: str, verdict: str
) -> None:
    action, _, resource = request_.partition(" ")
    assert decide(Request(action, resource or GROUP), policy) == verdict


@pytest.mark.parametrize(
    ("keys", "verdict"),
    [
        (["promote:rollout"], "Allow"),
        (["promote:rollout", "Name"], "ImplicitDeny"),
        ([], "Allow"),  # ForAllValues over no keys holds, as in IAM
    ],
)
def test_for_all_values_needs_every_tag_key_to_match(keys: list[str], verdict: str) -> None:
    policy = allow("autoscaling:CreateOrUpdateTags", "*", PROMOTE_KEYS)
    request = Request("autoscaling:CreateOrUpdateTags", GROUP, {"aws:TagKeys": keys})
    assert decide(request, policy) == verdict


def test_a_missing_key_fails_a_plain_operator_and_passes_a_negated_one() -> None:
    equals = allow("ec2:CreateTags", "*", {"StringEquals": {"ec2:CreateAction": ["CopyImage"]}})
    not_like = allow("ec2:CreateTags", "*", {"StringNotLike": {"ec2:CreateAction": ["Run*"]}})
    any_alias = allow("kms:Sign", "*", {"ForAnyValue:StringEquals": {"kms:ResourceAliases": ["a"]}})

    assert decide(Request("ec2:CreateTags", "x"), equals) == "ImplicitDeny"
    assert decide(Request("ec2:CreateTags", "x"), not_like) == "Allow"
    assert decide(Request("kms:Sign", "k"), any_alias) == "ImplicitDeny"
    assert (
        decide(Request("kms:Sign", "k", {"kms:ResourceAliases": ["b", "a"]}), any_alias) == "Allow"
    )


def test_an_explicit_deny_beats_an_allow() -> None:
    deny = {
        "Statement": [
            {
                "Effect": "Deny",
                "Principal": "*",
                "Action": ["s3:PutObject"],
                "Resource": ["arn:aws:s3:::b/events/*"],
                "Condition": {"StringNotLike": {"aws:PrincipalArn": ["arn:aws:iam::1:role/p"]}},
            }
        ]
    }
    policy = allow("s3:*", "*")
    as_validator = {"aws:PrincipalArn": "arn:aws:iam::1:role/v"}
    as_promoter = {"aws:PrincipalArn": "arn:aws:iam::1:role/p"}

    assert (
        decide(Request("s3:PutObject", "arn:aws:s3:::b/events/e", as_validator), policy, deny)
        == "ExplicitDeny"
    )
    assert (
        decide(Request("s3:PutObject", "arn:aws:s3:::b/events/e", as_promoter), policy, deny)
        == "Allow"
    )


def test_what_it_does_not_evaluate_it_refuses() -> None:
    policy = {"Statement": [{"Effect": "Allow", "NotAction": ["iam:*"], "Resource": "*"}]}
    dated = allow("s3:GetObject", "*", {"DateGreaterThan": {"aws:CurrentTime": "2026-01-01"}})

    with pytest.raises(AssertionError, match="NotAction"):
        decide(Request("s3:GetObject", "x"), policy)
    with pytest.raises(AssertionError, match="DateGreaterThan"):
        decide(Request("s3:GetObject", "x"), dated)


def test_calls_become_the_requests_aws_authorizes() -> None:
    directory = Directory("eu-west-2", group_arns={"web": GROUP}, instance_groups={"i-1": "web"})
    directory.template_ids["web"] = "lt-0abc"
    directory.template_tags["lt-0abc"] = {"concourse:env": "dev"}

    terminate = requests_of(
        "autoscaling:TerminateInstanceInAutoScalingGroup",
        {"InstanceId": "i-1"},
        "eu-west-2",
        directory,
    )
    marker = requests_of(
        "autoscaling:CreateOrUpdateTags",
        {"Tags": [{"ResourceId": "web", "Key": "promote:rollout", "Value": "{}"}]},
        "eu-west-2",
        directory,
    )
    version = requests_of(
        "ec2:CreateLaunchTemplateVersion", {"LaunchTemplateName": "web"}, "eu-west-2", directory
    )
    copy = requests_of(
        "ec2:CopyImage",
        {
            "SourceImageId": "ami-1",
            "TagSpecifications": [{"Tags": [{"Key": "Name", "Value": "n"}]}],
        },
        "eu-west-2",
        directory,
    )

    assert terminate == [Request("autoscaling:TerminateInstanceInAutoScalingGroup", GROUP)]
    assert marker == [
        Request("autoscaling:CreateOrUpdateTags", GROUP, {"aws:TagKeys": ["promote:rollout"]})
    ]
    assert version[0].resource == "arn:aws:ec2:eu-west-2:123456789012:launch-template/lt-0abc"
    assert version[0].context["ec2:ResourceTag/concourse:env"] == "dev"
    assert copy[0] == Request("ec2:CopyImage", "arn:aws:ec2:eu-west-2::image/ami-1")
    assert copy[1].action == "ec2:CreateTags"
    assert copy[1].context == {"aws:TagKeys": ["Name"], "ec2:CreateAction": "CopyImage"}
