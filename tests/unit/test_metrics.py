"""Metrics: the health snapshot as Prometheus text, the counters behind it, the [Metrics] keys."""

from __future__ import annotations

import configparser
import re
from pathlib import Path

import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from dxlvtservice.config import ConfigError, parse
from dxlvtservice.errors import ServiceError
from dxlvtservice.lookups.upstream import Call
from dxlvtservice.ops.health import RequestCounters, UpstreamStatus, verdicts_in
from dxlvtservice.ops.metrics import Metrics, topic_label

TOPIC = "/opendxl-virustotal/service/vtapi"


def snapshot(counters: RequestCounters, upstream: UpstreamStatus) -> dict:
    quota = {
        "per_minute": {"limit": 4, "used": 3},
        "per_day": {"limit": 500, "used": 37},
        "per_month": {"limit": None, "used": 412},
        "blocked_for": 0,
    }
    return {
        "version": "1.0.0", "instance": "vt-1", "uptime": 12.5,
        "upstream": upstream.to_dict(quota), "quota": quota,
        "cache": {"status": "ok", "entries": 7, "max_entries": 500, "hits": 9, "misses": 4},
        "queue": {"waiting": 2, "queued_calls": 1, "in_flight": 1,
                  "background": {"waiting": 3, "queued_lookups": 2, "units_spent": 7}},
        "requests": counters.to_dict(),
    }  # fmt: skip


def samples(metrics: Metrics) -> dict[tuple[str, tuple], float]:
    text = generate_latest(metrics.registry).decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


@pytest.fixture
def parts():
    counters, upstream = RequestCounters(), UpstreamStatus(3)
    return counters, upstream, Metrics(lambda: snapshot(counters, upstream))


def test_requests_by_topic_and_code_and_verdicts(parts):
    counters, _, metrics = parts
    counters.count(TOPIC + "/classify", None, ["malicious", "trusted", "malicious"])
    counters.count(TOPIC + "/file/report", 429)
    counters.count(TOPIC + "/file/report", None)
    seen = samples(metrics)
    assert seen["dxlvtservice_requests_total", (("code", "200"), ("topic", "classify"))] == 1
    assert seen["dxlvtservice_requests_total", (("code", "429"), ("topic", "file/report"))] == 1
    assert seen["dxlvtservice_requests_total", (("code", "200"), ("topic", "file/report"))] == 1
    assert seen["dxlvtservice_verdicts_total", (("verdict", "malicious"),)] == 2
    assert seen["dxlvtservice_verdicts_total", (("verdict", "trusted"),)] == 1


def test_upstream_calls_and_units_by_endpoint_and_outcome(parts):
    _, upstream, metrics = parts

    def refuse(call):
        raise ServiceError(429, "quota")

    upstream.watch(lambda call: [{}] * len(call.resources))(Call("v2/file/report", ("a", "b")))
    with pytest.raises(ServiceError):
        upstream.watch(refuse)(Call("v3/files", ("c",)))
    seen = samples(metrics)
    ok = (("endpoint", "v2/file/report"), ("outcome", "ok"))
    refused = (("endpoint", "v3/files"), ("outcome", "429"))
    assert seen["dxlvtservice_upstream_calls_total", ok] == 1
    assert seen["dxlvtservice_upstream_units_total", ok] == 2
    assert seen["dxlvtservice_upstream_calls_total", refused] == 1
    assert seen["dxlvtservice_upstream_status", (("status", "quota_exhausted"),)] == 1
    assert seen["dxlvtservice_upstream_status", (("status", "ok"),)] == 0


def test_quota_cache_queue_gauges(parts):
    seen = samples(parts[2])
    assert seen["dxlvtservice_quota_limit_units", (("window", "day"),)] == 500
    assert ("dxlvtservice_quota_limit_units", (("window", "month"),)) not in seen  # unlimited
    assert seen["dxlvtservice_quota_used_units", (("window", "month"),)] == 412
    assert seen["dxlvtservice_cache_hits_total", ()] == 9
    assert seen["dxlvtservice_cache_misses_total", ()] == 4
    assert seen["dxlvtservice_cache_entries", ()] == 7
    assert seen["dxlvtservice_queue_waiting", ()] == 2
    assert seen["dxlvtservice_queue_background_waiting", ()] == 3
    assert seen["dxlvtservice_info", (("instance", "vt-1"), ("version", "1.0.0"))] == 1


def test_latency_histogram_by_topic(parts):
    metrics = parts[2]
    metrics.observe(TOPIC + "/health", 0.003)
    metrics.observe(TOPIC + "/health", 7.0)
    seen = samples(metrics)
    health = ("topic", "health")
    assert seen["dxlvtservice_request_duration_seconds_count", (health,)] == 2
    assert seen["dxlvtservice_request_duration_seconds_bucket", (("le", "0.005"), health)] == 1
    assert seen["dxlvtservice_request_duration_seconds_bucket", (("le", "10.0"), health)] == 2


def test_every_name_is_prefixed(parts):
    parts[2].observe(TOPIC + "/classify", 0.1)
    assert all(name.startswith("dxlvtservice_") for name, _ in samples(parts[2]))


def test_topic_label_drops_the_service_type():
    assert topic_label(TOPIC + "/ip-address/report") == "ip-address/report"


@pytest.mark.parametrize(
    ("answer", "verdicts"),
    [({"verdict": "malicious", "results": [{"verdict": "malicious"}, {"verdict": "trusted"}]},
      ["malicious", "trusted"]),
     ({"verdict": "no_match", "results": []}, []),
     ({"type": "file", "verdict": "trusted"}, ["trusted"]),
     ({"response_code": 1, "positives": 3}, []),
     ([{"response_code": 1}], [])],
)  # fmt: skip
def test_verdicts_in_answers(answer, verdicts):
    assert verdicts_in(answer) == verdicts


def settings_from(text: str):
    parser = configparser.ConfigParser(interpolation=None)
    parser.read_string("[General]\napiKey = " + "k" * 64 + "\n" + text)
    return parse(parser, Path("."), {})


def test_metrics_are_off_on_loopback_by_default():
    settings = settings_from("")
    assert settings.metrics_port is None and settings.metrics_bind_address == "127.0.0.1"
    settings = settings_from("[Metrics]\nport = 9464\nbindAddress = ::1\n")
    assert (settings.metrics_port, settings.metrics_bind_address) == (9464, "::1")


@pytest.mark.parametrize(
    ("text", "key"),
    [("port = 0", "port"), ("port = 70000", "port"), ("port = http", "port"),
     ("bindAddress = localhost.example", "bindAddress")],
)  # fmt: skip
def test_bad_metrics_keys_are_named(text, key):
    with pytest.raises(ConfigError, match=rf"\[Metrics\] {key}"):
        settings_from(f"[Metrics]\n{text}\n")


def test_docs_and_dashboard_name_only_exported_metrics(parts):
    counters, upstream, metrics = parts
    counters.count(TOPIC + "/classify", None, ["malicious"])
    upstream.watch(lambda call: [{}])(Call("v3/files", ("a",)))
    metrics.observe(TOPIC + "/classify", 0.1)
    exported = {name for name, _ in samples(metrics)}
    exported |= {re.sub(r"_(bucket|count|sum)$", "", name) for name in exported}
    docs = Path(__file__).resolve().parents[2] / "docs"
    for document in ("metrics.md", "grafana-dashboard.json"):
        named = set(re.findall(r"dxlvtservice_[a-z_]+", (docs / document).read_text()))
        assert named and named <= exported, (document, named - exported)
