"""The report cache's policy: what is kept, for how long, and a memory front.

Only reports and not-found answers are stored (a
:class:`~dxlvtservice.core.reports.Report` says which it is; its raw JSON is
what is kept), under keys built from the normalised indicator
(:func:`report_keys`), in a report store
(:mod:`dxlvtservice.store`: the cache directory's diskcache, or a fleet's
Redis). Entries outlive their freshness (``STALE_RETENTION``) so that a
request which cannot reach VirusTotal in time can still be answered with a
stale report. A corrupt store turns the cache off for this process; a store
that cannot be reached is skipped (the memory front still answers) and tried
again every ``RETRY_STORE`` seconds. Either way ``status`` says why, and
requests never fail for it.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..core.indicators import is_scan_id
from ..core.reports import Report
from ..store.base import ReportStore, StoreStatus, StoreUnavailable
from ..store.local import LocalReports

STALE_RETENTION = 7 * 86400.0
MEMORY_ENTRIES = 1024
RETRY_STORE = 2.0
logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class CachedReport:
    """A stored report, when it was fetched, and whether it is a not-found answer."""

    report: Any
    fetched: float
    negative: bool

    def age(self, now: float) -> float:
        return max(0.0, now - self.fetched)


def _entry(record: dict | None) -> CachedReport | None:
    """A stored record as an entry; anything unreadable reads as absent."""
    try:
        return None if record is None else CachedReport(
            record["report"], float(record["fetched"]), bool(record["negative"])
        )
    except (KeyError, TypeError, ValueError):
        return None


def lookup_key(api: int, type_: str, value: str, variant: str = "") -> str:
    """The cache key of one lookup: API version, indicator type, normalised value."""
    key = f"v{api}:{type_}:{value}"
    return f"{key}:{variant}" if variant else key


def report_keys(api: int, type_: str, value: str, report: Report, variant: str = "") -> list[str]:
    """Every key a report is filed under: a file report under sha256, md5 and sha1.

    The first key names the entry (a file report's sha256, whichever hash it
    was looked up by), so a file is one entry however it is asked for. A
    report fetched by scan id is filed under that scan id only: it may be an
    old analysis, which must not stand in for the file's current report.
    """
    keys = []
    if type_ == "file" and not is_scan_id(value):
        digests = (report.sha256, report.md5, report.sha1)
        keys = [lookup_key(api, type_, digest.lower(), variant) for digest in digests if digest]
    keys.append(lookup_key(api, type_, value, variant))
    return list(dict.fromkeys(keys))


class ReportCache:
    """Reports by key, with positive and negative freshness limits.

    ``store`` is a :class:`~dxlvtservice.store.base.ReportStore`, or a directory
    for the host-local one.
    """

    def __init__(
        self,
        store: ReportStore | Path | None,
        *,
        max_entries: int,
        ttl: float,
        negative_ttl: float,
        enabled: bool = True,
        clock: Callable[[], float] = time.time,
        status: StoreStatus | None = None,
    ) -> None:
        self.max_entries = max_entries
        self.ttl = ttl
        self.negative_ttl = negative_ttl
        self._clock = clock
        self._lock = threading.Lock()
        self._status = status or StoreStatus("local")
        self.hits = 0
        self.misses = 0
        self.status = "disabled"
        self.last_error: str | None = None
        self._store: ReportStore | None = None
        self._retry_at = 0.0
        # Decoded recent entries, to spare the store, zlib and JSON on every hit.
        self._memory: OrderedDict[str, CachedReport] = OrderedDict()
        self._memory_size = min(max_entries, MEMORY_ENTRIES)
        if enabled:
            self._open(store)

    def _open(self, store: ReportStore | Path | None) -> None:
        try:
            if store is None:
                raise OSError("no directory")
            if isinstance(store, Path):
                store = LocalReports(store, self.max_entries)
            self._store = store
            self.status = "ok"
        except Exception as error:
            self._fail(error)

    def _fail(self, error: BaseException) -> None:
        """A store that cannot be reached is tried again later, with the memory front
        still answering; any other failure turns the cache off. Requests still work."""
        self.status = "degraded"
        self.last_error = f"{type(error).__name__}: {error}"
        self._status.failed("reports", error)
        if isinstance(error, StoreUnavailable):
            if self._retry_at == 0.0:
                logger.warning("Report store unreachable, memory front only: %s", self.last_error)
            self._retry_at = self._clock() + RETRY_STORE
            return
        logger.warning("Report cache disabled: %s", self.last_error)
        store, self._store = self._store, None
        with self._lock:
            self._memory.clear()
        if store is not None:
            try:
                store.close()
            except Exception:
                logger.debug("closing the failed cache failed too", exc_info=True)

    def _usable(self) -> ReportStore | None:
        """The store, unless it was unreachable a moment ago."""
        if self._retry_at and self._clock() < self._retry_at:
            return None
        return self._store

    def _succeeded(self) -> None:
        if self._retry_at:
            logger.info("Report store reachable again")
            self._retry_at = 0.0
            self.status = "ok"
            self._status.succeeded("reports")

    def _remember(self, key: str, entry: CachedReport) -> None:
        with self._lock:
            self._memory[key] = entry
            self._memory.move_to_end(key)
            if len(self._memory) > self._memory_size:
                self._memory.popitem(last=False)

    def freshness_limit(self, entry: CachedReport, max_age: float | None = None) -> float:
        limit = self.negative_ttl if entry.negative else self.ttl
        return limit if max_age is None else min(limit, max_age)

    def is_fresh(self, entry: CachedReport, max_age: float | None = None) -> bool:
        return entry.age(self._clock()) < self.freshness_limit(entry, max_age)

    def get(self, key: str) -> CachedReport | None:
        """The stored entry, fresh or stale (from memory while the store is unreachable);
        None when absent or the cache is off."""
        store = self._usable()
        if store is not None:
            try:
                record = store.get(key)
            except Exception as error:
                self._fail(error)
            else:
                self._succeeded()
                return _entry(record)
        with self._lock:
            return self._memory.get(key)

    def get_fresh(self, key: str, max_age: float | None = None) -> CachedReport | None:
        """A fresh entry counts as a hit; anything else as a miss.

        Recent entries are answered from memory; the store is read when memory
        has nothing fresh, since another process may have stored a newer report.
        """
        with self._lock:
            entry = self._memory.get(key)
            if entry is not None:
                self._memory.move_to_end(key)
        if entry is None or not self.is_fresh(entry, max_age):
            stored = self.get(key)
            if stored is not None:
                entry = stored
                self._remember(key, entry)
        fresh = entry is not None and self.is_fresh(entry, max_age)
        with self._lock:
            if fresh:
                self.hits += 1
            else:
                self.misses += 1
        return entry if fresh else None

    def put(self, keys: list[str], report: Report) -> None:
        """File ``report``'s JSON under ``keys`` (the first names the entry) if it is a
        fact about the indicator: known, or not found."""
        if self._store is None or not report.cacheable or not keys:
            return
        ttl = self.ttl if report.known else self.negative_ttl
        if ttl <= 0:
            return
        entry = CachedReport(report.raw, self._clock(), not report.known)
        for key in keys:
            self._remember(key, entry)
        store = self._usable()
        if store is None:
            return
        try:
            store.put(list(keys), dataclasses.asdict(entry), ttl + STALE_RETENTION)
        except Exception as error:
            self._fail(error)
        else:
            self._succeeded()

    def entries(self) -> int:
        store = self._usable()
        if store is None:
            return 0
        try:
            count = store.count()
        except Exception as error:
            self._fail(error)
            return 0
        self._succeeded()
        return count

    def stats(self) -> dict:
        entries = self.entries()  # first: it may find the store back
        return {
            "status": self.status,
            "entries": entries,
            "max_entries": self.max_entries,
            "hits": self.hits,
            "misses": self.misses,
            "last_error": self.last_error,
        }

    def close(self) -> None:
        with self._lock:
            self._memory.clear()
        if self._store is not None:
            self._store.close()
            self._store = None
