"""Safe on-disk storage: private directories and a diskcache that never unpickles.

diskcache pickles by default, and even its ``JSONDisk`` unpickles a row whose
mode says pickle: anyone who can write to the cache directory can then run
code in the service (CVE-2025-69872). :class:`JSONOnlyDisk` reads JSON rows
only, and :func:`open_private_cache` opens a diskcache only in a directory
that nobody else can write to.
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path
from typing import Any

import diskcache
from diskcache.core import MODE_BINARY, MODE_RAW

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
