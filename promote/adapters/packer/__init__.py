"""The one place that runs Packer (a subprocess): `packer build` for `promote build` / `make ami`.

Packer runs with `-machine-readable`; every `ui` line is streamed to stderr as it arrives, error
lines are kept, and the AMI id is read from the manifest post-processor's file (the build of
the last run), which is the record the release attaches.

This replaces packer-py (the library the project was first specified with): packer-py 0.3.0
runs Packer with `communicate()`, so nothing is shown until Packer exits (a 20-minute AWS build
would be silent), and it returns raw bytes with no parsing of Packer's failures. Streaming and
failure reporting are the two things an operator needs, so this module owns the subprocess.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from promote.domain.build import SOURCES, BuildRequest, BuildResult
from promote.errors import ExitCode, PromoteError, usage_error


@dataclass
class PackerRun:
    """What Packer said and how it ended."""

    exit_code: int
    errors: list[str] = field(default_factory=list)
    artifacts: list[str] = field(default_factory=list)
    seconds: float = 0.0


def packer_binary() -> str:
    """The packer on PATH, or a usage error saying how to get it."""
    found = shutil.which("packer")
    if not found:
        raise usage_error(
            "packer is not installed",
            "apt-get install packer (Debian), or see https://developer.hashicorp.com/packer",
        )
    return found


def command(packer: str, request: BuildRequest) -> list[str]:
    """The packer build command line for REQUEST."""
    args = [
        packer,
        "build",
        "-machine-readable",
        "-color=false",
        f"-only={SOURCES[request.target]}",
    ]
    for key, value in sorted(request.variables.items()):
        args += ["-var", f"{key}={value}"]
    return [*args, str(request.template_dir)]


def parse_line(line: str) -> tuple[str, list[str]] | None:
    """A machine-readable line `ts,target,type,data...` as (type, data); None otherwise."""
    parts = line.rstrip("\n").split(",")
    if len(parts) < 3 or not parts[0].isdigit():
        return None
    data = [p.replace("%!(PACKER_COMMA)", ",").replace("\\n", "\n") for p in parts[3:]]
    return parts[2], data


def run_packer(
    args: list[str],
    env: Mapping[str, str],
    cwd: Path,
    progress: Callable[[str], None],
    timeout_seconds: float,
) -> PackerRun:
    """Run Packer, streaming its ui lines to PROGRESS; killed after TIMEOUT_SECONDS."""
    started = time.monotonic()
    run = PackerRun(exit_code=-1)
    process = subprocess.Popen(
        args,
        cwd=cwd,
        env=dict(env),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        # Its own process group: Packer runs its builders as child processes that hold the
        # output pipe, so stopping Packer means stopping the whole group.
        start_new_session=True,
    )
    timer = threading.Timer(timeout_seconds, _kill_group, (process,))
    timer.start()
    try:
        assert process.stdout is not None
        for line in process.stdout:
            parsed = parse_line(line)
            if parsed is None:
                if line.strip():
                    progress(f"packer: {line.rstrip()}")
                continue
            kind, data = parsed
            if kind == "ui" and len(data) >= 2:
                for text in data[1].splitlines():
                    if text.strip():
                        progress(f"packer: {text}")
                if data[0] == "error":
                    run.errors.append(data[1].strip())
            elif kind == "artifact" and len(data) >= 3 and data[1] == "id":
                run.artifacts.append(data[2])
        run.exit_code = process.wait()
    finally:
        timer.cancel()
        if process.poll() is None:
            _kill_group(process)
            process.wait()
    run.seconds = time.monotonic() - started
    if run.seconds >= timeout_seconds and run.exit_code != 0:
        run.errors.append(f"packer did not finish within {timeout_seconds:.0f}s and was stopped")
    return run


def _kill_group(process: subprocess.Popen[str]) -> None:
    """SIGKILL Packer and every process of its group."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)


