"""Benchmark `promote validate` at scale against a raw boto3 DescribeInstances sweep.

It starts its own local AWS (a moto server in a temporary state directory), creates one
environment of GROUPS auto scaling groups of PER_GROUP instances each (2,000 by default) from a
launch template on the sandbox's base image (one instance per scaling step, so one reservation
per instance: the local AWS pages DescribeInstances by reservation, real EC2 by instance), then,
in one run, times alternately (A B, B A, A B, ...; REPEATS samples each, 3 by default to stay
under ~3 minutes, since the local AWS takes 10-25 s to render 2,000 instances):

- A: `promote.domain.fleet.validate(...)` in-process, once (timeout 0), over `AwsFleet`;
- B: a raw boto3 paginated DescribeInstances sweep (1,000 a page) of the same instances,
  filtered by the same `aws:autoscaling:groupName` tag values promote uses.

API calls are counted per operation with a botocore `before-call` event hook (and HTTP
requests, retries included, with `before-send`). Figures go to `benchmarks/results/validate.json`.
Targets: median(A) / median(B) <= 1.2; DescribeInstances calls per poll <= ceil(N/1000) + 1.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import boto3

from promote.adapters.aws.autoscaling import AwsFleet
from promote.adapters.aws.ec2 import DESCRIBE_INSTANCES_PAGE
from promote.adapters.aws.session import Aws
from promote.clock import SystemClock
from promote.config import Config, Environment, Overrides, load
from promote.domain import fleet
from promote.sandbox import estate
from promote.sandbox import server as sandbox

RESULTS = Path(__file__).resolve().parent / "results" / "validate.json"
REGION = "eu-west-2"
ENV_NAME = "bench"
CREDENTIALS = ("sandbox", "sandbox")
ASG_TAG = "aws:autoscaling:groupName"
RATIO_TARGET = 1.2


def log(message: str) -> None:
    """One progress line on stderr."""
    print(f"[validate_scale] {message}", file=sys.stderr, flush=True)


class CallCounter:
    """Counts API calls and HTTP requests per operation, and time spent inside each call."""

    def __init__(self) -> None:
        """Start at zero."""
        self.calls: Counter[str] = Counter()
        self.requests: Counter[str] = Counter()
        self.seconds: defaultdict[str, float] = defaultdict(float)
        self._started: dict[str, float] = {}

    def reset(self) -> None:
        """Forget everything counted so far."""
        self.calls.clear()
        self.requests.clear()
        self.seconds.clear()
        self._started.clear()

    def before_call(self, model: Any, **_: Any) -> None:
        """botocore `before-call.*.*`: one API call (retries are inside it)."""
        self.calls[model.name] += 1
        self._started[model.name] = time.perf_counter()

    def after_call(self, model: Any, **_: Any) -> None:
        """botocore `after-call.*.*`: the call returned (serialise, HTTP, parse)."""
        started = self._started.pop(model.name, None)
        if started is not None:
            self.seconds[model.name] += time.perf_counter() - started

    def before_send(self, event_name: str, **_: Any) -> None:
        """botocore `before-send.*.*`: one HTTP request, retries included."""
        self.requests[event_name.rsplit(".", 1)[-1]] += 1

    def hooks(self) -> list[tuple[str, Callable[..., Any]]]:
        """The (event, handler) pairs to register on a client."""
        return [
            ("before-call.*.*", self.before_call),
            ("after-call.*.*", self.after_call),
            ("before-send.*.*", self.before_send),
        ]

    def snapshot(self) -> dict[str, Any]:
        """Plain data: calls, requests and seconds per operation."""
        return {
            "calls": dict(self.calls),
            "http_requests": dict(self.requests),
            "seconds_in_calls": {k: round(v, 4) for k, v in self.seconds.items()},
        }


def clean_environ(state_dir: Path) -> dict[str, str]:
    """This process's environment without AWS_* / PROMOTE_* settings, plus the sandbox dir."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "PROMOTE_"))}
    environ["PROMOTE_SANDBOX_DIR"] = str(state_dir)
    return environ


def write_config(directory: Path, groups: list[str]) -> Path:
    """A promote.toml with one environment holding GROUPS."""
    path = directory / "promote.toml"
    names = ", ".join(json.dumps(g) for g in groups)
    path.write_text(
        f'region = "{REGION}"\n'
        f'test_env = "{ENV_NAME}"\n\n'
        f"[env.{ENV_NAME}]\n"
        'secret_key = "concourse_ami_bench"\n'
        f"autoscaling_groups = [{names}]\n"
        'accepts = "untested"\n'
    )
    return path


