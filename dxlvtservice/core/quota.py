"""The quota rule: how many VirusTotal units may go now, and when later calls may start.

VirusTotal counts quota *units*, not HTTP calls: a v2 report or scan call
carrying N resources costs N units, any other call one (docs/quota.md). Its
windows are a sliding minute, the UTC day (reset at 00:00 UTC) and the UTC
calendar month. Everything here is pure: a :class:`Ledger` value in, a new
value or a projection out, with the time passed in, so the rule is
table-tested across midnight and month turns without waiting for them.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass, replace
from datetime import UTC, datetime

MINUTE = 60.0
# Consecutive VirusTotal refusals after which the day counts as spent: a key
# that VirusTotal keeps refusing is not probed again before 00:00 UTC.
MAX_REFUSALS = 5
DEFAULT_REFUSAL_BLOCK = 60.0


def day_of(now: float) -> str:
    """The UTC day ``now`` falls in, as ``YYYY-MM-DD``."""
    return datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%d")


def month_of(now: float) -> str:
    """The UTC calendar month ``now`` falls in, as ``YYYY-MM``."""
    return datetime.fromtimestamp(now, UTC).strftime("%Y-%m")


def next_midnight(now: float) -> float:
    """The next 00:00 UTC after ``now``."""
    moment = datetime.fromtimestamp(now, UTC)
    start = calendar.timegm((moment.year, moment.month, moment.day, 0, 0, 0))
    return float(start + 86400)


def next_month(now: float) -> float:
    """The first instant (00:00 UTC on the 1st) of the month after ``now``'s."""
    moment = datetime.fromtimestamp(now, UTC)
    year, month = (moment.year + 1, 1) if moment.month == 12 else (moment.year, moment.month + 1)
    return float(calendar.timegm((year, month, 1, 0, 0, 0)))


@dataclass(frozen=True)
class Limits:
    """What the key allows (None = no limit); ``unit_gap`` is seconds per unit."""

    unit_gap: float = 0.0
    per_minute: int | None = None
    per_day: int | None = None
    per_month: int | None = None

    @property
    def limited(self) -> bool:
        return self.unit_gap > 0 or any(
            limit is not None for limit in (self.per_minute, self.per_day, self.per_month)
        )

    @property
    def largest_call(self) -> int | None:
        """The most units one call may ever take (None = no bound)."""
        bounds = [limit for limit in (self.per_minute, self.per_day, self.per_month) if limit]
        return min(bounds) if bounds else None

    def tightened(self, per_day: int | None, per_month: int | None) -> Limits:
        """These limits, lowered to what VirusTotal says the key is allowed."""
        return replace(
            self,
            per_day=_lower(self.per_day, per_day),
            per_month=_lower(self.per_month, per_month),
        )


def _lower(configured: int | None, discovered: int | None) -> int | None:
    if discovered is None:
        return configured
    return discovered if configured is None else min(configured, discovered)


@dataclass(frozen=True)
class Ledger:
    """What has been spent: recent grants, the UTC day's and month's units, blocks.

    ``recent`` holds ``(time, units)`` of grants within the sliding minute;
    ``next_free`` is when the unit gap after the last grant has passed;
    ``blocked_until`` is set by a VirusTotal refusal; ``refusals`` counts them in a row.
    """

    recent: tuple[tuple[float, int], ...] = ()
    day: str = ""
    day_units: int = 0
    month: str = ""
    month_units: int = 0
    next_free: float = 0.0
    blocked_until: float = 0.0
    refusals: int = 0

    def at(self, now: float) -> Ledger:
        """The ledger as it reads at ``now``: old grants gone, a new day or month at zero."""
        day, month = day_of(now), month_of(now)
        return replace(
            self,
            recent=tuple(grant for grant in self.recent if grant[0] > now - MINUTE),
            day=day,
            day_units=self.day_units if self.day == day else 0,
            month=month,
            month_units=self.month_units if self.month == month else 0,
        )

    def minute_units(self, now: float) -> int:
        return sum(units for time, units in self.recent if time > now - MINUTE)

    def to_json(self) -> dict:
        return {
            "recent": [list(grant) for grant in self.recent],
            "day": self.day,
            "day_units": self.day_units,
            "month": self.month,
            "month_units": self.month_units,
            "next_free": self.next_free,
            "blocked_until": self.blocked_until,
            "refusals": self.refusals,
        }

    @classmethod
    def from_json(cls, value: object) -> Ledger:
        """A stored ledger; anything unreadable reads as an empty one."""
        if not isinstance(value, dict):
            return cls()
        try:
            return cls(
                recent=tuple((float(t), int(u)) for t, u in value.get("recent", ())),
                day=str(value.get("day", "")),
                day_units=int(value.get("day_units", 0)),
                month=str(value.get("month", "")),
                month_units=int(value.get("month_units", 0)),
                next_free=float(value.get("next_free", 0.0)),
                blocked_until=float(value.get("blocked_until", 0.0)),
                refusals=int(value.get("refusals", 0)),
            )
        except (TypeError, ValueError):
            return cls()


