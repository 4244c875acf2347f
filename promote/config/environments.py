"""The `[env.NAME]` tables of promote.toml: one Environment each, checked whole."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from promote.errors import usage_error

Stage = Literal["untested", "tested"]
PINS_KEY = "_pins"
ENV_KEYS_REQUIRED = ("secret_key", "autoscaling_groups", "accepts")
ENV_KEYS_OPTIONAL = (
    "role_arn",
    "region",
    "deploy",
    "deploy_command",
    "deploy_dir",
    "drift_command",
    "secret_id",
    "secret_role_arn",
    "secret_region",
)
DEPLOYERS = ("promote", "terraform")

# Matched whole (fullmatch): a trailing newline is not part of a name.
_ENV_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
_ROLE_ARN = re.compile(r"arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]+")
REGION = re.compile(r"[a-z]{2}(-[a-z]+)+-\d")


@dataclass(frozen=True)
class Environment:
    """One deployment target: the secret key Terraform reads and the ASGs that run Concourse."""

    name: str = field(metadata={"key": None})
    secret_key: str
    autoscaling_groups: tuple[str, ...]
    accepts: Stage
    role_arn: str | None = None
    region: str | None = None
    # Who points the launch templates at the AMI: promote itself (a new template version per
    # rollout), or Terraform, which owns the templates (rollout runs deploy_command, then
    # requires drift_command clean: `terraform plan -detailed-exitcode` semantics).
    deploy: str = "promote"
    deploy_command: tuple[str, ...] = ()
    deploy_dir: str | None = None
    drift_command: tuple[str, ...] = ()
    # The ami-ids secret this env's Terraform reads (default: the top-level secret_id in the
    # tooling account): its id, the role in its account that reaches it, its region.
    secret_id: str | None = None
    secret_role_arn: str | None = None
    secret_region: str | None = None


def string_value(value: Any, key: str, path: Path | None) -> str:
    if not isinstance(value, str) or not value.strip():
        raise usage_error(
            f"{path or 'config'}: '{key}' must be a non-empty string, got {value!r}",
            f'write it as {key} = "..."',
        )
    return value.strip()


def environments(
    tables: Any, path: Path | None, file_label: str, sources: dict[str, str]
) -> dict[str, Environment]:
    where = path or "config"
    if not isinstance(tables, dict) or not tables:
        raise usage_error(f"{where}: 'env' must hold at least one [env.NAME] table")
    envs: dict[str, Environment] = {}
    for name, table in tables.items():
        if not _ENV_NAME.fullmatch(name):
            raise usage_error(f"{where}: env name '{name}' is not a valid name")
        if not isinstance(table, dict):
            raise usage_error(f"{where}: 'env.{name}' must be a table")
        for key in table:
            if key not in (*ENV_KEYS_REQUIRED, *ENV_KEYS_OPTIONAL):
                raise usage_error(
                    f"{where}: unknown key 'env.{name}.{key}'",
                    f"known keys: {', '.join((*ENV_KEYS_REQUIRED, *ENV_KEYS_OPTIONAL))}",
                )
        for key in ENV_KEYS_REQUIRED:
            if key not in table:
                raise usage_error(
                    f"{where}: missing key 'env.{name}.{key}'",
                    f"every [env.NAME] needs {', '.join(ENV_KEYS_REQUIRED)}",
                )
        env = _environment(name, table, where)
        env = replace(env, **_deployer(name, table, where, path), **_secret(name, table, where))
        envs[name] = env
        for key in table:
            sources[f"env.{name}.{key}"] = file_label
    return envs


def _environment(name: str, table: Mapping[str, Any], where: Path | str) -> Environment:
    secret_key = string_value(table["secret_key"], f"env.{name}.secret_key", None)
    if secret_key == PINS_KEY:
        raise usage_error(f"{where}: env.{name}.secret_key '{PINS_KEY}' is reserved for pins")
    groups = table["autoscaling_groups"]
    if not isinstance(groups, list) or not all(isinstance(g, str) and g.strip() for g in groups):
        raise usage_error(
            f"{where}: 'env.{name}.autoscaling_groups' must be a list of ASG names, got {groups!r}",
            'write it as autoscaling_groups = ["web-asg", "worker-asg"]',
        )
    if not groups:
        raise usage_error(
            f"{where}: env.{name} has no autoscaling_groups",
            "list the web and worker ASGs of this environment",
        )
    if len(set(groups)) != len(groups):
        raise usage_error(f"{where}: env.{name}.autoscaling_groups lists an ASG twice")
    accepts = table["accepts"]
    if accepts not in ("untested", "tested"):
        raise usage_error(
            f'{where}: \'env.{name}.accepts\' must be "untested" or "tested", got {accepts!r}',
            "test environments accept untested images; production accepts tested ones",
        )
    role_arn = table.get("role_arn")
    if role_arn is not None and (
        not isinstance(role_arn, str) or not _ROLE_ARN.fullmatch(role_arn)
    ):
        raise usage_error(
            f"{where}: 'env.{name}.role_arn' is not an IAM role ARN: {role_arn!r}",
            'write it as role_arn = "arn:aws:iam::123456789012:role/NAME"',
        )
    region = table.get("region")
    if region is not None and (not isinstance(region, str) or not REGION.fullmatch(region)):
        raise usage_error(f"{where}: 'env.{name}.region' is not an AWS region: {region!r}")
    return Environment(
        name=name,
        secret_key=secret_key,
        autoscaling_groups=tuple(g.strip() for g in groups),
        accepts=accepts,
        role_arn=role_arn,
        region=region,
    )


def _secret(name: str, table: Mapping[str, Any], where: Path | str) -> dict[str, Any]:
    """The env's own ami-ids secret: its id, the role that reaches it, its region."""
    out: dict[str, Any] = {}
    if "secret_id" in table:
        out["secret_id"] = string_value(table["secret_id"], f"env.{name}.secret_id", None)
    role = table.get("secret_role_arn")
    if role is not None:
        if not isinstance(role, str) or not _ROLE_ARN.fullmatch(role):
            raise usage_error(
                f"{where}: 'env.{name}.secret_role_arn' is not an IAM role ARN: {role!r}",
                'write it as secret_role_arn = "arn:aws:iam::123456789012:role/NAME"',
            )
        out["secret_role_arn"] = role
    region = table.get("secret_region")
    if region is not None:
        if not isinstance(region, str) or not REGION.fullmatch(region):
            raise usage_error(
                f"{where}: 'env.{name}.secret_region' is not an AWS region: {region!r}"
            )
        out["secret_region"] = region
    return out


