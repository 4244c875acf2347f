"""Time `make demo` (the whole lifecycle on the local AWS) against its 60-second target."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "demo.json"
TARGET_SECONDS = 60.0


def main() -> int:
    """Run the demo once, write benchmarks/results/demo.json."""
    env = {**os.environ, "PATH": f"{ROOT / '.venv' / 'bin'}:{os.environ['PATH']}"}
    started = time.monotonic()
    process = subprocess.run(
        ["bash", "scripts/demo.sh"], cwd=ROOT, env=env, capture_output=True, text=True, check=False
    )
    seconds = time.monotonic() - started
    figures = [
        {
            "figure": "make demo, whole lifecycle on the local AWS (wall)",
            "target": f"<= {TARGET_SECONDS:.0f}",
            "result": round(seconds, 1),
            "unit": "s",
            "ok": process.returncode == 0 and seconds <= TARGET_SECONDS,
        },
        {
            "figure": "make demo exit code",
            "target": "0",
            "result": process.returncode,
            "unit": "",
            "ok": process.returncode == 0,
        },
    ]
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"figures": figures}, indent=2) + "\n")
    if process.returncode != 0:
        sys.stderr.write(process.stdout[-3000:] + process.stderr[-3000:])
    print(f"demo: {seconds:.1f}s (exit {process.returncode}) -> {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
