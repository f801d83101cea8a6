"""Where shared state lives: the small interfaces every store implements.

The policy (the quota rule in :mod:`dxlvtservice.core.quota`, freshness in
:mod:`dxlvtservice.lookups.cache`, one flight per indicator in
:mod:`dxlvtservice.lookups.lookup`) never knows which store it runs on. Two stores
exist, chosen by configuration (docs/fleet.md): the host-local diskcache of
:mod:`.local` and the fleet's Redis of :mod:`.redis`. Everything stored is
JSON, and nothing secret is stored.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

T = TypeVar("T")
# An update of the ledger's JSON document at the store's time ``now``: the new
# document (None: unchanged) and what the caller gets back.
Update = Callable[[Any, float], tuple[Any, T]]


class StoreUnavailable(Exception):
    """The store cannot be reached now; it may come back (unlike a corrupt store)."""


class LedgerStore(Protocol):
    """One JSON document changed atomically, by the store's own clock."""

    def transact(self, update: Update[T]) -> T:
        """Run ``update(document, now)`` atomically and store what it returns."""

    def close(self) -> None: ...


class ReportStore(Protocol):
    """Report records, each one entry filed under one or more keys."""

    max_entries: int

    def get(self, key: str) -> dict | None:
        """The record filed under ``key``, or None."""

    def put(self, keys: list[str], record: dict, lifetime: float) -> None:
        """File ``record`` under ``keys`` (the first names the entry) for ``lifetime``
        seconds, evicting the oldest entries beyond ``max_entries``."""

    def count(self) -> int:
        """How many entries (not keys) are stored."""

    def close(self) -> None: ...


class Claims(Protocol):
    """Lookups in flight, claimed so that one host fetches and the others wait."""

    def claim(self, key: str) -> bool:
        """True if this host now fetches ``key`` (also when the store is away)."""

    def release(self, key: str) -> None:
        """The fetch of ``key`` is over (its answer is stored): wake the waiters."""

    def when_released(self, key: str, callback: Callable[[], None], timeout: float) -> None:
        """Call ``callback`` once: when ``key`` is released, its claim lapses, or at ``timeout``."""

    def close(self) -> None: ...


class Memory(Protocol):
    """Small JSON records, each changed atomically: what was last said of each indicator
    (verdict events, TIE export), shared by a fleet so that it is said once."""

    def update(self, key: str, change: Update[T]) -> T:
        """Run ``change(record, now)`` on ``key``'s record (None: none yet) atomically and
        keep the record it returns (None: unchanged); ``now`` is the store's time."""

    def count(self) -> int | None:
        """How many records are kept (None: the store does not say cheaply)."""

    def close(self) -> None: ...


class StoreStatus:
    """The store's health, from what its users saw last: ``ok`` or ``degraded``."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._lock = threading.Lock()
        self._failing: dict[str, str] = {}
        self.last_error: str | None = None

    def failed(self, part: str, error: BaseException) -> None:
        with self._lock:
            self.last_error = f"{part}: {type(error).__name__}: {error}"
            self._failing[part] = self.last_error

    def succeeded(self, part: str) -> None:
        with self._lock:
            self._failing.pop(part, None)

    @property
    def ok(self) -> bool:
        with self._lock:
            return not self._failing

    def to_dict(self) -> dict:
        return {
            "kind": self.kind,
            "status": "ok" if self.ok else "degraded",
            "last_error": self.last_error,
        }