def check_secret_keys(
    envs: Mapping[str, Environment], where: Path | str, default: str, region: str
) -> None:
    """Two envs that read one secret need keys of their own in it (exit 2 otherwise)."""
    seen: dict[tuple[str, str | None, str, str], str] = {}
    for name, env in envs.items():
        place = (env.secret_id or default, env.secret_role_arn, env.secret_region or region)
        slot = (*place, env.secret_key)
        if slot in seen:
            raise usage_error(
                f"{where}: env.{name}.secret_key '{env.secret_key}' is also used by "
                f"env.{seen[slot]} in secret {place[0]}",
                "each environment needs its own key in the ami-ids secret it reads",
            )
        seen[slot] = name


def _argv(value: Any, key: str, where: Path | str) -> tuple[str, ...]:
    if (
        not isinstance(value, list)
        or not value
        or not all(isinstance(a, str) and a.strip() for a in value)
    ):
        raise usage_error(
            f"{where}: '{key}' must be a command as a list of strings, got {value!r}",
            f'write it as {key.rsplit(".", 1)[-1]} = ["terraform", "apply", "-auto-approve"]',
        )
    return tuple(value)


def _deployer(
    name: str, table: Mapping[str, Any], where: Path | str, path: Path | None
) -> dict[str, Any]:
    """The deploy, deploy_command, deploy_dir and drift_command of env NAME."""
    deploy = table.get("deploy", "promote")
    if deploy not in DEPLOYERS:
        raise usage_error(
            f"{where}: 'env.{name}.deploy' must be one of {', '.join(DEPLOYERS)}, got {deploy!r}",
            'deploy = "terraform" when Terraform owns the launch templates',
        )
    out: dict[str, Any] = {"deploy": deploy}
    if deploy == "promote":
        stray = [k for k in ("deploy_command", "drift_command", "deploy_dir") if k in table]
        if stray:
            raise usage_error(
                f'{where}: env.{name} sets {", ".join(stray)} but not deploy = "terraform"',
                'add deploy = "terraform", or remove them',
            )
        return out
    for key in ("deploy_command", "drift_command"):
        if key not in table:
            raise usage_error(
                f'{where}: env.{name} has deploy = "terraform" but no {key}',
                'e.g. deploy_command = ["terraform", "apply", "-auto-approve", "-input=false"], '
                'drift_command = ["terraform", "plan", "-detailed-exitcode", "-input=false"]',
            )
        out[key] = _argv(table[key], f"env.{name}.{key}", where)
    if "deploy_dir" in table:
        raw = string_value(table["deploy_dir"], f"env.{name}.deploy_dir", None)
        directory = Path(raw)
        if not directory.is_absolute() and path is not None:
            directory = path.parent / directory  # relative to the promote.toml that names it
        out["deploy_dir"] = str(directory)
    return out
