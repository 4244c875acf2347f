"""Credentials and secret values never reach a log line, also under `-vv`.

`-vv` turns on botocore's and urllib3's debug logs, which print request headers (the SigV4
`Authorization`, `X-Amz-Security-Token`), request and response bodies (STS AssumeRole answers
carry an AccessKeyId, SecretAccessKey and SessionToken; GetSecretValue answers the ami-ids
secret) and URLs (a password in `https://user:pass@host`). `install` puts a filter that
rewrites every log record before any handler formats it, and the CLI passes every line it
prints through `redact` too:

- known shapes: `AccessKeyId`, `SecretAccessKey`, `SessionToken`, `SecretString`,
  `SecretBinary` values in JSON, XML or Python reprs; `Authorization` and
  `X-Amz-Security-Token` header values; `user:password@` in URLs; GitHub tokens (`ghp_...`);
- known values: every secret promote holds, registered with `remember` when it is read (the
  environment's tokens and keys, an assumed role's credentials, the ami-ids secret's value).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

MASK = "<redacted>"
MIN_SECRET_LENGTH = 6  # shorter values are too likely to appear by chance; never remembered
ENV_SECRETS = (
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "GITHUB_TOKEN",
    "GH_TOKEN",
    "CONCOURSE_TOKEN",
    "CONCOURSE_PASSWORD",
)
_FIELDS = "AccessKeyId|SecretAccessKey|SessionToken|SecretString|SecretBinary|Password|password"
_PATTERNS = (
    # JSON "Field": "value" / Python 'Field': 'value' / XML <Field>value</Field>
    re.compile(
        rf"""(?P<lead>["']?(?:{_FIELDS})["']?\s*[:=]\s*b?(?P<q>["']))"""
        r"""(?P<value>(?:\\+(?P=q)|(?!(?P=q)).)*)"""
    ),
    re.compile(rf"(?P<lead><(?:{_FIELDS})>)(?P<value>[^<]*)"),
    # headers, in a dict repr or on the wire
    re.compile(
        r"""(?P<lead>["']?(?:Authorization|X-Amz-Security-Token|x-amz-security-token)"""
        r"""["']?\s*[:=]\s*(?:b?["'])?)(?P<value>[^"'\r\n}]+)"""
    ),
    # passwords in URLs
    re.compile(r"(?P<lead>[a-z][a-z0-9+.-]*://[^/\s:@]+:)(?P<value>[^@/\s]+)(?=@)"),
    # GitHub tokens wherever they are
    re.compile(r"(?P<lead>)(?P<value>\b(?:ghp|gho|ghu|ghs|ghr|github_pat)_[A-Za-z0-9_]{20,})"),
)
_known: set[str] = set()


def remember(*secrets: str | bytes | None) -> None:
    """Mask these values wherever they appear in a log line from now on."""
    for secret in secrets:
        if isinstance(secret, bytes):
            secret = secret.decode("utf-8", "replace")
        if secret and len(secret) >= MIN_SECRET_LENGTH:
            _known.add(secret)


def remember_environment(environ: Mapping[str, str], names: Iterable[str] = ENV_SECRETS) -> None:
    """Mask the secrets the environment hands promote (tokens, keys, passwords)."""
    remember(*(environ.get(name) for name in names))


def redact(text: str) -> str:
    """TEXT with every credential shape and every remembered secret masked."""
    for secret in sorted(_known, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, MASK)
    for pattern in _PATTERNS:
        text = pattern.sub(lambda m: f"{m.group('lead')}{MASK}", text)
    return text


def install() -> None:
    """Debug logging to stderr with every handler behind a filter that rewrites each record's
    message (and its arguments) through `redact` (logging loads only under -vv)."""
    import logging

    class RedactingFilter(logging.Filter):
        def filter(self, record: logging.LogRecord) -> bool:
            try:
                message = record.getMessage()
            except (TypeError, ValueError):
                message = str(record.msg)
            record.msg, record.args = redact(message), None
            if record.exc_text:
                record.exc_text = redact(record.exc_text)
            return True

    logging.basicConfig(level=logging.DEBUG)
    for handler in logging.getLogger().handlers:
        handler.addFilter(RedactingFilter())
