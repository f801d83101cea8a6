"""Quota engineering through the fabric: coalescing, batching, deadlines, shared quota, cache."""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time

import pytest
from dxlclient.message import ErrorResponse, Request

from devfabric.services import SERVICE_TYPE
from devfabric.vtsim.dataset import EXAMPLES

from .conftest import FAST, answer, request


def distinct_hashes(count: int, salt: str) -> list[str]:
    return [hashlib.sha256(f"{salt}-{i}".encode()).hexdigest() for i in range(count)]


class Collector:
    """Answers to async requests, in arrival order, keyed by request id."""

    def __init__(self) -> None:
        self.arrivals: list[tuple[str, object]] = []
        self.cond = threading.Condition()

    def on_response(self, response) -> None:
        with self.cond:
            self.arrivals.append((response.request_message_id, response))
            self.cond.notify_all()

    def wait_for(self, count: int, timeout: float = 120) -> bool:
        with self.cond:
            return self.cond.wait_for(lambda: len(self.arrivals) >= count, timeout)

    def by_id(self) -> dict[str, list]:
        grouped: dict[str, list] = {}
        for message_id, response in self.arrivals:
            grouped.setdefault(message_id, []).append(response)
        return grouped


def send(dxl, collector: Collector, suffix: str, payload: dict, service_id: str = "") -> str:
    message = Request(SERVICE_TYPE + suffix)
    message.payload = json.dumps(payload).encode()
    if service_id:
        message.service_id = service_id
    dxl.async_request(message, collector)
    return message.message_id


def retry_after(error: ErrorResponse) -> int:
    found = re.search(r"retry in (\d+) seconds", error.error_message)
    assert found, error.error_message
    return int(found.group(1))


def test_concurrent_identical_lookups_are_coalesced_and_batched(dxl, start_service, simulator):
    start_service({"RateLimit": {"rateLimitMs": 500, "requestsPerMinute": "unlimited",
                                 "requestsPerDay": "unlimited", "batchSize": 4}})  # fmt: skip
    hashes = distinct_hashes(10, "coalesce")
    collector = Collector()
    sent = {send(dxl, collector, "/file/report", {"resource": h}): h for h in hashes * 4}
    assert collector.wait_for(40)
    stats = simulator.stats()
    assert stats["calls_by_endpoint"].get("v2/file/report", 0) <= 3
    assert len(stats["resources_by_endpoint"]["v2/file/report"]) <= 10
    for message_id, responses in collector.by_id().items():
        assert len(responses) == 1
        report = answer(responses[0])
        requested = sent[message_id]
        assert report["resource"] == requested
        if report["response_code"] == 1:
            assert report["sha256"] == requested


def _burst(dxl, collector: Collector, services: list, count: int, salt: str) -> dict:
    """Send ``count`` distinct hash lookups, spread round robin over ``services``."""
    sent = {}
    for i, resource in enumerate(distinct_hashes(count, salt)):
        service_id = services[i % len(services)].registration["serviceGuid"]
        sent[send(dxl, collector, "/file/report", {"resource": resource}, service_id)] = resource
    return sent


