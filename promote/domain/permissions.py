"""Least privilege: the AWS actions each command needs, and the IAM policy that grants just those.

Every command declares its actions beside the code that needs them (`AWS_ACTIONS` in its domain
module, Cloud Custodian style); this module gathers them, says what each command writes in the
evidence bucket (`WRITES`) and signs with which key (`SIGNS`), and groups the commands into the
three roles (`ROLES`: validator, promoter, release manager).

`promote iam-policy [COMMAND ...] [--env E] [--role ROLE]` turns them into one policy document,
scoped where AWS allows resource-level permissions:

- the ami-ids secret by ARN (Secrets Manager appends `-??????` to the name);
- the evidence bucket: reads on every object, `s3:PutObject` only under the prefixes the
  commands write (`evidence/` and `results/concourse.test` for the validator, `events/` for the
  writers of events, `locks/rollout/<group>.json` for the groups rolled);
- Auto Scaling writes on the ARNs of the env's groups (all envs' without `--env`), the
  `promote:rollout` marker tag (CreateOrUpdateTags, DeleteTags) only with `aws:TagKeys` all
  `promote:*`; launch template writes only on templates tagged `concourse:env` = the env (AWS
  names a template's ARN by its id, which the config does not know);
- image writes on this region's images, image tags only `promote:*` (`aws:TagKeys`), except the
  tags a copy is created with (`ec2:CreateAction` = CopyImage: the source's tags, copied);
- Describe* reads stay on `*`: EC2 and Auto Scaling support no resource-level permissions for
  them. `ec2:RunInstances` (checked on whoever points a group at a template version) stays on
  `*` too; `iam:PassRole` only to EC2.

KMS: `kms:Sign` is granted on the evidence key to the commands that sign evidence (validate,
rollout's closing validate) and on the event key to the commands that record events;
`kms:GetPublicKey` on both. A key named by alias is matched with `kms:ResourceAliases`.
A role's policy (`--role promoter`) is the union of its commands' but never more than the role
may do: only the validator signs or writes evidence, so the promoter's rollout needs the
validator for its closing validate (or `--no-validate`).
`--bucket-policy` prints the resource policies that make this hold whoever holds what: the
bucket policy (only the validator writes `evidence/`, only the promoter and release manager
write `events/`, nobody deletes) and each key's policy (only those principals sign with it).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from promote.config import Config
from promote.domain import (
    audit,
    build,
    fleet,
    gate,
    history,
    hooks,
    init,
    ledger,
    locks,
    metrics,
    pins,
    prune,
    publish,
    releases,
    revoke,
    rollback,
    rollout,
    set_ids,
    status,
)
from promote.errors import usage_error

if TYPE_CHECKING:
    from promote.config import Environment

ACTIONS: dict[str, tuple[str, ...]] = {
    command: actions
    for module in (
        *(status, fleet, gate, rollout, rollback, releases, build),
        *(set_ids, pins, publish, revoke, prune, history, audit, metrics, hooks, init),
    )
    for command, actions in module.AWS_ACTIONS.items()
}

EVIDENCE, EVENTS = "evidence", "events"
# What each command writes in the evidence bucket (s3:PutObject), by kind; `groups` are the
# rollout leases of the groups in scope (locks/rollout/<group>.json).
WRITES: dict[str, tuple[str, ...]] = {
    "validate": (EVIDENCE,),
    "validate --wake": (EVIDENCE, "groups"),
    "rollout": (EVIDENCE, EVENTS, "groups"),
    "rollback": (EVIDENCE, EVENTS, "groups"),
    **{c: (EVENTS,) for c in ("set-ids", "pin", "unpin", "publish", "revoke", "prune", "release")},
}
# Which signing key each command signs with (evidence: the validator's; events: the writers').
SIGNS: dict[str, tuple[str, ...]] = {
    command: tuple(kind for kind in (EVIDENCE, EVENTS) if kind in kinds)
    for command, kinds in WRITES.items()
    if any(kind in (EVIDENCE, EVENTS) for kind in kinds)
}

# Reads every role may run.
_READS = ("status", "gate", "history", "audit", "metrics")


@dataclass(frozen=True)
class Role:
    """One of the three roles: the commands it runs and whether it may make evidence."""

    name: str
    commands: tuple[str, ...]
    makes_evidence: bool
    summary: str


ROLES: dict[str, Role] = {
    role.name: role
    for role in (
        Role(
            "validator",
            ("validate", *_READS),
            True,
            "reads the fleet, signs and writes evidence; no events, tags, secret or fleet writes",
        ),
        Role(
            "promoter",
            (
                *("set-ids", "pin", "unpin", "publish", "rollout", "rollback"),
                *("revoke", "prune", "hooks", "hooks --apply", *_READS),
            ),
            False,
            "the secret and pins (the test env), publish, rollout, revoke, prune: records events, "
            "writes promote:* tags; never evidence",
        ),
        Role(
            "release-manager",
            ("set-ids", "pin", "unpin", "release", *_READS),
            False,
            "production's pins, unpin, set-ids and the release: records events; no tags, no "
            "fleet writes, never evidence",
        ),
    )
}

# S3 actions on the bucket itself (listing); every other s3: action is on its objects.
_BUCKET_LEVEL = ("s3:ListBucket", "s3:ListBucketVersions")
# The tag writes promote makes on images and groups: its own keys only.
PROMOTE_KEYS = {"ForAllValues:StringLike": {"aws:TagKeys": ["promote:*"]}}
# The tag that names the env of a launch template (and of a group) for ResourceTag conditions.
ENV_TAG = "concourse:env"
_IMAGE_WRITES = (
    "ec2:CopyImage",
    "ec2:EnableImageDeprecation",
    "ec2:DisableImage",
    "ec2:DeregisterImage",
    "ec2:ModifyImageAttribute",
)
_SNAPSHOT_WRITES = ("ec2:DeleteSnapshot", "ec2:ModifySnapshotAttribute")
_LAUNCH_TEMPLATE_WRITES = ("ec2:CreateLaunchTemplateVersion", "ec2:ModifyLaunchTemplate")
_TAG_WRITES = ("autoscaling:CreateOrUpdateTags", "autoscaling:DeleteTags")


@dataclass(frozen=True)
class PolicyReport:
    """The least-privilege policy document for some commands."""

    commands: list[str]
    policy: dict[str, Any]


def actions_for(commands: list[str]) -> list[str]:
    """The sorted union of the actions of COMMANDS (every command when empty)."""
    unknown = sorted(set(commands) - set(ACTIONS))
    if unknown:
        raise usage_error(
            f"no IAM actions are declared for: {', '.join(unknown)}",
            f"commands that call AWS: {', '.join(sorted(ACTIONS))}",
        )
    chosen = commands or sorted(ACTIONS)
    return sorted({action for command in chosen for action in ACTIONS[command]})


def role_commands(role: str, commands: list[str]) -> list[str]:
    """The commands of ROLE (only COMMANDS, which must be its own, when named)."""
    if role not in ROLES:
        raise usage_error(
            f"unknown role '{role}'",
            f"the roles: {', '.join(ROLES)}; or an env's role_arn / secret_role_arn (an ARN)",
        )
    own = ROLES[role].commands
    foreign = [c for c in commands if c not in own]
    if foreign:
        raise usage_error(
            f"the {role} does not run {', '.join(foreign)}",
            f"the {role} runs: {', '.join(own)}",
        )
    return list(commands) or [c for c in own if c in ACTIONS]


@dataclass(frozen=True)
class _Grant:
    sid: str
    resources: tuple[str, ...]
    condition: tuple[tuple[str, str, tuple[str, ...]], ...] = ()


def _condition(
    spec: dict[str, dict[str, list[str]]],
) -> tuple[tuple[str, str, tuple[str, ...]], ...]:
    return tuple(
        (operator, key, tuple(values))
        for operator, keys in sorted(spec.items())
        for key, values in sorted(keys.items())
    )


def _account(env: Environment) -> str:
    return env.role_arn.split(":")[4] if env.role_arn else "*"


def group_arns(config: Config, envs: Iterable[Environment]) -> tuple[str, ...]:
    """The ARNs of the envs' groups (any group id: AWS puts a UUID between type and name)."""
    return tuple(
        f"arn:aws:autoscaling:{config.env_region(env)}:{_account(env)}:autoScalingGroup:*:"
        f"autoScalingGroupName/{group}"
        for env in envs
        for group in env.autoscaling_groups
    )


