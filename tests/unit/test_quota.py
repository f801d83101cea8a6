"""The quota rule in units (pure, injected clock) and the shared ledger (diskcache)."""

import calendar

import pytest

from dxlvtservice.core import quota
from dxlvtservice.core.quota import MAX_REFUSALS, MINUTE, Ledger, Limits
from dxlvtservice.lookups.ledger import Allowance, SharedQuota


def utc(year, month, day, hour=0, minute=0, second=0.0):
    return calendar.timegm((year, month, day, hour, minute, 0)) + second


NOON = utc(2026, 12, 5, 12)
BEFORE_MIDNIGHT = utc(2026, 12, 5, 23, 59, 50)
MIDNIGHT = utc(2026, 12, 6)
END_OF_MONTH = utc(2026, 11, 30, 23, 59, 30)
FIRST_OF_MONTH = utc(2026, 12, 1)
PUBLIC = Limits(unit_gap=0.0, per_minute=4, per_day=500)


def spent(limits, now, *calls):
    """A ledger after calls of these units at ``now``."""
    ledger = Ledger()
    for units in calls:
        ledger = quota.grant(ledger, limits, now, units)
    return ledger


@pytest.mark.parametrize(
    ("limits", "calls", "expected"),
    [
        (Limits(), (), None),
        (PUBLIC, (), 4),
        (PUBLIC, (1,), 3),
        (PUBLIC, (4,), 0),  # one batch of four hashes is four units: the minute is spent
        (PUBLIC, (2, 1), 1),
        (Limits(per_day=3), (2,), 1),
        (Limits(per_month=5), (4,), 1),
        (Limits(unit_gap=1.0), (1,), 0),  # spacing: nothing until the gap has passed
    ],
)
def test_free_units_count_units_not_calls(limits, calls, expected):
    ledger = spent(limits, NOON, *calls)
    assert quota.free_units(ledger, limits, NOON) == expected


def test_rate_limit_spaces_units_not_calls():
    limits = Limits(unit_gap=15.0)
    ledger = spent(limits, NOON, 4)
    assert quota.earliest_start(ledger, limits, NOON, 1) == NOON + 60.0
    assert quota.free_units(ledger, limits, NOON + 59.9) == 0
    assert quota.free_units(ledger, limits, NOON + 60.0) is None


def test_minute_window_slides():
    limits = Limits(per_minute=4)
    ledger = quota.grant(Ledger(), limits, NOON, 3)
    ledger = quota.grant(ledger, limits, NOON + 10, 1)
    assert quota.earliest_start(ledger, limits, NOON + 10, 1) == NOON + MINUTE
    assert quota.earliest_start(ledger, limits, NOON + 10, 4) == NOON + 10 + MINUTE
    assert quota.free_units(ledger, limits, NOON + MINUTE) == 3


def test_a_spent_day_schedules_nothing_before_midnight_and_resumes_right_after():
    limits = Limits(per_minute=4, per_day=10)
    ledger = spent(limits, BEFORE_MIDNIGHT - 120, 4)
    ledger = quota.grant(ledger, limits, BEFORE_MIDNIGHT - 60, 4)
    ledger = quota.grant(ledger, limits, BEFORE_MIDNIGHT, 2)
    assert quota.free_units(ledger, limits, MIDNIGHT - 1) == 0
    assert quota.earliest_start(ledger, limits, BEFORE_MIDNIGHT + 1, 1) == MIDNIGHT
    starts = quota.project(ledger, limits, BEFORE_MIDNIGHT + 1, [1, 1])
    assert all(start >= MIDNIGHT for start in starts)
    # The minute still slides across midnight: the two units at 23:59:50 count until 00:00:50.
    assert quota.free_units(ledger, limits, MIDNIGHT) == 2
    assert quota.free_units(ledger, limits, MIDNIGHT + 50) == 4
    held = quota.held_back(ledger, limits, MIDNIGHT - 5)
    assert held.reason == "the daily quota is spent until 00:00 UTC" and held.until == MIDNIGHT


def test_a_spent_month_holds_until_the_first_of_the_next_month():
    limits = Limits(per_day=100, per_month=6)
    ledger = spent(limits, utc(2026, 11, 2), 3)
    ledger = quota.grant(ledger, limits, END_OF_MONTH, 3)
    assert quota.free_units(ledger, limits, END_OF_MONTH + 10) == 0
    assert quota.earliest_start(ledger, limits, END_OF_MONTH + 10, 1) == FIRST_OF_MONTH
    assert quota.free_units(ledger, limits, FIRST_OF_MONTH) == 6
    assert quota.next_month(utc(2026, 12, 31, 23)) == utc(2027, 1, 1)


