"""Lookups: cache first, then the scheduler; forced refreshes at most once per minRefreshSec."""

from concurrent.futures import Future

import pytest

from dxlvtservice.core.indicators import Indicator, IndicatorType
from dxlvtservice.lookups.cache import ReportCache
from dxlvtservice.lookups.lookup import Lookups

DOMAIN = Indicator.parse(IndicatorType.DOMAIN, "example.com")


class Upstream:
    """A scheduler stand-in: answers every call with a found report, and records it."""

    def __init__(self) -> None:
        self.submitted: list[tuple[tuple[str, ...], str | None]] = []
        self.lanes: list[str] = []
        self.coalesced: list[bool] = []

    def submit(
        self, call, *, coalesce=True, deadline=None, client=None, lane="interactive"
    ) -> Future:
        self.submitted.append((call.resources, client))
        self.lanes.append(lane)
        self.coalesced.append(coalesce)
        future: Future = Future()
        future.set_result([{"response_code": 1, "resource": r} for r in call.resources])
        return future


@pytest.fixture
def clock():
    return [1_800_000_000.0]


def make(tmp_path, clock, min_refresh):
    cache = ReportCache(tmp_path, max_entries=10, ttl=3600, negative_ttl=600,
                        clock=lambda: clock[0])  # fmt: skip
    upstream = Upstream()
    return Lookups(cache, upstream, lambda: clock[0], min_refresh=min_refresh), upstream


def test_a_forced_refresh_within_min_refresh_is_served_the_newest_report(tmp_path, clock):
    lookups, upstream = make(tmp_path, clock, min_refresh=60)
    first = lookups.report(2, DOMAIN, max_age=0).result(1)
    assert not first.cached and len(upstream.submitted) == 1
    clock[0] += 59
    again = lookups.report(2, DOMAIN, max_age=0).result(1)
    assert again.cached and again.report == first.report and again.age(clock[0]) == 59
    assert len(upstream.submitted) == 1


def test_a_forced_refresh_after_min_refresh_goes_upstream(tmp_path, clock):
    lookups, upstream = make(tmp_path, clock, min_refresh=60)
    lookups.report(2, DOMAIN, max_age=0).result(1)
    clock[0] += 60
    fresh = lookups.report(2, DOMAIN, max_age=0).result(1)
    assert not fresh.cached and len(upstream.submitted) == 2


def test_min_refresh_zero_lets_every_forced_refresh_through(tmp_path, clock):
    lookups, upstream = make(tmp_path, clock, min_refresh=0)
    for _ in range(3):
        lookups.report(2, DOMAIN, max_age=0).result(1)
    assert len(upstream.submitted) == 3


def test_a_max_age_above_min_refresh_is_kept(tmp_path, clock):
    lookups, upstream = make(tmp_path, clock, min_refresh=60)
    lookups.report(2, DOMAIN).result(1)
    clock[0] += 200
    assert lookups.report(2, DOMAIN, max_age=300).result(1).cached
    assert not lookups.report(2, DOMAIN, max_age=100).result(1).cached
    assert len(upstream.submitted) == 2


def test_the_requesting_client_reaches_the_scheduler(tmp_path, clock):
    lookups, upstream = make(tmp_path, clock, min_refresh=60)
    lookups.report(2, DOMAIN, client="client-guid").result(1)
    assert upstream.submitted == [(("example.com",), "client-guid")]


def test_a_lookup_waits_in_the_lane_it_is_asked_for(tmp_path, clock):
    lookups, upstream = make(tmp_path, clock, min_refresh=0)
    lookups.report(2, DOMAIN).result(1)
    lookups.report(2, DOMAIN, max_age=0, lane="background").result(1)
    assert upstream.lanes == ["interactive", "background"]


def test_a_submission_never_shares_another_calls_answer(tmp_path, clock):
    """url/report with scan=1 asks VirusTotal to act: an identical submission whose
    answer has just come back must not stand in for it."""
    lookups, upstream = make(tmp_path, clock, min_refresh=0)
    url = Indicator.parse(IndicatorType.URL, "http://example.com/a")
    lookups.report(2, url, options=(("scan", "1"),)).result(1)
    lookups.report(2, url).result(1)  # a plain lookup: a cache hit, nothing submitted
    lookups.report(2, url, options=(("scan", "1"),)).result(1)
    assert upstream.coalesced == [False, False]
