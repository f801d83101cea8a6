"""Lanes: interactive requests first, background lookups in what is left of a share.

Background lookups (first-instance enrichment, docs/tie.md) wait in a lane
of their own. The rule has two halves, both pure:

- order: every interactive lookup goes before every background one, so an
  interactive waiter's deadline projection never counts background work
  ahead of it (:func:`rank`);
- budget: a background call may go only while the background units of each
  quota window (minute, day, month) stay within ``share`` of its limit
  (:func:`background_limits`). The background units are counted in a
  :class:`~dxlvtservice.core.quota.Ledger` of their own, checked against these
  limits on top of the key's ledger.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

from . import quota
from .quota import Ledger, Limits

INTERACTIVE = "interactive"
BACKGROUND = "background"
LANES = (INTERACTIVE, BACKGROUND)


def rank(lane: str) -> int:
    """A lane's priority: smaller goes first."""
    return LANES.index(lane)


def background_limits(limits: Limits, share: float) -> Limits | None:
    """What background calls may spend of ``limits``: ``share`` of each window, rounded
    down; None when that is no unit at all in some window (the lane never goes).

    The unit gap is the key's, kept by its own ledger, so it is not repeated here.
    """
    scaled = replace(
        limits,
        unit_gap=0.0,
        per_minute=_part(limits.per_minute, share),
        per_day=_part(limits.per_day, share),
        per_month=_part(limits.per_month, share),
    )
    if 0 in (scaled.per_minute, scaled.per_day, scaled.per_month):
        return None
    return scaled


def _part(limit: int | None, share: float) -> int | None:
    return None if limit is None else math.floor(limit * share + 1e-9)


@dataclass(frozen=True)
class Books:
    """The key's ledger (every unit, both lanes) and the background lane's own."""

    key: Ledger = field(default_factory=Ledger)
    background: Ledger = field(default_factory=Ledger)


def free_units(books: Books, limits: Limits, share: float, now: float, lane: str) -> int | None:
    """Units a call of ``lane`` may take at ``now`` (None = any number)."""
    free = quota.free_units(books.key, limits, now)
    if lane != BACKGROUND:
        return free
    lane_limits = background_limits(limits, share)
    if lane_limits is None:
        return 0
    room = quota.free_units(books.background, lane_limits, now)
    if free is None or room is None:
        return room if free is None else free
    return min(free, room)


def earliest_start(
    books: Books, limits: Limits, share: float, now: float, units: int, lane: str
) -> float | None:
    """When a call of ``units`` in ``lane`` could start at the earliest; None if never."""
    start = quota.earliest_start(books.key, limits, now, units)
    if lane != BACKGROUND or start is None:
        return start
    lane_limits = background_limits(limits, share)
    if lane_limits is None:
        return None
    room = quota.earliest_start(books.background, lane_limits, now, units)
    # Either ledger only frees units as time passes: the later start suits both.
    return None if room is None else max(start, room)


def grant(books: Books, limits: Limits, now: float, units: int, lane: str) -> Books:
    """``books`` after a call of ``units`` in ``lane`` starts at ``now``."""
    key = quota.grant(books.key, limits, now, units)
    if lane != BACKGROUND:
        return replace(books, key=key)
    return Books(key, quota.grant(books.background, Limits(), now, units))


def restamp(books: Books, started: float, units: int, finished: float, lane: str) -> Books:
    """Count a granted call's minute from when it ended (:func:`quota.restamp`), in both
    ledgers it was counted in."""
    key = quota.restamp(books.key, started, units, finished)
    if lane != BACKGROUND:
        return replace(books, key=key)
    return Books(key, quota.restamp(books.background, started, units, finished))


def project(
    books: Books, limits: Limits, share: float, now: float, calls: list[tuple[int, str]]
) -> list[float | None]:
    """When each of ``calls`` (units, lane), in queue order, could start, as things stand."""
    starts: list[float | None] = []
    for units, lane in calls:
        start = earliest_start(books, limits, share, now, units, lane)
        starts.append(start)
        if start is not None:
            books = grant(books, limits, start, units, lane)
            now = start
    return starts


def usage(books: Books, limits: Limits, share: float, now: float) -> dict:
    """The background lane's units against its share of each window, for health."""
    ledger = books.background.at(now)
    return {
        "share": share,
        "per_minute": {"limit": _part(limits.per_minute, share),
                       "used": ledger.minute_units(now)},
        "per_day": {"limit": _part(limits.per_day, share), "used": ledger.day_units},
        "per_month": {"limit": _part(limits.per_month, share), "used": ledger.month_units},
    }  # fmt: skip