def base_image(ec2: Any) -> str:
    """The sandbox's Amazon Linux 2023 image, found as `promote sandbox seed` finds it."""
    images = ec2.describe_images(
        Owners=[estate.BASE_IMAGE_OWNER],
        Filters=[{"Name": "name", "Values": [estate.BASE_IMAGE_NAME]}],
    )["Images"]
    if not images:
        raise SystemExit("the local AWS has no Amazon Linux 2023 base image")
    newest: str = max(images, key=lambda i: i.get("CreationDate", ""))["ImageId"]
    return newest


def create_estate(aws: Aws, env: Environment, per_group: int) -> str:
    """VPC, /20 subnets, one launch template and the env's ASGs; returns the AMI they run."""
    ec2 = aws.client("ec2", env)
    autoscaling = aws.client("autoscaling", env)
    image_id = base_image(ec2)
    vpc_id = ec2.create_vpc(CidrBlock="10.60.0.0/16")["Vpc"]["VpcId"]
    zones = [z["ZoneName"] for z in ec2.describe_availability_zones()["AvailabilityZones"]][:3]
    # /20 subnets (4,091 usable addresses each): /24s run out of addresses at ~250 instances.
    subnets = [
        ec2.create_subnet(VpcId=vpc_id, CidrBlock=f"10.60.{16 * i}.0/20", AvailabilityZone=zone)[
            "Subnet"
        ]["SubnetId"]
        for i, zone in enumerate(zones)
    ]
    template = "promote-bench-worker"
    ec2.create_launch_template(
        LaunchTemplateName=template,
        LaunchTemplateData={"ImageId": image_id, "InstanceType": "m5.large"},
    )
    for name in env.autoscaling_groups:
        autoscaling.create_auto_scaling_group(
            AutoScalingGroupName=name,
            LaunchTemplate={"LaunchTemplateName": template, "Version": "$Latest"},
            MinSize=0,
            MaxSize=per_group,
            DesiredCapacity=0,
            VPCZoneIdentifier=",".join(subnets),
        )
    # One instance per scaling step, so one reservation per instance as when a real ASG
    # launches: the local AWS pages DescribeInstances by *reservation*, real EC2 by instance;
    # with one instance a reservation the two agree and the call count means what it says.
    started = time.perf_counter()
    for size in range(1, per_group + 1):
        for name in env.autoscaling_groups:
            autoscaling.set_desired_capacity(AutoScalingGroupName=name, DesiredCapacity=size)
        if size % 100 == 0 or size == per_group:
            log(
                f"  {size * len(env.autoscaling_groups):,} instances launched "
                f"({time.perf_counter() - started:.0f}s)"
            )
    return image_id


def run_validate(
    env: Environment, expected: str, reader: AwsFleet, counter: CallCounter
) -> tuple[float, dict[str, Any]]:
    """Sample A: one `validate` poll, in-process; seconds and what it saw and called."""
    counter.reset()
    started = time.perf_counter()
    cpu = time.process_time()
    result = fleet.validate(
        env,
        expected,
        reader,
        SystemClock(),
        timeout=0,
        interval=1,
        progress=lambda _line: None,
    )
    seconds = time.perf_counter() - started
    cpu_seconds = time.process_time() - cpu
    return seconds, {
        "result": result.result,
        "polls": result.polls,
        "instances": len(result.snapshot.instances),
        "reasons": len(result.reasons),
        "client_cpu_s": round(cpu_seconds, 4),
        "outside_calls_s": round(seconds - sum(counter.seconds.values()), 4),
        **counter.snapshot(),
    }


def run_raw_sweep(
    client: Any, groups: list[str], counter: CallCounter
) -> tuple[float, dict[str, Any]]:
    """Sample B: a raw paginated DescribeInstances sweep by ASG tag; seconds and what it saw."""
    counter.reset()
    started = time.perf_counter()
    cpu = time.process_time()
    seen: dict[str, str] = {}
    pages = client.get_paginator("describe_instances").paginate(
        Filters=[{"Name": f"tag:{ASG_TAG}", "Values": groups}],
        PaginationConfig={"PageSize": DESCRIBE_INSTANCES_PAGE},
    )
    for page in pages:
        for reservation in page["Reservations"]:
            for instance in reservation["Instances"]:
                seen[instance["InstanceId"]] = instance["ImageId"]
    seconds = time.perf_counter() - started
    cpu_seconds = time.process_time() - cpu
    return seconds, {
        "instances": len(seen),
        "client_cpu_s": round(cpu_seconds, 4),
        **counter.snapshot(),
    }


