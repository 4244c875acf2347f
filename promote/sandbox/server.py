"""The local AWS: a moto server on a free loopback port, started in the background.

`up` starts it (or finds the one already running) and records its pid and port in a state file;
`down` stops only the server that state file names, after checking that the pid still belongs
to a moto server on that port (a recycled pid is never signalled). The state file lives in
`$PROMOTE_SANDBOX_DIR`, else `$XDG_STATE_HOME/promote/sandbox`, else
`~/.local/state/promote/sandbox`.
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import ClassVar

from promote.domain.results import FLATTEN, to_data
from promote.errors import PromoteError, usage_error

START_TIMEOUT_SECONDS = 15.0
STOP_TIMEOUT_SECONDS = 5.0


@dataclass(frozen=True)
class Sandbox:
    """A running local AWS."""

    pid: int
    port: int
    log: str

    DATA_PROPERTIES: ClassVar[tuple[str, ...]] = ("endpoint",)

    @property
    def endpoint(self) -> str:
        """The AWS_ENDPOINT_URL clients use."""
        return f"http://127.0.0.1:{self.port}"

    def exports(self, region: str) -> list[str]:
        """Shell lines that point AWS clients (and promote) at the sandbox."""
        return [
            "unset AWS_PROFILE AWS_SESSION_TOKEN",
            f"export AWS_ENDPOINT_URL={self.endpoint}",
            "export AWS_ACCESS_KEY_ID=sandbox",
            "export AWS_SECRET_ACCESS_KEY=sandbox",
            f"export AWS_DEFAULT_REGION={region}",
        ]


@dataclass(frozen=True)
class SandboxUp:
    """The running local AWS, whether this run started it, and the lines to eval."""

    sandbox: Sandbox = field(metadata=FLATTEN)
    started: bool
    exports: list[str]


@dataclass(frozen=True)
class SandboxDown:
    """What `promote sandbox down` stopped."""

    stopped: Sandbox | None
    message: str


def state_dir(environ: Mapping[str, str]) -> Path:
    """Where the sandbox keeps its state file and log."""
    if environ.get("PROMOTE_SANDBOX_DIR"):
        return Path(environ["PROMOTE_SANDBOX_DIR"])
    base = environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "promote" / "sandbox"


def amis_path() -> Path:
    """The base images the local AWS starts with (an Amazon Linux 2023 image)."""
    return Path(str(resources.files("promote.sandbox") / "data" / "sandbox-amis.json"))


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def responding(port: int) -> bool:
    """True when a moto server answers on PORT."""
    try:
        with urllib.request.urlopen(
            f"http://127.0.0.1:{port}/moto-api/data.json", timeout=2
        ) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError, ValueError):
        return False


def _is_our_server(pid: int, port: int) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return b"moto.server" in cmdline and str(port).encode() in cmdline


def _recorded(environ: Mapping[str, str]) -> Sandbox | None:
    """The sandbox the state file names (running or not); None without a readable state file."""
    try:
        state = json.loads((state_dir(environ) / "state.json").read_text())
        return Sandbox(pid=int(state["pid"]), port=int(state["port"]), log=str(state["log"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def current(environ: Mapping[str, str]) -> Sandbox | None:
    """The sandbox the state file names, when it is still running."""
    sandbox = _recorded(environ)
    if sandbox is None:
        return None
    if _is_our_server(sandbox.pid, sandbox.port) and responding(sandbox.port):
        return sandbox
    return None


def up(environ: Mapping[str, str]) -> tuple[Sandbox, bool]:
    """Start the local AWS, or find the running one; returns it and whether it was started."""
    running = current(environ)
    if running:
        return running, False
    if importlib.util.find_spec("moto") is None:
        raise usage_error(
            "the local AWS needs moto, which is not installed",
            "pip install 'concourse-ami-promote[sandbox]'",
        )
    directory = state_dir(environ)
    directory.mkdir(parents=True, exist_ok=True)
    port = _free_port()
    log = directory / "moto.log"
    env = {**environ, "MOTO_AMIS_PATH": str(amis_path())}
    with log.open("ab") as handle:
        process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdin=subprocess.DEVNULL,
            stdout=handle,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while not responding(port):
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise PromoteError(
                f"the local AWS did not start on 127.0.0.1:{port}",
                f"see {log}",
            )
        time.sleep(0.1)
    sandbox = Sandbox(pid=process.pid, port=port, log=str(log))
    state = directory / "state.json"
    tmp = state.with_suffix(".tmp")
    tmp.write_text(json.dumps(to_data(sandbox)))
    tmp.replace(state)
    return sandbox, True


def down(environ: Mapping[str, str]) -> Sandbox | None:
    """Stop the server the state file names (only if it is ours); None when none was running."""
    sandbox = _recorded(environ)
    if sandbox is None:
        return None
    stopped = None
    if _is_our_server(sandbox.pid, sandbox.port):
        os.kill(sandbox.pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT_SECONDS
        while _alive(sandbox.pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if _alive(sandbox.pid):
            os.kill(sandbox.pid, signal.SIGKILL)
        stopped = sandbox
    (state_dir(environ) / "state.json").unlink(missing_ok=True)
    return stopped


def _alive(pid: int) -> bool:
    try:
        # Reap it if it is our child (tests start it in-process); otherwise just probe.
        if os.waitpid(pid, os.WNOHANG) != (0, 0):
            return False
    except ChildProcessError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}").exists() and "Z" not in _proc_state(pid)


def _proc_state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return ""
