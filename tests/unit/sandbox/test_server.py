"""Where the sandbox keeps its state, and which process `down` may signal."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from promote.sandbox import server


def test_state_is_found_from_the_working_directory_upwards(tmp_path: Path) -> None:
    (tmp_path / ".promote" / "sandbox").mkdir(parents=True)
    deep = tmp_path / "a" / "b"
    deep.mkdir(parents=True)
    (tmp_path / "a" / "promote.toml").write_text("")  # an existing state dir wins over a marker

    assert server.state_dir({}, deep) == tmp_path / ".promote" / "sandbox"


def test_a_new_state_dir_goes_to_the_project_root(tmp_path: Path) -> None:
    (tmp_path / "repo" / ".git").mkdir(parents=True)
    (tmp_path / "repo" / "src").mkdir()

    assert server.state_dir({}, tmp_path / "repo" / "src") == tmp_path / "repo" / ".promote" / (
        "sandbox"
    )


def test_the_environment_variable_wins(tmp_path: Path) -> None:
    (tmp_path / ".promote" / "sandbox").mkdir(parents=True)

    assert server.state_dir({"PROMOTE_SANDBOX_DIR": "/x/y"}, tmp_path) == Path("/x/y")


def _state(tmp_path: Path, pid: int, port: int, start: int | None) -> dict[str, str]:
    record = {"pid": pid, "port": port, "log": "x", "start_time": start}
    (tmp_path / "state.json").write_text(json.dumps(record))
    return {"PROMOTE_SANDBOX_DIR": str(tmp_path)}


def test_down_signals_nothing_unless_pid_start_time_and_port_all_match(tmp_path: Path) -> None:
    # A process whose command line looks like the sandbox's server on port 4599 (it only sleeps).
    code = "import time; time.sleep(60)"
    fake = subprocess.Popen([sys.executable, "-c", code, "-m", server.SERVER_MODULE, "-p", "4599"])
    try:
        cmdline = Path(f"/proc/{fake.pid}/cmdline")
        deadline = time.monotonic() + 10
        while server.SERVER_MODULE.encode() not in cmdline.read_bytes():  # until it has exec'd
            assert time.monotonic() < deadline
            time.sleep(0.01)
        start = server.start_time(fake.pid)
        assert start is not None
        for pid, port, started in (
            (fake.pid, 4599, start + 1),  # a recycled pid: another start time
            (fake.pid, 4598, start),  # another port
            (fake.pid, 4599, None),  # a state file without a start time
            (os.getpid(), 4599, server.start_time(os.getpid())),  # not the server
        ):
            assert server.down(_state(tmp_path, pid, port, started)) is None
            assert fake.poll() is None, (pid, port, started)
            assert not (tmp_path / "state.json").exists()

        stopped = server.down(_state(tmp_path, fake.pid, 4599, start))

        assert stopped is not None and stopped.pid == fake.pid
        assert fake.wait(timeout=10) is not None
    finally:
        if fake.poll() is None:
            fake.kill()
            fake.wait()
