"""The concourse role's release preflight and install tasks, run by the real ansible-playbook
(the `build` extra) against this machine, confined to a temporary install root: a tarball
downloaded (a file:// URL, as get_url fetches any URL) or uploaded from the machine running
Ansible (what the pipeline's build does), verified with its sha256 or the sha1 Concourse
publishes; a wrong digest, no digest, or two sources are refused and leave nothing behind.

The VM chain (tests/infra/test_release_checksum.py) checks the same refusals on a real host."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[3]
ROLES = REPO / "ansible" / "roles"
ANSIBLE_PLAYBOOK = shutil.which("ansible-playbook", path=str(Path(sys.executable).parent))
VERSION = "7.11.2"

pytestmark = [
    pytest.mark.skipif(
        ANSIBLE_PLAYBOOK is None, reason="needs the build extra (ansible-core) in this venv"
    ),
    pytest.mark.skipif(os.geteuid() != 0, reason="the role installs the release owned by root"),
]

PLAY = """
- name: The release part of the concourse role
  hosts: localhost
  connection: local
  gather_facts: false
  tasks:
    - name: Preflight
      ansible.builtin.import_role:
        name: concourse
        tasks_from: preflight.yml
    - name: Install
      ansible.builtin.import_role:
        name: concourse
        tasks_from: install.yml
"""


@pytest.fixture(scope="module")
def release(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The fixture release tarball (the real layout) and its digests."""
    out = tmp_path_factory.mktemp("release")
    builder = REPO / "tests" / "fixtures" / "concourse_release" / "build_tarball.py"
    made = subprocess.run(
        [sys.executable, str(builder), str(out), "--version", VERSION],
        capture_output=True,
        text=True,
        check=True,
    )
    info: dict[str, Any] = json.loads(made.stdout)
    data = Path(info["path"]).read_bytes()
    info["sha1"] = hashlib.sha1(data, usedforsecurity=False).hexdigest()
    return info


def run_role(tmp: Path, **extra: str) -> tuple[subprocess.CompletedProcess[str], Path]:
    """Run the role's release tasks with EXTRA vars, installing under TMP/root."""
    root = tmp / "root"
    root.mkdir(exist_ok=True)
    (tmp / "play.yml").write_text(PLAY)
    variables = {
        "concourse_version": VERSION,
        "concourse_install_root": str(root),
        "concourse_download_path": str(tmp / "download.tgz"),
        "concourse_tarball_url": "",
        "concourse_tarball_file": "",
        "concourse_tarball_sha256": "",
        "concourse_tarball_sha1": "",
        **extra,
    }
    env = {
        **os.environ,
        "ANSIBLE_ROLES_PATH": str(ROLES),
        "ANSIBLE_LOCAL_TEMP": str(tmp / "ansible-local"),
        "ANSIBLE_REMOTE_TEMP": str(tmp / "ansible-remote"),
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_PYTHON_INTERPRETER": sys.executable,
        "ANSIBLE_HOME": str(tmp / "ansible-home"),
    }
    process = subprocess.run(
        [
            str(ANSIBLE_PLAYBOOK),
            "-i",
            "localhost,",
            str(tmp / "play.yml"),
            "-e",
            json.dumps(variables),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    return process, root


def installed(root: Path) -> bool:
    return (root / "concourse" / "bin" / "concourse").is_file()


def leftovers(root: Path, tmp: Path) -> list[str]:
    return sorted(p.name for p in [*root.iterdir(), tmp / "download.tgz"] if p.exists())


def test_an_uploaded_tarball_is_verified_with_the_published_sha1(
    tmp_path: Path, release: dict[str, Any]
) -> None:
    process, root = run_role(
        tmp_path, concourse_tarball_file=release["path"], concourse_tarball_sha1=release["sha1"]
    )

    assert process.returncode == 0, process.stdout[-3000:]
    assert installed(root)
    assert (root / "concourse").is_symlink()
    assert not (tmp_path / "download.tgz").exists()  # the tarball does not stay on the image


def test_a_downloaded_tarball_is_verified_with_its_sha256(
    tmp_path: Path, release: dict[str, Any]
) -> None:
    process, root = run_role(
        tmp_path,
        concourse_tarball_url=Path(release["path"]).as_uri(),
        concourse_tarball_sha256=release["sha256"],
    )

    assert process.returncode == 0, process.stdout[-3000:]
    assert installed(root)


def test_sha256_wins_when_both_digests_are_given(tmp_path: Path, release: dict[str, Any]) -> None:
    process, root = run_role(
        tmp_path,
        concourse_tarball_file=release["path"],
        concourse_tarball_sha256=release["sha256"],
        concourse_tarball_sha1="0" * 40,  # would fail if it were used
    )

    assert process.returncode == 0, process.stdout[-3000:]
    assert installed(root)


@pytest.mark.parametrize("source", ["file", "url"])
def test_a_wrong_sha1_fails_the_play_and_leaves_nothing(
    tmp_path: Path, release: dict[str, Any], source: str
) -> None:
    wrong = hashlib.sha1(b"not the release", usedforsecurity=False).hexdigest()
    given = (
        {"concourse_tarball_file": release["path"]}
        if source == "file"
        else {"concourse_tarball_url": Path(release["path"]).as_uri()}
    )

    process, root = run_role(tmp_path, concourse_tarball_sha1=wrong, **given)

    output = process.stdout + process.stderr
    assert process.returncode != 0
    assert f"Concourse {VERSION} was NOT installed" in output
    assert "did not match" in output
    assert f"sha1:{wrong}" in output
    assert leftovers(root, tmp_path) == []


def test_no_digest_is_refused_before_anything_is_fetched(
    tmp_path: Path, release: dict[str, Any]
) -> None:
    process, root = run_role(tmp_path, concourse_tarball_file=release["path"])

    output = process.stdout + process.stderr
    assert process.returncode != 0
    assert "concourse_tarball_sha256 (64 lowercase hex digits) or concourse_tarball_sha1" in output
    assert leftovers(root, tmp_path) == []


def test_two_sources_are_refused(tmp_path: Path, release: dict[str, Any]) -> None:
    process, root = run_role(
        tmp_path,
        concourse_tarball_file=release["path"],
        concourse_tarball_url=Path(release["path"]).as_uri(),
        concourse_tarball_sha256=release["sha256"],
    )

    assert process.returncode != 0
    assert "one of concourse_tarball_url or concourse_tarball_file" in process.stdout
    assert leftovers(root, tmp_path) == []
