"""Fixtures for the infra suites: checks of a booted Concourse node over SSH (pytest-testinfra).

These suites need a host. Without `--hosts` (or PROMOTE_INFRA_HOSTS) every test here is skipped,
so a plain `pytest` from the repository root never tries to reach a machine.

Options and environment (see README.md in this directory):
  --hosts=ssh://root@HOST:PORT        the node (testinfra); or PROMOTE_INFRA_HOSTS
  --infra-role=web|worker             the role the node must be playing; or PROMOTE_INFRA_ROLE;
                                      default: what the node says in /run/concourse/role
  PROMOTE_INFRA_INVENTORY             Ansible inventory of that node, for the suites that run
                                      the playbook (idempotence, the wrong-checksum refusal)
  PROMOTE_INFRA_TARBALL_URL, PROMOTE_INFRA_TARBALL_SHA256, PROMOTE_INFRA_CONCOURSE_VERSION
                                      the release the node was built with
  PROMOTE_INFRA_EXTRA_VARS            optional path to a JSON file of extra vars the build used
  PROMOTE_INFRA_IDEMPOTENCE_RECORD    optional: the image build's record of its second playbook
                                      run, checked instead of running the playbook again
"""

from __future__ import annotations

import dataclasses
import json
import os
import pathlib
import shlex
import subprocess
import time

import pytest

REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]
PLAYBOOK = REPO_ROOT / "ansible" / "concourse.yml"
ROLES = ("web", "worker")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--infra-role",
        choices=ROLES,
        default=os.environ.get("PROMOTE_INFRA_ROLE"),
        help="role the node must be playing (default: read /run/concourse/role)",
    )
    parser.addoption(
        "--infra-fresh-host",
        action="store_true",
        help="the host has never been provisioned: run only the fresh_host suites",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "role(name): the test checks a node playing this role only")
    config.addinivalue_line(
        "markers", "fresh_host: needs a never-provisioned host (--infra-fresh-host)"
    )
    if not config.getoption("hosts", default=None) and os.environ.get("PROMOTE_INFRA_HOSTS"):
        config.option.hosts = os.environ["PROMOTE_INFRA_HOSTS"]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    here = pathlib.Path(__file__).parent
    ours = [item for item in items if here in pathlib.Path(str(item.fspath)).parents]
    if not config.getoption("hosts", default=None):
        skip = pytest.mark.skip(reason="infra suite: needs --hosts or PROMOTE_INFRA_HOSTS")
        for item in ours:
            item.add_marker(skip)
        return
    fresh = config.getoption("--infra-fresh-host")
    # Suites for a fresh host and suites for a built node never share a host.
    keep, drop = [], []
    for item in items:
        (keep if bool(item.get_closest_marker("fresh_host")) == fresh else drop).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep
    wanted = config.getoption("--infra-role")
    if wanted and not fresh:
        # The other role's checks are deselected, not skipped: a run for the worker role
        # reports only worker checks, and test_node_plays_the_expected_role guards the choice.
        keep, drop = [], []
        for item in items:
            marker = item.get_closest_marker("role")
            (drop if marker and marker.args[0] != wanted else keep).append(item)
        if drop:
            config.hook.pytest_deselected(items=drop)
            items[:] = keep


@pytest.fixture(scope="module")
def node_role(request: pytest.FixtureRequest, host) -> str:
    """The role this node plays: --infra-role, else what the node says."""
    wanted = request.config.getoption("--infra-role")
    if wanted:
        return wanted
    role_file = host.file("/run/concourse/role")
    assert role_file.exists, (
        "the node has no /run/concourse/role: concourse-select-role did not pick a role"
    )
    return role_file.content_string.strip()


@pytest.fixture(autouse=True)
def _only_for_its_role(request: pytest.FixtureRequest) -> None:
    marker = request.node.get_closest_marker("role")
    if marker:
        role = request.getfixturevalue("node_role")
        if role != marker.args[0]:
            pytest.skip(f"checks a {marker.args[0]} node; this node plays {role}")


@dataclasses.dataclass(frozen=True)
class FileStat:
    """What the suites check about a path (symlinks followed, like testinfra's File)."""

    kind: str  # "file", "directory" or what stat(1) calls it
    user: str
    group: str
    mode: int


