"""The one place that talks to AWS (boto3/botocore); everything else asks it in domain words.

- One boto3 session, cached clients, botocore's *standard* retry mode (throttling, 5xx and
  connection errors are retried with backoff before we give up).
- The endpoint override (`--endpoint-url`, `AWS_ENDPOINT_URL`) points every client at the local
  AWS (the moto server of `promote sandbox`) or any other compatible endpoint.
- An environment with `role_arn` is reached through STS AssumeRole for its EC2 and Auto Scaling
  calls; the secret, the images and the ledger stay in the tooling account.
- Failures become `PromoteError`s with a hint and the documented exit code: missing things are 4,
  AWS refusing or failing after retries is 5.

This module is imported lazily by the CLI, so `promote --version` never loads boto3.
"""

from __future__ import annotations

import getpass
import json
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import boto3
import botocore.config
import botocore.exceptions
import botocore.parsers

from promote import __version__
from promote.config import Config, Environment
from promote.errors import ExitCode, PromoteError, not_found, remote_error, usage_error
from promote.fleet import Group, GroupMember, Instance
from promote.ids import SecretVersion
from promote.images import Image
from promote.rollout import MARKER_TAG, TemplateRef, marker_value

MAX_ATTEMPTS = 5
DESCRIBE_INSTANCES_PAGE = 1000
FILTER_VALUES_MAX = 200
ASG_NAMES_MAX = 50

_DENIED = {
    "AccessDenied",
    "AccessDeniedException",
    "UnauthorizedOperation",
    "UnrecognizedClientException",
    "InvalidClientTokenId",
    "SignatureDoesNotMatch",
    "ExpiredToken",
    "ExpiredTokenException",
    "AuthFailure",
}
_POLICY_HINT = "`promote iam-policy COMMAND` prints the policy a command needs"
# Operations whose IAM action is not named after them (the rest are SERVICE:Operation).
_IAM_ACTION_NAMES = {
    ("s3", "ListObjectsV2"): "ListBucket",
    ("s3", "ListObjects"): "ListBucket",
    ("s3", "HeadBucket"): "ListBucket",
    ("s3", "HeadObject"): "GetObject",
    ("s3", "ListObjectVersions"): "ListBucketVersions",
}


def iam_action(service: str, operation: str) -> str:
    """The IAM action AWS checks for OPERATION of SERVICE (by its signing name)."""
    return f"{service}:{_IAM_ACTION_NAMES.get((service, operation), operation)}"


def translate(
    exc: Exception, doing: str, endpoint: str | None = None, action: str | None = None
) -> PromoteError:
    """Turn a botocore failure while DOING into an operator-facing PromoteError.

    ACTION is the IAM action of the failed call (`ec2:DescribeImages`): a refusal names it, since
    S3 answers a bare "Access Denied" and other services word it differently.
    """
    where = endpoint or "AWS"
    if isinstance(exc, PromoteError):
        return exc
    if isinstance(
        exc, botocore.exceptions.NoCredentialsError | botocore.exceptions.PartialCredentialsError
    ):
        return remote_error(
            f"no AWS credentials found while {doing}",
            "set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or use the local "
            'AWS: eval "$(promote sandbox up)"',
        )
    if isinstance(exc, botocore.exceptions.ProfileNotFound):
        return usage_error(str(exc), "check --profile / AWS_PROFILE against ~/.aws/config")
    if isinstance(exc, botocore.exceptions.NoRegionError):
        return usage_error("no AWS region set", "set region in promote.toml or pass --region")
    if isinstance(
        exc,
        botocore.exceptions.EndpointConnectionError
        | botocore.exceptions.ConnectTimeoutError
        | botocore.exceptions.ReadTimeoutError
        | botocore.exceptions.ConnectionClosedError,
    ):
        hint = (
            "is the local AWS running? `promote sandbox up`"
            if endpoint
            else "check your network and proxy settings"
        )
        return remote_error(
            f"cannot reach {where} while {doing} (after {MAX_ATTEMPTS} attempts)", hint
        )
    if isinstance(exc, botocore.exceptions.ClientError):
        error = exc.response.get("Error", {})
        code = str(error.get("Code", "Unknown"))
        message = str(error.get("Message", "")).splitlines()[0] if error.get("Message") else ""
        operation = getattr(exc, "operation_name", "the call")
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        if code in _DENIED or status == 403:
            said = "" if message.startswith("<") else message
            return remote_error(
                f"AWS denied {action or operation} while {doing}: {code}: {said}".rstrip(": "),
                f"grant {action or 'the action'} to the identity you run as; {_POLICY_HINT}",
            )
        return remote_error(
            f"AWS {operation} failed while {doing}: {code} (HTTP {status}): {message}".rstrip(": "),
            f"retried {MAX_ATTEMPTS} times; try again later, or run with -v for details",
        )
    if isinstance(exc, botocore.parsers.ResponseParserError):
        return remote_error(
            f"AWS call failed while {doing}: {where} answered with something that is not an "
            "AWS response (an HTTP 500 page?)",
            "run with -v for details",
        )
    if isinstance(exc, botocore.exceptions.BotoCoreError):
        first_line = str(exc).splitlines()[0]
        return remote_error(
            f"AWS call failed while {doing}: {first_line}", "run with -v for details"
        )
    raise exc


