"""The simulator's quota: sliding windows per minute and per day, on a fake clock."""

from __future__ import annotations

from devfabric.vtsim.quota import DAY, MINUTE, Quota


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_unlimited_by_default_and_still_counted():
    clock = Clock()
    quota = Quota(None, None, clock)
    assert all(quota.try_acquire() for _ in range(50))
    assert quota.usage() == {
        "per_minute": {"limit": None, "used": 50},
        "per_day": {"limit": None, "used": 50},
    }


def test_minute_window_slides_and_refusals_use_nothing():
    clock = Clock()
    quota = Quota(2, None, clock)
    assert quota.try_acquire() and quota.try_acquire()
    assert not quota.try_acquire()
    assert not quota.try_acquire()
    assert quota.usage()["per_minute"]["used"] == 2
    clock.now += MINUTE - 0.001
    assert not quota.try_acquire()
    clock.now += 0.001
    assert quota.try_acquire()


def test_day_window_holds_past_the_minute():
    clock = Clock()
    quota = Quota(10, 3, clock)
    for _ in range(3):
        assert quota.try_acquire()
        clock.now += MINUTE
    assert not quota.try_acquire()
    clock.now = 1000.0 + DAY
    assert quota.try_acquire()


def test_new_limits_apply_to_calls_already_counted():
    quota = Quota(None, None, Clock())
    for _ in range(3):
        quota.try_acquire()
    quota.set_limits(3, None)
    assert not quota.try_acquire()
    quota.clear()
    assert quota.try_acquire()


def test_a_limit_of_zero_refuses_everything():
    quota = Quota(None, 0, Clock())
    assert not quota.try_acquire()
    assert quota.usage()["per_day"] == {"limit": 0, "used": 0}
