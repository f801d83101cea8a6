"""Both stores behind one set of interfaces: diskcache on one host, a real redis-server."""

from __future__ import annotations

import threading

import pytest

from devfabric.redis import RedisServer
from dxlvtservice.core.quota import Limits
from dxlvtservice.core.reports import Report
from dxlvtservice.lookups.cache import ReportCache, report_keys
from dxlvtservice.lookups.ledger import SharedQuota, share
from dxlvtservice.reputation.events import VerdictMemory
from dxlvtservice.store.base import StoreStatus, StoreUnavailable
from dxlvtservice.store.local import LocalLedger, LocalMemory, LocalReports
from dxlvtservice.store.redis import (
    RedisClaims,
    RedisLedger,
    RedisMemory,
    RedisReports,
    RedisStore,
)

NOON = 1_700_000_000.0


def read(raw) -> Report:
    """A file report as the lookups read it before filing it."""
    return Report.from_dict("file", raw)


def file_report(i: int) -> dict:
    return {"response_code": 1, "md5": f"{i:032x}", "sha1": f"{i:040x}", "sha256": f"{i:064x}",
            "positives": 0, "total": 70}  # fmt: skip


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with RedisServer(tmp_path_factory.mktemp("redis")) as running:
        yield running


@pytest.fixture
def redis_store(server):
    store = RedisStore(server.url, prefix="test")
    store.client.flushdb()
    yield store
    store.close()


@pytest.fixture(params=["local", "redis"])
def reports(request, tmp_path):
    """A report store factory for each backend: ``reports(max_entries)``."""
    opened = []

    def open_store(max_entries: int):
        if request.param == "local":
            store = LocalReports(tmp_path / "cache", max_entries)
        else:
            store = RedisReports(request.getfixturevalue("redis_store"), max_entries)
        opened.append(store)
        return store

    yield open_store
    for store in opened:
        store.close()


@pytest.fixture(params=["local", "redis"])
def ledgers(request, tmp_path):
    """Two ledger stores over the same state, as two processes (or hosts) see it."""
    if request.param == "local":
        return LocalLedger(tmp_path / "quota"), LocalLedger(tmp_path / "quota")
    store = request.getfixturevalue("redis_store")
    return RedisLedger(store), RedisLedger(store)


# -- reports ----------------------------------------------------------------


def test_a_file_report_under_three_hashes_is_one_entry(reports):
    store = reports(10)
    report = file_report(1)
    keys = report_keys(2, "file", report["md5"], read(report))
    store.put(keys, {"report": report, "fetched": NOON, "negative": False}, 3600)
    assert store.count() == 1
    for key in keys:
        assert store.get(key)["report"] == report
    assert store.get("v2:file:" + "f" * 64) is None


def test_capacity_counts_entries_and_evicts_the_oldest_with_their_aliases(reports):
    store = reports(10)
    for i in range(12):
        report = file_report(i)
        keys = report_keys(2, "file", report["sha256"], read(report))
        store.put(keys, {"report": report, "fetched": NOON + i, "negative": False}, 3600 + i)
    assert store.count() <= 10
    newest = file_report(11)
    assert store.get(f"v2:file:{newest['md5']}")["report"] == newest
    oldest = file_report(0)
    assert store.get(f"v2:file:{oldest['md5']}") is None
    assert store.get(f"v2:file:{oldest['sha256']}") is None


def test_response_cache_max_size_holds_that_many_file_reports(reports):
    """50 entries hold 50 file reports, each filed under md5, sha1 and sha256."""
    cache = ReportCache(reports(50), max_entries=50, ttl=3600, negative_ttl=600)
    for i in range(50):
        report = file_report(i)
        filed = read(report)
        cache.put(report_keys(2, "file", report["sha256"], filed), filed)
    assert cache.entries() == 50
    for i in range(50):
        assert cache.get(f"v2:file:{file_report(i)['sha1']}") is not None


def test_a_record_does_not_answer_for_a_key_it_was_not_filed_under(reports):
    store = reports(10)
    store.put(["a", "b"], {"report": 1, "fetched": NOON, "negative": False}, 3600)
    store.put(["c", "b"], {"report": 2, "fetched": NOON, "negative": False}, 3600)
    assert store.get("b")["report"] == 2
    assert store.get("a")["report"] == 1


# -- ledger -----------------------------------------------------------------


def test_ledger_updates_are_atomic_across_instances(ledgers):
    def increment(store, times):
        for _ in range(times):
            store.transact(lambda doc, now: ({"n": (doc or {}).get("n", 0) + 1}, None))

    threads = [threading.Thread(target=increment, args=(store, 40)) for store in ledgers * 2]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert ledgers[0].transact(lambda doc, now: (None, doc["n"])) == 160