def _fleet_grants(
    config: Config, envs: list[Environment], command: str, action: str
) -> list[_Grant]:
    """Where ACTION of COMMAND is allowed: the envs' groups and templates, this region's images."""
    images = (f"arn:aws:ec2:{config.region}::image/*",)
    name = action.split(":", 1)[1]
    if command.split()[0] == "build":
        # Packer's own calls: the instance, key pair and security group it creates and tags.
        return [_Grant("Build", ("*",))]
    if name.startswith(("Describe", "Get", "List")):
        # EC2 and Auto Scaling support no resource-level permissions for their reads.
        return [_Grant("FleetReads", ("*",))]
    if action in _TAG_WRITES:
        return [_Grant("RolloutMarker", group_arns(config, envs), _condition(PROMOTE_KEYS))]
    if action.startswith("autoscaling:"):
        return [_Grant("GroupWrites", group_arns(config, envs))]
    if action in _LAUNCH_TEMPLATE_WRITES:
        regions = sorted({(config.env_region(env), _account(env)) for env in envs})
        templates = tuple(f"arn:aws:ec2:{r}:{a}:launch-template/*" for r, a in regions)
        condition = {"StringEquals": {f"ec2:ResourceTag/{ENV_TAG}": sorted(e.name for e in envs)}}
        return [_Grant("LaunchTemplates", templates, _condition(condition))]
    if action == "ec2:RunInstances":
        # Checked on whoever points a group at a template version (the group launches): the
        # resources it names (subnets, volumes, interfaces) carry no tag promote could rely on.
        return [_Grant("GroupLaunches", ("*",))]
    if action == "iam:PassRole":
        condition = {"StringEquals": {"iam:PassedToService": ["ec2.amazonaws.com"]}}
        return [_Grant("PassInstanceRole", ("*",), _condition(condition))]
    if action == "ec2:CreateTags" and command in ("rollout", "rollback"):
        # The template's tag specifications, checked on the caller when a group launches.
        condition = {"StringEquals": {"ec2:CreateAction": ["RunInstances"]}}
        return [_Grant("TagsAtLaunch", ("*",), _condition(condition))]
    if action == "ec2:CreateTags" and command in ("publish", "revoke"):
        grants = [_Grant("PromoteTags", images, _condition(PROMOTE_KEYS))]
        if command == "publish":
            copied = {"StringEquals": {"ec2:CreateAction": ["CopyImage"]}}
            grants.append(_Grant("TagsOfCopies", images, _condition(copied)))
        return grants
    if action in _IMAGE_WRITES:
        return [_Grant("ImageWrites", images)]
    if action in _SNAPSHOT_WRITES:
        return [_Grant("SnapshotWrites", (f"arn:aws:ec2:{config.region}::snapshot/*",))]
    return [_Grant("Fleet", ("*",))]


