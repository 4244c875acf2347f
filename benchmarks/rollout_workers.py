"""A Concourse-aware rollout of a 10-worker group, beside the same rollout that does not wait.

The local AWS (a moto server) runs a worker group of 10; the stand-in Concourse web node
(tests/fakes/concourse_server.py) registers each new instance's worker REGISTER_DELAY seconds
after it is InService, and forgets a worker once its instance has left the group. Two
rollouts of the group to another AMI, side by side in one run:

- A: `promote rollout --concourse-url ...`: waits for the replacements to run in Concourse
  before retiring any old worker;
- B: the same rollout without `--concourse-url`: old instances go as soon as new ones are
  InService, whether their workers registered or not.

Sampled every 50 ms: the workers `running` in Concourse. Target: A never below the original
10; and the price of waiting, A's wall time over B's (informational).
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from click.testing import CliRunner

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from promote.adapters.aws.session import Aws  # noqa: E402
from promote.cli import cli  # noqa: E402
from promote.clock import SystemClock  # noqa: E402
from promote.config import Overrides, load  # noqa: E402
from promote.sandbox import estate, server  # noqa: E402
from tests.fakes.concourse_server import FakeConcourse, mirror_asgs  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "rollout_workers.json"
WORKERS = 10
REGISTER_DELAY = 8.0
GROUP = "concourse-worker-management-dev"
TOKEN = "benchmark-token"  # noqa: S105 - the stand-in web node's own


def describe(aws: Aws) -> dict[str, list[dict[str, Any]]]:
    """The worker group's members, with their hostnames."""
    members = aws.client("autoscaling").describe_auto_scaling_groups(AutoScalingGroupNames=[GROUP])[
        "AutoScalingGroups"
    ][0]["Instances"]
    ids = [m["InstanceId"] for m in members]
    found = (
        {
            i["InstanceId"]: i
            for r in aws.client("ec2").describe_instances(InstanceIds=ids)["Reservations"]
            for i in r["Instances"]
        }
        if ids
        else {}
    )
    return {GROUP: [{**found.get(m["InstanceId"], {}), **m} for m in members]}


def hostname(member: dict[str, Any]) -> str:
    return str(member.get("PrivateDnsName", member["InstanceId"])).split(".")[0]


def one_rollout(env: dict[str, str], aws: Aws, ami: str, aware: bool) -> dict[str, Any]:
    """Roll the worker group to AMI; wall seconds, the fewest running workers seen, exit."""
    with FakeConcourse(token=TOKEN) as concourse:
        for member in describe(aws)[GROUP]:
            concourse.add_worker(hostname(member), polls_to_land=1)
        stop = threading.Event()
        mirror_asgs(concourse, lambda: describe(aws), REGISTER_DELAY, hostname, stop)
        samples: list[int] = []

        def forget_gone() -> None:
            while not stop.is_set():
                present = {hostname(m) for m in describe(aws)[GROUP]}
                with concourse.lock:
                    for name in [n for n in concourse.workers if n not in present]:
                        del concourse.workers[name]  # its instance left: the worker is gone
                samples.append(concourse.running())
                stop.wait(0.05)

        sampler = threading.Thread(target=forget_gone, daemon=True)
        sampler.start()
        pointed = CliRunner().invoke(
            cli, ["set-ids", "--env", "management-dev", "--ami", ami], env=env
        )
        assert pointed.exit_code == 0, pointed.output  # a rollout goes where the secret says
        args = ["rollout", "--env", "management-dev", "--asg", GROUP, "--ami", ami]
        args += ["--interval", "0.2s", "--timeout", "10m", "--no-validate"]
        if aware:
            args += ["--concourse-url", concourse.url, "--drain-timeout", "30s"]
        started = time.monotonic()
        result = CliRunner().invoke(cli, args, env={**env, "CONCOURSE_TOKEN": TOKEN})
        seconds = time.monotonic() - started
        stop.set()
        sampler.join(timeout=5)
    return {"seconds": seconds, "fewest": min(samples), "exit": result.exit_code}


def main() -> int:
    """Two rollouts side by side; benchmarks/results/rollout_workers.json."""
    with tempfile.TemporaryDirectory() as tmp:
        environ = {**os.environ, "PROMOTE_SANDBOX_DIR": tmp}
        running, _ = server.up(environ)
        try:
            env = {
                "AWS_ENDPOINT_URL": running.endpoint,
                "AWS_ACCESS_KEY_ID": "bench",
                "AWS_SECRET_ACCESS_KEY": "bench",
                "AWS_DEFAULT_REGION": "eu-west-2",
                "AWS_EC2_METADATA_DISABLED": "true",
                "PROMOTE_CONFIG": "",
            }
            config = load(Overrides(endpoint_url=running.endpoint), {}, Path(tmp))
            aws = Aws(config, credentials=("bench", "bench"))
            report = estate.seed(aws, config, SystemClock(), WORKERS)
            images = sorted(set(report.images.values()))
            first = report.groups[GROUP]["image_id"]
            other = next(i for i in images if i != first)
            aware = one_rollout(env, aws, other, aware=True)
            blind = one_rollout(env, aws, first, aware=False)
        finally:
            server.down(environ)
    figures = [
        {
            "figure": f"Concourse-aware rollout of {WORKERS} workers: fewest running (sampled)",
            "target": f">= {WORKERS}",
            "result": aware["fewest"],
            "unit": "workers",
            "ok": aware["exit"] == 0 and aware["fewest"] >= WORKERS,
        },
        {
            "figure": "the same rollout without waiting for Concourse: fewest running",
            "target": None,
            "result": blind["fewest"],
            "unit": "workers",
            "ok": None,
        },
        {
            "figure": f"waiting for replacements (registered {REGISTER_DELAY:.0f} s after boot): "
            "wall A / wall B",
            "target": None,
            "result": round(aware["seconds"] / blind["seconds"], 2),
            "unit": "x",
            "ok": None,
        },
        {
            "figure": "rollout walls (A aware, B blind)",
            "target": None,
            "result": f"{aware['seconds']:.1f} / {blind['seconds']:.1f}",
            "unit": "s",
            "ok": None,
        },
    ]
    RESULTS.write_text(json.dumps({"figures": figures}, indent=2) + "\n")
    print(json.dumps(figures, indent=2))
    return 0 if aware["exit"] == 0 and blind["exit"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
