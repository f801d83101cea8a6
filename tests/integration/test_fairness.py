"""Fairness between requesting clients, and forced refreshes at most once per minRefreshSec."""

from __future__ import annotations

import time

from dxlclient.message import ErrorResponse

from devfabric.vtsim.dataset import EXAMPLES

from .conftest import FAST, answer, connect, request
from .test_quota import Collector, distinct_hashes, send


def test_one_clients_flood_does_not_push_another_clients_lookup_past_its_deadline(
    fabric, dxl, start_service, simulator, tmp_path
):
    """A floods 30 misses over 6 units a minute (one every 10 s) with a 25 s deadline:
    its first lookup goes at once, two more can wait, the rest are refused at once.
    B (its own certificate, so its own source_client_id) then asks for one lookup:
    it takes the next turn, not the 31st place, and is answered with its report."""
    simulator.configure(quota_per_minute=6)
    start_service({"RateLimit": {"rateLimitMs": 10000, "requestsPerMinute": 6,
                                 "requestsPerDay": "unlimited", "maxQueueWaitSec": 25,
                                 "batchSize": 1}})  # fmt: skip
    collector = Collector()
    for resource in distinct_hashes(30, "flood"):
        send(dxl, collector, "/file/report", {"resource": resource})
    # A's first lookup is answered and those projected past the deadline are refused.
    assert collector.wait_for(28)
    refused = [r for _, r in collector.arrivals if isinstance(r, ErrorResponse)]
    assert len(refused) == 27 and all(r.error_code == 429 for r in refused)
    other = connect(fabric, tmp_path / "client-b", "client-b")
    try:
        wanted = EXAMPLES["file"]["malicious"]
        report = answer(request(other, "/file/report", {"resource": wanted}, timeout=60))
    finally:
        other.destroy()
    assert report["resource"] == wanted and report["response_code"] == 1
    assert collector.wait_for(30)
    stats = simulator.stats()
    assert stats["quota_refusals"] == 0
    assert wanted in stats["resources_by_endpoint"]["v2/file/report"]


def test_forced_refreshes_of_one_indicator_make_one_upstream_lookup(
    dxl, start_service, simulator
):
    """30 classify with max_age 0 of one hash within minRefreshSec (default 60 s):
    one lookup upstream, and every answer carries the report and its age."""
    start_service(FAST)
    wanted = EXAMPLES["file"]["malicious"]
    payload = {"hash": wanted, "max_age": 0, "include_report": True}
    results = [answer(request(dxl, "/classify", payload))["results"][0] for _ in range(30)]
    assert simulator.stats()["calls"] == 1
    for result in results:
        assert result["indicator"] == wanted and result["verdict"] == "malicious"
        assert result["report"]["data"]["attributes"]["sha256"] == wanted
        assert isinstance(result["age"], int) and result["age"] >= 0
    assert not results[0]["cached"]
    assert all(result["cached"] for result in results[1:])


def test_a_forced_refresh_goes_upstream_again_once_min_refresh_has_passed(
    dxl, start_service, simulator
):
    min_refresh = 1
    start_service({**FAST, "Limits": {"minRefreshSec": min_refresh}})
    payload = {"domain": EXAMPLES["domain"]["clean"], "max_age": 0}
    first = answer(request(dxl, "/classify", payload))["results"][0]
    fetched = time.monotonic()
    second = answer(request(dxl, "/classify", payload))["results"][0]
    assert not first["cached"] and second["cached"]
    assert simulator.stats()["calls"] == 1
    time.sleep(max(0.0, fetched + min_refresh + 0.2 - time.monotonic()))  # let it pass
    third = answer(request(dxl, "/classify", payload))["results"][0]
    assert not third["cached"]
    assert simulator.stats()["calls"] == 2
