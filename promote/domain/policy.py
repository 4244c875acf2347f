"""Admission: may this environment run this image? One place for pins, stage, evidence, revocation.

`check_allowed` is what every command that moves an env to an image asks first (set-ids, pin,
unpin); it refuses (exit 3) with the reason and the next step. `share_with_envs` makes sure an
env in another account may launch the image before the secret points it there.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from promote.domain.gate import GateResult, evaluate
from promote.domain.images import Image, account_of, revoked_error
from promote.errors import PromoteError, check_failed

if TYPE_CHECKING:
    from promote.config import Environment
    from promote.domain.ami_ids import Pin
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
    overdue = f" (expired {pin.expires}, still holds)" if pin.overdue(now) else ""
    return check_failed(
        f"{env.name} is pinned by {pin.owner} since {pin.since}: {pin.reason}{overdue}",
        f"move the pin (promote pin --env {env.name} --ami AMI --reason ...) or unpin it "
        f"(promote unpin --env {env.name} --reason ... --apply)",
    )


def check_allowed(services: Services, image: Image, env: Environment) -> GateResult | None:
    """Refuse (exit 3) an image ENV may not run; the evidence relied on, for tested envs."""
    if image.revoked:
        raise revoked_error(image)
    if env.accepts != "tested":
        return None
    test_env = services.config.test_env
    if image.stage != "tested":
        raise check_failed(
            f"{env.name} accepts only tested images; {image.image_id} is "
            f"{image.stage or 'not a promote image'}",
            f"validate it in {test_env}, then publish it: promote publish --ami {image.image_id}",
        )
    result = evaluate(services, image.image_id, test_env)
    if not result.open:
        raise check_failed(
            f"{env.name} accepts only images with SUCCESS evidence in {test_env}: {result.reason}",
            f"run promote validate --env {test_env} with it first",
        )
    return result


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