def test_a_call_larger_than_any_window_never_fits():
    assert quota.earliest_start(Ledger(), Limits(per_minute=4), NOON, 5) is None


def test_projection_takes_each_call_in_turn():
    limits = Limits(per_minute=8)
    starts = quota.project(Ledger(), limits, NOON, [4, 4, 4])
    assert starts == [NOON, NOON, NOON + MINUTE]


def test_repeated_refusals_back_off_and_then_wait_for_midnight():
    ledger, now = Ledger(), NOON
    blocks = []
    for _ in range(MAX_REFUSALS):
        ledger = quota.refused(ledger, now, None)
        blocks.append(ledger.blocked_until - now)
    assert blocks[:3] == [60.0, 120.0, 240.0]
    assert ledger.blocked_until == utc(2026, 12, 6)
    assert quota.answered(ledger).refusals == 0


def test_retry_after_sets_the_first_block():
    assert quota.refused(Ledger(), NOON, 7.0).blocked_until == NOON + 7.0


def test_virustotal_usage_is_taken_and_never_lowers_ours():
    limits = Limits(per_day=500)
    ledger = spent(limits, NOON, 10)
    assert quota.adopt_usage(ledger, NOON, 100, None).day_units == 100
    assert quota.adopt_usage(ledger, NOON, 3, None).day_units == 10


def test_restamp_moves_the_minute_entry_to_the_end_of_the_call():
    limits = Limits(per_minute=4)
    ledger = quota.restamp(spent(limits, NOON, 4), NOON, 4, NOON + 5)
    assert quota.free_units(ledger, limits, NOON + MINUTE) == 0
    assert quota.free_units(ledger, limits, NOON + 5 + MINUTE) == 4


def test_ledger_survives_json():
    ledger = quota.refused(spent(PUBLIC, NOON, 2, 1), NOON, 3.0)
    assert Ledger.from_json(ledger.to_json()) == ledger
    assert Ledger.from_json({"recent": "garbage"}) == Ledger()


def test_tightened_limits_take_the_lower():
    limits = Limits(per_day=500, per_month=None).tightened(200, 15500)
    assert (limits.per_day, limits.per_month) == (200, 15500)
    assert Limits(per_day=100).tightened(500, None).per_day == 100


# -- the shared ledger --------------------------------------------------------


def test_ledger_is_shared_between_instances(tmp_path):
    now = [NOON]
    limits = Limits(unit_gap=10, per_minute=4)
    first = SharedQuota(tmp_path, limits, clock=lambda: now[0])
    second = SharedQuota(tmp_path, limits, clock=lambda: now[0])
    assert first.acquire(3).units == 3
    assert second.acquire(1).units == 0 and second.acquire(1).wait == 30.0
    now[0] += 30
    grant = second.acquire(4)
    assert grant.units == 1  # only one unit of the minute is left
    assert first.usage()["per_minute"] == {"limit": 4, "used": 4}
    # Four units need both grants out of the minute: the second one, at +30, until +90.
    assert first.acquire(4, minimum=4).wait == MINUTE
    first.close()
    second.close()


def test_a_refusal_blocks_other_instances(tmp_path):
    now = [NOON]
    first = SharedQuota(tmp_path, Limits(), clock=lambda: now[0])
    second = SharedQuota(tmp_path, Limits(), clock=lambda: now[0])
    grant = first.acquire(1)
    first.settle(grant, refused=True, retry_after=30)
    assert second.acquire(1).wait == 30.0
    assert "refused" in second.usage()["held_back"]
    first.close()
    second.close()


def test_discovered_allowance_lowers_limits_and_takes_used_units(tmp_path):
    now = [NOON]
    ledger = SharedQuota(tmp_path, Limits(per_day=500), clock=lambda: now[0])
    ledger.adopt(Allowance(per_day=20, per_month=None, day_used=5, month_used=None))
    other = SharedQuota(tmp_path, Limits(per_day=500), clock=lambda: now[0])
    assert other.limits.per_day == 20
    assert other.usage()["per_day"]["left"] == 15
    assert other.acquire(100).units == 15
    assert other.acquire(1).units == 0
    ledger.close()
    other.close()


def test_unusable_directory_degrades_to_memory(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    ledger = SharedQuota(blocker / "quota", Limits(unit_gap=5), clock=lambda: NOON)
    assert ledger.degraded
    assert ledger.acquire(1).units == 1
    assert ledger.acquire(1).wait == 5.0
