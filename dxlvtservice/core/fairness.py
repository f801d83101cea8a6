"""Turns between requesting clients: the order of the scheduler's queue.

Every lookup gets a :data:`Place` in line when it is queued: one round after
the last place its client holds, and never before the round being served
(start-time fair queuing with equal shares). The queue is kept in place
order, ties by arrival, so slots go round robin between the clients that
have lookups waiting: a flood from one client costs another client at most
one slot per client waiting ahead of it.

A place never changes once given, except to move earlier when another
client starts waiting on the same lookup (a shared lookup takes the best
place any of its clients would give it). Taking lookups out of the line
therefore never reorders the rest, so the order a deadline projection sees
is the order the dispatcher follows.

Pure logic: no clock, no I/O, no lock (the scheduler holds its own).
"""

from __future__ import annotations

import itertools
from collections.abc import Hashable, Iterable

# (round, arrival): smaller goes first.
Place = tuple[int, int]


class RoundRobin:
    """Gives places in line and keeps track of the round being served."""

    def __init__(self) -> None:
        self.serving = 0
        self._last: dict[Hashable, int] = {}
        self._arrivals = itertools.count()

    def _next_round(self, client: Hashable) -> int:
        return max(self.serving, self._last.get(client, 0)) + 1

    def place(self, client: Hashable) -> Place:
        """The place of a new lookup of ``client``, charged to that client."""
        round_ = self._next_round(client)
        self._last[client] = round_
        return round_, next(self._arrivals)

    def join(self, client: Hashable, current: Place) -> Place | None:
        """``client`` now waits on a lookup already at ``current`` too.

        Returns the place ``client``'s own lookup would get, charged to
        ``client``, when that comes first; otherwise None (the lookup keeps
        its place, and ``client`` is not charged).
        """
        round_ = self._next_round(client)
        if round_ >= current[0]:
            return None
        self._last[client] = round_
        return round_, next(self._arrivals)

    def served(self, place: Place) -> None:
        """The lookup at ``place`` left the line for upstream: its round is being served."""
        if place[0] <= self.serving:
            return
        self.serving = place[0]
        self._last = {client: r for client, r in self._last.items() if r > self.serving}

    def recount(self, queued: Iterable[tuple[Hashable, Place]]) -> None:
        """Lookups left the line unserved (refused): each client's last place is
        now the last one it still holds, so refused lookups hold nothing back.

        ``queued`` is every (client charged, place) still in line.
        """
        last: dict[Hashable, int] = {}
        for client, (round_, _) in queued:
            if round_ > self.serving:
                last[client] = max(round_, last.get(client, 0))
        self._last = last