def _server_failed(exc: BaseException | None) -> bool:
    """True for an endpoint failing (HTTP 5xx, or an answer that is not AWS's), not refusing."""
    if isinstance(exc, botocore.parsers.ResponseParserError):
        return True
    if isinstance(exc, botocore.exceptions.ClientError):
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
        return int(status) >= 500
    return False


def error_code(exc: BaseException | None) -> str | None:
    """The AWS error code of a ClientError, else None."""
    if isinstance(exc, botocore.exceptions.ClientError):
        return str(exc.response.get("Error", {}).get("Code"))
    return None


class Aws:
    """Clients for the tooling account and for each environment, with one error policy."""

    def __init__(self, config: Config, credentials: tuple[str, str] | None = None) -> None:
        self.config = config
        self._credentials = credentials
        self._session: Any = None
        self._clients: dict[tuple[str, str, str | None], Any] = {}
        self._env_sessions: dict[tuple[str, str], Any] = {}
        self._handlers: list[tuple[str, Callable[..., Any]]] = [
            ("before-parameter-build", self._remember)
        ]
        self._last_call = threading.local()
        self._botocore_config = botocore.config.Config(
            retries={"mode": "standard", "max_attempts": MAX_ATTEMPTS},
            connect_timeout=5,
            read_timeout=60,
            user_agent_extra=f"promote/{__version__}",
        )

    @contextmanager
    def calling(self, doing: str) -> Iterator[None]:
        """Translate any AWS failure inside the block into a PromoteError."""
        try:
            yield
        except PromoteError:
            raise
        except (
            botocore.exceptions.BotoCoreError,
            botocore.exceptions.ClientError,
            botocore.parsers.ResponseParserError,
        ) as exc:
            raise translate(exc, doing, self.config.endpoint_url, self._action_of(exc)) from exc

    def _remember(self, model: Any, **_: Any) -> None:
        """before-parameter-build hook: the service and operation this thread is calling."""
        self._last_call.value = (model.service_model.signing_name, model.name)

    def _action_of(self, exc: Exception) -> str | None:
        """The IAM action of the call that failed with EXC, when this thread made it."""
        service, operation = getattr(self._last_call, "value", ("", ""))
        if service and operation and operation == getattr(exc, "operation_name", None):
            return iam_action(str(service), str(operation))
        return None

    def on(self, event: str, handler: Callable[..., Any]) -> None:
        """Register a botocore event handler on every client, now and later (tests, benchmarks)."""
        self._handlers.append((event, handler))
        for client in self._clients.values():
            client.meta.events.register(event, handler)

    @property
    def session(self) -> Any:
        """The boto3 session of the tooling account."""
        if self._session is None:
            with self.calling("loading AWS configuration"):
                if self._credentials:
                    key, secret = self._credentials
                    self._session = boto3.Session(
                        aws_access_key_id=key,
                        aws_secret_access_key=secret,
                        region_name=self.config.region,
                    )
                else:
                    self._session = boto3.Session(
                        profile_name=self.config.profile, region_name=self.config.region
                    )
        return self._session

    def client(self, service: str, env: Environment | None = None) -> Any:
        """A cached client for SERVICE, in ENV's account and region when it has a role."""
        region = self.config.env_region(env) if env else self.config.region
        role = env.role_arn if env else None
        key = (service, region, role)
        if key not in self._clients:
            session = self._role_session(role, region) if role else self.session
            with self.calling(f"creating the {service} client"):
                client = session.client(
                    service,
                    region_name=region,
                    endpoint_url=self.config.endpoint_url,
                    config=self._botocore_config,
                )
            for event, handler in self._handlers:
                client.meta.events.register(event, handler)
            self._clients[key] = client
        return self._clients[key]

    def _role_session(self, role_arn: str, region: str) -> Any:
        if (role_arn, region) not in self._env_sessions:
            sts = self.client("sts")
            with self.calling(f"assuming {role_arn}"):
                credentials = sts.assume_role(
                    RoleArn=role_arn,
                    RoleSessionName=f"promote-{_safe_user()}"[:64],
                    DurationSeconds=3600,
                )["Credentials"]
            self._env_sessions[(role_arn, region)] = boto3.Session(
                aws_access_key_id=credentials["AccessKeyId"],
                aws_secret_access_key=credentials["SecretAccessKey"],
                aws_session_token=credentials["SessionToken"],
                region_name=region,
            )
        return self._env_sessions[(role_arn, region)]

    def has_credentials(self) -> bool:
        """True when the credential chain finds credentials (no AWS call is made)."""
        try:
            return self.session.get_credentials() is not None
        except (botocore.exceptions.BotoCoreError, PromoteError):
            return False

    def caller_identity(self) -> str | None:
        """The ARN we act as, for the record; None when STS cannot say."""
        try:
            arn: str = self.client("sts").get_caller_identity()["Arn"]
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError):
            return None
        return arn