@pytest.mark.parametrize(
    ("batch_size", "processes"), [(4, 1), (1, 1), (4, 2)], ids=["batch4", "batch1", "shared"]
)
def test_burst_spends_units_virustotal_allows_and_refuses_the_rest_at_once(
    dxl, start_service, simulator, tmp_path, batch_size, processes
):
    """20 distinct hashes over 8 units a minute: VirusTotal never has to refuse."""
    simulator.configure(quota_per_minute=8)
    settings = {"RateLimit": {"rateLimitMs": 0, "requestsPerMinute": 8, "maxQueueWaitSec": 20,
                              "batchSize": batch_size},
                "Cache": {"cacheDirectory": tmp_path / "shared-cache"}}  # fmt: skip
    services = [start_service(settings) for _ in range(processes)]
    collector = Collector()
    sent = _burst(dxl, collector, services, 20, f"burst-{batch_size}-{processes}")
    assert collector.wait_for(20)
    stats = simulator.stats()
    assert stats["quota_refusals"] == 0
    assert stats["units"] <= 8
    by_id = collector.by_id()
    assert len(by_id) == 20 and len(collector.arrivals) == 20
    arrivals = [response for _, response in collector.arrivals]
    refused = [i for i, r in enumerate(arrivals) if isinstance(r, ErrorResponse)]
    served = [i for i, r in enumerate(arrivals) if not isinstance(r, ErrorResponse)]
    assert len(served) >= 8
    for message_id, (response,) in by_id.items():
        if not isinstance(response, ErrorResponse):
            assert answer(response)["resource"] == sent[message_id]
    assert all(arrivals[i].error_code == 429 for i in refused)
    assert all(retry_after(arrivals[i]) > 10 for i in refused)  # past the 20 s deadline
    # "At once": every refusal arrives before the last report.
    assert max(refused) < served[-1]


def test_the_keys_real_allowance_is_read_and_its_used_units_taken(dxl, start_service, simulator):
    """overall_quotas says 10 of 50 units are used today (another tool on the key):
    the service's health shows 40 left and the ledger refuses the 41st unit."""
    simulator.configure(quota_per_day=50)
    simulator.consume(10)
    start_service({"RateLimit": {"rateLimitMs": 0, "requestsPerMinute": "unlimited",
                                 "requestsPerDay": 500, "discoverQuota": "yes",
                                 "maxQueueWaitSec": 5}})  # fmt: skip
    health = _wait_for_allowance(dxl)
    quota = health["quota"]
    assert quota["allowance"]["status"] == "ok", quota["allowance"]
    assert quota["allowance"]["found"]["per_day"] == 50
    assert quota["per_day"]["limit"] == 50
    left = quota["per_day"]["left"]
    used_at_virustotal = simulator.stats()["quota"]["per_day"]["used"]
    assert left == 50 - used_at_virustotal
    domains = [f"allowance-{i}.example.com" for i in range(left + 1)]
    results = answer(request(dxl, "/classify", {"domain": domains}, timeout=60))["results"]
    missing = [r for r in results if r["verdict"] == "report_missing"]
    assert len(missing) == 1 and missing[0]["error"]["code"] == 429
    assert "daily quota is spent" in missing[0]["error"]["message"]
    assert simulator.stats()["quota_refusals"] == 0


def _wait_for_allowance(dxl, attempts: int = 50) -> dict:
    """Health once the start-up read of the allowance has landed (it is asynchronous)."""
    for _ in range(attempts):
        health = answer(request(dxl, "/health", {}))
        if health["quota"]["allowance"]["status"] != "pending":
            return health
        time.sleep(0.1)  # health is polled: the read lands inside the service process
    raise AssertionError("the allowance was never read")


def test_reports_survive_a_restart(dxl, start_service, simulator, tmp_path):
    files = EXAMPLES["file"]
    wanted = [files["malicious"], files["clean"], files["unknown"]]
    service = start_service(FAST, directory=tmp_path / "restart")
    before = [answer(request(dxl, "/file/report", {"resource": h})) for h in wanted]
    calls = simulator.stats()["calls"]
    assert service.stop() == 0
    service.start(dxl)
    after = [answer(request(dxl, "/file/report", {"resource": h})) for h in wanted]
    assert after == before
    assert simulator.stats()["calls"] == calls
    # Filed under every hash: the md5 and sha1 of a fetched file are hits too.
    by_md5 = answer(request(dxl, "/file/report", {"resource": before[0]["md5"]}))
    assert by_md5["sha256"] == files["malicious"]
    assert simulator.stats()["calls"] == calls