def test_redis_ledger_runs_on_the_servers_clock(redis_store):
    seconds, microseconds = redis_store.client.time()
    seen = RedisLedger(redis_store).transact(lambda doc, now: (None, now))
    assert 0 <= seen - (seconds + microseconds / 1e6) < 5


def test_quota_is_shared_between_hosts_over_redis(redis_store):
    limits = Limits(per_minute=4)
    first = SharedQuota(RedisLedger(redis_store), limits)
    second = SharedQuota(RedisLedger(redis_store), limits)
    assert first.acquire(3).units == 3
    assert second.acquire(4).units == 1
    assert second.acquire(1).units == 0
    assert first.usage()["per_minute"] == {"limit": 4, "used": 4}


def test_the_background_share_is_counted_fleet_wide(ledgers):
    """Two hosts, 8 units a minute, a quarter for the background: once one host spent
    the background's 2 units, the other has none for its background, 6 for requests."""
    first, second = (SharedQuota(store, Limits(per_minute=8), background_share=0.25)
                     for store in ledgers)  # fmt: skip
    assert first.acquire(2, lane="background").units == 2
    assert second.acquire(1, lane="background").units == 0
    assert second.acquire(8).units == 6
    assert first.usage()["background"]["per_minute"] == {"limit": 2, "used": 2}


def test_share_is_one_instances_part_of_every_limit():
    alone = share(Limits(unit_gap=1.0, per_minute=4, per_day=500, per_month=None), 3)
    assert alone == Limits(unit_gap=3.0, per_minute=1, per_day=166, per_month=None)
    assert share(Limits(per_day=500), 1) == Limits(per_day=500)


# -- the store going away -----------------------------------------------------


@pytest.fixture
def own_server(tmp_path):
    """A redis-server this test may stop and start again."""
    server = RedisServer(tmp_path / "redis").start()
    yield server
    server.stop()


def test_without_its_store_the_ledger_counts_its_share_alone_and_returns(own_server):
    now = [NOON]
    status = StoreStatus("redis")
    store = RedisStore(own_server.url, prefix="t", status=status)
    quota = SharedQuota(RedisLedger(store), Limits(per_minute=9), lambda: now[0],
                        instances=3, status=status)  # fmt: skip
    assert quota.acquire(1).units == 1
    own_server.stop()
    grant = quota.acquire(9)
    assert grant.units == 3  # 1/3 of 9, counted here alone
    assert quota.limits.per_minute == 3
    assert status.to_dict()["status"] == "degraded"
    assert quota.usage()["shared"] is False
    own_server.start()
    now[0] += 60  # past the retry interval (and the minute of the local grants)
    assert quota.usage()["shared"] is True
    assert status.to_dict() == {"kind": "redis", "status": "ok",
                                "last_error": status.last_error}  # fmt: skip
    assert quota.acquire(9).units == 9  # the shared ledger, with every limit
    assert quota.limits.per_minute == 9
    store.close()


def test_without_its_store_the_cache_answers_from_memory_and_returns(own_server):
    now = [NOON]
    status = StoreStatus("redis")
    store = RedisStore(own_server.url, prefix="t", status=status)
    cache = ReportCache(RedisReports(store, 100), max_entries=100, ttl=3600, negative_ttl=600,
                        clock=lambda: now[0], status=status)  # fmt: skip
    report = file_report(7)
    filed = read(report)
    cache.put(report_keys(2, "file", report["sha256"], filed), filed)
    own_server.stop()
    assert cache.get_fresh(f"v2:file:{report['md5']}").report == report  # the memory front
    other = file_report(8)
    away = read(other)  # filed while the store is away
    cache.put(report_keys(2, "file", other["sha256"], away), away)
    assert cache.get_fresh(f"v2:file:{other['sha1']}").report == other
    assert cache.stats()["status"] == "degraded"
    assert status.to_dict()["status"] == "degraded"
    own_server.start()  # an empty store: nothing was saved
    now[0] += 5
    assert cache.stats()["status"] == "ok"
    assert status.ok
    store.close()


def test_a_store_that_is_away_raises_store_unavailable(own_server):
    store = RedisStore(own_server.url, prefix="t")
    own_server.stop()
    with pytest.raises(StoreUnavailable):
        RedisReports(store, 10).count()
    with pytest.raises(StoreUnavailable):
        RedisLedger(store).transact(lambda doc, now: (None, None))
    store.close()


# -- claims -----------------------------------------------------------------


