"""The key's quota ledger, shared by every service process on the host.

The rule lives in :mod:`dxlvtservice.quota`; this module keeps its state in a
diskcache ``Cache`` under the cache directory and changes it inside
``transact()``, so processes sharing ``cacheDirectory`` share one ledger. If
that storage fails, the ledger falls back to this process's memory (shown in
health) rather than stopping the service.
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

from . import quota
from .quota import Ledger, Limits
from .storage import open_private_cache

_LEDGER_KEY = "ledger"
_ALLOWANCE_KEY = "allowance"

logger = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True)
class Allowance:
    """What VirusTotal says the key may spend and has spent (None = not said)."""

    per_day: int | None = None
    per_month: int | None = None
    day_used: int | None = None
    month_used: int | None = None

    def to_json(self) -> dict:
        return {
            "per_day": self.per_day,
            "per_month": self.per_month,
            "day_used": self.day_used,
            "month_used": self.month_used,
        }

    @classmethod
    def from_json(cls, value: object) -> Allowance | None:
        if not isinstance(value, dict):
            return None
        numbers = {
            name: value.get(name) if isinstance(value.get(name), int) else None
            for name in ("per_day", "per_month", "day_used", "month_used")
        }
        return cls(**numbers)


@dataclass(frozen=True)
class Grant:
    """Units taken for one call (``units`` 0: none free; ``wait`` says how long)."""

    units: int
    started: float = 0.0
    wait: float | None = 0.0


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
    """Grants quota units within the limits in force, across processes."""

    def __init__(
        self,
        directory: Path | None,
        limits: Limits,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.configured = limits
        self._clock = clock
        self._lock = threading.Lock()
        self.degraded: str | None = None
        self._store: diskcache.Cache | _MemoryStore
        try:
            if directory is None:
                raise OSError("no directory")
            self._store = open_private_cache(directory, timeout=10)
        except Exception as error:  # any storage failure: keep serving, in memory
            self._degrade(error)

    def _degrade(self, error: BaseException) -> None:
        self.degraded = f"quota ledger kept in memory: {type(error).__name__}: {error}"
        logger.warning("Quota ledger unavailable (%s); counting in this process only", error)
        self._store = _MemoryStore()

    def _transact(self, action: Callable[[Ledger, Limits, float], tuple[Ledger | None, T]]) -> T:
        """Run ``action(ledger, limits, now)`` in one cross-process transaction; a
        returned ledger is stored."""
        with self._lock:
            while True:
                try:
                    with self._store.transact():
                        ledger = Ledger.from_json(self._store.get(_LEDGER_KEY))
                        now = self._clock()
                        changed, result = action(ledger, self._limits(), now)
                        if changed is not None and changed != ledger:
                            self._store.set(_LEDGER_KEY, changed.to_json())
                        return result
                except Exception as error:
                    if isinstance(self._store, _MemoryStore):
                        raise
                    self._degrade(error)

    def _limits(self) -> Limits:
        allowance = self.allowance()
        if allowance is None:
            return self.configured
        return self.configured.tightened(allowance.per_day, allowance.per_month)

    @property
    def limits(self) -> Limits:
        """The limits in force: the configured ones, lowered to the key's real allowance."""
        return self._limits()

    def allowance(self) -> Allowance | None:
        """What VirusTotal last said of the key (shared by every process), if anything."""
        try:
            return Allowance.from_json(self._store.get(_ALLOWANCE_KEY))
        except Exception:
            return None

    # -- the scheduler's side ----------------------------------------------

    def acquire(self, wanted: int, minimum: int = 1) -> Grant:
        """Take up to ``wanted`` units now (at least ``minimum``), or say how long to wait.

        ``wait`` is None when a call of ``minimum`` units can never fit the limits.
        """

        def take(ledger: Ledger, limits: Limits, now: float) -> tuple[Ledger | None, Grant]:
            free = quota.free_units(ledger, limits, now)
            units = wanted if free is None else min(wanted, free)
            if units >= minimum:
                return quota.grant(ledger, limits, now, units), Grant(units, now)
            start = quota.earliest_start(ledger, limits, now, minimum)
            return None, Grant(0, wait=None if start is None else max(0.0, start - now))

        return self._transact(take)

    def settle(self, grant: Grant, *, refused: bool, retry_after: float | None = None) -> None:
        """Record how the granted call ended: answered, or refused by VirusTotal for quota."""

        def record(ledger: Ledger, limits: Limits, now: float) -> tuple[Ledger, None]:
            ledger = quota.restamp(ledger, grant.started, grant.units, now)
            if refused:
                return quota.refused(ledger, now, retry_after), None
            return quota.answered(ledger), None

        self._transact(record)

    def projection(self, calls: list[int]) -> list[float | None]:
        """When calls of these units could start, in order, as things stand."""
        return self._transact(
            lambda ledger, limits, now: (None, quota.project(ledger, limits, now, calls))
        )

    def adopt(self, allowance: Allowance) -> None:
        """Take what VirusTotal says of the key: its limits and the units it counted."""

        def record(ledger: Ledger, limits: Limits, now: float) -> tuple[Ledger, None]:
            self._store.set(_ALLOWANCE_KEY, allowance.to_json())
            return quota.adopt_usage(ledger, now, allowance.day_used, allowance.month_used), None

        self._transact(record)

    def usage(self) -> dict:
        """Limits and what is used of each, for health."""

        def report(ledger: Ledger, limits: Limits, now: float) -> tuple[None, dict]:
            return None, {
                **quota.usage(ledger, limits, now),
                "shared": self.degraded is None,
                "degraded": self.degraded,
            }

        return self._transact(report)

    def close(self) -> None:
        self._store.close()
