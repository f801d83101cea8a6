"""Operations against a running service: /metrics over HTTP, JSON log lines."""

from __future__ import annotations

import socket
import urllib.error
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from devfabric.services import ServiceProcess
from devfabric.vtsim.dataset import EXAMPLES

from .conftest import FAST, answer, request

MALICIOUS = EXAMPLES["file"]["malicious"]
DOMAIN = EXAMPLES["domain"]["clean"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def service(fabric, dxl, tmp_path_factory):
    fabric.simulator.reset(settings=True)
    port = free_port()
    running = ServiceProcess(fabric, tmp_path_factory.mktemp("operations"), "vt-operations", {
        **FAST, "Metrics": {"port": port}})  # fmt: skip
    running.start(dxl)
    running.metrics_url = f"http://127.0.0.1:{port}/metrics"
    yield running
    running.stop()


def scrape(url: str) -> tuple[str, dict[tuple[str, tuple], float]]:
    with urllib.request.urlopen(url, timeout=10) as response:
        assert response.status == 200
        text = response.read().decode("utf-8")
    values = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }
    return text, values


def test_metrics_move_with_requests_and_name_no_indicator_or_key(dxl, service, fabric):
    _, before = scrape(service.metrics_url)
    classify = ("dxlvtservice_requests_total", (("code", "200"), ("topic", "classify")))
    hits = ("dxlvtservice_cache_hits_total", ())
    malicious = ("dxlvtservice_verdicts_total", (("verdict", "malicious"),))
    for _ in range(2):  # the second is a cache hit
        reply = answer(request(dxl, "/classify", {"hash": MALICIOUS, "domain": DOMAIN}))
        assert reply["verdict"] == "malicious"
    refused = request(dxl, "/ip-address/report", {"ip": "10.1.2.3"})
    assert refused.error_code == 403
    text, after = scrape(service.metrics_url)

    assert after[classify] == before.get(classify, 0) + 2
    assert after[malicious] == before.get(malicious, 0) + 2
    assert after[hits] >= before[hits] + 2
    assert after["dxlvtservice_requests_total", (("code", "403"),
                                                 ("topic", "ip-address/report"))] == 1  # fmt: skip
    calls = {labels: value for (name, labels), value in after.items()
             if name == "dxlvtservice_upstream_calls_total"}  # fmt: skip
    assert calls[(("endpoint", "v3/files"), ("outcome", "ok"))] >= 1
    assert calls[(("endpoint", "v3/domains"), ("outcome", "ok"))] >= 1
    latency = ("dxlvtservice_request_duration_seconds_count", (("topic", "classify"),))
    assert after[latency] == before.get(latency, 0) + 2
    assert after["dxlvtservice_quota_used_units", (("window", "day"),)] >= 2
    for secret in (fabric.api_key, MALICIOUS, DOMAIN, "10.1.2.3"):
        assert secret not in text


def test_only_the_metrics_path_is_served(service):
    other = service.metrics_url.removesuffix("/metrics") + "/"
    with pytest.raises(urllib.error.HTTPError) as missing:
        urllib.request.urlopen(other, timeout=10)
    assert missing.value.code == 404


def test_metrics_port_in_use_is_a_startup_error(fabric, dxl, tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        blocked = ServiceProcess(fabric, tmp_path, "vt-port-taken", {"Metrics": {"port": port}})
        with pytest.raises(RuntimeError, match="exit 1"):
            blocked.start(dxl, timeout=30)
    assert f"[Metrics] port: cannot listen on 127.0.0.1:{port}" in blocked.log_text()
