"""Benchmark a run's AWS sessions: one shared botocore data loader against one per session.

Each env behind a role has its own session, and every command a test or the demo runs in one
process makes new ones; each used to read the service models again. Both variants make a
session and the six clients a rollout uses (ec2, autoscaling, s3, secretsmanager, kms, sts),
interleaved (ABBA), RUNS times each after one untimed warm-up; no request is sent. The figure
is the ratio of the medians, measured side by side in one run.
Figures go to `benchmarks/results/sessions.json`. Target: shared / own <= 0.5.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3

from promote.adapters.aws.session import new_session

RESULTS = Path(__file__).resolve().parent / "results" / "sessions.json"
SERVICES = ("ec2", "autoscaling", "s3", "secretsmanager", "kms", "sts")
RUNS = int(os.environ.get("BENCH_RUNS", "8"))
TARGET = 0.5
KEYS = {"aws_access_key_id": "bench", "aws_secret_access_key": "bench", "region_name": "eu-west-2"}


def clients(make: Callable[..., Any]) -> float:
    """Seconds to make one session and its clients."""
    started = time.perf_counter()
    session = make(**KEYS)
    for service in SERVICES:
        session.client(service, endpoint_url="http://127.0.0.1:9")
    return time.perf_counter() - started


def main() -> int:
    """Interleave both variants, write the figures."""
    variants: dict[str, Callable[..., Any]] = {"shared": new_session, "own": boto3.Session}
    for make in variants.values():
        clients(make)  # warm-up: imports, the first read of the models
    times: dict[str, list[float]] = {name: [] for name in variants}
    for run in range(RUNS):
        order = list(variants) if run % 2 == 0 else list(reversed(variants))
        for name in order:
            times[name].append(clients(variants[name]))
    shared, own = (statistics.median(times[n]) for n in ("shared", "own"))
    ratio = shared / own
    figures = [
        {
            "figure": "session + 6 clients, shared loader / own loader (medians)",
            "target": f"<= {TARGET}",
            "result": round(ratio, 2),
            "unit": "",
            "ok": ratio <= TARGET,
        },
        {
            "figure": "session + 6 clients, shared / own (medians)",
            "target": "-",
            "result": f"{shared * 1000:.0f} / {own * 1000:.0f}",
            "unit": "ms",
            "ok": None,
        },
    ]
    document = {
        "benchmark": "sessions",
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "runs": RUNS,
        "figures": figures,
        "raw_seconds": times,
    }
    RESULTS.write_text(json.dumps(document, indent=2) + "\n")
    print(f"sessions: shared/own {ratio:.2f} ({shared * 1000:.0f} / {own * 1000:.0f} ms)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