def free_units(ledger: Ledger, limits: Limits, now: float) -> int | None:
    """Units that may go upstream at ``now`` (None = any number)."""
    ledger = ledger.at(now)
    if now < max(ledger.blocked_until, ledger.next_free):
        return 0
    room = [
        limit - used
        for limit, used in (
            (limits.per_minute, ledger.minute_units(now)),
            (limits.per_day, ledger.day_units),
            (limits.per_month, ledger.month_units),
        )
        if limit is not None
    ]
    return max(0, min(room)) if room else None


def grant(ledger: Ledger, limits: Limits, now: float, units: int) -> Ledger:
    """``ledger`` after a call of ``units`` starts at ``now`` (the caller checked it fits)."""
    ledger = ledger.at(now)
    return replace(
        ledger,
        recent=(*ledger.recent, (now, units)),
        day_units=ledger.day_units + units,
        month_units=ledger.month_units + units,
        next_free=now + units * limits.unit_gap,
    )


def restamp(ledger: Ledger, started: float, units: int, finished: float) -> Ledger:
    """Move a grant's minute entry to when its call ended.

    VirusTotal counts a call when it arrives, some time after we granted it;
    counting it from its end keeps our sliding minute behind VirusTotal's.
    """
    recent = list(ledger.recent)
    if (started, units) in recent:
        recent.remove((started, units))
        recent.append((max(started, finished), units))
    return replace(ledger, recent=tuple(sorted(recent)))


def earliest_start(ledger: Ledger, limits: Limits, now: float, units: int) -> float | None:
    """When a call of ``units`` could start at the earliest; None if it never can."""
    if limits.largest_call is not None and units > limits.largest_call:
        return None
    ledger = ledger.at(now)
    start = max(now, ledger.blocked_until, ledger.next_free)
    if limits.per_minute is not None:
        in_window = list(ledger.recent)
        used = sum(u for _, u in in_window)
        while in_window and used + units > limits.per_minute:
            time, spent = in_window.pop(0)
            used -= spent
            start = max(start, time + MINUTE)
    if limits.per_day is not None and ledger.day_units + units > limits.per_day:
        start = max(start, next_midnight(now))
    if limits.per_month is not None and ledger.month_units + units > limits.per_month:
        start = max(start, next_month(now))
    return start


def project(ledger: Ledger, limits: Limits, now: float, calls: list[int]) -> list[float | None]:
    """When each of ``calls`` (units each, in queue order) could start, as things stand."""
    starts: list[float | None] = []
    for units in calls:
        start = earliest_start(ledger, limits, now, units)
        starts.append(start)
        if start is not None:
            ledger = grant(ledger, limits, start, units)
            now = start
    return starts


