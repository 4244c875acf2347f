"""The AWS session: one boto3 session, cached clients and one error policy for every AWS adapter.

The files of `promote.adapters.aws` are the only importers of boto3 and botocore; each owns one
service (autoscaling, ec2, secrets, s3, sts) and answers the domain's ports in domain words.

- One boto3 session, cached clients, botocore's *standard* retry mode (throttling, 5xx and
  connection errors are retried with backoff before we give up).
- The endpoint override (`--endpoint-url`, `AWS_ENDPOINT_URL`) points every client at the local
  AWS (the moto server of `promote sandbox`) or any other compatible endpoint.
- An environment with `role_arn` is reached through STS AssumeRole for its EC2 and Auto Scaling
  calls; the secret, the images and the ledger stay in the tooling account.
- Failures become `PromoteError`s with a hint and the documented exit code: missing things are 4,
  AWS refusing or failing after retries is 5.

- An expected AWS error is caught at the call: `with aws.calling(doing, absorb=codes) as call`
  leaves `call.absorbed` set to the code instead of raising, so callers never dig in
  `__cause__`.

This package is imported lazily by the CLI, so `promote --version` never loads boto3.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import boto3
import botocore.config
import botocore.exceptions
import botocore.parsers
import botocore.session

from promote import __version__, redact
from promote.adapters.aws import sts
from promote.config import Config, Environment
from promote.errors import PromoteError, remote_error, usage_error

MAX_ATTEMPTS = 5

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


def server_failed(exc: BaseException | None) -> bool:
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


@dataclass
class Call:
    """What `Aws.calling` absorbed instead of raising: an expected error code, or a server
    failure (HTTP 5xx, or an answer that is not AWS's) when asked to tolerate one."""

    absorbed: str | None = None
    server_error: str | None = None


_LOADER_LOCK = threading.Lock()
_LOADER: list[Any] = []  # the process's one botocore data loader, once made


def new_session(**kwargs: Any) -> Any:
    """A boto3 session that shares the process's botocore data loader.

    The loader reads and caches the service models (ec2's alone is megabytes of JSON); every
    session made its own, so each env role's session, and each command a test or a benchmark
    runs in one process, read them again. The models are read-only data, so one loader serves
    every session.
    """
    core = botocore.session.Session()
    with _LOADER_LOCK:
        if _LOADER:
            core.register_component("data_loader", _LOADER[0])
        else:
            _LOADER.append(core.get_component("data_loader"))
        session = boto3.Session(botocore_session=core, **kwargs)
        paths = _LOADER[0].search_paths  # boto3 adds its own data path once per session
        paths[:] = list(dict.fromkeys(paths))
    return session


class Aws:
    """Clients for the tooling account and for each environment, with one error policy."""

    def __init__(
        self,
        config: Config,
        credentials: tuple[str, str] | None = None,
        user: str = "unknown",
    ) -> None:
        self.config = config
        self.user = user
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
    def calling(
        self, doing: str, absorb: Collection[str] = (), tolerate_server_error: bool = False
    ) -> Iterator[Call]:
        """Translate any AWS failure inside the block into a PromoteError.

        An error whose code is in ABSORB ends the block quietly with `call.absorbed` set; with
        TOLERATE_SERVER_ERROR, an endpoint failing after retries sets `call.server_error`.
        """
        call = Call()
        try:
            yield call
        except PromoteError:
            raise
        except (
            botocore.exceptions.BotoCoreError,
            botocore.exceptions.ClientError,
            botocore.parsers.ResponseParserError,
        ) as exc:
            code = error_code(exc)
            if code is not None and code in absorb:
                call.absorbed = code
                return
            error = translate(exc, doing, self.config.endpoint_url, self._action_of(exc))
            if tolerate_server_error and server_failed(exc):
                call.server_error = error.message
                return
            raise error from exc

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
                    self._session = new_session(
                        aws_access_key_id=key,
                        aws_secret_access_key=secret,
                        region_name=self.config.region,
                    )
                else:
                    self._session = new_session(
                        profile_name=self.config.profile, region_name=self.config.region
                    )
        return self._session

    def client(
        self,
        service: str,
        env: Environment | None = None,
        *,
        role_arn: str | None = None,
        region: str | None = None,
    ) -> Any:
        """A cached client for SERVICE, in ENV's account and region when it has a role (or
        through ROLE_ARN, in REGION, when those are given)."""
        region = region or (self.config.env_region(env) if env else self.config.region)
        role = role_arn or (env.role_arn if env else None)
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
            with self.calling(f"assuming {role_arn}"):
                credentials = sts.assume_role(self.client("sts"), role_arn, self.user)
            redact.remember(
                credentials["AccessKeyId"],
                credentials["SecretAccessKey"],
                credentials["SessionToken"],
            )
            self._env_sessions[(role_arn, region)] = new_session(
                aws_access_key_id=credentials["AccessKeyId"],
                aws_secret_access_key=credentials["SecretAccessKey"],
                aws_session_token=credentials["SessionToken"],
                region_name=region,
            )
        return self._env_sessions[(role_arn, region)]

    def has_credentials(self) -> bool:
        """True when the credential chain finds credentials that work; False only when no
        credential source is configured at all. A configured source that fails (an unknown
        profile, an expired SSO session, keys AWS refuses) is a PromoteError, exit 5: never a
        quiet fall back to the local AWS."""
        hint = (
            "run `aws sso login` (SSO), fix the profile or keys, or build on the local AWS on "
            "purpose: --target sandbox"
        )
        try:
            credentials = self.session.get_credentials()
        except PromoteError as exc:
            raise remote_error(exc.message, hint) from exc
        except botocore.exceptions.BotoCoreError as exc:
            raise remote_error(f"the AWS credentials configured do not load: {exc}", hint) from exc
        if credentials is None:
            return False
        source = getattr(credentials, "method", "the credential chain")
        try:
            credentials.get_frozen_credentials()
            sts.caller_identity(self.client("sts"))
        except PromoteError as exc:
            raise remote_error(
                f"the AWS credentials from {source} do not work: {exc.message}", hint
            ) from exc
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
            raise remote_error(
                f"the AWS credentials from {source} do not work: {exc}", hint
            ) from exc
        return True

    def caller_identity(self) -> str | None:
        """The ARN we act as, for the record; None when STS cannot say."""
        try:
            return sts.caller_identity(self.client("sts"))
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError):
            return None


def chunks(items: Sequence[str], size: int) -> Iterator[list[str]]:
    """ITEMS in lists of at most SIZE (API limits on names and filter values)."""
    for start in range(0, len(items), size):
        yield list(items[start : start + size])


def tag_list(tags: dict[str, str]) -> list[dict[str, str]]:
    """Tags in the Key/Value list form EC2 takes."""
    return [{"Key": k, "Value": v} for k, v in tags.items()]
