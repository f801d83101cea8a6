"""Verdict events, once per indicator and verdict change (docs/topics.md).

Subscribers (playbooks, ticketing, SIEM bridges) act on every event, so a
thousand lookups of one known malicious hash must be one event, not a
thousand. :class:`VerdictMemory` is the pure rule: it remembers the last
verdict seen for each indicator (bounded, least recently used) and says
whether a result is news. :class:`VerdictEvents` asks it as results are
offered (a dictionary look-up) and hands only the news to one thread that
publishes them, off the answer's path: a lookup that is not news wakes nothing.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any

MEMORY_ENTRIES = 100_000
"""Indicators whose last verdict is remembered; the least recently seen go first."""

PENDING_EVENTS = 10_000
"""Events waiting to be published; past this, events are dropped (counted)."""

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Seen:
    """The last verdict of one indicator, and when an event last said so."""

    verdict: str
    published: float | None


class VerdictMemory:
    """Decides which results are news: first listed verdict, a change, or time to repeat."""

    def __init__(
        self,
        listed: Collection[str],
        interval: float,
        *,
        capacity: int = MEMORY_ENTRIES,
    ) -> None:
        self.listed = frozenset(listed)
        self.interval = interval
        self._capacity = capacity
        self._seen: OrderedDict[str, Seen] = OrderedDict()
        self._lock = threading.Lock()

    def observe(self, key: str, verdict: str, now: float) -> tuple[bool, str | None]:
        """Record ``verdict`` for ``key``; return (publish?, the previous verdict).

        Every verdict is remembered, listed or not, so that a later change back
        to a listed verdict names what it changed from.
        """
        with self._lock:
            before = self._seen.get(key)
            previous = before.verdict if before else None
            due = verdict in self.listed and (
                before is None
                or previous != verdict
                or before.published is None
                or now - before.published >= self.interval
            )
            kept = before.published if before is not None and previous == verdict else None
            published = now if due else kept
            self._seen[key] = Seen(verdict, published)
            self._seen.move_to_end(key)
            if len(self._seen) > self._capacity:
                self._seen.popitem(last=False)
            return due, previous

    def __len__(self) -> int:
        return len(self._seen)


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
        self._queue: queue.Queue[dict[str, Any] | None] = queue.Queue(pending)  # events
        self._thread = threading.Thread(target=self._run, name="verdict-events", daemon=True)
        self.published = 0
        self.dropped = 0

    def start(self) -> None:
        self._thread.start()

    def offer(self, results: list[dict[str, Any]]) -> None:
        """Remember each result's verdict (unlisted ones too) and queue the news for
        publishing; a full queue drops the event and counts it."""
        now = self._clock()
        for result in results:
            key = memory_key(result)
            if key is None:
                continue
            due, previous = self._memory.observe(key, result["verdict"], now)
            if not due:
                continue
            try:
                self._queue.put_nowait({**result, "previous_verdict": previous})
            except queue.Full:
                self.dropped += 1

    def _run(self) -> None:
        while (event := self._queue.get()) is not None:
            try:
                self._send(event)
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

    def stats(self) -> dict[str, int]:
        return {
            "published": self.published,
            "dropped": self.dropped,
            "pending": self._queue.qsize(),
            "remembered": len(self._memory),
        }
