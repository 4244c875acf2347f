"""`make ami` against the local AWS (wall), beside the VM chain figures from `make bench-vm`.

Writes benchmarks/results/image.json as figures: make ami <= 5 s; the VM chain cold <= 6 min
and cached <= 120 s (measured by `make bench-vm`, which this reads from the same file).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "image.json"
BIN = ROOT / ".venv" / "bin"
MANIFEST = ".cache/bench-manifest.json"


def promote(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run the promote CLI of the project's venv."""
    return subprocess.run(
        [str(BIN / "promote"), *args], env=env, capture_output=True, text=True, check=True
    )


def time_make_ami(runs: int = 3) -> list[float]:
    """Wall seconds of `make ami` on a running, seeded local AWS, RUNS times."""
    with tempfile.TemporaryDirectory() as state:
        env = {**os.environ, "PROMOTE_SANDBOX_DIR": state, "PROMOTE_CONFIG": ""}
        exports = promote("sandbox", "up", env=env).stdout
        for line in exports.splitlines():
            if line.startswith("export "):
                key, _, value = line.removeprefix("export ").partition("=")
                env[key] = value
        try:
            samples = []
            for _ in range(runs):
                time.sleep(1.1)  # image names carry a per-second stamp: one build a second
                started = time.monotonic()
                run = subprocess.run(
                    ["make", "--no-print-directory", "ami", f"AMI_ARGS=--manifest {MANIFEST}"],
                    cwd=ROOT,
                    env=env,
                    capture_output=True,
                    text=True,
                    check=False,
                )
                if run.returncode != 0:
                    sys.stderr.write(run.stdout[-2000:] + run.stderr[-2000:])
                    raise SystemExit(f"make ami failed (exit {run.returncode})")
                samples.append(time.monotonic() - started)
            return samples
        finally:
            promote("sandbox", "down", env=env)


def main() -> int:
    """Measure make ami; merge with the VM chain figures; write the figures."""
    previous: dict[str, Any] = {}
    if RESULTS.exists():
        previous = json.loads(RESULTS.read_text())
    samples = time_make_ami()
    ami = statistics.median(samples)
    figures = [
        {
            "figure": "make ami on the local AWS (wall, median of 3)",
            "target": "<= 5",
            "result": round(ami, 2),
            "unit": "s",
            "ok": ami <= 5,
        }
    ]
    for key, target, label in (
        ("vm_chain_cold_s", previous.get("vm_chain_cold_target_s", 360), "cold"),
        ("vm_chain_cached_s", previous.get("vm_chain_cached_target_s", 120), "cached"),
    ):
        value = previous.get(key)
        figures.append(
            {
                "figure": f"VM chain {label}: make vm-test (debootstrap, packer qemu, suites)",
                "target": f"<= {target}",
                "result": value if value is not None else "not measured",
                "unit": "s",
                "ok": value is not None and value <= target,
            }
        )
    document = {
        **previous,
        "make_ami_samples_s": [round(s, 3) for s in samples],
        "figures": figures,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(document, indent=2) + "\n")
    print(f"make ami: {ami:.2f}s (median of {len(samples)}) -> {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
