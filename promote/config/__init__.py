"""Resolved configuration: `promote.toml`, overridden by `PROMOTE_*` env vars, overridden by flags.

The file is found through `--config`, then `PROMOTE_CONFIG`, then `./promote.toml`. With no
file at all, the built-in defaults below are used (they describe the estate that
`promote sandbox seed` creates), so the sandbox works out of the box. A file that exists must
name `test_env` and at least one `[env.NAME]`; every other top-level key has a default.
Unknown keys, wrong types and missing keys are usage errors (exit 2) naming the file and key.

Region: `--region`, then `PROMOTE_REGION`, then the file, then `AWS_REGION` /
`AWS_DEFAULT_REGION`, then the AWS profile's `region` (~/.aws/config or AWS_CONFIG_FILE; the
profile of --profile / AWS_PROFILE, else default), then `eu-west-2`. The AWS endpoint is not a
config key: `--endpoint-url`, then `AWS_ENDPOINT_URL`, then the profile's `endpoint_url` (unless
AWS_IGNORE_CONFIGURED_ENDPOINT_URLS=true), as the AWS CLI resolves them.
"""

from __future__ import annotations

import configparser
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from promote.config.environments import (
    PINS_KEY,
    REGION,
    Environment,
    Stage,
    check_secret_keys,
    environments,
    string_value,
)
from promote.errors import usage_error

__all__ = [
    "BUILTIN_ENVS",
    "PINS_KEY",
    "Config",
    "ConfigReport",
    "Environment",
    "Overrides",
    "SecretLocation",
    "Stage",
    "load",
]

DEFAULT_REGION = "eu-west-2"

# Top-level scalar keys, their defaults, and the PROMOTE_* variable that overrides each.
SCALAR_DEFAULTS: dict[str, str] = {
    "region": DEFAULT_REGION,
    "secret_id": "/concourse/dataworks/ami-ids",
    "evidence_bucket": "concourse-ami-evidence",
    "untested_name": "untested-dw-al2-concourse-ami",
    "tested_name": "dw-al2-concourse-ami",
    "test_env": "management-dev",
    # results/<pipeline>.test, as existing pipelines read the test env's verdict
    "results_pipeline": "concourse",
    "github_repo": "dwp/aws-concourse",
    # The release's tag: {version}, {ami} and {semver} (the next patch of the newest semver tag)
    "release_tag": "concourse-{version}-{ami}",
    "evidence_signing_key": "alias/promote-evidence",
    "event_signing_key": "alias/promote-events",
}
# Optional top-level keys: a pinned public key (PEM text, or a path to a PEM file) that
# verifies records (evidence) or events instead of asking KMS for the signing key's.
OPTIONAL_SCALARS = ("evidence_public_key", "event_public_key", "results_git_repo")
# Legacy records written before evidence was signed count only when this is true (a warning on
# every use).
BOOL_DEFAULTS: dict[str, bool] = {"allow_unsigned_evidence": False}
REQUIRED_IN_FILE = ("test_env", "env")
BUILTIN_ENVS: dict[str, dict[str, Any]] = {
    "management-dev": {
        "secret_key": "concourse_ami_mgmt_dev",
        "autoscaling_groups": [
            "concourse-web-management-dev",
            "concourse-worker-management-dev",
        ],
        "accepts": "untested",
    },
    "management": {
        "secret_key": "concourse_ami",
        "autoscaling_groups": ["concourse-web-management", "concourse-worker-management"],
        "accepts": "tested",
    },
}


