"""Lookups in flight on another host: wait for its answer instead of calling VirusTotal again."""

from __future__ import annotations

import threading

import pytest

from dxlvtservice.core.indicators import Indicator, IndicatorType
from dxlvtservice.core.quota import Limits
from dxlvtservice.core.reports import Report
from dxlvtservice.lookups.cache import ReportCache, lookup_key
from dxlvtservice.lookups.ledger import SharedQuota
from dxlvtservice.lookups.lookup import Lookups
from dxlvtservice.lookups.scheduler import Scheduler
from dxlvtservice.lookups.upstream import UpstreamError

DOMAIN = Indicator(IndicatorType.DOMAIN, "example.com")
KEY = lookup_key(2, "domain", "example.com")
FOUND = {"response_code": 1, "resolutions": [], "verbose_msg": "Domain found in dataset"}
FOUND_REPORT = Report.from_dict("domain", FOUND)


class OtherHost:
    """Claims that another host holds until the test releases them."""

    def __init__(self, held: set[str]) -> None:
        self.held = set(held)
        self.ours: list[str] = []
        self.released: list[str] = []
        self.waiting: list[tuple[str, object, float]] = []

    def claim(self, key: str) -> bool:
        if key in self.held:
            return False
        self.ours.append(key)
        return True

    def release(self, key: str) -> None:
        self.released.append(key)

    def when_released(self, key, callback, timeout: float) -> None:
        self.waiting.append((key, callback, timeout))

    def finish(self) -> None:
        """The other host's fetch is over: wake whoever waits."""
        self.held.clear()
        waiting, self.waiting = self.waiting, []
        for _, callback, _ in waiting:
            callback()

    def close(self) -> None:
        pass


class Upstream:
    def __init__(self, error: UpstreamError | None = None) -> None:
        self.calls = []
        self.error = error
        self.lock = threading.Lock()

    def __call__(self, call):
        with self.lock:
            self.calls.append(call)
        if self.error is not None:
            raise self.error
        return [dict(FOUND, resource=r) for r in call.resources]


@pytest.fixture
def parts(tmp_path):
    now = [1_700_000_000.0]
    made = []

    def make(claims, upstream=None):
        upstream = upstream or Upstream()
        quota = SharedQuota(tmp_path / "quota", Limits(), lambda: now[0])
        scheduler = Scheduler(upstream, quota, batch_size=4, max_wait=30, clock=lambda: now[0])
        scheduler.start()
        cache = ReportCache(tmp_path, max_entries=10, ttl=3600, negative_ttl=600,
                            clock=lambda: now[0])  # fmt: skip
        other = ReportCache(tmp_path, max_entries=10, ttl=3600, negative_ttl=600,
                            clock=lambda: now[0])  # fmt: skip
        made.append(scheduler)
        return Lookups(cache, scheduler, lambda: now[0], claims=claims), other, upstream, now

    yield make
    for scheduler in made:
        scheduler.stop(1)


def test_a_lookup_another_host_is_fetching_waits_and_takes_its_answer(parts):
    claims = OtherHost({KEY})
    lookups, other_host_cache, upstream, _ = parts(claims)
    outcome = lookups.report(2, DOMAIN)
    assert not outcome.done()
    assert claims.waiting[0][2] == pytest.approx(30)  # within the request's deadline
    other_host_cache.put([KEY], FOUND_REPORT)  # the other host files its answer, then releases
    claims.finish()
    result = outcome.result(5)
    assert result.report == FOUND and result.cached
    assert upstream.calls == []


def test_when_the_other_hosts_lookup_brought_nothing_this_host_fetches(parts):
    claims = OtherHost({KEY})
    lookups, _, upstream, _ = parts(claims)
    outcome = lookups.report(2, DOMAIN)
    claims.finish()  # released (failed, or its host died) with nothing cached
    assert outcome.result(5).report["resource"] == "example.com"
    assert len(upstream.calls) == 1
    assert claims.ours == [KEY] and claims.released == [KEY]


def test_a_claim_is_released_after_a_failed_fetch_too(parts):
    claims = OtherHost(set())
    lookups, _, _, _ = parts(claims, Upstream(UpstreamError(401, "the key was refused")))
    outcome = lookups.report(2, DOMAIN)
    assert outcome.result(5).error.code == 401
    assert claims.released == [KEY]


def test_a_wait_past_the_deadline_is_answered_504(parts):
    claims = OtherHost({KEY})
    lookups, _, upstream, now = parts(claims)
    outcome = lookups.report(2, DOMAIN)
    now[0] += 31
    claims.finish()
    assert outcome.result(5).error.code == 504
    assert upstream.calls == []


def test_a_fresh_cached_report_needs_no_claim(parts):
    claims = OtherHost({KEY})
    lookups, other_host_cache, _, _ = parts(claims)
    other_host_cache.put([KEY], FOUND_REPORT)
    assert lookups.report(2, DOMAIN).result(0).cached
    assert claims.waiting == [] and claims.ours == []


def test_a_background_lookup_neither_claims_nor_waits(parts):
    """Another host's request must never wait behind a lookup in this host's
    background lane: at worst the two hosts fetch the indicator once each."""
    claims = OtherHost({KEY})
    lookups, _, upstream, _ = parts(claims)
    assert lookups.report(2, DOMAIN, lane="background").result(5).report["resource"] == (
        "example.com"
    )
    assert claims.ours == [] and claims.waiting == [] and len(upstream.calls) == 1
