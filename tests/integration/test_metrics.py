"""`promote metrics` on the local AWS: Prometheus text that the real `promtool` accepts."""

from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.estate import Estate

PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(
    PROMTOOL is None, reason="promtool is not installed (`make tools` installs Debian's prometheus)"
)


def _promtool(text: str) -> subprocess.CompletedProcess[str]:
    assert PROMTOOL is not None
    return subprocess.run(
        [PROMTOOL, "check", "metrics"], input=text, capture_output=True, text=True, check=False
    )


def _samples(text: str) -> dict[str, float]:
    """`name{labels}` -> value, for every sample line."""
    found = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            series, _, value = line.rpartition(" ")
            found[series] = float(value)
    return found


@needs_promtool
def test_metrics_count_instances_drift_pins_and_believed_evidence_only(seeded: Estate) -> None:
    seeded.cli("validate", "--env", "management-dev", "--timeout", "0")
    # A SUCCESS record nobody signed: a listing would count it, the gate's check does not.
    s3 = seeded.client("s3")
    forged = f"evidence/{seeded.tested}/management/20990101T000000.000000Z-SUCCESS.json"
    s3.put_object(Bucket=seeded.config.evidence_bucket, Key=forged, Body=b'{"forged": true}')
    lease = {
        "group": "ci-web",
        "env": "management",
        "run": "r-1",
        "by": "someone",
        "ami": seeded.tested,
        "state": "held",
        "started_at": "2026-01-01T00:00:00+00:00",
        "expires_at": "2999-01-01T00:00:00+00:00",
        "desired": 2,
        "min_size": 1,
        "max_size": 4,
        "surge": 2,
    }
    s3.put_object(
        Bucket=seeded.config.evidence_bucket,
        Key="locks/rollout/ci-web.json",
        Body=json.dumps(lease).encode(),
    )

    result = seeded.cli("metrics")

    assert result.exit_code == 0, result.output
    checked = _promtool(result.stdout)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    got = _samples(result.stdout)
    untested, tested = seeded.untested, seeded.tested
    assert got[f'promote_instances{{ami="{untested}",env="management-dev"}}'] == 4
    assert got[f'promote_instances{{ami="{tested}",env="management"}}'] == 4
    assert got[f'promote_secret_ami_info{{ami="{untested}",env="management-dev"}}'] == 1
    assert got['promote_drift_instances{env="management-dev"}'] == 0
    assert got['promote_pinned{env="management"}'] == 1
    assert got['promote_pinned{env="management-dev"}'] == 0
    assert got['promote_verified_success{env="management-dev"}'] == 1
    assert got['promote_verified_success{env="management"}'] == 0  # the forged one is not
    age = got[f'promote_last_verified_success_age_seconds{{ami="{untested}",env="management-dev"}}']
    assert 0 <= age < 600
    assert got[f'promote_ami_age_seconds{{ami="{tested}",env="management"}}'] >= 0
    assert got['promote_rollouts_in_progress{env="management"}'] == 1
    assert got['promote_rollouts_in_progress{env="management-dev"}'] == 0
    assert "promote_concourse_workers" not in result.stdout


@needs_promtool
def test_metrics_with_concourse_count_workers_by_state_and_team(seeded: Estate) -> None:
    from tests.fakes.concourse_server import FakeConcourse

    with FakeConcourse(token="concourse-bearer-sentinel") as concourse:
        concourse.add_worker("w-1")
        concourse.add_worker("w-2")
        concourse.add_worker("w-3", team="main")
        result = seeded.cli(
            "metrics",
            *("--env", "management-dev", "--concourse-url", concourse.url),
            env={"CONCOURSE_TOKEN": "concourse-bearer-sentinel"},
        )

    assert result.exit_code == 0, result.output
    assert _promtool(result.stdout).returncode == 0
    got = _samples(result.stdout)
    assert got['promote_concourse_workers{state="running",team=""}'] == 2
    assert got['promote_concourse_workers{state="running",team="main"}'] == 1
    assert 'env="management"' not in result.stdout  # only the env asked for


