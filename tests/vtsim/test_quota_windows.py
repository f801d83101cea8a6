"""The simulator's quota in units, on an injected wall clock: sliding minute, UTC hour,
day and month. Each test names the VirusTotal page it follows."""

from __future__ import annotations

from datetime import UTC, datetime

from devfabric.vtsim.quota import MINUTE, Quota

UNLIMITED = dict.fromkeys(("per_minute", "per_hour", "per_day", "per_month"))


def utc(*moment: int) -> float:
    return datetime(*moment, tzinfo=UTC).timestamp()


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def quota(clock: Clock, **limits: int) -> Quota:
    return Quota({**UNLIMITED, **limits}, clock)


def test_units_are_counted_in_every_window_even_unlimited():
    """docs.virustotal.com/docs/quota-consumption: one unit per hash of a batch."""
    limited = quota(Clock(utc(2025, 3, 10, 12)))
    assert limited.try_acquire(4) and limited.try_acquire(1)
    assert {name: window["used"] for name, window in limited.usage().items()} == {
        "per_minute": 5, "per_hour": 5, "per_day": 5, "per_month": 5,
    }  # fmt: skip
    assert limited.usage()["per_day"]["limit"] is None


def test_a_call_that_does_not_fit_is_refused_whole_and_uses_nothing():
    """docs.virustotal.com/docs/quota-consumption (units per resource) and
    docs.virustotal.com/v2.0/reference/api-responses (204: a quota exceeded)."""
    four = quota(Clock(utc(2025, 3, 10, 12)), per_minute=4)
    assert four.try_acquire(3)
    assert not four.try_acquire(2)  # 3 + 2 > 4: refused whole, not cut to 1
    assert four.usage()["per_minute"]["used"] == 3
    assert four.try_acquire(1)
    assert not four.try_acquire(1)


def test_the_minute_slides():
    """docs.virustotal.com/docs/consumption-quotas-handled: a per-minute limit."""
    clock = Clock(utc(2025, 3, 10, 12, 0, 30))
    two = quota(clock, per_minute=2)
    assert two.try_acquire(2)
    clock.now += MINUTE - 0.001
    assert not two.try_acquire(1)
    clock.now += 0.001
    assert two.try_acquire(2)


def test_the_day_resets_at_midnight_utc_not_24_hours_later():
    """docs.virustotal.com/docs/consumption-quotas-handled: "Daily API quotas are
    reset every day at 00:00 UTC"."""
    clock = Clock(utc(2025, 3, 10, 23, 59))
    daily = quota(clock, per_day=3)
    assert daily.try_acquire(3)
    clock.now = utc(2025, 3, 10, 23, 59, 59)
    assert not daily.try_acquire(1)
    clock.now = utc(2025, 3, 11, 0, 0, 0)  # one minute after the day was spent
    assert daily.usage()["per_day"]["used"] == 0
    assert daily.try_acquire(3)
    clock.now = utc(2025, 3, 11, 23, 59, 59)
    assert not daily.try_acquire(1)


def test_the_month_resets_on_the_first_at_midnight_utc():
    """docs.virustotal.com/docs/consumption-quotas-handled: a monthly quota "is reset
    at 00:00 UTC on the 1st of the month"; the minute and the day still apply."""
    clock = Clock(utc(2024, 2, 1, 0, 0))
    monthly = quota(clock, per_month=5, per_day=2)
    for day in (1, 2):
        clock.now = utc(2024, 2, day, 10)
        assert monthly.try_acquire(2)
    clock.now = utc(2024, 2, 29, 23, 59, 59)  # a leap day, still February
    assert monthly.try_acquire(1)
    assert not monthly.try_acquire(1)  # the month is spent though the day is not
    clock.now = utc(2024, 3, 1)
    assert monthly.usage()["per_month"]["used"] == 0
    assert monthly.try_acquire(2)
    assert not monthly.try_acquire(1)  # the day's 2


def test_the_hour_is_the_utc_clock_hour():
    """docs.virustotal.com/reference/get-user-overall-quotas: api_requests_hourly,
    "consumption data based on natural month and UTC"."""
    clock = Clock(utc(2025, 3, 10, 12, 59, 59))
    hourly = quota(clock, per_hour=1)
    assert hourly.try_acquire(1) and not hourly.try_acquire(1)
    clock.now = utc(2025, 3, 10, 13)
    assert hourly.try_acquire(1)


def test_units_spent_elsewhere_fill_the_windows_and_new_limits_apply_to_them():
    """docs.virustotal.com/docs/quota-consumption: group quota is shared, so another
    user of the key spends the same units."""
    shared = quota(Clock(utc(2025, 3, 10, 12)))
    shared.consume(100)
    shared.set_limits({**UNLIMITED, "per_day": 101})
    assert shared.try_acquire(1) and not shared.try_acquire(1)
    assert shared.usage()["per_day"] == {"limit": 101, "used": 101}
    shared.clear()
    assert shared.try_acquire(101)


def test_a_limit_of_zero_refuses_everything():
    """docs.virustotal.com/v2.0/reference/api-responses: over quota, nothing is served."""
    none_left = quota(Clock(utc(2025, 3, 10, 12)), per_day=0)
    assert not none_left.try_acquire(1)
    assert none_left.usage()["per_day"] == {"limit": 0, "used": 0}
