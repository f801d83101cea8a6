"""Verdict events, once per indicator and verdict change (docs/topics.md).

Subscribers (playbooks, ticketing, SIEM bridges) act on every event, so a
thousand lookups of one known malicious hash must be one event, not a
thousand. :func:`judge` is the pure rule that says whether a result is news;
:class:`VerdictMemory` remembers the last verdict seen for each indicator
(bounded), in this process or, in a fleet, in the shared store.
:class:`VerdictEvents` applies it off the answer's path: results are offered
to a bounded queue that one thread judges and publishes.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any

from ..store.base import Memory, StoreUnavailable
from ..store.local import LocalMemory

MEMORY_ENTRIES = 100_000
"""Indicators whose last verdict is remembered; the least recently seen go first."""

MEMORY_LIFETIME = 7 * 86400.0
"""Seconds a shared store remembers an indicator not seen again (bounds a fleet's memory)."""

RETRY_STORE = 2.0
"""Seconds between attempts to go back to a shared memory that failed."""

PENDING_EVENTS = 10_000
"""Results waiting to be judged and published; past this, results are dropped (counted)."""

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Seen:
    """The last verdict of one indicator, and when an event last said so."""

    verdict: str
    published: float | None

    def to_json(self) -> dict[str, Any]:
        return {"verdict": self.verdict, "published": self.published}

    @classmethod
    def from_json(cls, value: object) -> Seen | None:
        """A stored record; anything unreadable reads as nothing seen."""
        if not isinstance(value, dict) or not isinstance(value.get("verdict"), str):
            return None
        published = value.get("published")
        return cls(value["verdict"], published if isinstance(published, int | float) else None)


def judge(
    before: Seen | None, verdict: str, now: float, listed: bool, interval: float
) -> tuple[bool, Seen]:
    """Is ``verdict`` news after ``before``: a first listed verdict, a change to a listed
    one, or ``interval`` since the last event? Returns that and what to remember."""
    previous = before.verdict if before else None
    due = listed and (
        before is None
        or previous != verdict
        or before.published is None
        or now - before.published >= interval
    )
    kept = before.published if before is not None and previous == verdict else None
    return due, Seen(verdict, now if due else kept)


class VerdictMemory:
    """Decides which results are news: first listed verdict, a change, or time to repeat.

    The records live in a :class:`~dxlvtservice.store.base.Memory`: this process's
    (bounded, least recently used) or, in a fleet, the shared store's, so that
    the fleet says a verdict once (docs/fleet.md). While the shared store is
    away, this process's memory stands in: an event may then be said again.
    """

    def __init__(
        self,
        listed: Collection[str],
        interval: float,
        *,
        capacity: int = MEMORY_ENTRIES,
        shared: Memory | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.listed = frozenset(listed)
        self.interval = interval
        self._local = LocalMemory(capacity)
        self._shared = shared
        self._clock = clock
        self._retry_at = 0.0

    def observe(self, key: str, verdict: str, now: float) -> tuple[bool, str | None]:
        """Record ``verdict`` for ``key``; return (publish?, the previous verdict).

        Every verdict is remembered, listed or not, so that a later change back
        to a listed verdict names what it changed from.
        """

        def change(record: Any, _: float) -> tuple[dict, tuple[bool, str | None]]:
            before = Seen.from_json(record)
            due, seen = judge(before, verdict, now, verdict in self.listed, self.interval)
            return seen.to_json(), (due, before.verdict if before else None)

        if self._shared is not None and self._clock() >= self._retry_at:
            try:
                result = self._shared.update(key, change)
            except StoreUnavailable as error:
                if not self._retry_at:
                    logger.warning("Shared verdict memory unavailable (%s); this process "
                                   "remembers alone meanwhile", error)  # fmt: skip
                self._retry_at = self._clock() + RETRY_STORE
            else:
                if self._retry_at:
                    logger.info("Shared verdict memory available again")
                    self._retry_at = 0.0
                return result
        return self._local.update(key, change)

    def remembered(self) -> int | None:
        """Indicators remembered (None: the shared store does not count them cheaply)."""
        return self._local.count() if self._shared is None else self._shared.count()


def memory_key(result: dict[str, Any]) -> str | None:
    """Whose verdict a result is: its type and indicator (None: nothing to remember)."""
    indicator = result.get("indicator")
    return f"{result.get('type')}:{indicator}" if indicator else None


class VerdictEvents:
    """Publishes verdict events from a background thread; never blocks the caller."""

    def __init__(
        self,
        memory: VerdictMemory,
        send: Callable[[dict[str, Any]], None],
        *,
        clock: Callable[[], float] = time.time,
        pending: int = PENDING_EVENTS,
    ) -> None:
        self._memory = memory
        self._send = send
        self._clock = clock
        self._queue: queue.Queue[dict[str, Any] | None] = queue.Queue(pending)
        self._thread = threading.Thread(target=self._run, name="verdict-events", daemon=True)
        self.published = 0
        self.dropped = 0

    def start(self) -> None:
        self._thread.start()

    def offer(self, results: list[dict[str, Any]]) -> None:
        """Hand results over for judging and publishing; a full queue drops and counts.

        The memory is asked on the publisher's thread, not here: in a fleet it
        lives in the store, and a store round trip must not delay an answer.
        """
        for result in results:
            if memory_key(result) is None:
                continue
            try:
                self._queue.put_nowait(result)
            except queue.Full:
                self.dropped += 1

    def _run(self) -> None:
        while (result := self._queue.get()) is not None:
            key = memory_key(result)
            assert key is not None
            due, previous = self._memory.observe(key, result["verdict"], self._clock())
            if not due:
                continue
            try:
                self._send({**result, "previous_verdict": previous})
                self.published += 1
            except Exception:
                logger.exception("Could not publish a verdict event")

    def stop(self, timeout: float = 2.0) -> None:
        """Publish what is queued (within ``timeout``), then stop."""
        if not self._thread.is_alive():
            return
        try:
            self._queue.put(None, timeout=timeout)
        except queue.Full:
            return
        self._thread.join(timeout)

    def stats(self) -> dict[str, int | None]:
        return {
            "published": self.published,
            "dropped": self.dropped,
            "pending": self._queue.qsize(),
            "remembered": self._memory.remembered(),
        }
