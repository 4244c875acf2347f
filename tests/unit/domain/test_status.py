"""status warns about every env that is set to, or still runs, a revoked image."""

from __future__ import annotations

from promote.domain.status import EnvStatus, revoked_warnings
from tests.support.fakes import FakeImages, image, make_services

REVOKED = "ami-0000000000000000a"
FINE = "ami-0000000000000000b"


def _row(env: str, secret_ami: str | None, running: dict[str, int]) -> EnvStatus:
    return EnvStatus(env, "tested", secret_ami, None, False, 4, running, None, None, None)


def test_status_warns_for_envs_set_to_or_running_a_revoked_image() -> None:
    images = FakeImages()
    images.add(image(REVOKED, tags={"promote:revoked": "CVE-9"}))
    images.add(image(FINE))
    rows = [
        _row("management", FINE, {REVOKED: 2, FINE: 2}),
        _row("management-dev", REVOKED, {FINE: 4}),
        _row("sandbox", FINE, {FINE: 4}),
    ]

    warnings = revoked_warnings(rows, make_services(images=images)[0])

    assert warnings == [
        f"management runs (2 instance(s)) revoked image {REVOKED}: CVE-9",
        f"management-dev is set to revoked image {REVOKED}: CVE-9",
    ]


def test_status_warns_for_a_tested_copy_of_a_revoked_image() -> None:
    images = FakeImages()
    images.add(image(REVOKED, tags={"promote:revoked": "CVE-9"}))
    images.add(image(FINE, "tested", tags={"promote:source-image": REVOKED}, copied_from=REVOKED))

    warnings = revoked_warnings(
        [_row("management", FINE, {FINE: 2})], make_services(images=images)[0]
    )

    assert warnings == [
        f"management is set to and runs (2 instance(s)) revoked image {FINE}: "
        f"{FINE} is revoked through its source image {REVOKED}: CVE-9"
    ]
