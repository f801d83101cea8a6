"""The host-local store: diskcache in private directories, JSON only.

Processes that share a cache directory share the quota ledger and the
reports through it (docs/configuration.md). diskcache pickles by default, and
even its ``JSONDisk`` unpickles a row whose mode says pickle: anyone who can
write to the cache directory can then run code in the service
(CVE-2025-69872). :class:`JSONOnlyDisk` reads JSON rows only, and
:func:`open_private_cache` opens a diskcache only in a directory that nobody
else can write to.
"""

from __future__ import annotations

import logging
import os
import stat
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import diskcache
from diskcache.core import MODE_BINARY, MODE_RAW

from .base import T, Update

logger = logging.getLogger(__name__)

_JSON_MODES = (MODE_RAW, MODE_BINARY)  # how JSONDisk stores its compressed JSON


class UnsafeDirectory(Exception):
    """A storage directory that another user could write to."""


class CorruptRow(OSError):
    """A stored row that was not written by :class:`JSONOnlyDisk`.

    An ``OSError``, so that diskcache answers it as a miss.
    """


class JSONOnlyDisk(diskcache.JSONDisk):
    """``JSONDisk`` that refuses, as corrupt, any row not stored as JSON."""

    def __init__(self, directory: str, **kwargs: Any) -> None:
        super().__init__(directory, **kwargs)
        self._warned = False

    def _refuse(self, what: str) -> CorruptRow:
        if not self._warned:
            self._warned = True
            logger.warning(
                "Cache %s holds a %s not stored as JSON (planted or corrupt); it is ignored",
                self._directory, what,
            )  # fmt: skip
        return CorruptRow(f"a {what} not stored as JSON")

    def get(self, key: Any, raw: bool) -> Any:
        if not raw:
            raise self._refuse("key")
        return super().get(key, raw)

    def fetch(self, mode: int, filename: str | None, value: Any, read: bool) -> Any:
        if mode not in _JSON_MODES:
            raise self._refuse("value")
        return super().fetch(mode, filename, value, read)


def private_directory(path: Path) -> Path:
    """``path`` as a directory only this user can use: created 0700, or checked and tightened.

    Raises :class:`UnsafeDirectory` for a directory owned by another user or
    writable by group or others: its contents may have been planted.
    """
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    info = path.lstat()
    if not stat.S_ISDIR(info.st_mode):
        raise UnsafeDirectory(f"{path} is not a directory")
    if info.st_uid != os.geteuid():
        raise UnsafeDirectory(
            f"{path} is owned by uid {info.st_uid}, not by this user (uid {os.geteuid()})"
        )
    if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise UnsafeDirectory(f"{path} is writable by group or others")
    if stat.S_IMODE(info.st_mode) != 0o700:
        path.chmod(0o700)
    return path


def open_private_cache(directory: Path, **diskcache_kwargs: Any) -> diskcache.Cache:
    """A diskcache in ``directory`` that stores and reads JSON only.

    ``directory`` and the folder that holds it (the configured cache
    directory) go through :func:`private_directory` first.
    """
    private_directory(directory.parent)
    private_directory(directory)
    return diskcache.Cache(str(directory), disk=JSONOnlyDisk, **diskcache_kwargs)


_DOCUMENT = "ledger"
# Eviction brings the entry count back under this share of the maximum.
EVICT_TO = 0.9


class LocalLedger:
    """The ledger document in a diskcache, changed inside ``transact()`` by this host's clock."""

    def __init__(self, directory: Path, clock: Callable[[], float] = time.time) -> None:
        self._cache = open_private_cache(directory, timeout=10)
        self._clock = clock

    def transact(self, update: Update[T]) -> T:
        with self._cache.transact():
            changed, result = update(self._cache.get(_DOCUMENT), self._clock())
            if changed is not None:
                self._cache.set(_DOCUMENT, changed)
            return result

    def close(self) -> None:
        self._cache.close()


class MemoryLedger:
    """The ledger document in this process only: the fallback when no store is usable."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._document: Any = None
        self._clock = clock
        self._lock = threading.Lock()

    def transact(self, update: Update[T]) -> T:
        with self._lock:
            changed, result = update(self._document, self._clock())
            if changed is not None:
                self._document = changed
            return result

    def close(self) -> None:
        pass


class LocalReports:
    """Report records in ``directory/reports``, their keys in ``directory/aliases``.

    A record is stored once, under the name of its first key, and lists all
    its keys; the aliases point each key to that name. So a file report filed
    under md5, sha1 and sha256 is one entry, and ``max_entries`` counts reports.
    """

    def __init__(self, directory: Path, max_entries: int) -> None:
        self.max_entries = max_entries
        self._records = open_private_cache(directory / "reports", timeout=5)
        self._aliases = open_private_cache(directory / "aliases", timeout=5)
        len(self._records)  # touch the databases now: corruption shows here, not later
        len(self._aliases)

    def get(self, key: str) -> dict | None:
        name = self._aliases.get(key)
        if not isinstance(name, str):
            return None
        record = self._records.get(name)
        if not isinstance(record, dict) or key not in record.get("keys", ()):
            return None
        return record

    def put(self, keys: list[str], record: dict, lifetime: float) -> None:
        self._records.set(keys[0], {**record, "keys": keys}, expire=lifetime)
        for key in keys:
            self._aliases.set(key, keys[0], expire=lifetime)
        if len(self._records) > self.max_entries:
            self._evict()

    def _evict(self) -> None:
        """Bring the entry count under ``EVICT_TO`` of the maximum, oldest first."""
        self._records.expire()
        self._aliases.expire()
        excess = len(self._records) - int(self.max_entries * EVICT_TO)
        if excess <= 0:
            return
        ages = []
        for name in self._records.iterkeys():
            record = self._records.get(name)
            if isinstance(record, dict):
                ages.append((record.get("fetched", 0.0), name, record.get("keys", [])))
            else:
                ages.append((0.0, name, []))
        for _, name, keys in sorted(ages)[:excess]:
            self._records.delete(name)
            for key in keys:
                if self._aliases.get(key) == name:
                    self._aliases.delete(key)

    def count(self) -> int:
        return len(self._records)

    def close(self) -> None:
        self._records.close()
        self._aliases.close()


class LocalMemory:
    """Records in this process only, the least recently used forgotten past ``capacity``."""

    def __init__(self, capacity: int, clock: Callable[[], float] = time.time) -> None:
        self._capacity = capacity
        self._clock = clock
        self._records: OrderedDict[str, Any] = OrderedDict()
        self._lock = threading.Lock()

    def update(self, key: str, change: Update[T]) -> T:
        with self._lock:
            changed, result = change(self._records.get(key), self._clock())
            if changed is not None:
                self._records[key] = changed
            if key in self._records:
                self._records.move_to_end(key)
            if len(self._records) > self._capacity:
                self._records.popitem(last=False)
            return result

    def count(self) -> int:
        return len(self._records)

    def close(self) -> None:
        pass
