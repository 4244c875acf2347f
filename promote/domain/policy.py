"""Admission: may this environment run this image? One place for pins, provenance, evidence
and revocation.

`admit` is what every path that changes what an env runs asks first (set-ids, pin, unpin,
rollout); publish and release ask `check_image`. A refusal (exit 3) lists every reason
that applies, pin first: pinned (by whom, since when, why), provenance (owned by the tooling
account or a `builder_accounts` account, with a promote:stage tag), untested or without SUCCESS
evidence in test_env (for `accepts = "tested"`), revoked (the image, its source or its copies,
by event or tag). SUCCESS evidence in the env itself counts for returning it to an image it ran
(what `rollback` relies on: an env goes back to what it proved it runs). No hint sends an
operator into a validate that must fail (`validation_steps`: deploy first, the rollout
validates). `share_with_envs` makes sure an env in another account may launch the image
before the secret points it there.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from promote.domain.gate import GateResult, evaluate
from promote.domain.images import Image, account_in, account_of
from promote.domain.revocations import why_revoked
from promote.errors import PromoteError, check_failed

# The stages promote gives the images it builds and publishes.
STAGES = ("untested", "tested")

if TYPE_CHECKING:
    from promote.config import Environment
    from promote.domain.ami_ids import AmiIds, Pin
    from promote.domain.services import Services


@dataclass(frozen=True)
class ShareImage:
    """A plan step: give accounts launch permission on an image and its snapshots."""

    accounts: tuple[str, ...]
    image: str = "the copy"
    env: str | None = None

    def describe(self) -> str:
        """One line for the plan."""
        if self.env:
            return f"share {self.image} with {self.env} (account {', '.join(self.accounts)})"
        return f"share {self.image} with account(s) {', '.join(self.accounts)}"


def pinned_error(env: Environment, pin: Pin, now: datetime) -> PromoteError:
    """Exit 3: ENV is pinned; names owner, reason and since."""
    refusal = pinned_refusal(env, pin, now)
    return check_failed(refusal.reason, refusal.hint)


@dataclass(frozen=True)
class Refusal:
    """One reason an env may not move to an image, and what to do about it."""

    reason: str
    hint: str


def pinned_refusal(env: Environment, pin: Pin, now: datetime) -> Refusal:
    """ENV is pinned (by whom, since when, why)."""
    overdue = f" (expired {pin.expires}, still holds)" if pin.overdue(now) else ""
    return Refusal(
        f"{env.name} is pinned to {pin.ami} by {pin.owner} since {pin.since}: {pin.reason}"
        f"{overdue}",
        f"move the pin (promote pin --env {env.name} --ami AMI --reason ...) or unpin it "
        f"(promote unpin --env {env.name} --reason ... --apply)",
    )


def tooling_account(services: Services) -> str | None:
    """The account promote's own images live in: the caller's."""
    return account_in(services.actor().get("aws_identity"))


def provenance(services: Services, image: Image) -> Refusal | None:
    """IMAGE was not made by promote's builders: not owned by the tooling account or a
    configured builder account, or carrying no promote stage."""
    allowed = [a for a in (tooling_account(services), *services.config.builder_accounts) if a]
    owner = image.owner_id
    if owner not in allowed:
        return Refusal(
            f"{image.image_id} is owned by account {owner or 'unknown'}, not by the tooling "
            f"account or a builder account ({', '.join(allowed) or 'none known'})",
            "promote only images promote built; list other builder accounts in builder_accounts",
        )
    if image.stage not in STAGES:
        return Refusal(
            f"{image.image_id} carries no promote:stage tag: promote did not build it",
            "build it with promote build (or make ami) and promote that image",
        )
    return None


def revocation(services: Services, image: Image) -> Refusal | None:
    """IMAGE, its source or one of its copies is revoked."""
    why = why_revoked(services, image)
    if why is None:
        return None
    return Refusal(why, "revoked images are never promoted again; pick another AMI")


def image_refusals(services: Services, image: Image) -> list[Refusal]:
    """What refuses IMAGE anywhere: provenance and revocation."""
    return [r for r in (provenance(services, image), revocation(services, image)) if r]


def refusals(
    services: Services,
    image: Image,
    env: Environment,
    current: AmiIds | None = None,
    moving_pin: bool = False,
) -> tuple[list[Refusal], GateResult | None]:
    """Every reason ENV may not move to IMAGE (pin first, then provenance, evidence and
    revocation), and the evidence relied on for a tested env. CURRENT is the env's secret as
    read (read here when not given); MOVING_PIN: the move is the pin itself moving."""
    found: list[Refusal] = []
    if not moving_pin:
        ids = current if current is not None else services.read_ids(check=False, where=env)
        pin = ids.pin_for(env)
        if pin is not None and pin.ami != image.image_id:
            found.append(pinned_refusal(env, pin, services.clock.now()))
    origin = provenance(services, image)
    if origin:
        found.append(origin)
    revoked = revocation(services, image)
    gate: GateResult | None = None
    if env.accepts == "tested":
        missing, gate = _untested(services, image, env, revoked is None)
        if missing is not None and revoked is None:
            # SUCCESS evidence in ENV itself counts for returning ENV to an image it ran.
            own = evaluate(services, image.image_id, env.name)
            if own.open:
                missing, gate = None, own
        if missing is not None:
            found.append(missing)
    if revoked:
        found.append(revoked)
    return found, gate


def _untested(
    services: Services, image: Image, env: Environment, check_gate: bool
) -> tuple[Refusal | None, GateResult | None]:
    """Why IMAGE is not proven for a tested ENV (not a tested image, or no SUCCESS evidence in
    test_env; the gate only with CHECK_GATE), and the evidence when it is."""
    test_env = services.config.test_env
    if image.stage != "tested":
        publish = f"promote publish --ami {image.image_id}"
        proven = check_gate and evaluate(services, image.image_id, test_env).open
        return Refusal(
            f"{env.name} accepts only tested images: {image.image_id} is "
            f"{image.stage or 'not a promote image'}",
            f"publish it ({publish}) and promote its tested copy"
            if proven
            else f"{validation_steps(services, image.image_id)}, then publish it: {publish}",
        ), None
    if not check_gate:
        return None, None
    gate = evaluate(services, image.image_id, test_env)
    if gate.open:
        return None, gate
    return Refusal(
        f"{env.name} accepts only images with SUCCESS evidence in {test_env}: {gate.reason}",
        validation_steps(services, image.image_id),
    ), gate


def validation_steps(services: Services, ami: str, env_name: str | None = None) -> str:
    """How to get SUCCESS evidence for AMI in ENV_NAME (default test_env), never by a
    validate that must fail: validate checks what the env runs, so an env that does not run
    AMI yet is pointed at it and rolled first (the rollout ends with a validate)."""
    name = env_name or services.config.test_env
    memo_key = f"secret-entry:{name}"
    if memo_key not in services.memo:
        try:
            env = services.config.environment(name)
            services.memo[memo_key] = services.read_ids(check=False, where=env).ami_for(env)
        except Exception:  # a hint never fails the command (e.g. no read on that secret)
            services.memo[memo_key] = None
    if services.memo[memo_key] == ami:
        return (
            f"roll it out in {name} (promote rollout --env {name}; it ends with a validate), "
            f"or, if {name} already runs it, promote validate --env {name}"
        )
    return (
        f"deploy it to {name} first: promote set-ids --env {name} --ami {ami}, then "
        f"promote rollout --env {name} (it ends with a validate)"
    )


def refuse(found: list[Refusal], env: Environment | None = None) -> None:
    """Exit 3 listing every refusal (the first one's hint), when there is any."""
    if not found:
        return
    head = f"refused for {env.name}: " if env is not None and len(found) > 1 else ""
    raise check_failed(head + "; ".join(r.reason for r in found), found[0].hint)


def admit(
    services: Services,
    image: Image,
    env: Environment,
    current: AmiIds | None = None,
    moving_pin: bool = False,
) -> GateResult | None:
    """The one admission check for every path that changes what ENV runs: refuse (exit 3)
    with every reason, else the evidence relied on (tested envs)."""
    found, gate = refusals(services, image, env, current, moving_pin)
    refuse(found, env)
    return gate


def check_image(services: Services, image: Image) -> None:
    """Refuse (exit 3) IMAGE for any env: provenance and revocation (publish, release)."""
    refuse(image_refusals(services, image))


def check_allowed(services: Services, image: Image, env: Environment) -> GateResult | None:
    """Admission without the pin (the caller checked it against the secret it writes)."""
    return admit(services, image, env, moving_pin=True)


def accounts_needing(services: Services, ami: str, envs: Sequence[Environment]) -> dict[str, str]:
    """Env -> account id, for each env in another account that may not launch AMI yet."""
    wanted = {
        env.name: account
        for env in envs
        if env.role_arn and (account := account_of(env.role_arn)) is not None
    }
    if not wanted:
        return {}
    have = set(services.images.launch_permissions(ami))
    return {name: account for name, account in wanted.items() if account not in have}


def share_with_envs(
    services: Services, ami: str, envs: Sequence[Environment], apply: bool = True
) -> dict[str, str]:
    """Make sure envs in other accounts may launch AMI; env -> account id that needed it."""
    missing = accounts_needing(services, ami, envs)
    if missing and apply:
        accounts = sorted(set(missing.values()))
        services.images.grant_launch(ami, accounts)
        services.progress(f"shared {ami} with account(s) {', '.join(accounts)}")
    return missing