@dataclass(frozen=True)
class Config:
    """The resolved configuration and where each value came from."""

    region: str
    secret_id: str
    evidence_bucket: str
    untested_name: str
    tested_name: str
    test_env: str
    github_repo: str
    envs: Mapping[str, Environment] = field(metadata={"key": "env"})
    evidence_signing_key: str = SCALAR_DEFAULTS["evidence_signing_key"]
    event_signing_key: str = SCALAR_DEFAULTS["event_signing_key"]
    evidence_public_key: str | None = None
    event_public_key: str | None = None
    allow_unsigned_evidence: bool = False
    # A git repository (URL or path) validate of test_env commits results/<pipeline>.test to
    results_git_repo: str | None = None
    results_pipeline: str = SCALAR_DEFAULTS["results_pipeline"]
    release_tag: str = SCALAR_DEFAULTS["release_tag"]
    endpoint_url: str | None = None
    profile: str | None = None
    # Accounts besides the tooling account whose images may be promoted (provenance)
    builder_accounts: tuple[str, ...] = ()
    # Where the file and each value came from: shown by `promote config`, not part of the data.
    path: Path | None = field(default=None, metadata={"key": None})
    sources: Mapping[str, str] = field(default_factory=dict, metadata={"key": None})

    def environment(self, name: str) -> Environment:
        """The environment called NAME, or a usage error listing the known ones."""
        try:
            return self.envs[name]
        except KeyError:
            raise usage_error(
                f"unknown environment '{name}' in {self.origin}",
                f"known environments: {', '.join(sorted(self.envs))}",
            ) from None

    @property
    def origin(self) -> str:
        """The file the configuration came from, for messages."""
        return str(self.path) if self.path else "the built-in defaults"

    def env_region(self, env: Environment) -> str:
        """The region an environment's instances live in."""
        return env.region or self.region

    def secret_of(self, env: Environment) -> SecretLocation:
        """Where ENV's entry in the ami-ids secret lives."""
        return SecretLocation(
            env.secret_id or self.secret_id, env.secret_role_arn, env.secret_region or self.region
        )

    def secret_locations(self) -> list[SecretLocation]:
        """Every distinct ami-ids secret the envs read, the top-level one first."""
        found = [SecretLocation(self.secret_id, None, self.region)]
        for env in self.envs.values():
            if (place := self.secret_of(env)) not in found:
                found.append(place)
        return found

    def envs_in(self, place: SecretLocation) -> list[Environment]:
        """The envs whose entry lives in the secret at PLACE."""
        return [env for env in self.envs.values() if self.secret_of(env) == place]


@dataclass(frozen=True)
class SecretLocation:
    """One ami-ids secret: its id, the role that reaches it (None: the caller), its region."""

    secret_id: str
    role_arn: str | None
    region: str


@dataclass(frozen=True)
class ConfigReport:
    """What `promote config` shows: the resolved values and where each came from."""

    config_file: str | None
    config: Config
    sources: Mapping[str, str]


@dataclass(frozen=True)
class Overrides:
    """Values given on the command line; None means "not given"."""

    config_path: str | None = None
    region: str | None = None
    endpoint_url: str | None = None
    profile: str | None = None