def read_manifest(path: Path) -> tuple[str, str, str]:
    """(region, ami, name) of the last run's build in a Packer manifest."""
    try:
        manifest = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise PromoteError(
            f"packer finished but its manifest {path} cannot be read: {exc}",
            "check the manifest post-processor in packer/",
        ) from exc
    last = manifest.get("last_run_uuid")
    builds = [b for b in manifest.get("builds", []) if b.get("packer_run_uuid") == last]
    if not builds:
        raise PromoteError(f"the manifest {path} has no build for its last run")
    build = builds[-1]
    region, _, ami = str(build.get("artifact_id", "")).partition(":")
    name = str((build.get("custom_data") or {}).get("ami_name", ""))
    if not ami.startswith("ami-"):
        raise PromoteError(f"the manifest {path} names no AMI: {build.get('artifact_id')!r}")
    return region, ami, name


_VARIABLE = re.compile(r"^var\.([A-Za-z0-9_-]+): (.*)$")


def parse_variables(lines: list[str]) -> dict[str, str]:
    """`packer inspect -machine-readable` output as variable -> default. Strings are quoted
    as HCL prints them; lists, maps and numbers stay as printed."""
    found: dict[str, str] = {}
    for line in lines:
        parsed = parse_line(line)
        if parsed is None or parsed[0] != "ui" or len(parsed[1]) < 2:
            continue
        for text in parsed[1][1].splitlines():
            match = _VARIABLE.match(text.strip())
            if not match:
                continue
            name, value = match.groups()
            if value.startswith('"') and value.endswith('"'):
                with contextlib.suppress(ValueError):
                    value = str(json.loads(value))
            found[name] = value
    return found


# How AWS refuses an action, as Packer prints it (EC2 encodes the action in the message).
_REFUSED = re.compile(r"UnauthorizedOperation|AccessDenied|not authorized to perform")


def failure(errors: list[str], exit_code: int, target: str) -> PromoteError:
    """The error for a failed Packer run: its last error line; a refusal says what to grant."""
    detail = errors[-1].splitlines()[0] if errors else f"exit {exit_code}"
    if any(_REFUSED.search(error) for error in errors):
        return PromoteError(
            f"packer build failed: AWS refused an action: {detail}",
            "`promote iam-policy build` prints the policy a build needs; Packer's failing step "
            "is above (stderr)",
            ExitCode.REMOTE,
        )
    return PromoteError(
        f"packer build failed: {detail}",
        "the full Packer output is above (stderr); fix it and re-run",
        ExitCode.REMOTE if target == "aws" else ExitCode.INTERNAL,
    )


class PackerCli:
    """The Packer port: `packer build` of one request (the binary found on PATH)."""

    def __init__(self, packer: str | None = None) -> None:
        self.packer = packer

    def build(
        self,
        request: BuildRequest,
        env: Mapping[str, str],
        cwd: Path,
        progress: Callable[[str], None],
    ) -> BuildResult:
        """Run Packer for REQUEST and return the AMI it made; Packer's errors on failure."""
        args = command(self.packer or packer_binary(), request)
        source = SOURCES[request.target]
        progress(f"building an untested AMI on {request.target}: packer build {source}")
        run = run_packer(args, env, cwd, progress, request.timeout_seconds)
        if run.exit_code != 0:
            raise failure(run.errors, run.exit_code, request.target)
        region, ami, name = read_manifest(request.manifest)
        seconds = round(run.seconds, 2)
        return BuildResult(request.target, ami, region, name, request.manifest, seconds)

    def variables(self, template_dir: Path, env: Mapping[str, str], cwd: Path) -> dict[str, str]:
        """The templates' input variables and defaults (`packer inspect`)."""
        args = [self.packer or packer_binary(), "inspect", "-machine-readable", str(template_dir)]
        try:
            done = subprocess.run(
                args,
                cwd=cwd,
                env=dict(env),
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise PromoteError(f"packer inspect {template_dir} failed: {exc}") from exc
        found = parse_variables(done.stdout.splitlines())
        if done.returncode != 0 or not found:
            detail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no variables"]
            raise usage_error(
                f"packer inspect {template_dir} failed: {detail[0]}",
                "run `packer validate` on the templates",
            )
        return found
