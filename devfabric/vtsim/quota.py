"""The request allowance of one API key, as sliding windows per minute and per day.

VirusTotal counts HTTP calls, not resources (a v2 batch of four hashes is one
call), and a call it refuses for quota does not use any of it.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

MINUTE = 60.0
DAY = 86400.0


class SlidingWindow:
    """At most ``limit`` calls within any ``seconds``; ``None`` is unlimited."""

    def __init__(self, seconds: float, limit: int | None) -> None:
        self.seconds = seconds
        self.limit = limit
        self._calls: deque[float] = deque()

    def used(self, now: float) -> int:
        while self._calls and self._calls[0] <= now - self.seconds:
            self._calls.popleft()
        return len(self._calls)

    def full(self, now: float) -> bool:
        return self.limit is not None and self.used(now) >= self.limit

    def record(self, now: float) -> None:
        self._calls.append(now)

    def clear(self) -> None:
        self._calls.clear()


class Quota:
    """Per-minute and per-day windows of one key. Not thread-safe: callers hold a lock."""

    def __init__(
        self,
        per_minute: int | None,
        per_day: int | None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._clock = clock
        self._windows = {
            "per_minute": SlidingWindow(MINUTE, per_minute),
            "per_day": SlidingWindow(DAY, per_day),
        }

    def set_limits(self, per_minute: int | None, per_day: int | None) -> None:
        """New limits apply to the calls already counted, as a changed key plan would."""
        self._windows["per_minute"].limit = per_minute
        self._windows["per_day"].limit = per_day

    def try_acquire(self) -> bool:
        """Count one call if every window has room; a refused call is not counted."""
        now = self._clock()
        if any(window.full(now) for window in self._windows.values()):
            return False
        for window in self._windows.values():
            window.record(now)
        return True

    def clear(self) -> None:
        for window in self._windows.values():
            window.clear()

    def usage(self) -> dict[str, dict[str, int | None]]:
        now = self._clock()
        return {
            name: {"limit": window.limit, "used": window.used(now)}
            for name, window in self._windows.items()
        }