def test_one_host_claims_the_others_are_woken_by_its_release(redis_store):
    first, second = RedisClaims(redis_store), RedisClaims(redis_store)
    try:
        assert first.claim("v2:file:x")
        assert not second.claim("v2:file:x")
        assert first.claim("v2:file:x")  # this host's own lookups are merged by its scheduler
        woken = threading.Event()
        second.when_released("v2:file:x", woken.set, timeout=30)
        assert not woken.is_set()
        first.release("v2:file:x")
        assert woken.wait(10)
        assert second.claim("v2:file:x")  # released: free to claim
    finally:
        first.close()
        second.close()


def test_a_claim_of_a_host_that_died_lapses(redis_store):
    dead, alive = RedisClaims(redis_store, ttl=0.5), RedisClaims(redis_store)
    try:
        assert dead.claim("k")
        dead.close()  # stops renewing, never releases
        woken = threading.Event()
        alive.when_released("k", woken.set, timeout=30)
        assert woken.wait(10)
        assert alive.claim("k")
    finally:
        alive.close()


def test_a_waiter_is_answered_at_its_timeout(redis_store):
    first, second = RedisClaims(redis_store), RedisClaims(redis_store)
    try:
        assert first.claim("k")
        woken = threading.Event()
        second.when_released("k", woken.set, timeout=0.2)
        assert woken.wait(10)
        assert not second.claim("k")  # still held (and renewed) by the first
    finally:
        first.close()
        second.close()


def test_waiting_on_a_key_nobody_holds_answers_at_once(redis_store):
    claims = RedisClaims(redis_store)
    try:
        woken = threading.Event()
        claims.when_released("free", woken.set, timeout=30)
        assert woken.is_set()
    finally:
        claims.close()


# -- what was said of each indicator (verdict events, TIE export) ----------------


@pytest.fixture(params=["local", "redis"])
def memories(request):
    """Two memories over the same records, as two hosts see them (local: one process)."""
    if request.param == "local":
        memory = LocalMemory(100)
        return memory, memory
    store = request.getfixturevalue("redis_store")
    return RedisMemory(store, "events", 3600), RedisMemory(store, "events", 3600)


def test_hosts_sharing_a_memory_publish_once(memories):
    hosts = [VerdictMemory({"malicious"}, 3600, shared=memory) for memory in memories]
    seen = [hosts[i % 2].observe("file:a", "malicious", NOON + i) for i in range(6)]
    assert seen == [(True, None)] + [(False, "malicious")] * 5
    assert hosts[1].observe("file:a", "clean", NOON + 7) == (False, "malicious")
    assert hosts[0].observe("file:a", "malicious", NOON + 8) == (True, "clean")


def test_concurrent_observations_on_two_hosts_are_news_once(memories):
    """The judgement runs atomically: of 40 threads on two hosts, one says it is news."""
    hosts = [VerdictMemory({"malicious"}, 3600, shared=memory) for memory in memories]
    start = threading.Barrier(40)
    news = []

    def observe(i: int) -> None:
        start.wait()
        news.append(hosts[i % 2].observe("file:b", "malicious", NOON)[0])

    threads = [threading.Thread(target=observe, args=(i,)) for i in range(40)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(news) == [False] * 39 + [True]


def test_redis_memory_keeps_records_under_the_prefix_and_they_expire(redis_store):
    memory = RedisMemory(redis_store, "tie", 30)
    VerdictMemory({"malicious"}, 3600, shared=memory).observe("file:c", "malicious", NOON)
    name = "test:memory:tie:file:c"
    assert redis_store.client.keys("*") == [name.encode()]
    assert 0 < redis_store.client.pttl(name) <= 30_000


def test_the_local_memory_forgets_the_least_recently_used():
    memory = LocalMemory(2)
    for key in "abac":
        memory.update(key, lambda record, now: ({"seen": True}, None))
    assert memory.count() == 2
    assert memory.update("b", lambda record, now: (None, record)) is None
    assert memory.update("a", lambda record, now: (None, record)) == {"seen": True}


def test_without_its_store_the_memory_remembers_alone_and_returns(own_server):
    now = [NOON]
    store = RedisStore(own_server.url, prefix="t")
    memory = VerdictMemory({"malicious"}, 3600, shared=RedisMemory(store, "events", 3600),
                           clock=lambda: now[0])  # fmt: skip
    assert memory.observe("file:d", "malicious", NOON) == (True, None)
    own_server.stop()
    # The shared record is out of reach: this process remembers alone (and says it again).
    assert memory.observe("file:d", "malicious", NOON + 1) == (True, None)
    assert memory.observe("file:d", "malicious", NOON + 2) == (False, "malicious")
    own_server.start()  # an empty store: nothing was saved
    now[0] += 5  # past the retry interval
    other = VerdictMemory({"malicious"}, 3600, shared=RedisMemory(store, "events", 3600))
    assert memory.observe("file:e", "malicious", NOON + 3) == (True, None)
    assert other.observe("file:e", "malicious", NOON + 4) == (False, "malicious")
    store.close()