def _safe_user() -> str:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return "".join(c for c in user if c.isalnum() or c in "+=,.@-") or "unknown"


def _chunks(items: Sequence[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield list(items[start : start + size])


class AwsFleet:
    """FleetReader over Auto Scaling and EC2."""

    def __init__(self, aws: Aws) -> None:
        self.aws = aws

    def groups(self, env: Environment) -> list[Group]:
        """The environment's ASGs in config order; not found (exit 4) for a missing one."""
        client = self.aws.client("autoscaling", env)
        found: dict[str, Group] = {}
        with self.aws.calling(f"describing the auto scaling groups of {env.name}"):
            paginator = client.get_paginator("describe_auto_scaling_groups")
            for names in _chunks(env.autoscaling_groups, ASG_NAMES_MAX):
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
        """EC2's view of the groups' members: one paginated sweep by ASG tag, 1,000 a page."""
        client = self.aws.client("ec2", env)
        wanted = {m.instance_id for g in groups for m in g.members}
        found: dict[str, Instance] = {}
        if not wanted:
            return found
        with self.aws.calling(f"describing the instances of {env.name}"):
            paginator = client.get_paginator("describe_instances")
            names = [g.name for g in groups]
            for chunk in _chunks(names, FILTER_VALUES_MAX):
                pages = paginator.paginate(
                    Filters=[{"Name": "tag:aws:autoscaling:groupName", "Values": chunk}],
                    PaginationConfig={"PageSize": DESCRIBE_INSTANCES_PAGE},
                )
                _collect(pages, wanted, found)
            # Members whose ASG tag EC2 does not show yet (or any more) are looked up by id.
            missing = sorted(wanted - found.keys())
            for chunk in _chunks(missing, FILTER_VALUES_MAX):
                pages = paginator.paginate(
                    Filters=[{"Name": "instance-id", "Values": chunk}],
                    PaginationConfig={"PageSize": DESCRIBE_INSTANCES_PAGE},
                )
                _collect(pages, wanted, found)
        return found


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


def _collect(pages: Any, wanted: set[str], found: dict[str, Instance]) -> None:
    for page in pages:
        for reservation in page["Reservations"]:
            for raw in reservation["Instances"]:
                if raw["InstanceId"] in wanted:
                    found[raw["InstanceId"]] = Instance(
                        instance_id=raw["InstanceId"],
                        image_id=raw["ImageId"],
                        state=raw["State"]["Name"],
                        private_dns=raw.get("PrivateDnsName", ""),
                        private_ip=raw.get("PrivateIpAddress", ""),
                    )


def image_from(raw: dict[str, Any]) -> Image:
    """An Image from a DescribeImages entry, with its snapshot ids."""
    return Image(
        image_id=raw["ImageId"],
        name=raw.get("Name", ""),
        state=raw.get("State", "unknown"),
        creation_date=raw.get("CreationDate", ""),
        tags={t["Key"]: t["Value"] for t in raw.get("Tags", [])},
        snapshot_ids=tuple(
            m["Ebs"]["SnapshotId"]
            for m in raw.get("BlockDeviceMappings", [])
            if m.get("Ebs", {}).get("SnapshotId")
        ),
    )


class AwsImages:
    """ImageReader over EC2 in the tooling account."""

    def __init__(self, aws: Aws) -> None:
        self.aws = aws

    def image(self, ami: str) -> Image | None:
        """The image, or None when the region has no such image."""
        client = self.aws.client("ec2")
        try:
            with self.aws.calling(f"describing {ami}"):
                images = client.describe_images(ImageIds=[ami])["Images"]
        except PromoteError as exc:
            if error_code(exc.__cause__) in ("InvalidAMIID.NotFound", "InvalidAMIID.Unavailable"):
                return None
            raise
        return image_from(images[0]) if images else None


class AwsSecrets:
    """SecretReader over Secrets Manager."""

    def __init__(self, aws: Aws) -> None:
        self.aws = aws

    def current(self, secret_id: str) -> SecretVersion:
        """The AWSCURRENT version, as stored (string or binary)."""
        client = self.aws.client("secretsmanager")
        try:
            with self.aws.calling(f"reading secret {secret_id}"):
                raw = client.get_secret_value(SecretId=secret_id, VersionStage="AWSCURRENT")
        except PromoteError as exc:
            if error_code(exc.__cause__) == "ResourceNotFoundException":
                raise not_found(
                    f"secret {secret_id} not found in {self.aws.config.region}",
                    "set secret_id in promote.toml, or seed the local AWS: promote sandbox seed",
                ) from exc
            raise
        value = raw["SecretString"] if "SecretString" in raw else bytes(raw["SecretBinary"])
        return SecretVersion(version_id=raw["VersionId"], value=value)


class S3Ledger:
    """LedgerStore over the evidence bucket."""

    def __init__(self, aws: Aws, bucket: str) -> None:
        self.aws = aws
        self.bucket = bucket

    @contextmanager
    def _calling(self, doing: str) -> Iterator[None]:
        try:
            with self.aws.calling(doing):
                yield
        except PromoteError as exc:
            if error_code(exc.__cause__) == "NoSuchBucket":
                raise not_found(
                    f"evidence bucket {self.bucket} does not exist",
                    "set evidence_bucket in promote.toml, or seed the local AWS: "
                    "promote sandbox seed",
                ) from exc
            raise

    def put_new(self, key: str, body: bytes) -> bool:
        """Create KEY unless it exists (If-None-Match: *); False when it existed."""
        client = self.aws.client("s3")
        try:
            with self._calling(f"writing s3://{self.bucket}/{key}"):
                client.put_object(
                    Bucket=self.bucket,
                    Key=key,
                    Body=body,
                    IfNoneMatch="*",
                    ContentType="application/json",
                )
        except PromoteError as exc:
            if error_code(exc.__cause__) in ("PreconditionFailed", "ConditionalRequestConflict"):
                return False
            raise
        return True

    def put(self, key: str, body: bytes) -> None:
        """Create or replace KEY."""
        client = self.aws.client("s3")
        with self._calling(f"writing s3://{self.bucket}/{key}"):
            client.put_object(Bucket=self.bucket, Key=key, Body=body, ContentType="text/plain")

    def keys(self, prefix: str) -> list[str]:
        """Every key under PREFIX."""
        client = self.aws.client("s3")
        keys: list[str] = []
        with self._calling(f"listing s3://{self.bucket}/{prefix}"):
            for page in client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=prefix
            ):
                keys.extend(obj["Key"] for obj in page.get("Contents", []))
        return keys

    def get(self, key: str) -> bytes:
        """The body of KEY; not found (exit 4) when it does not exist."""
        client = self.aws.client("s3")
        try:
            with self._calling(f"reading s3://{self.bucket}/{key}"):
                body: bytes = client.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        except PromoteError as exc:
            if error_code(exc.__cause__) == "NoSuchKey":
                raise PromoteError(
                    f"s3://{self.bucket}/{key} does not exist", "", ExitCode.NOT_FOUND
                ) from exc
            raise
        return body


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
        version_spec = str(spec.get("Version") or "$Default")
        client = self.aws.client("ec2", env)
        with self.aws.calling(f"reading the launch template of {group}"):
            versions = client.describe_launch_template_versions(
                LaunchTemplateId=spec["LaunchTemplateId"], Versions=[version_spec]
            )["LaunchTemplateVersions"]
        version = versions[0]
        return TemplateRef(
            template_id=spec["LaunchTemplateId"],
            name=version.get("LaunchTemplateName", spec.get("LaunchTemplateName", "")),
            version_spec=version_spec,
            version=int(version["VersionNumber"]),
            image_id=version.get("LaunchTemplateData", {}).get("ImageId"),
        )

    def use_image(self, env: Environment, group: str, template: TemplateRef, ami: str) -> int:
        """A new template version with only ImageId changed, and the group pointed at it."""
        ec2 = self.aws.client("ec2", env)
        with self.aws.calling(f"updating launch template {template.name}"):
            # AWS merges SourceVersion's data under what we pass; the local AWS does not, so
            # the source's data is passed too. UserData is left to SourceVersion: echoing it
            # back breaks the local AWS, and on AWS it is inherited unchanged.
            source = ec2.describe_launch_template_versions(
                LaunchTemplateId=template.template_id, Versions=[str(template.version)]
            )["LaunchTemplateVersions"][0].get("LaunchTemplateData", {})
            data = {k: v for k, v in source.items() if k != "UserData"}
            created = ec2.create_launch_template_version(
                LaunchTemplateId=template.template_id,
                SourceVersion=str(template.version),
                VersionDescription=f"promote rollout: ImageId {ami}",
                LaunchTemplateData={**data, "ImageId": ami},
            )
            version = int(created["LaunchTemplateVersion"]["VersionNumber"])
            if template.version_spec == "$Default":
                ec2.modify_launch_template(
                    LaunchTemplateId=template.template_id, DefaultVersion=str(version)
                )
            elif template.version_spec != "$Latest":
                self.aws.client("autoscaling", env).update_auto_scaling_group(
                    AutoScalingGroupName=group,
                    LaunchTemplate={
                        "LaunchTemplateId": template.template_id,
                        "Version": str(version),
                    },
                )
        return version

    def capacity(self, env: Environment, group: str) -> tuple[int, int]:
        """(desired, max) of the group."""
        raw = self._group(env, group)
        return int(raw["DesiredCapacity"]), int(raw["MaxSize"])

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

    def marker(self, env: Environment, group: str) -> dict[str, Any] | None:
        """The rollout marker tag on the group, if any."""
        client = self.aws.client("autoscaling", env)
        with self.aws.calling(f"reading the tags of {group}"):
            tags = client.describe_tags(
                Filters=[
                    {"Name": "auto-scaling-group", "Values": [group]},
                    {"Name": "key", "Values": [MARKER_TAG]},
                ]
            )["Tags"]
        if not tags:
            return None
        try:
            value: dict[str, Any] = json.loads(tags[0]["Value"])
        except ValueError:
            return None
        return value

    def set_marker(self, env: Environment, group: str, marker: dict[str, Any] | None) -> None:
        """Write (or with None, remove) the rollout marker tag."""
        client = self.aws.client("autoscaling", env)
        tag = {"ResourceId": group, "ResourceType": "auto-scaling-group", "Key": MARKER_TAG}
        with self.aws.calling(f"tagging {group}"):
            if marker is None:
                client.delete_tags(Tags=[tag])
            else:
                client.create_or_update_tags(
                    Tags=[{**tag, "Value": marker_value(marker), "PropagateAtLaunch": False}]
                )


# --- promotion core (issue 4): writers for the secret, images, and what is in use ---

PENDING_STAGE = "promote-pending"
_CONFLICT_CODES = {"InvalidParameterException", "InvalidRequestException"}


class AwsSecretVersions(AwsSecrets):
    """SecretWriter (compare-and-swap on the version id) and reader of any staged version."""

    def version(self, secret_id: str, stage: str) -> SecretVersion | None:
        """The version labelled STAGE (e.g. AWSPREVIOUS), or None when no version has it."""
        client = self.aws.client("secretsmanager")
        try:
            with self.aws.calling(f"reading {stage} of secret {secret_id}"):
                raw = client.get_secret_value(SecretId=secret_id, VersionStage=stage)
        except PromoteError as exc:
            if error_code(exc.__cause__) == "ResourceNotFoundException":
                return None
            raise
        value = raw["SecretString"] if "SecretString" in raw else bytes(raw["SecretBinary"])
        return SecretVersion(version_id=raw["VersionId"], value=value)

    def put_pending(self, secret_id: str, token: str, value: str | bytes) -> str:
        """A new version labelled promote-pending; AWSCURRENT stays where it is."""
        client = self.aws.client("secretsmanager")
        kwargs: dict[str, Any] = {
            "SecretId": secret_id,
            "ClientRequestToken": token,
            "VersionStages": [PENDING_STAGE],
        }
        kwargs["SecretBinary" if isinstance(value, bytes) else "SecretString"] = value
        with self.aws.calling(f"writing a new version of secret {secret_id}"):
            version_id: str = client.put_secret_value(**kwargs)["VersionId"]
        return version_id

    def make_current(self, secret_id: str, version_id: str, from_version_id: str) -> bool:
        """Move AWSCURRENT from FROM_VERSION_ID only; False when it is no longer there.

        Secrets Manager (and the local AWS) answer InvalidParameterException when
        RemoveFromVersionId does not hold AWSCURRENT any more: another writer won.
        """
        client = self.aws.client("secretsmanager")
        try:
            with self.aws.calling(f"making version {version_id} of {secret_id} current"):
                client.update_secret_version_stage(
                    SecretId=secret_id,
                    VersionStage="AWSCURRENT",
                    MoveToVersionId=version_id,
                    RemoveFromVersionId=from_version_id,
                )
        except PromoteError as exc:
            if error_code(exc.__cause__) in _CONFLICT_CODES:
                return False
            raise
        return True

    def clear_pending(self, secret_id: str, version_id: str) -> None:
        """Remove the promote-pending label (a leftover label is harmless, so never fail)."""
        client = self.aws.client("secretsmanager")
        try:
            with self.aws.calling(f"clearing {PENDING_STAGE} on {secret_id}"):
                client.update_secret_version_stage(
                    SecretId=secret_id, VersionStage=PENDING_STAGE, RemoveFromVersionId=version_id
                )
        except PromoteError:
            pass


class AwsImageCatalog(AwsImages):
    """ImageCatalog over EC2 in the tooling account: list, copy, tag, share, deprecate, delete."""

    def _describe(self, doing: str, **kwargs: Any) -> list[Image]:
        client = self.aws.client("ec2")
        with self.aws.calling(doing):
            pages = client.get_paginator("describe_images").paginate(Owners=["self"], **kwargs)
            return [image_from(raw) for page in pages for raw in page["Images"]]

    def owned(self) -> list[Image]:
        """Every image the tooling account owns."""
        return self._describe("listing the account's images")

    def copies_of(self, source: str) -> list[Image]:
        """Tested copies of SOURCE, found by tag."""
        return [
            image
            for image in self._describe(
                f"looking for tested copies of {source}",
                Filters=[{"Name": "tag:promote:source-image", "Values": [source]}],
            )
            if image.stage == "tested" and image.state not in ("deregistered", "failed")
        ]

    def copy(
        self, source: str, name: str, description: str, tags: dict[str, str], token: str
    ) -> str:
        """CopyImage with the tags at creation (AWS) and again afterwards (the local AWS)."""
        client = self.aws.client("ec2")
        with self.aws.calling(f"copying {source}"):
            image_id: str = client.copy_image(
                SourceImageId=source,
                SourceRegion=self.aws.config.region,
                Name=name,
                Description=description,
                ClientToken=token,
                TagSpecifications=[{"ResourceType": "image", "Tags": _tag_list(tags)}],
            )["ImageId"]
        self.tag(image_id, tags)
        return image_id

    def tag(self, ami: str, tags: dict[str, str]) -> None:
        """CreateTags."""
        client = self.aws.client("ec2")
        with self.aws.calling(f"tagging {ami}"):
            client.create_tags(Resources=[ami], Tags=_tag_list(tags))

    def launch_permissions(self, ami: str) -> list[str]:
        """Account ids in the image's launchPermission attribute."""
        client = self.aws.client("ec2")
        with self.aws.calling(f"reading the launch permissions of {ami}"):
            raw = client.describe_image_attribute(ImageId=ami, Attribute="launchPermission")
        return sorted(p["UserId"] for p in raw.get("LaunchPermissions", []) if p.get("UserId"))

    def grant_launch(self, ami: str, accounts: list[str]) -> None:
        """Add launch permission on the image and create-volume permission on its snapshots."""
        if not accounts:
            return
        client = self.aws.client("ec2")
        image = self.image(ami)
        with self.aws.calling(f"sharing {ami} with {', '.join(accounts)}"):
            client.modify_image_attribute(
                ImageId=ami, LaunchPermission={"Add": [{"UserId": a} for a in accounts]}
            )
            for snapshot in image.snapshot_ids if image else ():
                client.modify_snapshot_attribute(
                    SnapshotId=snapshot,
                    Attribute="createVolumePermission",
                    OperationType="add",
                    UserIds=accounts,
                )

    def deprecate(self, ami: str, at: str) -> str | None:
        """EnableImageDeprecation: None, or why the endpoint failed at it after retries (the
        local AWS answers 500). A refusal (AccessDenied) or a bad request is a PromoteError."""
        client = self.aws.client("ec2")
        try:
            with self.aws.calling(f"deprecating {ami}"):
                client.enable_image_deprecation(ImageId=ami, DeprecateAt=at)
        except PromoteError as exc:
            if _server_failed(exc.__cause__):
                return exc.message
            raise
        return None

    def deregister(self, image: Image) -> list[str]:
        """DeregisterImage, then DeleteSnapshot for each of its snapshots."""
        client = self.aws.client("ec2")
        deleted = []
        with self.aws.calling(f"deregistering {image.image_id}"):
            client.deregister_image(ImageId=image.image_id)
        for snapshot in image.snapshot_ids:
            try:
                with self.aws.calling(f"deleting snapshot {snapshot}"):
                    client.delete_snapshot(SnapshotId=snapshot)
            except PromoteError as exc:
                if error_code(exc.__cause__) != "InvalidSnapshot.NotFound":
                    raise
            deleted.append(snapshot)
        return deleted


def _tag_list(tags: dict[str, str]) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in tags.items()]


