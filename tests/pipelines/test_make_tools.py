"""`make demo` and `make ami` install what they drive when it is missing, and say so.

apt-get itself cannot run here (it would change the machine): a stand-in apt-get on PATH
records how it was called. Everything else is the real Makefile and the real make.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.pipelines.model import ROOT

STAND_IN_APT_GET = '#!/bin/sh\necho "apt-get $*" >> "$APT_LOG"\n'


def _make(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / "apt-get").write_text(STAND_IN_APT_GET)
    (bin_dir / "apt-get").chmod(0o755)
    env = {
        **os.environ,
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "APT_LOG": str(tmp_path / "apt.log"),
    }
    return subprocess.run(
        ["make", "-s", "-C", str(ROOT), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_a_missing_tool_is_installed_and_said(tmp_path: Path) -> None:
    result = _make(tmp_path, "demo-tools", "DEMO_TOOLS=git:git no-such-tool-xyz:pkg-xyz")

    assert result.returncode == 0, result.stderr
    assert "installing what make demo and make ami drive: pkg-xyz" in result.stdout
    calls = (tmp_path / "apt.log").read_text().splitlines()
    assert calls[0] == "apt-get update -q"
    assert calls[1] == "apt-get install -y -q --no-install-recommends pkg-xyz"


def test_nothing_is_installed_when_everything_is_there(tmp_path: Path) -> None:
    result = _make(tmp_path, "demo-tools", "DEMO_TOOLS=git:git sh:dash")

    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    assert not (tmp_path / "apt.log").exists()


def test_demo_and_ami_install_their_tools_first(tmp_path: Path) -> None:
    for target, recipe in (("demo", "scripts/demo.sh"), ("ami", "promote build")):
        dry = _make(tmp_path, "-n", target, "DEMO_TOOLS=no-such-tool-xyz:pkg-xyz")
        assert "DEBIAN_FRONTEND=noninteractive apt-get install" in dry.stdout, target
        assert dry.stdout.index("apt-get install") < dry.stdout.index(recipe), target


def _venv(tmp_path: Path, with_ansible: bool) -> Path:
    """A stand-in .venv: its python records how it was called; installed (the stamp is new)."""
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    python = venv / "bin" / "python"
    python.write_text('#!/bin/sh\necho "python $*" >> "$PIP_LOG"\n')
    python.chmod(0o755)
    if with_ansible:
        (venv / "bin" / "ansible-playbook").write_text("#!/bin/sh\n")
        (venv / "bin" / "ansible-playbook").chmod(0o755)
    (venv / ".installed").touch()
    return venv


def test_make_ami_brings_its_own_ansible_when_the_venv_has_none(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    venv = _venv(tmp_path, with_ansible=False)
    monkeypatch.setenv("PIP_LOG", str(tmp_path / "pip.log"))

    result = _make(tmp_path, "build-tools", f"VENV={venv}")

    assert result.returncode == 0, result.stderr
    assert "installing Ansible for Packer's provisioner (the build extra)" in result.stdout
    calls = (tmp_path / "pip.log").read_text().splitlines()
    assert calls == ["python -m pip install --quiet -e .[build]"]


def test_make_ami_installs_nothing_when_the_venv_has_ansible(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    venv = _venv(tmp_path, with_ansible=True)
    monkeypatch.setenv("PIP_LOG", str(tmp_path / "pip.log"))

    result = _make(tmp_path, "build-tools", f"VENV={venv}")

    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    assert not (tmp_path / "pip.log").exists()


def test_make_ami_puts_the_venv_first_on_path_for_packer(tmp_path: Path) -> None:
    dry = _make(tmp_path, "-n", "ami")

    assert "build-tools" not in dry.stderr
    recipe = next(line for line in dry.stdout.splitlines() if "promote build" in line)
    assert recipe.startswith(f'PATH="{ROOT}/.venv/bin:')
    assert "Packer's Ansible provisioner runs .venv/bin/ansible-playbook" in dry.stdout
