"""Benchmark `promote --version` start-up against a bare `python -c pass`.

Both run as subprocesses of the venv's interpreter, interleaved (ABBA order, after one untimed
warm-up each), RUNS times each; the figure is the difference of the wall-time medians
(CPU time, user + system, is kept too: it is less sensitive to a busy machine). A second check
runs the CLI in a subprocess and lists what it imported: `promote --version` must not load
boto3 or botocore (only `promote/aws.py` imports them, lazily). Import time per package, from
`python -X importtime`, is kept in the raw data. Figures go to `benchmarks/results/startup.json`.
Target: median(promote --version) - median(python -c pass) <= 150 ms.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results" / "startup.json"
BIN = Path(sys.executable).parent
DELTA_TARGET_MS = 150.0
HEAVY = ("boto3", "botocore", "moto", "rich", "urllib3", "s3transfer", "jmespath")

# Runs the console script's entry point in-process, then reports what it imported.
PROBE = """
import json, sys
sys.argv = ["promote", "--version"]
from promote.cli import main
try:
    main()
except SystemExit:
    pass
print("MODULES=" + json.dumps(sorted(sys.modules)))
"""


def log(message: str) -> None:
    """One progress line on stderr."""
    print(f"[startup] {message}", file=sys.stderr, flush=True)


def child_environ() -> dict[str, str]:
    """The environment for the children: no PYTHON* knobs that would change start-up."""
    return {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}


def run_once(command: Sequence[str], environ: Mapping[str, str]) -> tuple[float, float]:
    """Wall seconds and CPU seconds (user + system) of one run of COMMAND (which must succeed)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, env=dict(environ))
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def imported_modules(environ: Mapping[str, str]) -> list[str]:
    """Every module `promote --version` has imported by the time it exits."""
    out = subprocess.run(
        [sys.executable, "-c", PROBE],
        check=True,
        capture_output=True,
        text=True,
        env=dict(environ),
    ).stdout
    line = next(x for x in out.splitlines() if x.startswith("MODULES="))
    modules: list[str] = json.loads(line.removeprefix("MODULES="))
    return modules


def import_times(environ: Mapping[str, str], top: int = 10) -> dict[str, Any]:
    """Where `promote --version` spends its import time, from `python -X importtime`.

    `by_package`: self times summed per top-level package (stdlib modules that click pulls
    in count as stdlib); `promote_cli_imports`: cumulative time of each direct import of
    promote.cli (click's figure includes the stdlib it needs).
    """
    err = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", PROBE],
        check=True,
        capture_output=True,
        text=True,
        env=dict(environ),
    ).stderr
    per_package: dict[str, int] = {}
    children: list[tuple[str, int]] = []
    direct: list[tuple[str, int]] = []
    for line in err.splitlines():
        # "import time: <self us> | <cumulative us> | <indent><module>"; skip the header line.
        # A module's line comes after its imports'; the indent is 2 spaces a level.
        if not line.startswith("import time:") or "[us]" in line:
            continue
        self_us, cumulative_us, name = line.removeprefix("import time:").split("|")
        module = name.strip()
        depth = (len(name) - len(name.lstrip()) - 1) // 2
        per_package[module.split(".")[0]] = per_package.get(module.split(".")[0], 0) + int(self_us)
        if depth == 1:
            children.append((module, int(cumulative_us)))
        elif depth == 0:
            if module == "promote.cli":
                direct = children
            children = []
    ranked = sorted(per_package.items(), key=lambda item: item[1], reverse=True)
    return {
        "by_package": [{"package": n, "self_ms": round(us / 1000, 1)} for n, us in ranked[:top]],
        "promote_cli_imports": [
            {"module": n, "cumulative_ms": round(us / 1000, 1)}
            for n, us in sorted(direct, key=lambda item: item[1], reverse=True)[:top]
        ],
    }


