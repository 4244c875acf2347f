"""S3: the evidence bucket (the domain's LedgerStore): create-only puts, listings, reads."""

from __future__ import annotations

from collections.abc import Collection, Iterator
from contextlib import contextmanager

from promote.adapters.aws.session import Aws, Call
from promote.domain.ports import ObjectVersion
from promote.errors import not_found

_TAKEN = ("PreconditionFailed", "ConditionalRequestConflict")


class S3Ledger:
    """LedgerStore over the evidence bucket."""

    def __init__(self, aws: Aws, bucket: str) -> None:
        self.aws = aws
        self.bucket = bucket

    @contextmanager
    def _calling(self, doing: str, absorb: Collection[str] = ()) -> Iterator[Call]:
        with self.aws.calling(doing, absorb=("NoSuchBucket", *absorb)) as call:
            yield call
        if call.absorbed == "NoSuchBucket":
            raise not_found(
                f"evidence bucket {self.bucket} does not exist",
                "set evidence_bucket in promote.toml, or seed the local AWS: promote sandbox seed",
            )

    def put_new(self, key: str, body: bytes) -> bool:
        """Create KEY unless it exists (If-None-Match: *); False when it existed."""
        return self.create(key, body) is not None

    def read(self, key: str) -> tuple[bytes, str] | None:
        """The body of KEY and its ETag; None when it does not exist."""
        client = self.aws.client("s3")
        with self._calling(f"reading s3://{self.bucket}/{key}", absorb=("NoSuchKey",)) as call:
            raw = client.get_object(Bucket=self.bucket, Key=key)
            body: bytes = raw["Body"].read()
        return None if call.absorbed else (body, str(raw["ETag"]))

    def create(self, key: str, body: bytes) -> str | None:
        """Create KEY unless it exists (If-None-Match: *); its ETag, or None when it existed."""
        client = self.aws.client("s3")
        with self._calling(f"writing s3://{self.bucket}/{key}", absorb=_TAKEN) as call:
            raw = client.put_object(
                Bucket=self.bucket,
                Key=key,
                Body=body,
                IfNoneMatch="*",
                ContentType="application/json",
            )
        return None if call.absorbed else str(raw["ETag"])

    def replace(self, key: str, body: bytes, etag: str) -> str | None:
        """Replace KEY only while its ETag is ETAG (If-Match); the new ETag, or None."""
        client = self.aws.client("s3")
        with self._calling(
            f"writing s3://{self.bucket}/{key}", absorb=(*_TAKEN, "NoSuchKey")
        ) as call:
            raw = client.put_object(
                Bucket=self.bucket, Key=key, Body=body, IfMatch=etag, ContentType="application/json"
            )
        return None if call.absorbed else str(raw["ETag"])

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

    def versions(self, prefix: str) -> list[ObjectVersion]:
        """Every version and delete marker under PREFIX (ListObjectVersions), in key order."""
        client = self.aws.client("s3")
        found: list[ObjectVersion] = []
        with self._calling(f"listing the versions in s3://{self.bucket}/{prefix}"):
            for page in client.get_paginator("list_object_versions").paginate(
                Bucket=self.bucket, Prefix=prefix
            ):
                for raw, marker in (
                    *((v, False) for v in page.get("Versions", [])),
                    *((m, True) for m in page.get("DeleteMarkers", [])),
                ):
                    found.append(
                        ObjectVersion(
                            raw["Key"], str(raw.get("VersionId")), bool(raw.get("IsLatest")), marker
                        )
                    )
        found.sort(key=lambda v: (v.key, not v.latest))
        return found

    def get(self, key: str) -> bytes:
        """The body of KEY; not found (exit 4) when it does not exist."""
        client = self.aws.client("s3")
        with self._calling(f"reading s3://{self.bucket}/{key}", absorb=("NoSuchKey",)) as call:
            body: bytes = client.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        if call.absorbed == "NoSuchKey":
            raise not_found(f"s3://{self.bucket}/{key} does not exist")
        return body