def _statements(grants: dict[_Grant, set[str]]) -> list[dict[str, Any]]:
    """One statement per grant, its actions sorted; an action granted on `*` without a
    condition needs no narrower grant."""
    everywhere = {
        a for g, acts in grants.items() if g.resources == ("*",) and not g.condition for a in acts
    }
    statements: list[dict[str, Any]] = []
    for grant, acts in grants.items():
        chosen = sorted(
            acts if grant.resources == ("*",) and not grant.condition else acts - everywhere
        )
        if not chosen or not grant.resources:
            continue
        statement: dict[str, Any] = {
            "Sid": grant.sid,
            "Effect": "Allow",
            "Action": chosen,
            "Resource": list(grant.resources),
        }
        if grant.condition:
            condition: dict[str, dict[str, list[str]]] = {}
            for operator, key, values in grant.condition:
                condition.setdefault(operator, {})[key] = list(values)
            statement["Condition"] = condition
        statements.append(statement)
    return statements


def fleet_statements(
    config: Config, commands: list[str], envs: list[Environment]
) -> list[dict[str, Any]]:
    """The EC2, Auto Scaling and iam: statements of COMMANDS, scoped to ENVS."""
    grants: dict[_Grant, set[str]] = {}
    for command in commands:
        for action in ACTIONS[command]:
            if action.startswith(("ec2:", "autoscaling:", "iam:")):
                for grant in _fleet_grants(config, envs, command, action):
                    grants.setdefault(grant, set()).add(action)
    return _statements(grants)


