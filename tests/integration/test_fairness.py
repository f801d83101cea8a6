"""Fairness between requesting clients, and forced refreshes at most once per minRefreshSec."""

from __future__ import annotations

import time

import pytest
from dxlclient.message import ErrorResponse

from devfabric.vtsim.dataset import EXAMPLES

from .conftest import FAST, answer, connect, request
from .test_quota import Collector, distinct_hashes, send


def _refused(response, topic: str) -> bool:
    """A lookup refused for want of a slot in time: 429 (compatible), a result with
    error 429 (classify)."""
    if topic == "/classify":
        error = answer(response)["results"][0]["error"]
        return error is not None and error["code"] == 429
    return isinstance(response, ErrorResponse) and response.error_code == 429


def _lookup(topic: str, file_hash: str) -> dict:
    return {"hash": file_hash} if topic == "/classify" else {"resource": file_hash}


@pytest.mark.parametrize("topic", ["/file/report", "/classify"])
def test_one_clients_flood_does_not_push_another_clients_lookup_past_its_deadline(
    fabric, dxl, start_service, simulator, tmp_path, topic
):
    """A floods 30 misses over 6 units a minute (one every 10 s) with a 35 s deadline:
    its first lookup goes at once, three more can wait, the rest are refused at once.
    B (its own certificate, so its own source_client_id) then asks for one lookup:
    it takes the next round, not the 31st place, and is answered with its report
    (first in, first out it would start at 40 s, past its deadline)."""
    simulator.configure(quota_per_minute=6)
    start_service({"RateLimit": {"rateLimitMs": 10000, "requestsPerMinute": 6,
                                 "requestsPerDay": "unlimited", "maxQueueWaitSec": 35,
                                 "batchSize": 1}})  # fmt: skip
    other = connect(fabric, tmp_path / "client-b", "client-b")
    collector = Collector()
    for resource in distinct_hashes(30, f"flood{topic}"):
        send(dxl, collector, topic, _lookup(topic, resource))
    # A's first lookup is answered and those projected past the deadline are refused.
    assert collector.wait_for(27)
    assert sum(_refused(response, topic) for _, response in collector.arrivals) == 26
    try:
        wanted = EXAMPLES["file"]["malicious"]
        response = request(other, topic, _lookup(topic, wanted), timeout=60)
    finally:
        other.destroy()
    if topic == "/classify":
        result = answer(response)["results"][0]
        assert result["verdict"] == "malicious" and result["error"] is None
    else:
        report = answer(response)
        assert report["resource"] == wanted and report["response_code"] == 1
    assert collector.wait_for(30)
    stats = simulator.stats()
    assert stats["quota_refusals"] == 0
    assert stats["units"] <= 4


def test_forced_refreshes_of_one_indicator_make_one_upstream_lookup(dxl, start_service, simulator):
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