def test_metrics_textfile_is_written_whole_and_bad_input_writes_nothing(
    seeded: Estate, tmp_path: Path
) -> None:
    target = tmp_path / "promote.prom"

    written = seeded.cli("metrics", "--env", "management-dev", "--textfile", str(target))
    missing_dir = seeded.cli("metrics", "--textfile", str(tmp_path / "no" / "x.prom"))
    both = seeded.cli("metrics", "--textfile", str(target), "--pushgateway", "http://x")

    assert written.exit_code == 0, written.output
    assert written.stdout == ""
    assert "promote_instances{" in target.read_text()
    assert [p.name for p in tmp_path.iterdir()] == ["promote.prom"]  # no partial file left
    assert missing_dir.exit_code == 2
    assert "does not exist" in missing_dir.stderr
    assert both.exit_code == 2
    assert not (tmp_path / "no").exists()


PUSHGATEWAY = shutil.which("prometheus-pushgateway")


@pytest.fixture
def pushgateway(tmp_path: Path) -> Iterator[str]:
    """The real Pushgateway (Debian's prometheus-pushgateway) on a free loopback port."""
    if PUSHGATEWAY is None:
        pytest.skip("prometheus-pushgateway is not installed (`make tools` installs it)")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    log = (tmp_path / "pushgateway.log").open("w")
    process = subprocess.Popen(
        [PUSHGATEWAY, f"--web.listen-address=127.0.0.1:{port}"], stdout=log, stderr=log
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                with urllib.request.urlopen(f"{url}/-/ready", timeout=2):
                    break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise
                time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)
        log.close()


def _scrape(url: str) -> str:
    with urllib.request.urlopen(f"{url}/metrics", timeout=10) as response:
        return str(response.read().decode())


def test_metrics_push_replaces_the_jobs_group_on_a_real_pushgateway(
    seeded: Estate, pushgateway: str
) -> None:
    first = seeded.cli("metrics", "--env", "management-dev", "--pushgateway", pushgateway)
    once = _samples(_scrape(pushgateway))
    again = seeded.cli("metrics", "--env", "management-dev", "--pushgateway", pushgateway)
    twice = _samples(_scrape(pushgateway))
    down = seeded.cli("metrics", "--pushgateway", "http://127.0.0.1:9")

    assert first.exit_code == 0, first.output
    assert again.exit_code == 0, again.output
    untested = seeded.untested
    series = f'promote_instances{{ami="{untested}",env="management-dev",instance="",job="promote"}}'
    assert once[series] == 4
    ours = {k: v for k, v in twice.items() if k.startswith("promote_") and "age_seconds" not in k}
    assert ours == {k: v for k, v in once.items() if k in ours}  # replaced, not added to
    assert down.exit_code == 5
    assert "cannot push metrics to http://127.0.0.1:9" in down.stderr
    assert "Traceback" not in down.output


DASHBOARD = Path(__file__).parents[2] / "dashboards" / "promote.json"


@needs_promtool
def test_the_grafana_dashboard_queries_only_metrics_promote_writes_in_valid_promql(
    seeded: Estate, tmp_path: Path
) -> None:
    from tests.fakes.concourse_server import FakeConcourse

    with FakeConcourse(token="concourse-bearer-sentinel") as concourse:
        concourse.add_worker("w-1")
        result = seeded.cli(
            "metrics",
            *("--concourse-url", concourse.url),
            env={"CONCOURSE_TOKEN": "concourse-bearer-sentinel"},
        )
    dashboard = json.loads(DASHBOARD.read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    # promtool checks PromQL only inside rule files: one recording rule per panel query.
    rules = tmp_path / "dashboard.rules.yml"
    listed = [
        {"record": f"dashboard:q{n}", "expr": e.replace("$env", ".*")} for n, e in enumerate(exprs)
    ]
    rules.write_text(json.dumps({"groups": [{"name": "dashboard", "rules": listed}]}))

    assert result.exit_code == 0, result.output
    written = {line.split()[2] for line in result.stdout.splitlines() if line.startswith("# TYPE")}
    queried = {name for e in exprs for name in re.findall(r"\bpromote_\w+", e)}
    assert queried and queried <= written, queried - written
    assert written - queried == set(), "metrics no panel shows"
    assert PROMTOOL is not None
    checked = subprocess.run(
        [PROMTOOL, "check", "rules", str(rules)], capture_output=True, text=True, check=False
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
