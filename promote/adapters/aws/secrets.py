"""Secrets Manager: the ami-ids secret's versions, and compare-and-swap writes of new ones.

`AwsSecrets` is both the domain's SecretReader and its SecretWriter. A version is read and
written in the form it is stored in (SecretString text or SecretBinary bytes).
"""

from __future__ import annotations

from typing import Any

from promote import redact
from promote.adapters.aws.session import Aws
from promote.config import SecretLocation
from promote.domain.ami_ids import PENDING_STAGE, SecretVersion
from promote.errors import PromoteError, not_found

# Secrets Manager (and the local AWS) answer InvalidParameterException when RemoveFromVersionId
# does not hold AWSCURRENT any more: another writer won.
_CONFLICT_CODES = ("InvalidParameterException", "InvalidRequestException")
_MISSING = ("ResourceNotFoundException",)


def version_from(raw: dict[str, Any]) -> SecretVersion:
    """A SecretVersion from a GetSecretValue answer, as stored (string or binary)."""
    value = raw["SecretString"] if "SecretString" in raw else bytes(raw["SecretBinary"])
    redact.remember(value)  # the secret's value never shows in a -vv log line
    return SecretVersion(version_id=raw["VersionId"], value=value)


def value_kwargs(value: str | bytes) -> dict[str, str | bytes]:
    """The PutSecretValue / CreateSecret argument that stores VALUE in its own form."""
    return {"SecretBinary" if isinstance(value, bytes) else "SecretString": value}


class AwsSecrets:
    """SecretReader and SecretWriter over Secrets Manager: the tooling account's, or (PLACE)
    an env's own secret in its account, reached through its role."""

    def __init__(self, aws: Aws, place: SecretLocation | None = None) -> None:
        self.aws = aws
        self.role_arn = place.role_arn if place else None
        self.region = place.region if place else aws.config.region

    def _client(self) -> Any:
        return self.aws.client("secretsmanager", role_arn=self.role_arn, region=self.region)

    def current(self, secret_id: str) -> SecretVersion:
        """The AWSCURRENT version; not found (exit 4) when the secret does not exist."""
        found = self.version(secret_id, "AWSCURRENT", doing=f"reading secret {secret_id}")
        if found is None:
            raise not_found(
                f"secret {secret_id} not found in {self.region}"
                + (f" (through {self.role_arn})" if self.role_arn else ""),
                "set secret_id in promote.toml, or seed the local AWS: promote sandbox seed",
            )
        return found

    def version(self, secret_id: str, stage: str, doing: str = "") -> SecretVersion | None:
        """The version labelled STAGE (e.g. AWSPREVIOUS), or None when no version has it."""
        client = self._client()
        with self.aws.calling(
            doing or f"reading {stage} of secret {secret_id}", absorb=_MISSING
        ) as call:
            raw = client.get_secret_value(SecretId=secret_id, VersionStage=stage)
        return None if call.absorbed else version_from(raw)

    def put_pending(self, secret_id: str, token: str, value: str | bytes) -> str:
        """A new version labelled promote-pending; AWSCURRENT stays where it is."""
        client = self._client()
        with self.aws.calling(f"writing a new version of secret {secret_id}"):
            version_id: str = client.put_secret_value(
                SecretId=secret_id,
                ClientRequestToken=token,
                VersionStages=[PENDING_STAGE],
                **value_kwargs(value),
            )["VersionId"]
        return version_id

    def make_current(self, secret_id: str, version_id: str, from_version_id: str) -> bool:
        """Move AWSCURRENT from FROM_VERSION_ID only; False when it is no longer there."""
        client = self._client()
        with self.aws.calling(
            f"making version {version_id} of {secret_id} current", absorb=_CONFLICT_CODES
        ) as call:
            client.update_secret_version_stage(
                SecretId=secret_id,
                VersionStage="AWSCURRENT",
                MoveToVersionId=version_id,
                RemoveFromVersionId=from_version_id,
            )
        return call.absorbed is None

    def clear_pending(self, secret_id: str, version_id: str) -> None:
        """Remove the promote-pending label (a leftover label is harmless, so never fail)."""
        client = self._client()
        try:
            with self.aws.calling(f"clearing {PENDING_STAGE} on {secret_id}"):
                client.update_secret_version_stage(
                    SecretId=secret_id, VersionStage=PENDING_STAGE, RemoveFromVersionId=version_id
                )
        except PromoteError:
            pass
