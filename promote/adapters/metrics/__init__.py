"""Prometheus text exposition of `domain.metrics` (the only importer of prometheus_client).

`exposition` renders a MetricsReport in the text format a node-exporter textfile collector or a
Pushgateway reads; `push` sends it to a Pushgateway (PUT: the job's group is replaced whole,
so re-running is idempotent).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, generate_latest, push_to_gateway
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from promote.errors import remote_error

if TYPE_CHECKING:
    from promote.domain.metrics import MetricsReport

PREFIX = "promote_"


class _ReportCollector(Collector):
    """Yields the report's gauges once, at collection."""

    def __init__(self, report: MetricsReport) -> None:
        self.report = report

    def collect(self) -> Iterator[Metric]:
        """One GaugeMetricFamily per family of the report."""
        for family in self.report.families:
            gauge = GaugeMetricFamily(PREFIX + family.name, family.help, labels=family.labels)
            for labels, value in family.samples:
                gauge.add_metric(list(labels), value)
            yield gauge


def registry(report: MetricsReport) -> CollectorRegistry:
    """A registry holding only REPORT's gauges."""
    held = CollectorRegistry(auto_describe=False)
    held.register(_ReportCollector(report))
    return held


def exposition(report: MetricsReport) -> str:
    """REPORT in the Prometheus text format."""
    return generate_latest(registry(report)).decode()


def push(report: MetricsReport, gateway: str, job: str) -> None:
    """Replace JOB's metrics on the Pushgateway at GATEWAY with REPORT's."""
    try:
        push_to_gateway(gateway, job=job, registry=registry(report), timeout=30)
    except OSError as exc:  # URLError and HTTPError are OSErrors
        raise remote_error(
            f"cannot push metrics to {gateway}: {exc}",
            "check --pushgateway (the Pushgateway's base URL) and that it is up",
        ) from None