def _puts(
    config: Config, commands: list[str], envs: list[Environment], makes_evidence: bool
) -> list[str]:
    """The object ARNs COMMANDS may put (evidence only when MAKES_EVIDENCE)."""
    bucket = f"arn:aws:s3:::{config.evidence_bucket}"
    found: list[str] = []
    for command in commands:
        for kind in WRITES.get(command, ()):
            if kind == EVIDENCE and not makes_evidence:
                continue
            if kind == EVIDENCE:
                places = ["evidence/*", ledger.COMPAT_KEY]
            elif kind == EVENTS:
                places = [f"{ledger.EVENTS_PREFIX}*"]
            elif kind == "groups":
                places = [locks.lock_key(g) for env in envs for g in env.autoscaling_groups]
            else:
                places = [f"{kind}*"]
            found.extend(
                f"{bucket}/{place}" for place in places if f"{bucket}/{place}" not in found
            )
    return found


def policy(
    config: Config,
    commands: list[str],
    env: Environment | None = None,
    role: str | None = None,
) -> dict[str, Any]:
    """An IAM policy document granting exactly what COMMANDS need, scoped where AWS allows:
    to ENV's groups (every env's without one), and to what ROLE may do."""
    chosen = role_commands(role, commands) if role else (commands or sorted(ACTIONS))
    actions = actions_for(chosen)
    makes_evidence = ROLES[role].makes_evidence if role else True
    envs = [env] if env else list(config.envs.values())
    places = config.secret_locations()
    if env:
        places = [p for p in places if p == places[0] or p == config.secret_of(env)]
    # Secrets the caller reaches itself; an env's secret behind a role is the role's to grant.
    secret_arns = [secret_arn(p.region, "*", p.secret_id) for p in places if not p.role_arn]
    bucket_arn = f"arn:aws:s3:::{config.evidence_bucket}"
    roles = sorted({e.role_arn for e in envs if e.role_arn})
    secret_roles = sorted({p.role_arn for p in places if p.role_arn})
    statements: list[dict[str, Any]] = []

    def add(sid: str, granted: list[str], resources: list[str]) -> None:
        if granted and resources:
            statements.append(
                {"Sid": sid, "Effect": "Allow", "Action": granted, "Resource": resources}
            )

    add("AmiIdsSecret", [a for a in actions if a.startswith("secretsmanager:")], secret_arns)
    add("EvidenceBucket", [a for a in actions if a in _BUCKET_LEVEL], [bucket_arn])
    reads = [
        a for a in actions if a.startswith("s3:") and a not in (*_BUCKET_LEVEL, "s3:PutObject")
    ]
    add("EvidenceObjects", reads, [f"{bucket_arn}/*"])
    if "s3:PutObject" in actions:
        add("LedgerWrites", ["s3:PutObject"], _puts(config, chosen, envs, makes_evidence))
    statements.extend(fleet_statements(config, chosen, envs))
    for sid, key, kind in (
        ("SignEvidence", config.evidence_signing_key, EVIDENCE),
        ("SignEvents", config.event_signing_key, EVENTS),
    ):
        if kind == EVIDENCE and not makes_evidence:
            continue
        if any(kind in SIGNS.get(c, ()) and "kms:Sign" in ACTIONS[c] for c in chosen):
            statements.append(key_statement(sid, ["kms:Sign"], [key], config.region))
    if "kms:GetPublicKey" in actions:
        keys = [config.evidence_signing_key, config.event_signing_key]
        statements.append(key_statement("PublicKeys", ["kms:GetPublicKey"], keys, config.region))
    add("EnvRoles", [a for a in actions if a == "sts:AssumeRole"], roles)
    # An env's own secret is reached through its secret_role_arn by whoever reads the secret.
    reads_secret = any(a.startswith("secretsmanager:") for a in actions)
    add("SecretRoles", ["sts:AssumeRole"] if reads_secret else [], secret_roles)
    return {"Version": "2012-10-17", "Statement": statements}


