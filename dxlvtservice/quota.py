"""The API key's quota, shared by every service process on the host.

:func:`next_slots` is the pure rule: given the times of past calls and the
limits, when may the next calls go? :class:`SharedQuota` keeps the call
history in a diskcache ``Cache`` under the cache directory and updates it in
a ``transact()`` block, so processes sharing ``cacheDirectory`` share one
ledger. If that storage fails, the ledger falls back to this process's memory
(shown in health) rather than stopping the service.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import diskcache

MINUTE = 60.0
DAY = 86400.0
_LEDGER_KEY = "calls"
_BLOCK_KEY = "blocked_until"

logger = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True)
class Limits:
    """What the key allows: a minimum gap and per-minute / per-day counts (None = no limit)."""

    min_gap: float = 0.0
    per_minute: int | None = None
    per_day: int | None = None

    @property
    def limited(self) -> bool:
        return self.min_gap > 0 or self.per_minute is not None or self.per_day is not None

    @property
    def history_needed(self) -> int:
        """How many past call times decide the next slot."""
        return max(self.per_day or 0, self.per_minute or 0, 1)


def next_slots(
    history: list[float],
    limits: Limits,
    now: float,
    count: int,
    blocked_until: float = 0.0,
) -> list[float]:
    """Earliest times (>= now) at which the next ``count`` calls may start.

    ``history`` holds past call start times in ascending order. Windows are
    sliding, which never exceeds a fixed-window count either.
    """
    calls = sorted(history)
    slots: list[float] = []
    for _ in range(count):
        slot = max(now, blocked_until)
        if calls:
            slot = max(slot, calls[-1] + limits.min_gap)
        for limit, window in ((limits.per_minute, MINUTE), (limits.per_day, DAY)):
            if limit is not None and len(calls) >= limit:
                slot = max(slot, calls[-limit] + window)
        slots.append(slot)
        calls.append(slot)
    return slots


def prune(history: list[float], limits: Limits, now: float) -> list[float]:
    """Drop call times that can no longer affect any limit."""
    recent = [t for t in history if t > now - DAY]
    return recent[-limits.history_needed :]


class _MemoryStore(dict):
    """Stand-in for the diskcache ledger when the cache directory is unusable."""

    def set(self, key: str, value: object) -> None:
        self[key] = value

    @contextmanager
    def transact(self) -> Iterator[None]:
        yield

    def close(self) -> None:
        pass


class SharedQuota:
    """Grants upstream call slots within ``limits``, across processes."""

    def __init__(
        self,
        directory: Path | None,
        limits: Limits,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.limits = limits
        self._clock = clock
        self._lock = threading.Lock()
        self.degraded: str | None = None
        self._store: diskcache.Cache | _MemoryStore
        try:
            if directory is None:
                raise OSError("no directory")
            directory.mkdir(parents=True, exist_ok=True, mode=0o700)
            self._store = diskcache.Cache(str(directory), disk=diskcache.JSONDisk, timeout=10)
        except Exception as error:  # any storage failure: keep serving, in memory
            self._degrade(error)

    def _degrade(self, error: BaseException) -> None:
        self.degraded = f"quota ledger kept in memory: {type(error).__name__}"
        logger.warning("Quota ledger unavailable (%s); counting in this process only", error)
        self._store = _MemoryStore()

    def _transact(self, action: Callable[[list[float], float, float], T]) -> T:
        """Run ``action(history, blocked_until, now)`` in one cross-process transaction."""
        with self._lock:
            while True:
                try:
                    with self._store.transact():
                        history = list(self._store.get(_LEDGER_KEY, []))
                        blocked = float(self._store.get(_BLOCK_KEY, 0.0))
                        return action(history, blocked, self._clock())
                except Exception as error:
                    if isinstance(self._store, _MemoryStore):
                        raise
                    self._degrade(error)

    def try_acquire(self) -> float:
        """Take a slot now and return 0, or return the seconds until one is free."""

        def acquire(history: list[float], blocked: float, now: float) -> float:
            slot = next_slots(history, self.limits, now, 1, blocked)[0]
            if slot > now:
                return slot - now
            history.append(now)
            self._store.set(_LEDGER_KEY, prune(history, self.limits, now))
            return 0.0

        return self._transact(acquire)

    def projection(self, count: int) -> list[float]:
        """When the next ``count`` calls could start, as things stand."""
        return self._transact(
            lambda history, blocked, now: next_slots(history, self.limits, now, count, blocked)
        )

    def block_for(self, seconds: float) -> None:
        """VirusTotal refused for quota: hold every process back for ``seconds``."""

        def block(history: list[float], blocked: float, now: float) -> None:
            if now + seconds > blocked:
                self._store.set(_BLOCK_KEY, now + seconds)

        self._transact(block)

    def usage(self) -> dict:
        """Limits and what is used of each, for health."""

        def report(history: list[float], blocked: float, now: float) -> dict:
            return {
                "rate_limit_ms": round(self.limits.min_gap * 1000),
                "per_minute": {
                    "limit": self.limits.per_minute,
                    "used": sum(1 for t in history if t > now - MINUTE),
                },
                "per_day": {
                    "limit": self.limits.per_day,
                    "used": sum(1 for t in history if t > now - DAY),
                },
                "blocked_for": round(max(0.0, blocked - now), 1),
                "shared": self.degraded is None,
                "degraded": self.degraded,
            }

        return self._transact(report)

    def close(self) -> None:
        self._store.close()
