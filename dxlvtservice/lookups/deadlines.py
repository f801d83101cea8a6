"""One total deadline per HTTP call, whatever the peer does.

``requests`` time-outs bound each socket operation, so a peer (or a proxy on
the way) that dribbles a byte a second holds a call for ever. Here every
connection a call uses is remembered while the call runs, and a timer shuts
its socket down at the deadline: the blocked read returns at once and the
call fails. :meth:`Deadlines.abort_all` does the same for every call in
progress, so a shutdown never waits on a hung upstream.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator
from typing import Any

from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

_current = threading.local()


class _Watch:
    """The connections of one call in progress; :meth:`cut` ends them all."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._connections: list[Any] = []
        self.cut_off = False

    def add(self, connection: Any) -> None:
        with self._lock:
            self._connections.append(connection)
            cut = self.cut_off
        if cut:
            _shut(connection)

    def cut(self) -> None:
        with self._lock:
            self.cut_off = True
            connections = list(self._connections)
        for connection in connections:
            _shut(connection)


def _shut(connection: Any) -> None:
    sock = getattr(connection, "sock", None)
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)


class _Watched:
    """Mixed into urllib3 connections: each request joins the running call's watch."""

    def request(self, *args: Any, **kwargs: Any) -> Any:
        watch = getattr(_current, "watch", None)
        if watch is not None:
            watch.add(self)
        return super().request(*args, **kwargs)  # type: ignore[misc]


class _HTTPConnection(_Watched, HTTPConnection):
    pass


class _HTTPSConnection(_Watched, HTTPSConnection):
    pass


class _HTTPPool(HTTPConnectionPool):
    ConnectionCls = _HTTPConnection


class _HTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _HTTPSConnection


class WatchedAdapter(HTTPAdapter):
    """A transport adapter whose connections a :class:`Deadlines` can cut."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _HTTPPool, "https": _HTTPSPool}


class Deadlines:
    """Runs calls under a total deadline; mount :class:`WatchedAdapter` on the session."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._running: set[_Watch] = set()

    @contextlib.contextmanager
    def bound(self, seconds: float) -> Iterator[_Watch]:
        """Within this block, the calling thread's HTTP call ends by ``seconds``."""
        watch = _Watch()
        timer = threading.Timer(seconds, watch.cut)
        timer.daemon = True
        with self._lock:
            self._running.add(watch)
        _current.watch = watch
        timer.start()
        try:
            yield watch
        finally:
            timer.cancel()
            _current.watch = None
            with self._lock:
                self._running.discard(watch)

    def abort_all(self) -> None:
        """Cut every call in progress (shutdown)."""
        with self._lock:
            running = list(self._running)
        for watch in running:
            watch.cut()
