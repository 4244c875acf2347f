"""Benchmark signed evidence: what signing costs a validate, what verifying costs the gate, and
what `promote audit` costs against a listing of the same ledger.

It starts its own local AWS (a moto server in a temporary state directory), seeds the estate
(its KMS keys included) and, in one run, times side by side (interleaved A B, B A, ...):

- validate, one poll (in-process `fleet.check`, timeout 0), A: signing through KMS
  (`MessageType=RAW`), B: the same write path with a stand-in that stores the Statement as
  plain JSON (the unsigned record of before);
- `promote gate` as an operator runs it (a subprocess, wall time), A: on a signed record
  (kms:GetPublicKey once, signature, detail object), B: on an unsigned legacy record with
  `allow_unsigned_evidence = true` (the path that reads the record as before);
- `promote audit` in-process over RECORDS (1,000) signed records, against C: one paginated
  ListObjectVersions of them, and D: that listing plus a GetObject of each (the least any
  verifier must read).

Figures go to `benchmarks/results/evidence.json`. Targets: signed gate <= 1.3x the unsigned
gate's wall; audit <= 2x one paginated listing.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from promote.cli.app import AppContext
from promote.cli.output import Output
from promote.config import Overrides
from promote.domain import audit, evidence, fleet, ledger
from promote.domain.fleet import Group, GroupMember, SeenInstance, Snapshot, Validation
from promote.domain.services import Services
from promote.sandbox import server as sandbox

RESULTS = Path(__file__).resolve().parent / "results" / "evidence.json"
GATE_TARGET = 1.3
AUDIT_TARGET = 2.0
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}


def log(message: str) -> None:
    """One progress line on stderr."""
    print(f"[evidence] {message}", file=sys.stderr, flush=True)


class PlainJson:
    """The unsigned path: the Statement stored as plain JSON, no key asked for."""

    key_name = "unsigned"

    def ready(self) -> None:
        """Nothing to check."""

    def sign(self, statement: Mapping[str, Any]) -> bytes:
        """The Statement as it is."""
        return ledger.compact(dict(statement))


def interleaved(a: Callable[[], float], b: Callable[[], float], runs: int) -> tuple[list, list]:
    """RUNS samples of each, in ABBA order after one untimed warm-up each."""
    a(), b()
    first: list[float] = []
    second: list[float] = []
    for n in range(runs):
        order = (a, b) if n % 2 == 0 else (b, a)
        for run in order:
            (first if run is a else second).append(run())
    return first, second


def timed(action: Callable[[], object]) -> float:
    """Seconds ACTION took."""
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def services(environ: dict[str, str], cwd: Path) -> Services:
    """A fresh Services as the CLI builds it (every key asked for again)."""
    output = Output("text", stdout=io.StringIO(), stderr=io.StringIO())
    return AppContext(Overrides(), environ, cwd, output).services()


def legacy_record(app: Services, ami: str, env: str) -> str:
    """An unsigned record of AMI in ENV as promote wrote them before (one instance on it)."""
    key = f"evidence/{ami}/{env}/20261001T000000.000000Z-SUCCESS.json"
    instance = {"instance_id": "i-0", "autoscaling_group": "web", "lifecycle_state": "InService"}
    instance.update(health_status="Healthy", image_id=ami, state="running")
    document = {
        "schema": ledger.EVIDENCE_SCHEMA,
        "result": "SUCCESS",
        "env": env,
        "expected_ami": ami,
        "instance_count": 1,
        "instances": [instance],
    }
    app.ledger.put_new(key, json.dumps(document).encode())
    return key


def fill_ledger(app: Services, records: int) -> None:
    """RECORDS signed SUCCESS records, over ten AMIs, one second apart."""
    start = datetime(2026, 1, 1, tzinfo=UTC)
    for n in range(records):
        ami = f"ami-{n % 10:017x}"
        member = GroupMember("i-0", "InService", "Healthy")
        seen = SeenInstance("i-0", "web", "InService", "Healthy", ami, "running")
        snapshot = Snapshot("management-dev", (Group("web", 1, (member,)),), (seen,))
        at = start + timedelta(seconds=n)
        v = Validation("management-dev", ami, "SUCCESS", (), snapshot, 1, at, at, 0, 1)
        record = evidence.build_record(v, {"user": "bench"}, "bench", "eu-west-2")
        evidence.write(app, v, record)
        if n % 250 == 249:
            log(f"{n + 1} records written")


def gate_cli(environ: dict[str, str], ami: str, cwd: Path) -> float:
    """Wall seconds of one `promote gate --ami AMI` (it must open)."""
    command = [sys.executable, "-m", "promote", "gate", "--ami", ami]
    started = time.perf_counter()
    subprocess.run(command, env=environ, cwd=cwd, check=True, capture_output=True)
    return time.perf_counter() - started


def figure(name: str, target: str, result: float | str, unit: str, ok: bool | None) -> dict:
    """One row of the results table."""
    return {"figure": name, "target": target, "result": result, "unit": unit, "ok": ok}


def measure(args: argparse.Namespace, workdir: Path, environ: dict[str, str]) -> dict[str, Any]:
    """Seed, take the interleaved samples; the JSON document."""
    running, _ = sandbox.up(environ)
    log(f"local AWS at {running.endpoint} (pid {running.pid})")
    try:
        env = {**environ, **CREDENTIALS, "AWS_ENDPOINT_URL": running.endpoint, "PROMOTE_CONFIG": ""}
        env["AWS_DEFAULT_REGION"] = "eu-west-2"
        os.environ.update(env)  # boto3 in this process reads its credentials from here
        up = subprocess.run(
            [sys.executable, "-m", "promote", "sandbox", "seed"], env=env, cwd=workdir, check=False
        )
        assert up.returncode == 0, "seeding failed"
        app = services(env, workdir)
        ids = app.read_ids(check=False)
        untested = ids.ami_for(app.config.environment("management-dev"))
        tested = ids.ami_for(app.config.environment("management"))
        assert untested and tested

        log("validate: signed vs unsigned")
        signed_validate, plain_validate = interleaved(
            lambda: timed(
                lambda: fleet.check(services(env, workdir), "management-dev", None, 0, 1)
            ),
            lambda: timed(
                lambda: fleet.check(
                    replace(services(env, workdir), evidence_signer=PlainJson()),
                    "management-dev",
                    None,
                    0,
                    1,
                )
            ),
            args.runs,
        )
        legacy_record(app, tested, "management-dev")
        allow = {**env, "PROMOTE_ALLOW_UNSIGNED_EVIDENCE": "true"}
        log("gate: signed record vs unsigned legacy record (subprocesses)")
        signed_gate, plain_gate = interleaved(
            lambda: gate_cli(env, untested, workdir),
            lambda: gate_cli(allow, tested, workdir),
            args.runs,
        )

        log(f"writing {args.records} signed records")
        fresh = services(env, workdir)
        fill_ledger(fresh, args.records)
        total = len([v for v in fresh.ledger.versions("evidence/") if "/detail/" not in v.key])
        log(f"audit over {total} records vs one listing vs listing + reading")
        audits, listings = interleaved(
            lambda: timed(lambda: audit.audit(services(allow, workdir))),
            lambda: timed(lambda: services(env, workdir).ledger.versions("evidence/")),
            args.runs,
        )

        def list_and_read() -> float:
            store = services(env, workdir).ledger
            return timed(lambda: [store.get(k) for k in store.keys("evidence/")])

        reads = [list_and_read() for _ in range(max(3, args.runs // 2))]
    finally:
        sandbox.down(environ)
    return document(
        signed_validate, plain_validate, signed_gate, plain_gate, audits, listings, reads, total
    )


def document(
    signed_validate: list[float],
    plain_validate: list[float],
    signed_gate: list[float],
    plain_gate: list[float],
    audits: list[float],
    listings: list[float],
    reads: list[float],
    total: int,
) -> dict[str, Any]:
    """The figures and the raw samples."""
    med = statistics.median
    validate_ratio = med(signed_validate) / med(plain_validate)
    gate_ratio = med(signed_gate) / med(plain_gate)
    audit_ratio = med(audits) / med(listings)
    read_ratio = med(audits) / med(reads)
    figures = [
        figure(
            "validate, one poll: signed / unsigned (median)",
            "-",
            round(validate_ratio, 3),
            "x",
            None,
        ),
        figure(
            "signing cost per validate (median difference)",
            "-",
            round((med(signed_validate) - med(plain_validate)) * 1000, 1),
            "ms",
            None,
        ),
        figure(
            "promote gate wall: signed record / unsigned legacy record (median)",
            f"<= {GATE_TARGET}",
            round(gate_ratio, 3),
            "x",
            gate_ratio <= GATE_TARGET,
        ),
        figure(
            "promote gate wall, signed (median)", "-", round(med(signed_gate) * 1000, 1), "ms", None
        ),
        figure(
            f"audit of {total:,} records / one paginated listing of them (median)",
            f"<= {AUDIT_TARGET}",
            round(audit_ratio, 2),
            "x",
            audit_ratio <= AUDIT_TARGET,
        ),
        figure(
            f"audit of {total:,} records / listing + GetObject of each (median)",
            "-",
            round(read_ratio, 2),
            "x",
            None,
        ),
        figure(f"audit of {total:,} records (median)", "-", round(med(audits) * 1000), "ms", None),
    ]
    raw = {
        "validate_signed_s": signed_validate,
        "validate_unsigned_s": plain_validate,
        "gate_signed_s": signed_gate,
        "gate_unsigned_s": plain_gate,
        "audit_s": audits,
        "listing_s": listings,
        "listing_and_reading_s": reads,
    }
    return {
        "benchmark": "evidence",
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "cpus": os.cpu_count(),
        "figures": figures,
        "raw": {k: [round(x, 4) for x in v] for k, v in raw.items()},
    }


def main() -> None:
    """Run and write benchmarks/results/evidence.json."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7, help="samples of each side")
    parser.add_argument("--records", type=int, default=1000, help="records audited")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="promote-bench-evidence-") as tmp:
        workdir = Path(tmp)
        environ = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "PROMOTE_"))}
        environ["PROMOTE_SANDBOX_DIR"] = str(workdir / "sandbox")
        environ["AWS_CONFIG_FILE"] = str(workdir / "none")
        environ["AWS_SHARED_CREDENTIALS_FILE"] = str(workdir / "none")
        result = measure(args, workdir, environ)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n")
    for row in result["figures"]:
        log(f"{row['figure']}: {row['result']} {row['unit']} (target {row['target']})")


if __name__ == "__main__":
    main()
