"""The allowance of one API key, in quota units, over the windows VirusTotal enforces.

VirusTotal counts units, not HTTP calls: a v2 batch of N resources costs N
units. The minute slides; the hour, the day and the month are fixed UTC
periods that start afresh at their turn (the day at 00:00 UTC, the month at
00:00 UTC on the 1st). A call that does not fit every window is refused whole
and uses nothing. The clock is a wall clock (Unix time, which is UTC).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Mapping
from datetime import UTC, datetime

MINUTE = 60.0
HOUR = 3600
DAY = 86400
WINDOWS = ("per_minute", "per_hour", "per_day", "per_month")


def _utc_month(now: float) -> tuple[int, int]:
    moment = datetime.fromtimestamp(now, UTC)
    return moment.year, moment.month


PERIODS: dict[str, Callable[[float], object]] = {
    "per_hour": lambda now: int(now // HOUR),
    "per_day": lambda now: int(now // DAY),  # Unix days are UTC days: no leap seconds
    "per_month": _utc_month,
}


class SlidingWindow:
    """Units used within the last ``seconds``."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._spent: deque[tuple[float, int]] = deque()
        self._total = 0

    def used(self, now: float) -> int:
        while self._spent and self._spent[0][0] <= now - self.seconds:
            self._total -= self._spent.popleft()[1]
        return self._total

    def record(self, now: float, units: int) -> None:
        self._spent.append((now, units))
        self._total += units

    def clear(self) -> None:
        self._spent.clear()
        self._total = 0


class CalendarWindow:
    """Units used since the start of the current period (``period`` names it)."""

    def __init__(self, period: Callable[[float], object]) -> None:
        self._period_of = period
        self._period: object = None
        self._used = 0

    def used(self, now: float) -> int:
        period = self._period_of(now)
        if period != self._period:
            self._period, self._used = period, 0
        return self._used

    def record(self, now: float, units: int) -> None:
        self._used = self.used(now) + units

    def clear(self) -> None:
        self._used = 0


class Quota:
    """The four windows of one key and their limits (``None``: unlimited).

    Not thread-safe: callers hold a lock.
    """

    def __init__(
        self, limits: Mapping[str, int | None], clock: Callable[[], float] = time.time
    ) -> None:
        self._clock = clock
        self._windows: dict[str, SlidingWindow | CalendarWindow] = {
            "per_minute": SlidingWindow(MINUTE),
            **{name: CalendarWindow(period) for name, period in PERIODS.items()},
        }
        self._limits: dict[str, int | None] = {}
        self.set_limits(limits)

    def set_limits(self, limits: Mapping[str, int | None]) -> None:
        """New limits apply to the units already counted, as a changed key plan would."""
        self._limits = {name: limits.get(name) for name in WINDOWS}

    def try_acquire(self, units: int) -> bool:
        """Count ``units`` if every window has room for all of them; else count nothing."""
        now = self._clock()
        for name, window in self._windows.items():
            limit = self._limits[name]
            if limit is not None and window.used(now) + units > limit:
                return False
        self.consume(units)
        return True

    def consume(self, units: int) -> None:
        """Count ``units`` spent elsewhere (another tool on the same key), limits or not."""
        now = self._clock()
        for window in self._windows.values():
            window.record(now, units)

    def clear(self) -> None:
        for window in self._windows.values():
            window.clear()

    def usage(self) -> dict[str, dict[str, int | None]]:
        now = self._clock()
        return {
            name: {"limit": self._limits[name], "used": window.used(now)}
            for name, window in self._windows.items()
        }
