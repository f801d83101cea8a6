"""The key's quota ledger, shared by every service process that shares a store.

The rule lives in :mod:`dxlvtservice.core.quota`; this module keeps its state, one
JSON document, in a store (:mod:`dxlvtservice.store`) and changes it
atomically by the store's clock: the cache directory's diskcache on one host,
Redis in a fleet (docs/fleet.md). If the store fails, the ledger carries on in
this process's memory with ``1/instances`` of every limit (shown in health)
rather than stopping the service, and goes back to the store by itself.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TypeVar

from ..core import lanes, quota
from ..core.lanes import INTERACTIVE, Books
from ..core.quota import Ledger, Limits
from ..store.base import LedgerStore, StoreStatus
from ..store.local import LocalLedger, MemoryLedger

# Seconds between attempts to go back to a failed store.
RETRY_STORE = 2.0

logger = logging.getLogger(__name__)
T = TypeVar("T")
Action = Callable[[Books, Limits, float], tuple[Books | None, T]]


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
    lane: str = INTERACTIVE


def share(limits: Limits, instances: int) -> Limits:
    """What one of ``instances`` hosts may spend alone: ``1/instances`` of every limit."""
    if instances <= 1:
        return limits

    def part(limit: int | None) -> int | None:
        return None if limit is None else max(1, limit // instances)

    return replace(
        limits,
        unit_gap=limits.unit_gap * instances,
        per_minute=part(limits.per_minute),
        per_day=part(limits.per_day),
        per_month=part(limits.per_month),
    )


class SharedQuota:
    """Grants quota units within the limits in force, across processes and hosts.

    ``store`` is a :class:`~dxlvtservice.store.base.LedgerStore`, or a directory
    for the host-local one.
    """

    def __init__(
        self,
        store: LedgerStore | Path | None,
        limits: Limits,
        clock: Callable[[], float] = time.time,
        *,
        instances: int = 1,
        status: StoreStatus | None = None,
        background_share: float = 1.0,
    ) -> None:
        self.configured = limits
        self.background_share = background_share
        self.instances = instances
        self.status = status or StoreStatus("local")
        self._clock = clock
        self._lock = threading.Lock()
        self._local = MemoryLedger(clock)
        self._allowance: Allowance | None = None
        self._retry_at = 0.0
        self.degraded: str | None = None
        self._store: LedgerStore | None = None
        try:
            if store is None:
                raise OSError("no directory")
            self._store = LocalLedger(store, clock) if isinstance(store, Path) else store
        except Exception as error:  # any storage failure: keep serving, in memory
            self._degrade(error)
        self._transact(lambda books, limits, now: (None, None))  # read the allowance in force

    def _degrade(self, error: BaseException) -> None:
        if self.degraded is None:
            logger.warning(
                "Quota ledger unavailable (%s: %s); counting in this process only, "
                "with 1/%d of every limit", type(error).__name__, error, self.instances,
            )  # fmt: skip
        self.degraded = f"quota ledger kept in memory: {type(error).__name__}: {error}"
        self.status.failed("quota", error)
        self._retry_at = self._clock() + RETRY_STORE

    def _transact(self, action: Action[T], allowance: Allowance | None = None) -> T:
        """Run ``action(books, limits, now)`` in one transaction on the store (or, while it
        is away, in memory); a returned ledger is stored."""
        with self._lock:
            store = self._store
            if store is not None and (self.degraded is None or self._clock() >= self._retry_at):
                try:
                    result = store.transact(
                        lambda doc, now: self._apply(action, doc, now, allowance)
                    )
                except Exception as error:
                    self._degrade(error)
                else:
                    if self.degraded is not None:
                        logger.info("Quota ledger shared again")
                        self.degraded = None
                    self.status.succeeded("quota")
                    return result
            return self._local.transact(
                lambda doc, now: self._apply(action, doc, now, allowance, alone=True)
            )

    def _apply(
        self,
        action: Action[T],
        document: Any,
        now: float,
        allowance: Allowance | None,
        alone: bool = False,
    ) -> tuple[dict | None, T]:
        document = document if isinstance(document, dict) else {}
        books = Books(
            Ledger.from_json(document.get("ledger")), Ledger.from_json(document.get("background"))
        )
        if allowance is not None:
            document = {**document, "allowance": allowance.to_json()}
        self._allowance = Allowance.from_json(document.get("allowance")) or self._allowance
        limits = self._limits()
        changed, result = action(books, share(limits, self.instances) if alone else limits, now)
        if allowance is None and (changed is None or changed == books):
            return None, result
        changed = changed or books
        stored = {"ledger": changed.key.to_json(), "background": changed.background.to_json()}
        return {**document, **stored}, result

    def _limits(self) -> Limits:
        allowance = self._allowance
        if allowance is None:
            return self.configured
        return self.configured.tightened(allowance.per_day, allowance.per_month)

    @property
    def limits(self) -> Limits:
        """The limits in force: the configured ones, lowered to the key's real allowance
        (this host's share of them while the store is away)."""
        limits = self._limits()
        return limits if self.degraded is None else share(limits, self.instances)

    def allowance(self) -> Allowance | None:
        """What VirusTotal last said of the key (shared by every process), if anything."""
        return self._allowance

    # -- the scheduler's side ----------------------------------------------

    def acquire(self, wanted: int, minimum: int = 1, lane: str = INTERACTIVE) -> Grant:
        """Take up to ``wanted`` units now (at least ``minimum``) for ``lane``, or say how
        long to wait.

        ``wait`` is None when a call of ``minimum`` units can never fit the limits.
        """
        share = self.background_share

        def take(books: Books, limits: Limits, now: float) -> tuple[Books | None, Grant]:
            free = lanes.free_units(books, limits, share, now, lane)
            units = wanted if free is None else min(wanted, free)
            if units >= minimum:
                return lanes.grant(books, limits, now, units, lane), Grant(units, now, lane=lane)
            start = lanes.earliest_start(books, limits, share, now, minimum, lane)
            return None, Grant(0, wait=None if start is None else max(0.0, start - now))

        return self._transact(take)

    def settle(self, grant: Grant, *, refused: bool, retry_after: float | None = None) -> None:
        """Record how the granted call ended: answered, or refused by VirusTotal for quota."""

        def record(books: Books, limits: Limits, now: float) -> tuple[Books, None]:
            books = lanes.restamp(books, grant.started, grant.units, now, grant.lane)
            key = books.key
            key = quota.refused(key, now, retry_after) if refused else quota.answered(key)
            return replace(books, key=key), None

        self._transact(record)

    def projection(
        self, calls: list[int], call_lanes: list[str] | None = None
    ) -> list[float | None]:
        """When calls of these units (in these lanes: interactive when not said) could
        start, in order, as things stand (on this host's clock: the store's may differ)."""
        share = self.background_share
        queued = list(zip(calls, call_lanes or [INTERACTIVE] * len(calls), strict=True))

        def project(books: Books, limits: Limits, now: float) -> tuple[None, list[float | None]]:
            offset = self._clock() - now
            starts = lanes.project(books, limits, share, now, queued)
            return None, [None if start is None else start + offset for start in starts]

        return self._transact(project)

    def adopt(self, allowance: Allowance) -> None:
        """Take what VirusTotal says of the key: its limits and the units it counted."""

        def record(books: Books, limits: Limits, now: float) -> tuple[Books, None]:
            key = quota.adopt_usage(books.key, now, allowance.day_used, allowance.month_used)
            return replace(books, key=key), None

        self._transact(record, allowance)

    def usage(self) -> dict:
        """Limits and what is used of each (and of the background lane's share), for health."""
        share = self.background_share

        def read(books: Books, limits: Limits, now: float) -> tuple[None, dict]:
            usage = quota.usage(books.key, limits, now)
            return None, {**usage, "background": lanes.usage(books, limits, share, now)}

        usage = self._transact(read)
        return {**usage, "shared": self.degraded is None, "degraded": self.degraded}

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
