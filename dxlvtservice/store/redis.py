"""The fleet's store: Redis (or Valkey) shared by every host that holds the key.

One connection pool serves the quota ledger, the report records and the
claims of lookups in flight (docs/fleet.md). Everything is JSON under
``keyPrefix``; nothing secret is stored. Times that several hosts compare
come from the server's ``TIME``, so the hosts' clocks may differ. Every Redis
failure is raised as :class:`~dxlvtservice.store.base.StoreUnavailable`: the
callers carry on without the store and try it again later.

Why not a rate-limiting library on Redis (``limits``, ``pyrate-limiter``)?
Their windows start at the first hit or last a fixed number of seconds, while
VirusTotal's day and month are the UTC calendar's; they count calls, not
calls of N units with a spacing per unit; and none projects when a queue of
calls could start, which the scheduler needs to answer late requests at once.
The pure rule in :mod:`dxlvtservice.core.quota` does all that, so the ledger here
only runs it atomically: an optimistic ``WATCH``/``MULTI``/``EXEC`` on one
JSON document.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import redis
from redis.exceptions import RedisError, WatchError

from .base import StoreStatus, StoreUnavailable, T, Update

# Seconds to connect and to wait for an answer: a store that is away must
# not hold requests up (they fall back to the memory front and upstream).
CONNECT_TIMEOUT = 1.0
ANSWER_TIMEOUT = 2.0
# A claim lapses this long after its host stops renewing it (a host that dies
# mid-fetch leaves nothing blocked for long); it is renewed every third of it.
CLAIM_TTL = 10.0
# The claims listener looks at its waiters' deadlines at least this often.
LISTEN_SLICE = 0.5
EVICT_TO = 0.9

logger = logging.getLogger(__name__)

# KEYS: the index, the record, the aliases. ARGV: entry name (JSON), record
# JSON, lifetime (ms). The index scores each entry by when it expires (server time),
# so expired entries leave the count; returns the entry count.
_PUT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3])
for i = 3, #KEYS do redis.call('SET', KEYS[i], ARGV[1], 'PX', ARGV[3]) end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
return redis.call('ZCARD', KEYS[1])
"""
# KEYS: the claim. ARGV: this host's token, the channel, the claimed key.
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return redis.call('PUBLISH', ARGV[2], ARGV[3])
"""


@contextlib.contextmanager
def _unavailable() -> Iterator[None]:
    """Raise Redis failures as StoreUnavailable (the message names no secret)."""
    try:
        yield
    except RedisError as error:
        raise StoreUnavailable(f"{type(error).__name__}: {error}") from error


class RedisStore:
    """The connection to the fleet's Redis, and the names of this fabric's keys."""

    kind = "redis"

    def __init__(
        self,
        url: str,
        *,
        password: str | None = None,
        ca_file: Path | None = None,
        cert_file: Path | None = None,
        key_file: Path | None = None,
        prefix: str = "dxlvtservice",
        status: StoreStatus | None = None,
    ) -> None:
        options: dict = {
            "password": password,
            "socket_connect_timeout": CONNECT_TIMEOUT,
            "socket_timeout": ANSWER_TIMEOUT,
            "health_check_interval": 30,
        }
        tls = {"ssl_ca_certs": ca_file, "ssl_certfile": cert_file, "ssl_keyfile": key_file}
        options.update({name: str(path) for name, path in tls.items() if path is not None})
        self.client = redis.Redis.from_url(url, **options)
        self.prefix = prefix
        self.status = status or StoreStatus(self.kind)

    def key(self, *parts: str) -> str:
        return ":".join((self.prefix, *parts))

    def close(self) -> None:
        self.client.close()


class RedisLedger:
    """The ledger document, changed by an optimistic transaction at the server's time."""

    def __init__(self, store: RedisStore) -> None:
        self._client = store.client
        self._key = store.key("ledger")

    def transact(self, update: Update[T]) -> T:
        with _unavailable(), self._client.pipeline() as pipe:
            while True:
                try:
                    pipe.watch(self._key)
                    raw = pipe.get(self._key)
                    seconds, microseconds = pipe.time()
                    changed, result = update(_loads(raw), seconds + microseconds / 1e6)
                    if changed is None:
                        pipe.unwatch()
                        return result
                    pipe.multi()
                    pipe.set(self._key, json.dumps(changed))
                    pipe.execute()
                    return result
                except WatchError:  # another host changed the ledger: run the rule again
                    continue

    def close(self) -> None:
        pass