class AwsImageUsage:
    """What uses an image: instances (any state) and launch templates, in every account we reach."""

    def __init__(self, aws: Aws) -> None:
        self.aws = aws

    def _targets(self, envs: Sequence[Environment]) -> list[tuple[str, Environment | None]]:
        seen: set[tuple[str, str | None]] = set()
        targets: list[tuple[str, Environment | None]] = []
        for env in [None, *envs]:
            key = (
                self.aws.config.env_region(env) if env else self.aws.config.region,
                env.role_arn if env else None,
            )
            if key not in seen:
                seen.add(key)
                targets.append((env.name if env else "tooling account", env))
        return targets

    def instance_images(self, envs: Sequence[Environment]) -> dict[str, list[str]]:
        """AMI id -> instance ids using it, in any state (terminated ones too)."""
        used: dict[str, list[str]] = {}
        for where, env in self._targets(envs):
            client = self.aws.client("ec2", env)
            with self.aws.calling(f"listing the instances of {where}"):
                pages = client.get_paginator("describe_instances").paginate(
                    PaginationConfig={"PageSize": DESCRIBE_INSTANCES_PAGE}
                )
                for page in pages:
                    for reservation in page["Reservations"]:
                        for raw in reservation["Instances"]:
                            used.setdefault(raw["ImageId"], []).append(raw["InstanceId"])
        return used

    def launch_template_images(self, envs: Sequence[Environment]) -> dict[str, list[str]]:
        """AMI id -> launch templates whose default or latest version names it."""
        used: dict[str, list[str]] = {}
        for where, env in self._targets(envs):
            client = self.aws.client("ec2", env)
            with self.aws.calling(f"listing the launch templates of {where}"):
                templates = [
                    t
                    for page in client.get_paginator("describe_launch_templates").paginate()
                    for t in page["LaunchTemplates"]
                ]
                for template in templates:
                    versions = client.describe_launch_template_versions(
                        LaunchTemplateId=template["LaunchTemplateId"],
                        Versions=["$Default", "$Latest"],
                    )["LaunchTemplateVersions"]
                    for version in versions:
                        ami = version.get("LaunchTemplateData", {}).get("ImageId")
                        if ami:
                            label = (
                                f"launch template {template['LaunchTemplateName']} "
                                f"v{version['VersionNumber']}"
                            )
                            if label not in used.get(ami, []):
                                used.setdefault(ami, []).append(label)
        return used