def refused(ledger: Ledger, now: float, retry_after: float | None) -> Ledger:
    """``ledger`` after VirusTotal refused a call for quota.

    Each refusal in a row doubles the block (``Retry-After`` or 60 s first);
    after :data:`MAX_REFUSALS` in a row the day counts as spent, so nothing
    probes VirusTotal again before 00:00 UTC.
    """
    count = ledger.refusals + 1
    wait = (DEFAULT_REFUSAL_BLOCK if retry_after is None else retry_after) * 2 ** (count - 1)
    until = now + wait
    if count >= MAX_REFUSALS:
        until = next_midnight(now)
    return replace(ledger, blocked_until=max(ledger.blocked_until, until), refusals=count)


def answered(ledger: Ledger) -> Ledger:
    """``ledger`` after VirusTotal answered a call: refusals in a row start again."""
    return replace(ledger, refusals=0) if ledger.refusals else ledger


def adopt_usage(ledger: Ledger, now: float, day_used: int | None, month_used: int | None) -> Ledger:
    """Take VirusTotal's own counts of today's and this month's units (other tools
    may share the key), never lowering ours."""
    ledger = ledger.at(now)
    return replace(
        ledger,
        day_units=max(ledger.day_units, day_used or 0),
        month_units=max(ledger.month_units, month_used or 0),
    )


@dataclass(frozen=True)
class HeldBack:
    """Why nothing may go upstream now, and until when."""

    reason: str
    until: float | None

    def describe(self, now: float) -> str:
        if self.until is None:
            return self.reason
        return f"{self.reason}; {max(1, round(self.until - now))} s to wait"


def late_reason(limits: Limits, now: float, start: float) -> str:
    """Why a call projected to start at ``start`` waits that long."""
    if limits.per_month is not None and start >= next_month(now):
        return "the monthly quota is spent until the UTC month turns"
    if limits.per_day is not None and start >= next_midnight(now):
        return "the daily quota is spent until 00:00 UTC"
    return "no quota unit is free in time"


def held_back(ledger: Ledger, limits: Limits, now: float) -> HeldBack | None:
    """The reason one unit cannot go now (the most lasting first), or None."""
    ledger = ledger.at(now)
    reasons: list[HeldBack] = []
    if limits.per_month is not None and ledger.month_units >= limits.per_month:
        reasons.append(HeldBack("the monthly quota is spent until the UTC month turns",
                                next_month(now)))  # fmt: skip
    if limits.per_day is not None and ledger.day_units >= limits.per_day:
        reasons.append(HeldBack("the daily quota is spent until 00:00 UTC", next_midnight(now)))
    if ledger.blocked_until > now:
        reasons.append(HeldBack("VirusTotal refused a call for quota", ledger.blocked_until))
    if limits.per_minute is not None and ledger.minute_units(now) >= limits.per_minute:
        start = earliest_start(ledger, limits, now, 1)
        reasons.append(HeldBack("the per-minute quota is in use", start))
    if ledger.next_free > now:
        reasons.append(HeldBack("spacing calls by rateLimitMs per unit", ledger.next_free))
    return max(reasons, key=lambda r: r.until or 0.0) if reasons else None


def usage(ledger: Ledger, limits: Limits, now: float) -> dict:
    """The ledger against its limits, for health."""
    ledger = ledger.at(now)
    reason = held_back(ledger, limits, now)
    return {
        "unit": "quota units (one per resource of a v2 batch, one per other call)",
        "rate_limit_ms": round(limits.unit_gap * 1000),
        "per_minute": {"limit": limits.per_minute, "used": ledger.minute_units(now)},
        "per_day": {
            "limit": limits.per_day,
            "used": ledger.day_units,
            "left": _left(limits.per_day, ledger.day_units),
            "resets_at": _iso(next_midnight(now)),
        },
        "per_month": {
            "limit": limits.per_month,
            "used": ledger.month_units,
            "left": _left(limits.per_month, ledger.month_units),
            "resets_at": _iso(next_month(now)),
        },
        "blocked_for": round(max(0.0, ledger.blocked_until - now), 1),
        "refusals_in_a_row": ledger.refusals,
        "held_back": reason.describe(now) if reason else None,
    }


def _left(limit: int | None, used: int) -> int | None:
    return None if limit is None else max(0, limit - used)


def _iso(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