class RedisMemory:
    """Records under ``memory:NAME:KEY``, each changed by an optimistic transaction at
    the server's time; a record not seen for ``lifetime`` seconds expires (bounded)."""

    def __init__(self, store: RedisStore, name: str, lifetime: float) -> None:
        self._store = store
        self._client = store.client
        self._name = name
        self._lifetime = max(1, int(lifetime * 1000))

    def update(self, key: str, change: Update[T]) -> T:
        name = self._store.key("memory", self._name, key)
        with _unavailable(), self._client.pipeline() as pipe:
            while True:
                try:
                    pipe.watch(name)
                    record = _loads(pipe.get(name))
                    seconds, microseconds = pipe.time()
                    changed, result = change(record, seconds + microseconds / 1e6)
                    pipe.multi()
                    if changed is None:
                        pipe.pexpire(name, self._lifetime)  # seen again: remembered longer
                    else:
                        pipe.set(name, json.dumps(changed), px=self._lifetime)
                    pipe.execute()
                    return result
                except WatchError:  # another host changed the record: judge again
                    continue

    def count(self) -> None:
        return None  # counting would scan the fleet's keys

    def close(self) -> None:
        pass


class RedisReports:
    """Report records shared by the fleet; ``max_entries`` counts entries fleet-wide.

    A record is stored once under ``report:NAME`` (NAME its first key) and
    lists its keys; ``alias:KEY`` names the record of each key; the sorted set
    ``reports`` indexes the entries by expiry, and the oldest go first when
    the fleet holds more than ``max_entries``.
    """

    def __init__(self, store: RedisStore, max_entries: int) -> None:
        self.max_entries = max_entries
        self._store = store
        self._client = store.client
        self._index = store.key("reports")
        self._put = self._client.register_script(_PUT)

    def get(self, key: str) -> dict | None:
        with _unavailable():
            name = _loads(self._client.get(self._store.key("alias", key)))
            if not isinstance(name, str):
                return None
            record = _loads(self._client.get(self._store.key("report", name)))
        if not isinstance(record, dict) or key not in record.get("keys", ()):
            return None
        return record

    def put(self, keys: list[str], record: dict, lifetime: float) -> None:
        name = keys[0]
        value = json.dumps({**record, "keys": keys})
        with _unavailable():
            count = self._put(
                keys=[self._index, self._store.key("report", name),
                      *(self._store.key("alias", key) for key in keys)],
                args=[json.dumps(name), value, max(1, int(lifetime * 1000))],
            )  # fmt: skip
            if count > self.max_entries:
                self._evict(count - int(self.max_entries * EVICT_TO))

    def _evict(self, excess: int) -> None:
        """Delete the ``excess`` entries that expire first (the oldest), and their aliases."""
        names = [_loads(member) for member, _ in self._client.zpopmin(self._index, excess)]
        victims = [name for name in names if isinstance(name, str)]
        if not victims:
            return
        records = self._client.mget([self._store.key("report", name) for name in victims])
        doomed = []
        for name, raw in zip(victims, records, strict=True):
            doomed.append(self._store.key("report", name))
            record = _loads(raw)
            if isinstance(record, dict):
                doomed += [self._store.key("alias", key) for key in record.get("keys", ())]
        self._client.delete(*doomed)

    def count(self) -> int:
        with _unavailable():
            return self._client.zcard(self._index)

    def close(self) -> None:
        pass