def test_not_found_is_asked_again_only_after_its_ttl(dxl, start_service, simulator):
    ttl = 2
    start_service({**FAST, "Cache": {"negativeCacheTimeoutSec": ttl}})
    unknown = {"resource": EXAMPLES["file"]["unknown"]}
    assert answer(request(dxl, "/file/report", unknown))["response_code"] == 0
    fetched = time.monotonic()
    assert answer(request(dxl, "/file/report", unknown))["response_code"] == 0
    assert simulator.stats()["calls"] == 1
    time.sleep(max(0.0, fetched + ttl + 0.2 - time.monotonic()))  # let the TTL pass
    assert answer(request(dxl, "/file/report", unknown))["response_code"] == 0
    assert simulator.stats()["calls"] == 2


def test_cached_report_is_answered_while_upstream_hangs(dxl, start_service, simulator):
    start_service({**FAST, "VirusTotal": {"requestTimeoutSec": 60}})
    cached = {"domain": EXAMPLES["domain"]["clean"]}
    first = answer(request(dxl, "/domain/report", cached))
    simulator.configure(fault="hang")
    collector = Collector()
    send(dxl, collector, "/domain/report", {"domain": EXAMPLES["domain"]["malicious"]})
    assert simulator.wait_in_progress(1, timeout=30)
    assert answer(request(dxl, "/domain/report", cached)) == first
    with collector.cond:
        assert collector.arrivals == []  # the hung lookup is still waiting
    simulator.reset()  # releases the hang; the lookup is retried and answered
    assert collector.wait_for(1, timeout=60)
    assert len(collector.arrivals) == 1


def test_health_counters_move(dxl, start_service, simulator):
    start_service(FAST)
    before = answer(request(dxl, "/health", {}))
    assert before["upstream"]["status"] == "ok"
    assert before["quota"]["per_minute"]["limit"] is None
    domain = {"domain": EXAMPLES["domain"]["low"]}
    answer(request(dxl, "/domain/report", domain))
    answer(request(dxl, "/domain/report", domain))
    request(dxl, "/domain/report", {"domain": "not a domain"})
    after = answer(request(dxl, "/health", {}))
    assert after["requests"]["total"] == before["requests"]["total"] + 4
    errors_400 = [h["requests"]["errors"].get("400", 0) for h in (before, after)]
    assert errors_400[1] == errors_400[0] + 1
    assert after["cache"]["hits"] == before["cache"]["hits"] + 1
    assert after["cache"]["misses"] == before["cache"]["misses"] + 1
    assert after["cache"]["entries"] > before["cache"]["entries"]
    assert after["quota"]["per_minute"]["used"] == before["quota"]["per_minute"]["used"] + 1
    assert after["queue"] == {**after["queue"], "waiting": 0, "in_flight": 0}
    assert after["uptime"] >= before["uptime"]


def test_stale_report_when_no_slot_is_free_in_time(dxl, start_service, simulator):
    ttl = 1
    start_service({"RateLimit": {"rateLimitMs": 0, "requestsPerMinute": 1,
                                 "maxQueueWaitSec": 2},
                   "Cache": {"responseCacheTimeoutSec": ttl},
                   # classify shares the v2 report with the compatible topic.
                   "VirusTotal": {"apiVersion": 2},
                   "Classification": {"domainDetectionsThreshold": 10}})  # fmt: skip
    domain = {"domain": EXAMPLES["domain"]["malicious"]}
    fresh = answer(request(dxl, "/domain/report", domain))
    fetched = time.monotonic()
    assert "stale" not in fresh
    time.sleep(max(0.0, fetched + ttl + 0.2 - time.monotonic()))  # let the report age
    stale = answer(request(dxl, "/domain/report", domain))
    assert stale == {**fresh, "stale": True}
    result = answer(request(dxl, "/classify", domain))["results"][0]
    assert result["verdict"] == "malicious"
    assert result["stale"] is True and result["cached"] is True and result["age"] >= ttl
    assert simulator.stats()["calls"] == 1