def secret_arn(region: str, account: str, secret_id: str) -> str:
    """A secret's ARN pattern: Secrets Manager appends six random characters to the name."""
    return f"arn:aws:secretsmanager:{region}:{account}:secret:{secret_id}-??????"


def role_policy(
    config: Config, commands: list[str], role_arn: str, env: Environment | None = None
) -> dict[str, Any]:
    """What ROLE_ARN (an env's role_arn or secret_role_arn, in that env's account) needs for
    COMMANDS: the fleet's actions on its env's groups for an env role, its secret's for a
    secret role."""
    known = {e.role_arn for e in config.envs.values()} | {
        p.role_arn for p in config.secret_locations()
    }
    if role_arn not in known:
        raise usage_error(
            f"{role_arn} is neither an env's role_arn nor its secret_role_arn in {config.origin}",
            "name a role the config names, or leave --role out for the caller's own policy",
        )
    chosen = commands or sorted(ACTIONS)
    actions = actions_for(chosen)
    account = role_arn.split(":")[4]
    envs = [e for e in config.envs.values() if e.role_arn == role_arn and env in (None, e)]
    statements: list[dict[str, Any]] = fleet_statements(config, chosen, envs) if envs else []
    secrets = [
        secret_arn(p.region, account, p.secret_id)
        for p in config.secret_locations()
        if p.role_arn == role_arn
    ]
    granted = [a for a in actions if a.startswith("secretsmanager:")]
    if secrets and granted:
        statements.append(
            {"Sid": "AmiIdsSecret", "Effect": "Allow", "Action": granted, "Resource": secrets}
        )
    return {"Version": "2012-10-17", "Statement": statements}


def key_statement(sid: str, actions: list[str], keys: list[str], region: str) -> dict[str, Any]:
    """Allow ACTIONS on KEYS (ARNs as they are, key ids as key ARNs, aliases by condition)."""
    aliases = [k for k in keys if k.startswith("alias/")]
    resources = [k if k.startswith("arn:") else f"arn:aws:kms:{region}:*:key/{k}" for k in keys]
    resources = [r for r, k in zip(resources, keys, strict=True) if not k.startswith("alias/")]
    statement: dict[str, Any] = {"Sid": sid, "Effect": "Allow", "Action": actions}
    if aliases and not resources:
        statement["Resource"] = [f"arn:aws:kms:{region}:*:key/*"]
        statement["Condition"] = {"ForAnyValue:StringEquals": {"kms:ResourceAliases": aliases}}
    else:
        statement["Resource"] = resources + [f"arn:aws:kms:{region}:*:{a}" for a in aliases]
    return statement


