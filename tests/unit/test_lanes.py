"""The lane rule (core/lanes.py): interactive first, background within its share of each window."""

import pytest

from dxlvtservice.core import lanes
from dxlvtservice.core.lanes import BACKGROUND, INTERACTIVE, Books, background_limits
from dxlvtservice.core.quota import Ledger, Limits, next_midnight

NOW = 1_800_000_000.0  # 2027-01-15T08:00:00Z


@pytest.mark.parametrize(
    ("limits", "share", "expected"),
    [
        (Limits(per_minute=8), 0.25, Limits(per_minute=2)),
        (Limits(per_minute=4, per_day=500, per_month=15500), 0.25,
         Limits(per_minute=1, per_day=125, per_month=3875)),
        (Limits(unit_gap=15, per_minute=4), 1.0, Limits(per_minute=4)),
        (Limits(per_minute=10), 0.33, Limits(per_minute=3)),
        (Limits(per_minute=3), 0.25, None),  # less than one unit a minute: never
        (Limits(), 0.25, Limits()),
    ],
)  # fmt: skip
def test_background_may_use_its_share_of_each_window_rounded_down(limits, share, expected):
    assert background_limits(limits, share) == expected


def books(key_minute=(), background_minute=(), day=0, background_day=0):
    """Books at NOW with grants (seconds before NOW, units) in each ledger's minute."""
    key = Ledger(tuple((NOW - ago, u) for ago, u in key_minute)).at(NOW)
    background = Ledger(tuple((NOW - ago, u) for ago, u in background_minute)).at(NOW)
    return Books(
        Ledger(key.recent, key.day, day, key.month, day),
        Ledger(background.recent, background.day, background_day,
               background.month, background_day),
    )  # fmt: skip


EIGHT = Limits(per_minute=8, per_day=100)


@pytest.mark.parametrize(
    ("state", "lane", "free"),
    [
        (books(), INTERACTIVE, 8),
        (books(), BACKGROUND, 2),
        (books(key_minute=[(10, 1)], background_minute=[(10, 1)]), BACKGROUND, 1),
        (books(key_minute=[(10, 2)], background_minute=[(10, 2)]), BACKGROUND, 0),
        (books(key_minute=[(10, 2)], background_minute=[(10, 2)]), INTERACTIVE, 6),
        (books(key_minute=[(10, 7)]), BACKGROUND, 1),  # the key's own room binds too
        (books(key_minute=[(59, 2)], background_minute=[(61, 2)]), BACKGROUND, 2),
        (books(day=99, background_day=24), BACKGROUND, 1),
        (books(day=50, background_day=25), BACKGROUND, 0),  # 25 of the day's 100
    ],
)
def test_units_free_for_each_lane(state, lane, free):
    assert lanes.free_units(state, EIGHT, 0.25, NOW, lane) == free


@pytest.mark.parametrize(
    ("state", "lane", "units", "start"),
    [
        (books(), BACKGROUND, 1, NOW),
        (books(key_minute=[(20, 2)], background_minute=[(20, 2)]), BACKGROUND, 1, NOW + 40),
        (books(key_minute=[(20, 2)], background_minute=[(20, 2)]), INTERACTIVE, 1, NOW),
        (books(key_minute=[(30, 1), (20, 1)], background_minute=[(30, 1), (20, 1)]),
         BACKGROUND, 2, NOW + 40),
        (books(key_minute=[(30, 1)]), BACKGROUND, 3, None),  # more than the share ever allows
        (books(day=30, background_day=25), BACKGROUND, 1, next_midnight(NOW)),
    ],
)  # fmt: skip
def test_earliest_start_for_each_lane(state, lane, units, start):
    assert lanes.earliest_start(state, EIGHT, 0.25, NOW, units, lane) == start


def test_a_lane_with_no_unit_in_a_window_never_starts():
    assert lanes.free_units(Books(), Limits(per_minute=3), 0.25, NOW, BACKGROUND) == 0
    assert lanes.earliest_start(Books(), Limits(per_minute=3), 0.25, NOW, 1, BACKGROUND) is None


def test_a_background_grant_counts_in_both_ledgers_an_interactive_one_in_the_key_only():
    state = lanes.grant(Books(), EIGHT, NOW, 1, BACKGROUND)
    state = lanes.grant(state, EIGHT, NOW + 1, 3, INTERACTIVE)
    assert state.key.minute_units(NOW + 1) == 4 and state.key.day_units == 4
    assert state.background.minute_units(NOW + 1) == 1 and state.background.day_units == 1


def test_restamping_moves_a_background_grant_in_both_ledgers():
    state = lanes.grant(Books(), EIGHT, NOW, 2, BACKGROUND)
    state = lanes.restamp(state, NOW, 2, NOW + 5, BACKGROUND)
    assert state.key.recent == state.background.recent == ((NOW + 5, 2),)


def test_projection_spaces_background_calls_by_their_share_only():
    """Eight units a minute, two of them background: background calls go two a
    minute while interactive ones, queued first, are not held back by them."""
    calls = [(1, INTERACTIVE)] * 3 + [(1, BACKGROUND)] * 5
    starts = lanes.project(Books(), EIGHT, 0.25, NOW, calls)
    assert starts == [NOW] * 5 + [NOW + 60] * 2 + [NOW + 120]


def test_usage_shows_the_background_share_of_each_window():
    state = lanes.grant(Books(), EIGHT, NOW, 1, BACKGROUND)
    assert lanes.usage(state, EIGHT, 0.25, NOW) == {
        "share": 0.25,
        "per_minute": {"limit": 2, "used": 1},
        "per_day": {"limit": 25, "used": 1},
        "per_month": {"limit": None, "used": 1},
    }


def test_interactive_goes_before_background():
    assert lanes.rank(INTERACTIVE) < lanes.rank(BACKGROUND)
