"""Report lookups: the fresh cache first, then one scheduled upstream call.

This is the only road to VirusTotal reports, for the compatible topics and for
``classify`` alike. A lookup returns a ``Future`` of an :class:`Outcome`: already
done on a cache hit (so a DXL callback thread answers at once), done later by
the scheduler otherwise. When upstream cannot deliver, a stale cached report
is preferred to an error.

A lookup that submits (v2 ``url/report`` with ``scan=1``) always goes
upstream and never falls back on the cache: it asks VirusTotal to act. What it
brings back is filed like any answer, so a found report (VirusTotal's current
one) is cached, while a "queued for analysis" answer never is.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

from .cache import ReportCache, lookup_key, report_keys
from .errors import ServiceError
from .indicators import Indicator, is_ipv6
from .scheduler import Scheduler
from .upstream import Call

ENDPOINTS = {
    2: {"file": "v2/file/report", "url": "v2/url/report",
        "domain": "v2/domain/report", "ip": "v2/ip-address/report"},
    3: {"file": "v3/files", "url": "v3/urls", "domain": "v3/domains", "ip": "v3/ip_addresses"},
}  # fmt: skip
# Options that change the report's content, and so belong in its cache key.
CONTENT_OPTIONS = frozenset({"allinfo"})
# Options that ask VirusTotal to act, so the lookup can never be a cache hit.
SUBMIT_OPTIONS = frozenset({"scan"})

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Outcome:
    """A report (or None) with where it came from, or the error that kept it away."""

    report: Any = None
    error: ServiceError | None = None
    cached: bool = False
    fetched: float | None = None
    stale: bool = False

    def age(self, now: float) -> int | None:
        return None if self.fetched is None else max(0, round(now - self.fetched))


def _done(outcome: Outcome) -> Future:
    future: Future = Future()
    future.set_result(outcome)
    return future


def gather(futures: Iterable[Future]) -> Future:
    """A future that completes, with ``futures`` as its result, once every one is done."""
    futures = list(futures)
    combined: Future = Future()
    remaining = [len(futures)]
    lock = threading.Lock()

    def one_done(_: Future) -> None:
        with lock:
            remaining[0] -= 1
            last = remaining[0] == 0
        if last:
            combined.set_result(futures)

    if not futures:
        combined.set_result(futures)
    for future in futures:
        future.add_done_callback(one_done)
    return combined


class Lookups:
    """Cache-then-upstream report retrieval."""

    def __init__(
        self,
        cache: ReportCache,
        scheduler: Scheduler,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.cache = cache
        self.scheduler = scheduler
        self._clock = clock

    def report(
        self,
        api: int,
        indicator: Indicator,
        *,
        options: tuple[tuple[str, str], ...] = (),
        max_age: float | None = None,
        client: str | None = None,
    ) -> Future:
        """A future :class:`Outcome` for ``indicator``'s report from API ``api``.

        VirusTotal's v2 API knows IPv4 addresses only: an IPv6 address is
        always looked up through v3. ``client`` (the requesting DXL client)
        goes to the scheduler.
        """
        if is_ipv6(indicator):
            api = 3
        kind, value = indicator.type.value, indicator.value
        variant = "&".join(f"{k}={v}" for k, v in options if k in CONTENT_OPTIONS)
        key = lookup_key(api, kind, value, variant)
        submits = any(name in SUBMIT_OPTIONS for name, _ in options)
        hit = None if submits else self.cache.get_fresh(key, max_age)
        if hit is not None:
            return _done(Outcome(hit.report, cached=True, fetched=hit.fetched))
        call = Call(ENDPOINTS[api][kind], (value,), options)
        outcome: Future = Future()

        def settle(upstream: Future) -> None:
            try:
                report = upstream.result()[0]
            except Exception as error:
                if not isinstance(error, ServiceError):  # a bug must still answer the request
                    logger.exception("Lookup of %s failed", key)
                    error = ServiceError(502, "the lookup failed")
                outcome.set_result(Outcome(error=error) if submits else self._fallback(key, error))
                return
            self.cache.put(report_keys(api, kind, value, report, variant), report)
            outcome.set_result(Outcome(report, fetched=self._clock()))

        self.scheduler.submit(call, client=client).add_done_callback(settle)
        return outcome

    def _fallback(self, key: str, error: ServiceError) -> Outcome:
        """Upstream failed: a stale report if there is one, else the error."""
        entry = self.cache.get(key)
        if entry is None:
            return Outcome(error=error)
        return Outcome(entry.report, cached=True, fetched=entry.fetched, stale=True)
