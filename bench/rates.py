"""How fast a sustained backlog of misses is served, from the instants its answers came.

Pure: the instants are seconds since the backlog began. Answers come in steps
(a batch of four hashes answers four lookups at once, a minute's spacing lets
one call go every so often), so the rate is taken between two answer instants,
never between arbitrary clock readings: a window cut between two steps would
count a step more or less than its length holds.
"""

from __future__ import annotations

from collections.abc import Sequence


def sustained_rate(answered_at: Sequence[float], since: float, until: float) -> float:
    """Answers per second from the last answer at or before ``since`` (the warm-up's
    end; the first answer after it if none came before) to the last answer at or
    before ``until`` (when requesters stopped asking and the backlog began to
    drain): the answers after the first instant, over the time between the two.

    0.0 when fewer than two instants fall in the window.
    """
    if not 0 <= since < until:
        raise ValueError("need 0 <= since < until")
    instants = sorted(t for t in answered_at if t <= until)
    before = [t for t in instants if t <= since]
    start = before[-1] if before else next((t for t in instants if t > since), None)
    if start is None:
        return 0.0
    end = instants[-1]
    counted = sum(1 for t in instants if start < t <= end)
    return counted / (end - start) if end > start else 0.0
