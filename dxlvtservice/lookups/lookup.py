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

In a fleet (docs/fleet.md) a cache miss first claims the indicator on the
store: when another host is already fetching it, this one waits for that
host's answer in the shared cache (within the request's deadline) instead of
calling VirusTotal again. A background lookup (docs/quota.md, "Lanes") neither
claims nor waits: a request on another host must never wait behind it.

A forced refresh (``max_age`` below ``min_refresh``, e.g. 0) goes upstream at
most once per ``min_refresh`` seconds for one indicator: within that time the
newest cached report is the answer (docs/configuration.md, ``minRefreshSec``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

from ..core.indicators import Indicator, is_ipv6
from ..core.lanes import BACKGROUND, INTERACTIVE
from ..core.reports import Report
from ..errors import GATEWAY_TIMEOUT, ServiceError
from ..store.base import Claims
from .cache import ReportCache, lookup_key, report_keys
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


@dataclass(frozen=True)
class _Filing:
    """Where a lookup's answer is looked for (``key``), how it is read (``read(raw)``)
    and filed (``keys(report)``), the client whose turn its upstream call takes, and
    the scheduler's lane it waits in."""

    key: str
    read: Callable[[Any], Report]
    keys: Callable[[Report], list[str]]
    client: str | None = None
    lane: str = INTERACTIVE


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
        *,
        claims: Claims | None = None,
        min_refresh: float = 0.0,
    ) -> None:
        self.cache = cache
        self.scheduler = scheduler
        self._clock = clock
        self.claims = claims
        self.min_refresh = min_refresh

    def report(
        self,
        api: int,
        indicator: Indicator,
        *,
        options: tuple[tuple[str, str], ...] = (),
        max_age: float | None = None,
        client: str | None = None,
        lane: str = INTERACTIVE,
    ) -> Future:
        """A future :class:`Outcome` for ``indicator``'s report from API ``api``.

        ``client`` is the requester whose turn an upstream call takes; ``lane`` the
        scheduler's lane it waits in (``background`` for enrichment). A
        ``max_age`` below ``min_refresh`` counts as ``min_refresh``. VirusTotal's
        v2 API knows IPv4 addresses only: an IPv6 address is always looked up
        through v3.
        """
        if is_ipv6(indicator):
            api = 3
        kind, value = indicator.type.value, indicator.value
        variant = "&".join(f"{k}={v}" for k, v in options if k in CONTENT_OPTIONS)
        key = lookup_key(api, kind, value, variant)
        submits = any(name in SUBMIT_OPTIONS for name, _ in options)
        if max_age is not None:
            max_age = max(max_age, self.min_refresh)
        hit = None if submits else self.cache.get_fresh(key, max_age)
        if hit is not None:
            return _done(Outcome(hit.report, cached=True, fetched=hit.fetched))
        call = Call(ENDPOINTS[api][kind], (value,), options)
        outcome: Future = Future()
        filing = _Filing(
            key,
            lambda raw: Report.from_dict(kind, raw),
            lambda report: report_keys(api, kind, value, report, variant),
            client,
            lane,
        )
        if submits or self.claims is None or lane == BACKGROUND:
            # A background lookup never claims: no host's request may wait behind it.
            self._fetch(call, filing, outcome, submits=submits)
        else:
            deadline = self._clock() + self.scheduler.max_wait
            self._claim_or_wait(call, filing, outcome, max_age, deadline)
        return outcome

    def _fetch(
        self,
        call: Call,
        filing: _Filing,
        outcome: Future,
        *,
        submits: bool = False,
        deadline: float | None = None,
        claimed: bool = False,
    ) -> None:
        """One scheduled upstream call; its answer is cached, then the claim released."""

        def settle(upstream: Future) -> None:
            try:
                report = upstream.result()[0]
            except Exception as error:
                if not isinstance(error, ServiceError):  # a bug must still answer the request
                    logger.exception("Lookup of %s failed", filing.key)
                    error = ServiceError(502, "the lookup failed")
                self._release(filing.key, claimed)
                fallback = Outcome(error=error) if submits else self._fallback(filing.key, error)
                outcome.set_result(fallback)
                return
            read = filing.read(report)
            self.cache.put(filing.keys(read), read)
            self._release(filing.key, claimed)
            outcome.set_result(Outcome(report, fetched=self._clock()))

        # A submission asks VirusTotal to act: it never shares another call's answer,
        # not even one that has just come back for the same resource.
        submitted = self.scheduler.submit(
            call, coalesce=not submits, deadline=deadline, client=filing.client, lane=filing.lane
        )
        submitted.add_done_callback(settle)

    def _claim_or_wait(
        self, call: Call, filing: _Filing, outcome: Future, max_age: float | None, deadline: float
    ) -> None:
        """Fetch unless another host is fetching this indicator; then wait for its answer."""
        assert self.claims is not None
        if self.claims.claim(filing.key):
            self._fetch(call, filing, outcome, deadline=deadline, claimed=True)
            return

        def released() -> None:
            hit = self.cache.get_fresh(filing.key, max_age)
            if hit is not None:
                outcome.set_result(Outcome(hit.report, cached=True, fetched=hit.fetched))
            elif self._clock() < deadline:  # its lookup failed, or its host died: our turn
                self._claim_or_wait(call, filing, outcome, max_age, deadline)
            else:
                late = ServiceError(
                    GATEWAY_TIMEOUT, "another host's lookup of this indicator did not end in time"
                )
                outcome.set_result(self._fallback(filing.key, late))

        self.claims.when_released(filing.key, released, deadline - self._clock())

    def _release(self, key: str, claimed: bool) -> None:
        if claimed and self.claims is not None:
            self.claims.release(key)

    def _fallback(self, key: str, error: ServiceError) -> Outcome:
        """Upstream failed: a stale report if there is one, else the error."""
        entry = self.cache.get(key)
        if entry is None:
            return Outcome(error=error)
        return Outcome(entry.report, cached=True, fetched=entry.fetched, stale=True)
