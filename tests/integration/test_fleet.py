"""A fleet through the fabric: three service processes, three cache directories, one Redis.

Each process stands in for a host: they share nothing but ``[Fleet] storeUrl``
(a real redis-server with a password), and requests are sent to one host or
another by service id.
"""

from __future__ import annotations

import json
import time

import pytest
from dxlclient.message import ErrorResponse, Request

from devfabric.redis import RedisServer
from devfabric.services import SERVICE_TYPE
from devfabric.vtsim.dataset import EXAMPLES

from .conftest import FAST, answer
from .test_quota import Collector, _burst, send

STORE_PASSWORD = "fleet-store-password-4c1d"
HOSTS = 3


@pytest.fixture
def store(tmp_path):
    server = RedisServer(tmp_path / "redis", password=STORE_PASSWORD).start()
    yield server
    server.stop()


@pytest.fixture
def start_fleet(start_service, store):
    """``start_fleet(settings)``: three hosts on the store, each with its own cache directory."""

    def start(settings=None) -> list:
        fleet = {"Fleet": {"storeUrl": store.url, "instances": HOSTS, "keyPrefix": "test-fleet"}}
        merged = {**(settings or {}), **fleet}
        env = {"DXLVT_STORE_PASSWORD": STORE_PASSWORD}
        return [start_service(merged, env=env) for _ in range(HOSTS)]

    return start


def ask(dxl, host, suffix: str, payload: dict, timeout: float = 30):
    """A request to one host of the fleet (by its service id)."""
    message = Request(SERVICE_TYPE + suffix)
    message.payload = json.dumps(payload).encode()
    message.service_id = host.registration["serviceGuid"]
    return dxl.sync_request(message, timeout=timeout)


def tie_health(dxl, host) -> dict:
    return answer(ask(dxl, host, "/health", {}))["tie"]


def store_health(dxl, host) -> dict:
    return answer(ask(dxl, host, "/health", {}))["store"]


def test_a_burst_over_the_fleet_spends_only_what_virustotal_allows(
    dxl, start_fleet, simulator
):
    """24 distinct hashes over three hosts and 8 units a minute: VirusTotal never refuses."""
    simulator.configure(quota_per_minute=8)
    hosts = start_fleet({"RateLimit": {"rateLimitMs": 0, "requestsPerMinute": 8,
                                       "requestsPerDay": "unlimited", "maxQueueWaitSec": 20,
                                       "batchSize": 4}})  # fmt: skip
    collector = Collector()
    sent = _burst(dxl, collector, hosts, 24, "fleet-burst")
    assert collector.wait_for(24)
    stats = simulator.stats()
    assert stats["quota_refusals"] == 0
    assert 1 <= stats["units"] <= 8
    by_id = collector.by_id()
    assert len(by_id) == 24 and len(collector.arrivals) == 24
    served = [(i, r) for i, (r,) in by_id.items() if not isinstance(r, ErrorResponse)]
    assert len(served) == stats["units"]
    for message_id, response in served:
        assert answer(response)["resource"] == sent[message_id]


def test_a_report_fetched_by_one_host_is_a_hit_on_the_others(dxl, start_fleet, simulator):
    first, second, third = start_fleet(FAST)
    files = EXAMPLES["file"]
    report = answer(ask(dxl, first, "/file/report", {"resource": files["malicious"]}))
    calls = simulator.stats()["calls"]
    assert calls == 1
    assert answer(ask(dxl, second, "/file/report", {"resource": files["malicious"]})) == report
    # Filed under every hash, fleet-wide.
    by_md5 = answer(ask(dxl, third, "/file/report", {"resource": report["md5"]}))
    assert by_md5["sha256"] == files["malicious"]
    assert simulator.stats()["calls"] == calls
    assert answer(ask(dxl, third, "/health", {}))["cache"]["entries"] == 1


def test_concurrent_identical_lookups_on_different_hosts_make_one_call(
    dxl, start_fleet, simulator
):
    hosts = start_fleet(FAST)
    simulator.configure(latency_ms=1500)  # the first host's call is still upstream
    domain = EXAMPLES["domain"]["malicious"]
    collector = Collector()
    for host in hosts:
        send(dxl, collector, "/domain/report", {"domain": domain},
             host.registration["serviceGuid"])  # fmt: skip
    assert collector.wait_for(HOSTS, timeout=60)
    reports = [answer(response) for _, response in collector.arrivals]
    assert reports[0] == reports[1] == reports[2]
    assert simulator.stats()["calls"] == 1


def test_a_host_that_dies_mid_fetch_blocks_the_others_only_until_its_claim_lapses(
    dxl, start_fleet, simulator
):
    first, second, _ = start_fleet(FAST)
    simulator.configure(latency_ms=3000)
    domain = {"domain": EXAMPLES["domain"]["low"]}
    send(dxl, Collector(), "/domain/report", domain, first.registration["serviceGuid"])
    assert simulator.wait_in_progress(1, timeout=30)  # the first host claimed and is fetching
    first.kill()
    report = answer(ask(dxl, second, "/domain/report", domain, timeout=60))
    assert report["response_code"] == 1  # fetched once the claim lapsed, not a 504
    assert simulator.stats()["calls"] == 2
    # The broker drops the dead host at the first request for it (later tests need it gone).
    assert isinstance(ask(dxl, first, "/health", {}, timeout=10), ErrorResponse)