def load(overrides: Overrides, environ: Mapping[str, str], cwd: Path) -> Config:
    """Find, parse and check the configuration, then apply env vars and flags on top."""
    path, path_source = _find_file(overrides, environ, cwd)
    sources: dict[str, str] = {}
    if path is None:
        raw: dict[str, Any] = {**SCALAR_DEFAULTS, "env": BUILTIN_ENVS}
        file_label = "default"
    else:
        raw = _read_toml(path)
        _check_keys(raw, path)
        file_label = f"file {path}"
        sources["config_file"] = path_source

    values: dict[str, str] = {}
    for key, default in SCALAR_DEFAULTS.items():
        if key in raw:
            values[key] = string_value(raw[key], key, path)
            sources[key] = file_label
        else:
            values[key] = default
            sources[key] = "default"

    profile = overrides.profile or environ.get("AWS_PROFILE") or None
    aws_profile, profile_label = _aws_profile(profile, environ)
    if "region" not in raw or path is None:
        for var in ("AWS_REGION", "AWS_DEFAULT_REGION"):
            if environ.get(var):
                values["region"], sources["region"] = environ[var], f"env {var}"
                break
        else:
            if aws_profile.get("region"):
                values["region"], sources["region"] = aws_profile["region"], profile_label

    for key in SCALAR_DEFAULTS:
        var = f"PROMOTE_{key.upper()}"
        if var in environ:
            if not environ[var].strip():
                raise usage_error(f"{var} is set but empty", f"unset {var} or give it a value")
            values[key], sources[key] = environ[var].strip(), f"env {var}"
    if overrides.region:
        values["region"], sources["region"] = overrides.region, "flag --region"

    if not REGION.fullmatch(values["region"]):
        raise usage_error(
            f"'{values['region']}' (from {sources['region']}) is not an AWS region name",
            "use a region such as eu-west-2",
        )

    envs = environments(raw["env"], path, file_label, sources)
    check_secret_keys(envs, path or "config", values["secret_id"], values["region"])
    if values["test_env"] not in envs:
        raise usage_error(
            f"{path or 'config'}: test_env '{values['test_env']}' is not one of the [env.*] tables",
            f"known environments: {', '.join(sorted(envs))}",
        )

    optional = _optional_values(raw, path, file_label, environ, sources)
    endpoint_url, sources["endpoint_url"] = _endpoint(overrides, environ)
    ignore = environ.get("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "").lower() == "true"
    if endpoint_url is None and aws_profile.get("endpoint_url") and not ignore:
        endpoint_url, sources["endpoint_url"] = aws_profile["endpoint_url"], profile_label
    sources["profile"] = (
        "flag --profile" if overrides.profile else ("env AWS_PROFILE" if profile else "default")
    )
    return Config(
        region=values["region"],
        secret_id=values["secret_id"],
        evidence_bucket=values["evidence_bucket"],
        untested_name=values["untested_name"],
        tested_name=values["tested_name"],
        test_env=values["test_env"],
        github_repo=values["github_repo"],
        envs=envs,
        evidence_signing_key=values["evidence_signing_key"],
        event_signing_key=values["event_signing_key"],
        evidence_public_key=optional.get("evidence_public_key"),
        event_public_key=optional.get("event_public_key"),
        allow_unsigned_evidence=bool(optional.get("allow_unsigned_evidence")),
        results_git_repo=optional.get("results_git_repo"),
        results_pipeline=values["results_pipeline"],
        release_tag=values["release_tag"],
        endpoint_url=endpoint_url,
        profile=profile,
        builder_accounts=_builder_accounts(raw, path, file_label, environ, sources),
        path=path,
        sources=sources,
    )


_ACCOUNT_ID = re.compile(r"\d{12}")


def _builder_accounts(
    raw: Mapping[str, Any],
    path: Path | None,
    file_label: str,
    environ: Mapping[str, str],
    sources: dict[str, str],
) -> tuple[str, ...]:
    """`builder_accounts` (a list of 12-digit account ids), or PROMOTE_BUILDER_ACCOUNTS
    (comma-separated); () when neither is set."""
    sources["builder_accounts"] = "default"
    values: list[Any] = []
    label = f"{path}: 'builder_accounts'"
    if "builder_accounts" in raw:
        found = raw["builder_accounts"]
        if not isinstance(found, list):
            raise usage_error(
                f"{label} must be a list of account ids",
                'write it as builder_accounts = ["111111111111"]',
            )
        values, sources["builder_accounts"] = found, file_label
    text = environ.get("PROMOTE_BUILDER_ACCOUNTS", "").strip()
    if text:
        values = [part.strip() for part in text.split(",") if part.strip()]
        label, sources["builder_accounts"] = (
            "PROMOTE_BUILDER_ACCOUNTS",
            "env PROMOTE_BUILDER_ACCOUNTS",
        )
    for value in values:
        if not isinstance(value, str) or not _ACCOUNT_ID.fullmatch(value):
            raise usage_error(
                f"{label}: {value!r} is not a 12-digit AWS account id",
                'list the accounts whose images may be promoted, e.g. ["111111111111"]',
            )
    return tuple(values)


def _find_file(
    overrides: Overrides, environ: Mapping[str, str], cwd: Path
) -> tuple[Path | None, str]:
    if overrides.config_path:
        candidate, source = Path(overrides.config_path), "flag --config"
    elif environ.get("PROMOTE_CONFIG"):
        candidate, source = Path(environ["PROMOTE_CONFIG"]), "env PROMOTE_CONFIG"
    else:
        local = cwd / "promote.toml"
        return (local, "./promote.toml") if local.is_file() else (None, "default")
    if not candidate.is_file():
        raise usage_error(
            f"config file {candidate} (from {source}) does not exist",
            "point --config or PROMOTE_CONFIG at a promote.toml, or unset it",
        )
    return candidate, source


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except tomllib.TOMLDecodeError as exc:
        raise usage_error(
            f"{path}: not valid TOML: {exc}", "fix the syntax at the line and column shown"
        ) from exc
    except RecursionError:
        raise usage_error(
            f"{path}: nests tables or arrays deeper than promote reads",
            "promote.toml needs two levels at most ([env.NAME] and its lists)",
        ) from None
    except OSError as exc:
        raise usage_error(f"{path}: cannot be read: {exc.strerror}") from exc


def _check_keys(raw: Mapping[str, Any], path: Path) -> None:
    known = {*SCALAR_DEFAULTS, *OPTIONAL_SCALARS, *BOOL_DEFAULTS, "builder_accounts", "env"}
    for key in raw:
        if key not in known:
            raise usage_error(
                f"{path}: unknown key '{key}'", f"known keys: {', '.join(sorted(known))}"
            )
    for key in REQUIRED_IN_FILE:
        if key not in raw:
            what = "[env.NAME] table" if key == "env" else f"key '{key}'"
            raise usage_error(f"{path}: missing {what}", "see promote.toml in the README")


def _optional_values(
    raw: Mapping[str, Any],
    path: Path | None,
    file_label: str,
    environ: Mapping[str, str],
    sources: dict[str, str],
) -> dict[str, Any]:
    """The optional keys (pinned public keys, allow_unsigned_evidence): file, then PROMOTE_*."""
    values: dict[str, Any] = {}
    for key in OPTIONAL_SCALARS:
        if key in raw:
            values[key], sources[key] = string_value(raw[key], key, path), file_label
    for key, default in BOOL_DEFAULTS.items():
        values[key], sources[key] = default, "default"
        if key in raw:
            if not isinstance(raw[key], bool):
                raise usage_error(
                    f"{path}: '{key}' must be true or false, got {raw[key]!r}",
                    f"write it as {key} = true",
                )
            values[key], sources[key] = raw[key], file_label
    for key in (*OPTIONAL_SCALARS, *BOOL_DEFAULTS):
        var = f"PROMOTE_{key.upper()}"
        text = environ.get(var, "").strip()
        if not text:
            continue
        if key in BOOL_DEFAULTS:
            if text.lower() not in ("true", "false", "1", "0"):
                raise usage_error(f"{var}='{text}' is not true or false", f"set {var}=true")
            values[key] = text.lower() in ("true", "1")
        else:
            values[key] = text
        sources[key] = f"env {var}"
    return values


def _aws_profile(profile: str | None, environ: Mapping[str, str]) -> tuple[dict[str, str], str]:
    """The AWS CLI profile's own settings (region, endpoint_url) from AWS_CONFIG_FILE, else
    ~/.aws/config (only with HOME in ENVIRON), and the label `promote config` shows for them."""
    if environ.get("AWS_CONFIG_FILE"):
        config_file = Path(environ["AWS_CONFIG_FILE"]).expanduser()
    elif environ.get("HOME"):
        config_file = Path(environ["HOME"]) / ".aws" / "config"
    else:
        return {}, ""
    name = profile or "default"
    section = "default" if name == "default" else f"profile {name}"
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read(config_file)
    except (configparser.Error, OSError, UnicodeDecodeError):
        return {}, ""
    if not parser.has_section(section):
        return {}, ""
    settings = {k: v.strip() for k, v in parser.items(section) if v.strip()}
    return settings, f"AWS profile {name} ({config_file})"


def _endpoint(overrides: Overrides, environ: Mapping[str, str]) -> tuple[str | None, str]:
    if overrides.endpoint_url:
        return overrides.endpoint_url, "flag --endpoint-url"
    if environ.get("AWS_ENDPOINT_URL"):
        return environ["AWS_ENDPOINT_URL"], "env AWS_ENDPOINT_URL"
    return None, "default (AWS)"
