"""The fixtures every suite shares: a fake clock, in-memory ports, one stubbed botocore session,
one moto server per test session with a freshly seeded estate per test, the fake GitHub.

Imports of promote, boto3 and moto happen inside the fixtures: the VM suites (tests/infra) run
in a venv of their own and never load this file (vm-test passes --confcutdir).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from promote.sandbox.server import Sandbox
    from tests.fakes.github_server import FakeGitHub
    from tests.support.estate import Estate
    from tests.support.fakes import FakeClock
    from tests.support.stubs import StubbedAws


@pytest.fixture
def clock() -> FakeClock:
    """A clock that moves only when slept on."""
    from tests.support.fakes import FakeClock

    return FakeClock()


@pytest.fixture
def stubbed() -> Iterator[StubbedAws]:
    """An Aws layer with stubbed clients; queued responses must all be used."""
    from tests.support.stubs import StubbedAws

    session = StubbedAws()
    yield session
    session.verify()


@pytest.fixture(scope="session")
def moto_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    """The local AWS, started once (via `promote.sandbox`, as the CLI does)."""
    from promote.sandbox import server

    environ = {**os.environ, "PROMOTE_SANDBOX_DIR": str(tmp_path_factory.mktemp("sandbox"))}
    running, _ = server.up(environ)
    yield running
    server.down(environ)


@pytest.fixture
def aws_env(moto_server: Sandbox, tmp_path: Path) -> dict[str, str]:
    """Environment variables that point promote at the local AWS and nothing else."""
    from tests.support.estate import aws_environment

    return aws_environment(moto_server, tmp_path)


@pytest.fixture
def seeded(moto_server: Sandbox, aws_env: dict[str, str], tmp_path: Path) -> Estate:
    """A fresh estate: management-dev on the untested image, management on the tested one."""
    from tests.support.estate import seed_estate

    return seed_estate(moto_server, aws_env, tmp_path)


GITHUB_REPO = "acme/aws-concourse"


@pytest.fixture
def fake_github() -> Iterator[Callable[..., FakeGitHub]]:
    """Start the stand-in GitHub API (tests/fakes/github_server.py) on a loopback port:
    `fake_github(token, repo=GITHUB_REPO, **workflow)` serves the repo and its
    ami-test-apply workflow."""
    from tests.fakes.github_server import FakeGitHub

    with ExitStack() as stack:

        def start(token: str, repo: str = GITHUB_REPO, **workflow: Any) -> FakeGitHub:
            server = stack.enter_context(FakeGitHub(token=token))
            server.add_repo(repo)
            server.add_workflow(repo, "ami-test-apply.yml", **workflow)
            return server

        yield start
