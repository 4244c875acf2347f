"""The local AWS: a moto server on a free loopback port, started in the background.

`up` starts it (or finds the one already running) and records its pid, start time and port in a
state file; `down` stops only the server that state file names, after checking that the pid is
still the patched moto server it started: same pid, same process start time, same port (a
recycled pid is never signalled). The server is `python -m promote.sandbox.moto_server`, moto's
own server with the fixes of promote/sandbox/moto_patches.py.

State is per directory, so two checkouts never share or stop each other's server: the state
file lives in `$PROMOTE_SANDBOX_DIR`, else the nearest `.promote/sandbox/` from the working
directory upwards, else a new `.promote/sandbox/` at the project root (the nearest directory
upwards holding promote.toml or .git; else the working directory).
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


SERVER_MODULE = "promote.sandbox.moto_server"
PROJECT_MARKERS = ("promote.toml", ".git")


def state_dir(environ: Mapping[str, str], cwd: Path | None = None) -> Path:
    """Where the sandbox keeps its state file and log (see the module docstring)."""
    if environ.get("PROMOTE_SANDBOX_DIR"):
        return Path(environ["PROMOTE_SANDBOX_DIR"])
    here = (cwd or Path.cwd()).resolve()
    for directory in (here, *here.parents):
        if (directory / ".promote" / "sandbox").is_dir():
            return directory / ".promote" / "sandbox"
    for directory in (here, *here.parents):
        if any((directory / marker).exists() for marker in PROJECT_MARKERS):
            return directory / ".promote" / "sandbox"
    return here / ".promote" / "sandbox"


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


def start_time(pid: int) -> int | None:
    """When PID started (clock ticks since boot, /proc/PID/stat field 22); None if gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return int(fields[19])
    except (OSError, IndexError, ValueError):
        return None


def _is_our_server(pid: int, port: int, started: int | None) -> bool:
    """True when PID is still the patched moto server on PORT that started at STARTED."""
    if started is None or start_time(pid) != started:
        return False
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return SERVER_MODULE.encode() in cmdline and str(port).encode() in cmdline


def _recorded(
    environ: Mapping[str, str], cwd: Path | None = None
) -> tuple[Sandbox, int | None] | None:
    """The sandbox the state file names (running or not) and its start time; None without a
    readable state file."""
    try:
        state = json.loads((state_dir(environ, cwd) / "state.json").read_text())
        sandbox = Sandbox(pid=int(state["pid"]), port=int(state["port"]), log=str(state["log"]))
        started = state.get("start_time")
        return sandbox, started if isinstance(started, int) else None
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def current(environ: Mapping[str, str], cwd: Path | None = None) -> Sandbox | None:
    """The sandbox the state file names, when it is still running."""
    recorded = _recorded(environ, cwd)
    if recorded is None:
        return None
    sandbox, started = recorded
    if _is_our_server(sandbox.pid, sandbox.port, started) and responding(sandbox.port):
        return sandbox
    return None


def up(environ: Mapping[str, str], cwd: Path | None = None) -> tuple[Sandbox, bool]:
    """Start the local AWS, or find the running one; returns it and whether it was started."""
    running = current(environ, cwd)
    if running:
        return running, False
    if importlib.util.find_spec("moto") is None:
        raise usage_error(
            "the local AWS needs moto, which is not installed",
            "pip install 'moto[server]>=5.0.20,<6' (or reinstall promote with its sandbox extra)",
        )
    directory = state_dir(environ, cwd)
    directory.mkdir(parents=True, exist_ok=True)
    if directory.parent.name == ".promote" and not (directory.parent / ".gitignore").exists():
        (directory.parent / ".gitignore").write_text("# promote's local state: never commit\n*\n")
    port = _free_port()
    log = directory / "moto.log"
    env = {**environ, "MOTO_AMIS_PATH": str(amis_path())}
    with log.open("ab") as handle:
        process = subprocess.Popen(
            [sys.executable, "-m", SERVER_MODULE, "-H", "127.0.0.1", "-p", str(port)],
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
    record = {**to_data(sandbox), "start_time": start_time(process.pid)}
    tmp.write_text(json.dumps(record))
    tmp.replace(state)
    return sandbox, True


def down(environ: Mapping[str, str], cwd: Path | None = None) -> Sandbox | None:
    """Stop the server the state file names (only if it is ours); None when none was running."""
    recorded = _recorded(environ, cwd)
    if recorded is None:
        return None
    sandbox, started = recorded
    stopped = None
    if _is_our_server(sandbox.pid, sandbox.port, started):
        os.kill(sandbox.pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT_SECONDS
        while _alive(sandbox.pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if _alive(sandbox.pid):
            os.kill(sandbox.pid, signal.SIGKILL)
        stopped = sandbox
    (state_dir(environ, cwd) / "state.json").unlink(missing_ok=True)
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
