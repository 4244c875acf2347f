"""The integration fixtures (a moto server per session, a seeded estate per test), reused."""

from tests.integration.conftest import *  # noqa: F403
from tests.integration.conftest import Estate, aws_env, moto_server, seeded

__all__ = ["Estate", "aws_env", "moto_server", "seeded"]