@dataclass(frozen=True)
class Principals:
    """Who may write what: the validator signs evidence; promoters and release managers
    record events."""

    validator: str
    writers: tuple[str, ...]

    @property
    def account(self) -> str:
        """The account the principals live in (the key policies' administrator)."""
        return self.validator.split(":")[4] or "ACCOUNT_ID"


def _only(
    principals: list[str], actions: list[str], resources: list[str], sid: str
) -> dict[str, Any]:
    """Deny ACTIONS on RESOURCES to every principal but PRINCIPALS."""
    return {
        "Sid": sid,
        "Effect": "Deny",
        "Principal": "*",
        "Action": actions,
        "Resource": resources,
        "Condition": {"StringNotLike": {"aws:PrincipalArn": principals}},
    }


def bucket_policy(config: Config, who: Principals) -> dict[str, Any]:
    """The evidence bucket's policy: who may add records and events; nobody deletes."""
    bucket = f"arn:aws:s3:::{config.evidence_bucket}"
    writers = list(who.writers)
    return {
        "Version": "2012-10-17",
        "Statement": [
            _only(
                [who.validator],
                ["s3:PutObject"],
                [f"{bucket}/evidence/*"],
                "OnlyTheValidatorWritesEvidence",
            ),
            _only(writers, ["s3:PutObject"], [f"{bucket}/events/*"], "OnlyPromotersWriteEvents"),
            {
                "Sid": "NobodyDeletesTheLedger",
                "Effect": "Deny",
                "Principal": "*",
                "Action": [
                    "s3:DeleteObject*",
                    "s3:PutBucketVersioning",
                    "s3:PutObjectLockConfiguration",
                    "s3:BypassGovernanceRetention",
                ],
                "Resource": [bucket, f"{bucket}/evidence/*", f"{bucket}/events/*"],
            },
        ],
    }


def key_policy(signers: list[str], account: str) -> dict[str, Any]:
    """A signing key's policy: administered by the account, readable by it, signed with only by
    SIGNERS."""
    root = f"arn:aws:iam::{account}:root"
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "KeyAdministration",
                "Effect": "Allow",
                "Principal": {"AWS": root},
                "Action": "kms:*",
                "Resource": "*",
            },
            {
                "Sid": "AnyoneReadsThePublicKey",
                "Effect": "Allow",
                "Principal": {"AWS": root},
                "Action": ["kms:GetPublicKey", "kms:DescribeKey"],
                "Resource": "*",
            },
            _only(signers, ["kms:Sign"], ["*"], "OnlyTheseSign"),
        ],
    }


def trust_policies(config: Config, who: Principals) -> dict[str, Any]:
    """The bucket policy and both key policies, keyed by what they are attached to."""
    return {
        "bucket_policy": {"bucket": config.evidence_bucket, "policy": bucket_policy(config, who)},
        "key_policies": {
            config.evidence_signing_key: key_policy([who.validator], who.account),
            config.event_signing_key: key_policy(list(who.writers), who.account),
        },
    }


def drain_agent_policy(config: Config) -> dict[str, Any]:
    """What the worker instance role needs for the image's drain agent: the lifecycle-action
    calls on every env's worker groups (named like `worker`), and the group lookup."""
    arns = sorted(
        f"arn:aws:autoscaling:{config.env_region(env)}:*:autoScalingGroup:*:"
        f"autoScalingGroupName/{group}"
        for env in config.envs.values()
        for group in env.autoscaling_groups
        if "worker" in group
    )
    statements: list[dict[str, Any]] = []
    if arns:
        statements.append(
            {
                "Sid": "DrainLifecycleAction",
                "Effect": "Allow",
                "Action": list(hooks.AGENT_ACTIONS),
                "Resource": arns,
            }
        )
    statements.append(
        {
            "Sid": "FindTheGroup",
            "Effect": "Allow",
            "Action": [hooks.AGENT_LOOKUP],
            "Resource": ["*"],
        }
    )
    return {"Version": "2012-10-17", "Statement": statements}