def versions() -> dict[str, str]:
    """Interpreter, platform and library versions, for the record."""
    found = {"python": platform.python_version(), "platform": platform.platform()}
    for package in ("boto3", "botocore", "moto", "concourse-ami-promote"):
        try:
            found[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            found[package] = "not installed"
    found["cpus"] = str(os.cpu_count())
    return found


def figures(
    n: int,
    a: list[float],
    b: list[float],
    a_runs: list[dict[str, Any]],
    b_runs: list[dict[str, Any]],
) -> list[dict[str, Any]]:
    """The headline figures, each with its target and whether it was met."""
    median_a, median_b = statistics.median(a), statistics.median(b)
    ratio = median_a / median_b
    cpu_a = statistics.median(r["client_cpu_s"] for r in a_runs)
    cpu_b = statistics.median(r["client_cpu_s"] for r in b_runs)
    per_poll = max(r["calls"].get("DescribeInstances", 0) / max(r["polls"], 1) for r in a_runs)
    call_target = math.ceil(n / DESCRIBE_INSTANCES_PAGE) + 1
    correct = all(r["result"] == "SUCCESS" and r["instances"] == n for r in a_runs)
    return [
        {
            "figure": f"validate / raw DescribeInstances sweep, wall time (N={n:,}, median)",
            "target": f"<= {RATIO_TARGET}",
            "result": round(ratio, 3),
            "unit": "x",
            "ok": ratio <= RATIO_TARGET,
        },
        {
            "figure": f"DescribeInstances calls per validate poll (N={n:,}, worst sample)",
            "target": f"<= {call_target} (ceil(N/1000) + 1)",
            "result": per_poll,
            "unit": "calls",
            "ok": per_poll <= call_target,
        },
        {
            "figure": f"validate saw all {n:,} instances and said SUCCESS (every sample)",
            "target": "yes",
            "result": "yes" if correct else "no",
            "unit": "",
            "ok": correct,
        },
        {
            "figure": f"validate, one poll (N={n:,}, median)",
            "target": "-",
            "result": round(median_a * 1000, 1),
            "unit": "ms",
            "ok": None,
        },
        {
            "figure": f"raw DescribeInstances sweep (N={n:,}, median)",
            "target": "-",
            "result": round(median_b * 1000, 1),
            "unit": "ms",
            "ok": None,
        },
        {
            "figure": "client CPU (not the local AWS), validate / raw sweep (medians)",
            "target": "-",
            "result": f"{cpu_a * 1000:.0f} / {cpu_b * 1000:.0f}",
            "unit": "ms",
            "ok": None,
        },
    ]


def write_json(path: Path, document: Mapping[str, Any]) -> None:
    """Write DOCUMENT to PATH atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(document, indent=2) + "\n")
    tmp.replace(path)


def measure(args: argparse.Namespace, workdir: Path, environ: dict[str, str]) -> dict[str, Any]:
    """Start the sandbox, build the estate, take the interleaved samples; the JSON document."""
    began = time.perf_counter()
    running, _ = sandbox.up(environ)
    log(
        f"local AWS at {running.endpoint} (pid {running.pid}) in {time.perf_counter() - began:.1f}s"
    )
    try:
        groups = [f"concourse-worker-bench-{i:02d}" for i in range(1, args.groups + 1)]
        config: Config = load(
            Overrides(
                config_path=str(write_config(workdir, groups)), endpoint_url=running.endpoint
            ),
            environ,
            workdir,
        )
        env = config.environment(ENV_NAME)
        n = args.groups * args.per_group
        counter = CallCounter()
        aws = Aws(config, credentials=CREDENTIALS)
        started = time.perf_counter()
        expected = create_estate(aws, env, args.per_group)
        seed_seconds = time.perf_counter() - started
        log(f"{n:,} instances in {args.groups} ASGs on {expected} in {seed_seconds:.1f}s")

        for event, handler in counter.hooks():
            aws.on(event, handler)
        reader = AwsFleet(aws)
        raw = boto3.client(
            "ec2",
            endpoint_url=running.endpoint,
            region_name=config.env_region(env),
            aws_access_key_id=CREDENTIALS[0],
            aws_secret_access_key=CREDENTIALS[1],
        )
        for event, handler in counter.hooks():
            raw.meta.events.register(event, handler)

        # Warm-up, not timed: create both sides' clients and make one small call with each.
        aws.client("autoscaling", env).describe_auto_scaling_groups(MaxRecords=1)
        aws.client("ec2", env).describe_instances(MaxResults=5)
        raw.describe_instances(MaxResults=5)

        a: list[float] = []
        b: list[float] = []
        a_runs: list[dict[str, Any]] = []
        b_runs: list[dict[str, Any]] = []
        order: list[str] = []
        for rep in range(args.repeats):
            for which in "AB" if rep % 2 == 0 else "BA":
                order.append(which)
                if which == "A":
                    seconds, info = run_validate(env, expected, reader, counter)
                    a.append(seconds)
                    a_runs.append(info)
                else:
                    seconds, info = run_raw_sweep(raw, groups, counter)
                    b.append(seconds)
                    b_runs.append(info)
                log(f"rep {rep + 1}/{args.repeats} {which}: {seconds * 1000:.0f} ms")
    finally:
        stopped = sandbox.down(environ)
        log(f"local AWS stopped (pid {stopped.pid})" if stopped else "no local AWS to stop")

    found = figures(n, a, b, a_runs, b_runs)
    return {
        "benchmark": "validate_scale",
        "generated_at": datetime.now(UTC).replace(microsecond=0).isoformat(),
        "figures": found,
        "n_instances": n,
        "groups": args.groups,
        "instances_per_group": args.per_group,
        "repeats": args.repeats,
        "order": "".join(order),
        "a": {
            "what": "promote.fleet.validate(env, ami, AwsFleet(aws), SystemClock(), timeout=0), "
            "in-process: DescribeAutoScalingGroups + DescribeInstances by ASG tag + assess",
            "samples_s": [round(s, 4) for s in a],
            "median_s": round(statistics.median(a), 4),
            "runs": a_runs,
        },
        "b": {
            "what": "boto3 ec2 get_paginator('describe_instances').paginate(PageSize=1000)",
            "filter": f"tag:{ASG_TAG} in the env's {args.groups} ASG names (the same filter "
            "promote uses; returns exactly the N ASG instances)",
            "samples_s": [round(s, 4) for s in b],
            "median_s": round(statistics.median(b), 4),
            "runs": b_runs,
        },
        "ratio_median": found[0]["result"],
        "ratio_per_pair": [round(x / y, 3) for x, y in zip(a, b, strict=True)],
        "describe_instances_calls_per_poll": found[1]["result"],
        "describe_instances_calls_target": math.ceil(n / DESCRIBE_INSTANCES_PAGE) + 1,
        "seed_seconds": round(seed_seconds, 2),
        "endpoint": "local AWS (moto server, loopback HTTP)",
        "notes": [
            "The local AWS pages DescribeInstances by reservation (real EC2: by instance); the "
            "ASGs are grown one instance a step, so every reservation holds one instance.",
            "Wall time is dominated by the local AWS rendering the XML (a separate process); "
            "client_cpu_s is this process only: botocore parsing plus promote's own code.",
            "seconds_in_calls is before-call to after-call per operation; outside_calls_s is "
            "validate's own time (observe, assess, summary line).",
        ],
        "versions": versions(),
    }


def main() -> None:
    """Run the benchmark and write benchmarks/results/validate.json."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--groups", type=int, default=4, help="ASGs in the environment")
    parser.add_argument("--per-group", type=int, default=500, help="instances per ASG")
    parser.add_argument("--repeats", type=int, default=3, help="samples of A and of B")
    parser.add_argument("--output", type=Path, default=RESULTS, help="where to write the JSON")
    args = parser.parse_args()
    began = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="promote-bench-") as tmp:
        workdir = Path(tmp)
        document = measure(args, workdir, clean_environ(workdir / "sandbox"))
    document["total_seconds"] = round(time.perf_counter() - began, 1)
    write_json(args.output, document)
    for figure in document["figures"]:
        mark = {True: "ok", False: "MISSED", None: "info"}[figure["ok"]]
        log(f"{figure['figure']}: {figure['result']} {figure['unit']} ({figure['target']}) {mark}")
    log(f"wrote {args.output} in {document['total_seconds']}s")


if __name__ == "__main__":
    main()