class RedisClaims:
    """Lookups in flight, one claim per key with an expiry, released over pub/sub.

    A host that claims a key renews the claim while it fetches; others wait
    for the release message on one subscription, woken by it (not by polling
    the key), and look again when the claim lapses or their time is up.
    """

    def __init__(self, store: RedisStore, ttl: float = CLAIM_TTL) -> None:
        self._store = store
        self._client = store.client
        self._status = store.status
        self._ttl_ms = int(ttl * 1000)
        self._renew_every = ttl / 3
        self._token = json.dumps(uuid.uuid4().hex)  # names this host's claims; nothing secret
        self._channel = store.key("released")
        self._release = self._client.register_script(_RELEASE)
        self._lock = threading.Lock()
        self._held: set[str] = set()
        self._waiters: dict[str, list[tuple[float, Callable[[], None]]]] = {}
        self._closed = threading.Event()
        self._pubsub = self._client.pubsub(ignore_subscribe_messages=True)
        self._thread = threading.Thread(target=self._listen, name="claims", daemon=True)
        self._thread.start()

    def _key(self, key: str) -> str:
        return self._store.key("claim", key)

    def claim(self, key: str) -> bool:
        """True also when this host holds the claim already: its scheduler merges the two."""
        with self._lock:
            if key in self._held:
                return True
        try:
            claimed = self._client.set(self._key(key), self._token, nx=True, px=self._ttl_ms)
        except RedisError as error:
            self._status.failed("claims", error)
            return True  # the store is away: fetch, as a host alone would
        if claimed:
            with self._lock:
                self._held.add(key)
        return bool(claimed)

    def release(self, key: str) -> None:
        with self._lock:
            self._held.discard(key)
        try:
            self._release(keys=[self._key(key)], args=[self._token, self._channel, key])
        except RedisError as error:
            self._status.failed("claims", error)

    def when_released(self, key: str, callback: Callable[[], None], timeout: float) -> None:
        deadline = time.monotonic() + max(0.0, timeout)
        entry = (deadline, callback)
        with self._lock:
            self._waiters.setdefault(key, []).append(entry)
        # Registered before looking: a release from now on wakes us; one before
        # it has deleted the claim, which the look below sees.
        try:
            left = self._client.pttl(self._key(key))
        except RedisError as error:
            self._status.failed("claims", error)
            left = -2
        if left < 0:
            self._fire(key, lambda waiter: waiter is entry)
        elif left / 1000 < timeout:
            self._move(key, entry, time.monotonic() + left / 1000)

    def _move(self, key: str, entry: tuple, deadline: float) -> None:
        """Wake ``entry`` earlier: when the claim it waits on lapses."""
        with self._lock:
            waiters = self._waiters.get(key, [])
            if entry in waiters:
                waiters[waiters.index(entry)] = (deadline, entry[1])

    def _fire(self, key: str, which: Callable[[tuple], bool]) -> None:
        with self._lock:
            waiters = self._waiters.get(key, [])
            fired = [waiter for waiter in waiters if which(waiter)]
            rest = [waiter for waiter in waiters if not which(waiter)]
            if rest:
                self._waiters[key] = rest
            else:
                self._waiters.pop(key, None)
        for _, callback in fired:
            try:
                callback()
            except Exception:
                logger.exception("A waiter for a lookup in flight failed")

    def _listen(self) -> None:
        """Wake waiters on release messages and at their deadlines; renew held claims."""
        renew_at = 0.0
        while not self._closed.is_set():
            try:
                if not self._pubsub.subscribed:
                    self._pubsub.subscribe(self._channel)
                message = self._pubsub.get_message(timeout=self._slice())
                self._status.succeeded("claims")
            except (RedisError, OSError, ValueError) as error:
                self._status.failed("claims", error)
                with contextlib.suppress(Exception):
                    self._pubsub.reset()
                self._closed.wait(self._slice())
                message = None
            if message is not None and message.get("type") == "message":
                self._fire(message["data"].decode(), lambda waiter: True)
            now = time.monotonic()
            with self._lock:
                due = [key for key, waiters in self._waiters.items()
                       if any(deadline <= now for deadline, _ in waiters)]  # fmt: skip
            for key in due:
                self._fire(key, lambda waiter, now=now: waiter[0] <= now)
            if now >= renew_at:
                renew_at = now + self._renew_every
                self._renew()

    def _slice(self) -> float:
        """How long the listener may block: until the next deadline, at most LISTEN_SLICE."""
        with self._lock:
            deadlines = [deadline for waiters in self._waiters.values() for deadline, _ in waiters]
        return max(0.01, min([LISTEN_SLICE, *(d - time.monotonic() for d in deadlines)]))

    def _renew(self) -> None:
        with self._lock:
            held = list(self._held)
        if not held:
            return
        try:
            with self._client.pipeline(transaction=False) as pipe:
                for key in held:
                    pipe.pexpire(self._key(key), self._ttl_ms)
                pipe.execute()
        except RedisError as error:
            self._status.failed("claims", error)

    def close(self) -> None:
        self._closed.set()
        self._thread.join(LISTEN_SLICE + ANSWER_TIMEOUT)
        with contextlib.suppress(Exception):
            self._pubsub.close()


def _loads(raw: bytes | None) -> object:
    """A stored JSON value; anything else reads as absent."""
    if raw is None:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return None
