"""The quota rule (pure) and the shared ledger (diskcache, across instances)."""

from dxlvtservice.quota import DAY, MINUTE, Limits, SharedQuota, next_slots, prune


def test_free_key_gives_now():
    assert next_slots([], Limits(15, 4, 500), now=100.0, count=1) == [100.0]


def test_min_gap_spaces_calls():
    assert next_slots([100.0], Limits(min_gap=15), now=101.0, count=3) == [115.0, 130.0, 145.0]


def test_per_minute_window_slides():
    history = [0.0, 1.0, 2.0, 3.0]
    slots = next_slots(history, Limits(per_minute=4), now=3.0, count=2)
    assert slots == [MINUTE, MINUTE + 1.0]


def test_per_day_limit():
    history = [float(i) for i in range(10)]
    assert next_slots(history, Limits(per_day=10), now=20.0, count=1) == [DAY]


def test_block_delays_everything():
    assert next_slots([], Limits(), now=5.0, count=2, blocked_until=30.0) == [30.0, 30.0]


def test_prune_keeps_what_matters():
    limits = Limits(per_minute=4, per_day=5)
    history = [-DAY - 1, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
    assert prune(history, limits, now=10.0) == [2.0, 3.0, 4.0, 5.0, 6.0]


def test_ledger_is_shared_between_instances(tmp_path):
    now = [1000.0]
    limits = Limits(min_gap=10, per_minute=2)
    first = SharedQuota(tmp_path, limits, clock=lambda: now[0])
    second = SharedQuota(tmp_path, limits, clock=lambda: now[0])
    assert first.try_acquire() == 0.0
    assert second.try_acquire() == 10.0
    now[0] += 10
    assert second.try_acquire() == 0.0
    now[0] += 10
    assert first.try_acquire() == MINUTE - 20
    assert first.usage()["per_minute"] == {"limit": 2, "used": 2}
    first.close()
    second.close()


def test_block_for_is_seen_by_other_instances(tmp_path):
    now = [50.0]
    first = SharedQuota(tmp_path, Limits(), clock=lambda: now[0])
    second = SharedQuota(tmp_path, Limits(), clock=lambda: now[0])
    first.block_for(30)
    assert second.try_acquire() == 30.0
    first.close()
    second.close()


def test_unusable_directory_degrades_to_memory(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    quota = SharedQuota(blocker / "quota", Limits(min_gap=5), clock=lambda: 0.0)
    assert quota.degraded
    assert quota.try_acquire() == 0.0
    assert quota.try_acquire() == 5.0