def file_stats(host, *paths: str) -> dict[str, FileStat]:
    """Type, owner, group and mode of every path in one command: a command per attribute
    (testinfra's File) costs a round trip each, which adds up under emulation. A missing path
    is missing from the result."""
    quoted = " ".join(shlex.quote(path) for path in paths)
    result = host.run(f"stat -L -c '%F|%U|%G|%a|%n' -- {quoted}")
    stats = {}
    for line in result.stdout.splitlines():
        kind, user, group, mode, name = line.split("|", 4)
        kind = "file" if kind.startswith("regular") else kind
        stats[name] = FileStat(kind, user, group, int(mode, 8))
    return stats


def unit_property(host, unit: str, name: str) -> str:
    """One property of a systemd unit as systemd sees it (the effective configuration)."""
    return host.check_output(f"systemctl show --property={name} --value {unit}")


def http_get(host, url: str) -> str:
    """GET url from inside the node (its ports are not forwarded to the test runner)."""
    script = (
        f"import urllib.request; print(urllib.request.urlopen({url!r}, timeout=10).read().decode())"
    )
    return host.check_output(f"python3 -c {json.dumps(script)}")


def journal_since(host, unit: str, cursor: str) -> str:
    """The unit's journal messages after cursor."""
    return host.check_output(f"journalctl --no-pager -o cat -u {unit} --after-cursor='{cursor}'")


def wait_for_journal(host, unit: str, cursor: str, text: str, timeout_s: float = 20) -> str:
    """The unit's journal after cursor, once it contains text (journald reads stdout streams
    asynchronously, so a line written just before a process exits can arrive a moment later)."""
    deadline = time.monotonic() + timeout_s
    while True:
        journal = journal_since(host, unit, cursor)
        if text in journal or time.monotonic() > deadline:
            return journal
        time.sleep(0.5)


def wait_for_invocation_log(host, invocation_id: str, text: str, timeout_s: float = 20) -> str:
    """Everything one run of a unit logged (by its InvocationID), once it contains text."""
    deadline = time.monotonic() + timeout_s
    while True:
        journal = host.check_output(
            f"journalctl --no-pager -o cat _SYSTEMD_INVOCATION_ID={invocation_id}"
        )
        if text in journal or time.monotonic() > deadline:
            return journal
        time.sleep(0.5)


def journal_cursor(host) -> str:
    """The current end of the journal, to read only what a test causes."""
    return host.check_output(
        "journalctl --no-pager -n 0 --show-cursor | sed -n 's/^-- cursor: //p'"
    )


@dataclasses.dataclass(frozen=True)
class Release:
    """The Concourse release the node was built from, and how to reach the node with Ansible."""

    inventory: str
    url: str
    sha256: str
    version: str
    extra_vars_file: str | None

    def run_playbook(self, *extra: str, timeout: int = 900) -> subprocess.CompletedProcess:
        """Run the image playbook against the node; returns the finished process."""
        command = [
            "ansible-playbook",
            "-i",
            self.inventory,
            str(PLAYBOOK),
            "-e",
            f"concourse_version={self.version}",
            "-e",
            f"concourse_tarball_url={self.url}",
        ]
        if self.extra_vars_file:
            command += ["-e", f"@{self.extra_vars_file}"]
        command += list(extra)
        env = dict(
            os.environ,
            ANSIBLE_CONFIG=str(REPO_ROOT / "ansible" / "ansible.cfg"),
            ANSIBLE_NOCOLOR="1",
            ANSIBLE_FORCE_COLOR="0",
        )
        return subprocess.run(
            command, capture_output=True, text=True, timeout=timeout, env=env, check=False
        )


@pytest.fixture(scope="session")
def release() -> Release:
    """The release and inventory from PROMOTE_INFRA_*; skips playbook suites without them."""
    names = (
        "PROMOTE_INFRA_INVENTORY",
        "PROMOTE_INFRA_TARBALL_URL",
        "PROMOTE_INFRA_TARBALL_SHA256",
        "PROMOTE_INFRA_CONCOURSE_VERSION",
    )
    missing = [name for name in names if not os.environ.get(name)]
    if missing:
        pytest.skip(f"playbook suite needs {', '.join(missing)}")
    return Release(
        inventory=os.environ["PROMOTE_INFRA_INVENTORY"],
        url=os.environ["PROMOTE_INFRA_TARBALL_URL"],
        sha256=os.environ["PROMOTE_INFRA_TARBALL_SHA256"],
        version=os.environ["PROMOTE_INFRA_CONCOURSE_VERSION"],
        extra_vars_file=os.environ.get("PROMOTE_INFRA_EXTRA_VARS") or None,
    )
