"""The Prometheus endpoint (docs/metrics.md): ``/health`` as metrics, plus request latency.

The figures are read from the service's health snapshot at scrape time (one
source of truth, nothing to keep in step); only the latency histogram is
observed as requests are answered. Labels come from bounded sets: topics,
codes, verdicts, endpoints, outcomes, quota windows. Never an indicator,
never the key.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, make_server

from prometheus_client import CollectorRegistry, Histogram, make_wsgi_app
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import ThreadingWSGIServer
from prometheus_client.registry import Collector

from .. import SERVICE_TYPE

PREFIX = "dxlvtservice_"
PATH = "/metrics"
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)
"""Seconds: cache hits take milliseconds, a lookup waiting for quota up to maxQueueWaitSec."""
WINDOWS = ("minute", "day", "month")


def topic_label(topic: str) -> str:
    """``/opendxl-virustotal/service/vtapi/file/report`` -> ``file/report``."""
    return topic.removeprefix(SERVICE_TYPE).lstrip("/")


def _counter(name: str, documentation: str, labels: list[str]) -> CounterMetricFamily:
    return CounterMetricFamily(PREFIX + name, documentation, labels=labels)


def _gauge(name: str, documentation: str, value: float | None = None, labels=None):
    return GaugeMetricFamily(PREFIX + name, documentation, value=value, labels=labels)


class HealthCollector(Collector):
    """Translates a health snapshot (``/health``'s JSON) into metric families."""

    def __init__(self, health: Callable[[], dict]) -> None:
        self._health = health

    def collect(self) -> Iterator[Metric]:
        health = self._health()
        yield from _service(health)
        yield from _requests(health["requests"])
        yield from _upstream(health["upstream"])
        yield from _quota(health["quota"])
        yield from _cache(health["cache"])
        yield from _queue(health["queue"])


def _service(health: dict) -> Iterator[Metric]:
    info = _gauge("info", "The service's version and instance name (always 1).",
                  labels=["version", "instance"])  # fmt: skip
    info.add_metric([health["version"], health["instance"]], 1)
    yield info
    yield _gauge("uptime_seconds", "Seconds since the service started.", health["uptime"])


def _requests(requests: dict) -> Iterator[Metric]:
    answered = _counter("requests", "Requests answered, by topic and code (200: a result).",
                        ["topic", "code"])  # fmt: skip
    for topic, codes in requests["by_code"].items():
        for code, count in codes.items():
            answered.add_metric([topic_label(topic), code], count)
    yield answered
    verdicts = _counter("verdicts", "Classified results (classify and analyze), by verdict.",
                        ["verdict"])  # fmt: skip
    for verdict, count in requests["verdicts"].items():
        verdicts.add_metric([verdict], count)
    yield verdicts


def _upstream(upstream: dict) -> Iterator[Metric]:
    calls = _counter("upstream_calls", "HTTP calls to VirusTotal, by endpoint and outcome "
                     "(ok, or the error code).", ["endpoint", "outcome"])  # fmt: skip
    units = _counter("upstream_units", "Quota units those calls carried, by endpoint and "
                     "outcome.", ["endpoint", "outcome"])  # fmt: skip
    for endpoint, outcomes in upstream["calls"].items():
        for outcome, figures in outcomes.items():
            calls.add_metric([endpoint, outcome], figures["calls"])
            units.add_metric([endpoint, outcome], figures["units"])
    yield calls
    yield units
    status = _gauge("upstream_status", "1 for VirusTotal's current status (ok, unauthorized, "
                    "quota_exhausted, unreachable).", labels=["status"])  # fmt: skip
    for name in ("ok", "unauthorized", "quota_exhausted", "unreachable"):
        status.add_metric([name], 1 if upstream["status"] == name else 0)
    yield status


def _quota(quota: dict) -> Iterator[Metric]:
    limits = _gauge("quota_limit_units", "Quota units allowed per window (absent: unlimited).",
                    labels=["window"])  # fmt: skip
    used = _gauge("quota_used_units", "Quota units used in the window (sliding minute, UTC "
                  "day, UTC month).", labels=["window"])  # fmt: skip
    for window in WINDOWS:
        figures = quota[f"per_{window}"]
        if figures["limit"] is not None:
            limits.add_metric([window], figures["limit"])
        used.add_metric([window], figures["used"])
    yield limits
    yield used
    yield _gauge("quota_blocked_seconds", "Seconds until VirusTotal's last quota refusal "
                 "lets calls go again.", quota.get("blocked_for", 0))  # fmt: skip


def _cache(cache: dict) -> Iterator[Metric]:
    hits = _counter("cache_hits", "Lookups answered from the cache.", [])
    hits.add_metric([], cache["hits"])
    misses = _counter("cache_misses", "Lookups the cache could not answer.", [])
    misses.add_metric([], cache["misses"])
    yield hits
    yield misses
    yield _gauge("cache_entries", "Reports in the cache.", cache["entries"])
    if cache.get("max_entries") is not None:
        yield _gauge("cache_max_entries", "responseCacheMaxSize.", cache["max_entries"])
    yield _gauge("cache_up", "1 when the cache works, 0 when it is degraded or off.",
                 1 if cache.get("status", "ok") == "ok" else 0)  # fmt: skip


def _queue(queue: dict) -> Iterator[Metric]:
    yield _gauge("queue_waiting", "Lookups waiting for an upstream slot.", queue["waiting"])
    yield _gauge("queue_in_flight", "Upstream calls in flight.", queue["in_flight"])
    if "queued_calls" in queue:
        yield _gauge("queue_calls", "Upstream calls the waiting lookups make up (after "
                     "batching).", queue["queued_calls"])  # fmt: skip
    if "background" in queue:
        yield _gauge("queue_background_waiting", "Lookups waiting in the background lane "
                     "(first-instance enrichment).", queue["background"]["waiting"])  # fmt: skip


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Scrapes are not worth a log line each."""


def _only_metrics_path(app: Callable) -> Callable:
    def routed(environ: dict, start_response: Callable) -> list[bytes]:
        if environ.get("PATH_INFO") != PATH:
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [f"metrics are at {PATH}\n".encode()]
        return app(environ, start_response)

    return routed


class Metrics:
    """The registry, the latency histogram and the HTTP endpoint that serves them."""

    def __init__(self, health: Callable[[], dict]) -> None:
        self.registry = CollectorRegistry()
        self.registry.register(HealthCollector(health))
        self._latency = Histogram(
            PREFIX + "request_duration_seconds",
            "Seconds from a request's arrival to its answer, by topic.",
            ["topic"],
            registry=self.registry,
            buckets=LATENCY_BUCKETS,
        )
        self._server: ThreadingWSGIServer | None = None

    def observe(self, topic: str, seconds: float) -> None:
        self._latency.labels(topic_label(topic)).observe(seconds)

    def serve(self, address: str, port: int) -> None:
        """Listen on ``address:port`` (``/metrics`` only); OSError if it cannot."""
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        server_class = type("MetricsServer", (ThreadingWSGIServer,), {"address_family": family})
        app = _only_metrics_path(make_wsgi_app(self.registry))
        self._server = make_server(address, port, app, server_class, handler_class=_QuietHandler)
        threading.Thread(
            target=self._server.serve_forever, name="metrics", daemon=True
        ).start()

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