def write_json(path: Path, document: Mapping[str, Any]) -> None:
    """Write DOCUMENT to PATH atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(document, indent=2) + "\n")
    tmp.replace(path)


def main() -> None:
    """Run the benchmark and write benchmarks/results/startup.json."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=21, help="timed runs of each command")
    parser.add_argument("--output", type=Path, default=RESULTS, help="where to write the JSON")
    args = parser.parse_args()

    environ = child_environ()
    promote_exe = BIN / "promote"
    if not promote_exe.exists():
        raise SystemExit(f"{promote_exe} not found: run `make install` first")
    commands = {
        "promote": [str(promote_exe), "--version"],
        "python": [sys.executable, "-c", "pass"],
    }
    for command in commands.values():  # warm-up: page cache and .pyc files, not timed
        run_once(command, environ)

    samples: dict[str, list[float]] = {"promote": [], "python": []}
    cpu: dict[str, list[float]] = {"promote": [], "python": []}
    order = []
    for run in range(args.runs):
        for which in ("promote", "python") if run % 2 == 0 else ("python", "promote"):
            wall, cpu_seconds = run_once(commands[which], environ)
            samples[which].append(wall)
            cpu[which].append(cpu_seconds)
            order.append(which[:2])
    median_ms = {k: statistics.median(v) * 1000 for k, v in samples.items()}
    cpu_ms = {k: statistics.median(v) * 1000 for k, v in cpu.items()}
    delta_ms = median_ms["promote"] - median_ms["python"]
    log(
        f"promote --version {median_ms['promote']:.0f} ms, python -c pass "
        f"{median_ms['python']:.0f} ms (medians of {args.runs}): +{delta_ms:.0f} ms"
    )

    modules = imported_modules(environ)
    heavy = sorted({m.split(".")[0] for m in modules} & set(HEAVY))
    boto_free = not ({"boto3", "botocore"} & set(heavy))
    log(f"heavy packages imported by promote --version: {', '.join(heavy) or 'none'}")

    document = {
        "benchmark": "startup",
        "generated_at": datetime.now(UTC).replace(microsecond=0).isoformat(),
        "figures": [
            {
                "figure": "promote --version minus python -c pass (medians)",
                "target": f"<= {DELTA_TARGET_MS:.0f}",
                "result": round(delta_ms, 1),
                "unit": "ms",
                "ok": delta_ms <= DELTA_TARGET_MS,
            },
            {
                "figure": "boto3/botocore imported by promote --version",
                "target": "no",
                "result": "no" if boto_free else "yes",
                "unit": "",
                "ok": boto_free,
            },
            {
                "figure": "promote --version / python -c pass, wall (medians)",
                "target": "-",
                "result": f"{median_ms['promote']:.0f} / {median_ms['python']:.0f}",
                "unit": "ms",
                "ok": None,
            },
            {
                "figure": "promote --version minus python -c pass, CPU user+sys (medians)",
                "target": "-",
                "result": round(cpu_ms["promote"] - cpu_ms["python"], 1),
                "unit": "ms",
                "ok": None,
            },
        ],
        "runs": args.runs,
        "order": ",".join(order),
        "commands": {k: " ".join(v) for k, v in commands.items()},
        "samples_ms": {k: [round(s * 1000, 2) for s in v] for k, v in samples.items()},
        "median_ms": {k: round(v, 2) for k, v in median_ms.items()},
        "delta_ms": round(delta_ms, 2),
        "cpu_samples_ms": {k: [round(x * 1000, 1) for x in v] for k, v in cpu.items()},
        "cpu_median_ms": {k: round(v, 2) for k, v in cpu_ms.items()},
        "modules_imported": len(modules),
        "heavy_packages_imported": heavy,
        "import_time": import_times(environ),
        "versions": {"python": platform.python_version(), "platform": platform.platform()},
    }
    write_json(args.output, document)
    log(f"wrote {args.output}")


if __name__ == "__main__":
    main()