def test_the_fleet_keeps_answering_without_its_store_and_returns_to_it(
    dxl, start_fleet, simulator, store
):
    first, second, third = start_fleet(FAST)
    domains = EXAMPLES["domain"]
    cached = answer(ask(dxl, first, "/domain/report", {"domain": domains["clean"]}))
    calls = simulator.stats()["calls"]
    assert store_health(dxl, first)["status"] == "ok"
    store.stop()
    # The memory front answers what this host fetched; upstream the rest.
    assert answer(ask(dxl, first, "/domain/report", {"domain": domains["clean"]})) == cached
    assert simulator.stats()["calls"] == calls
    fresh = answer(ask(dxl, second, "/domain/report", {"domain": domains["malicious"]}))
    assert fresh["response_code"] == 1
    for host in (first, second, third):
        health = store_health(dxl, host)
        assert health["kind"] == "redis" and health["status"] == "degraded"
        assert health["last_error"]
    degraded = answer(ask(dxl, third, "/health", {}))["quota"]
    assert degraded["shared"] is False
    store.start()  # the same port, empty
    for host in (first, second, third):
        assert _store_back(dxl, host)
    assert answer(ask(dxl, third, "/health", {}))["quota"]["shared"] is True


def _store_back(dxl, host, attempts: int = 100) -> bool:
    """Whether the host's health shows the store ``ok`` again (it retries by itself)."""
    for _ in range(attempts):
        if store_health(dxl, host)["status"] == "ok":
            return True
        time.sleep(0.2)  # health is polled: the host finds the store back on its own
    return False


def test_nothing_secret_goes_into_the_store_and_it_holds_json_only(
    dxl, start_fleet, simulator, store, fabric
):
    hosts = start_fleet(FAST)
    for host, kind in zip(hosts, ("file", "domain", "url"), strict=True):
        payload = {"resource": EXAMPLES[kind]["malicious"]} if kind != "domain" else {
            "domain": EXAMPLES[kind]["malicious"]}  # fmt: skip
        answer(ask(dxl, host, f"/{kind}/report", payload))
    client = store.client()
    keys = client.keys("*")
    assert keys and all(key.startswith(b"test-fleet:") for key in keys)
    for key in keys:
        kind = client.type(key)
        if kind == b"string":
            values = [client.get(key)]
        elif kind == b"zset":
            values = [member for member, _ in client.zrange(key, 0, -1, withscores=True)]
        else:
            raise AssertionError(f"unexpected {kind!r} at {key!r}")
        for value in values:
            json.loads(value)
            assert fabric.api_key.encode() not in value and fabric.api_key.encode() not in key
            assert STORE_PASSWORD.encode() not in value
    client.close()
    for host in hosts:
        assert STORE_PASSWORD not in host.log_text()


def test_the_fleet_publishes_a_verdict_once_and_exports_it_to_tie_once(
    dxl, start_fleet, simulator, store, tie, events
):
    """50 classify of one malicious hash over three hosts: one verdict event, one TIE
    export. Each host then classifies a new malicious indicator of its own: its event
    is the barrier (a host publishes in order) that proves it published nothing more."""
    tie.start()
    hosts = start_fleet({**FAST, "TIE": {"exportVerdicts": "yes"}})
    malicious = EXAMPLES["file"]["malicious"]
    for i in range(50):
        result = answer(ask(dxl, hosts[i % HOSTS], "/classify", {"hash": malicious}))
        assert result["verdict"] == "malicious"
    barriers = [{"url": EXAMPLES["url"]["malicious"]}, {"domain": EXAMPLES["domain"]["malicious"]},
                {"ip": EXAMPLES["ip"]["malicious"]}]  # fmt: skip
    for host, payload in zip(hosts, barriers, strict=True):
        assert answer(ask(dxl, host, "/classify", payload))["verdict"] == "malicious"
    assert events.wait_for(1 + HOSTS)
    assert [indicator for indicator, _, _ in events.seen()].count(malicious) == 1
    assert len(events.seen()) == 1 + HOSTS
    # Exports are queued before the answer leaves: once no host has one pending, all are sent.
    (report,) = tie.wait_for_reports(1)
    assert report.hashes["sha256"] == malicious
    deadline = time.monotonic() + 30
    sections = [tie_health(dxl, host) for host in hosts]
    while any(section["pending"] for section in sections):
        assert time.monotonic() < deadline, f"exports still pending: {sections}"
        time.sleep(0.2)  # health is polled: an export leaving the queue sends no event
        sections = [tie_health(dxl, host) for host in hosts]
    assert sum(section["sent"] for section in sections) == 1
    assert len(tie.reports) == 1
