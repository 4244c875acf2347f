"""AWS failures become one line, a hint and the documented exit code."""

from __future__ import annotations

import botocore.exceptions
import pytest
from botocore.stub import Stubber

from promote.adapters.aws.ec2 import AwsImages
from promote.adapters.aws.s3 import S3Ledger
from promote.adapters.aws.secrets import AwsSecrets
from promote.adapters.aws.session import Aws, translate
from promote.errors import PromoteError
from tests.support.stubs import StubbedAws


@pytest.fixture
def aws(stubbed: StubbedAws) -> Aws:
    return stubbed.aws


def test_missing_credentials_are_exit_5_with_a_hint() -> None:
    error = translate(botocore.exceptions.NoCredentialsError(), "reading secret s")

    assert error.exit_code == 5
    assert error.message == "no AWS credentials found while reading secret s"
    assert "AWS_PROFILE" in error.hint and "promote sandbox up" in error.hint


def test_an_unreachable_endpoint_is_exit_5_and_points_at_the_sandbox() -> None:
    exc = botocore.exceptions.EndpointConnectionError(endpoint_url="http://127.0.0.1:1")

    error = translate(exc, "describing images", "http://127.0.0.1:1")

    assert error.exit_code == 5
    assert error.message.startswith("cannot reach http://127.0.0.1:1 while describing images")
    assert "promote sandbox up" in error.hint


def test_access_denied_names_the_iam_action_and_how_to_fix_it(aws: Aws) -> None:
    client = aws.client("secretsmanager")
    with Stubber(client) as stub:
        stub.add_client_error(
            "get_secret_value",
            "AccessDeniedException",
            "User: arn:aws:iam::1:user/bob is not authorized to perform: "
            "secretsmanager:GetSecretValue",
            403,
        )
        with pytest.raises(PromoteError) as caught:
            AwsSecrets(aws).current("/concourse/dataworks/ami-ids")

    assert caught.value.exit_code == 5
    assert caught.value.message.startswith(
        "AWS denied secretsmanager:GetSecretValue while reading secret /concourse/dataworks/ami-ids"
    )
    assert caught.value.hint.startswith("grant secretsmanager:GetSecretValue to the identity")
    assert "promote iam-policy" in caught.value.hint


def test_s3_access_denied_names_the_iam_action_s3_does_not(aws: Aws) -> None:
    """S3 answers a bare "Access Denied"; listing a prefix is s3:ListBucket to IAM."""
    client = aws.client("s3")
    with Stubber(client) as stub:
        stub.add_client_error("list_objects_v2", "AccessDenied", "Access Denied", 403)
        with pytest.raises(PromoteError) as caught:
            S3Ledger(aws, "evidence").keys("evidence/")

    assert caught.value.exit_code == 5
    assert caught.value.message.startswith("AWS denied s3:ListBucket while listing")


def test_a_403_without_an_aws_error_code_is_a_refusal_too(aws: Aws) -> None:
    """The local AWS answers Secrets Manager refusals as a bare 403 page."""
    client = aws.client("secretsmanager")
    with Stubber(client) as stub:
        stub.add_client_error("get_secret_value", "403", "<?xml ...", 403)
        with pytest.raises(PromoteError) as caught:
            AwsSecrets(aws).current("/concourse/dataworks/ami-ids")

    assert caught.value.message == (
        "AWS denied secretsmanager:GetSecretValue while reading secret "
        "/concourse/dataworks/ami-ids: 403"
    )


def test_a_missing_secret_is_not_found(aws: Aws) -> None:
    with Stubber(aws.client("secretsmanager")) as stub:
        stub.add_client_error("get_secret_value", "ResourceNotFoundException", "nope", 400)
        with pytest.raises(PromoteError) as caught:
            AwsSecrets(aws).current("/x")

    assert caught.value.exit_code == 4
    assert caught.value.message == "secret /x not found in eu-west-2"


def test_a_missing_bucket_is_not_found(aws: Aws) -> None:
    with Stubber(aws.client("s3")) as stub:
        stub.add_client_error("list_objects_v2", "NoSuchBucket", "The bucket does not exist", 404)
        with pytest.raises(PromoteError) as caught:
            S3Ledger(aws, "evidence").keys("evidence/")

    assert caught.value.exit_code == 4
    assert caught.value.message == "evidence bucket evidence does not exist"


def test_an_existing_evidence_key_is_reported_not_overwritten(aws: Aws) -> None:
    with Stubber(aws.client("s3")) as stub:
        stub.add_client_error(
            "put_object", "PreconditionFailed", "At least one precondition failed", 412
        )
        created = S3Ledger(aws, "evidence").put_new("evidence/a/b/c-SUCCESS.json", b"{}")

    assert created is False


def test_an_unknown_image_is_none_and_throttling_after_retries_is_exit_5(aws: Aws) -> None:
    with Stubber(aws.client("ec2")) as stub:
        stub.add_client_error("describe_images", "InvalidAMIID.NotFound", "no such image", 400)
        stub.add_client_error("describe_images", "RequestLimitExceeded", "slow down", 503)
        assert AwsImages(aws).image("ami-0123456789abcdef0") is None
        with pytest.raises(PromoteError) as caught:
            AwsImages(aws).image("ami-0123456789abcdef0")

    assert caught.value.exit_code == 5
    assert "RequestLimitExceeded (HTTP 503)" in caught.value.message
