"""The service's parts, built from Settings in one place, outside the DXL application.

:func:`build` opens the stores the configuration names (the cache directory's
diskcache, or a fleet's Redis: docs/fleet.md) and wires the quota ledger, the
cache, the scheduler, the lookups and the topics' handlers on them; the
dxlbootstrap application only registers the topics. Tests assemble the
same parts without a fabric.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .config import Settings
from .core.quota import Limits
from .lookups.allowance import AllowanceWatch
from .lookups.cache import ReportCache
from .lookups.ledger import SharedQuota
from .lookups.lookup import Lookups
from .lookups.scheduler import Scheduler
from .lookups.upstream import VirusTotalClient
from .ops.health import UpstreamStatus
from .reputation.enrichment import FirstInstanceEnricher
from .reputation.events import MEMORY_LIFETIME, VerdictEvents, VerdictMemory
from .reputation.tie import DxlTie, ExportPolicy, TieExporter
from .store.base import Claims, LedgerStore, Memory, ReportStore, StoreStatus
from .topics.classify import Classifier, Listener
from .topics.compat import CompatibleTopics, Policy

logger = logging.getLogger(__name__)


@dataclass
class Stores:
    """Where the ledger and the reports live, and the claims of lookups in flight."""

    status: StoreStatus
    ledger: LedgerStore | Path
    reports: ReportStore | Path
    claims: Claims | None = None
    close: Callable[[], None] = lambda: None
    # What was said of each indicator (``events``, ``tie``), shared by a fleet; None: per process.
    memory: Callable[[str, float], Memory] | None = None


def limits_of(settings: Settings) -> Limits:
    """The configured limits (none when ``rateLimitRequests`` is off)."""
    if not settings.rate_limit_requests:
        return Limits()
    return Limits(settings.rate_limit_ms / 1000, settings.requests_per_minute,
                  settings.requests_per_day, settings.requests_per_month)  # fmt: skip


def open_stores(settings: Settings) -> Stores:
    """The fleet's Redis when ``[Fleet] storeUrl`` is set, else the cache directory."""
    fleet = settings.fleet
    if fleet is None:
        directory = settings.cache_directory
        return Stores(StoreStatus("local"), directory / "quota", directory)
    from .store.redis import RedisClaims, RedisLedger, RedisMemory, RedisReports, RedisStore

    store = RedisStore(
        fleet.store_url,
        password=fleet.password,
        ca_file=fleet.ca_file,
        cert_file=fleet.cert_file,
        key_file=fleet.key_file,
        prefix=fleet.key_prefix,
    )
    claims = RedisClaims(store) if settings.cache_enabled else None

    def close() -> None:
        if claims is not None:
            claims.close()
        store.close()

    return Stores(
        store.status,
        RedisLedger(store),
        RedisReports(store, settings.cache_max_entries),
        claims,
        close,
        lambda name, lifetime: RedisMemory(store, name, lifetime),
    )


@dataclass
class Parts:
    """Everything a running service holds, started and closed together."""

    settings: Settings
    stores: Stores
    upstream_status: UpstreamStatus
    client: VirusTotalClient
    quota: SharedQuota
    cache: ReportCache
    scheduler: Scheduler
    lookups: Lookups
    compat: CompatibleTopics
    classifier: Classifier
    allowance: AllowanceWatch | None
    events: VerdictEvents
    tie: TieExporter | None
    enricher: FirstInstanceEnricher | None

    def start(self) -> None:
        self.scheduler.start()
        self.events.start()
        if self.tie is not None:
            self.tie.start()
        if self.allowance is not None:
            self.allowance.start()

    def stop_background(self) -> None:
        """Stop the threads that work besides requests: allowance, events, TIE export."""
        if self.allowance is not None:
            self.allowance.stop()
        self.events.stop()
        if self.tie is not None:
            self.tie.stop()

    def close(self) -> None:
        """Close the stores and the HTTP client (the scheduler is stopped first)."""
        self.cache.close()
        self.quota.close()
        self.stores.close()
        self.client.close()


def hand_over(listeners: list[Listener]) -> Listener:
    """One listener that gives a request's results to each of ``listeners``; a failing
    listener never stops an answer."""

    def to_each(results: list[dict], reports: list) -> None:
        for listener in listeners:
            try:
                listener(results, reports)
            except Exception:
                logger.exception("A verdict listener failed")

    return to_each


def shared_memory(stores: Stores, name: str, interval: float) -> Memory | None:
    """The fleet's memory ``name`` (None without a fleet): an indicator is remembered
    for ``MEMORY_LIFETIME`` after it was last seen, or ``interval`` if longer."""
    if stores.memory is None:
        return None
    return stores.memory(name, max(MEMORY_LIFETIME, interval))


def build(
    settings: Settings,
    publish_verdict: Callable[[dict], None],
    dxl_client: Callable[[], Any],
) -> Parts:
    """The service's parts from ``settings``; :meth:`Parts.start` sets them going.

    ``publish_verdict`` sends one verdict event; ``dxl_client`` gives the
    connected DXL client (TIE export asks TIE through it).
    """
    stores = open_stores(settings)
    instances = settings.fleet.instances if settings.fleet is not None else 1
    upstream_status = UpstreamStatus(settings.api_version)
    client = VirusTotalClient(settings.base_url, settings.api_key, settings.request_timeout)
    quota = SharedQuota(stores.ledger, limits_of(settings), instances=instances,
                        status=stores.status,
                        background_share=settings.background_share)  # fmt: skip
    cache = ReportCache(
        stores.reports,
        max_entries=settings.cache_max_entries,
        ttl=settings.cache_ttl,
        negative_ttl=settings.negative_cache_ttl,
        enabled=settings.cache_enabled,
        status=stores.status,
    )
    scheduler = Scheduler(
        upstream_status.watch(client.execute),
        quota,
        batch_size=settings.batch_size,
        max_wait=settings.max_queue_wait,
    )
    lookups = Lookups(cache, scheduler, claims=stores.claims, min_refresh=settings.min_refresh)
    policy = Policy(settings.allow_submissions, settings.internal_domains, settings.batch_size)
    events = VerdictEvents(
        VerdictMemory(
            settings.publish_verdicts,
            settings.event_interval,
            shared=shared_memory(stores, "events", settings.event_interval),
        ),
        publish_verdict,
    )
    tie = (
        TieExporter(
            ExportPolicy(settings.tie_malicious_level, settings.tie_trusted_level),
            DxlTie(dxl_client),
            shared=shared_memory(stores, "tie", 0),
        )
        if settings.tie_export else None
    )  # fmt: skip
    listeners: list[Listener] = [lambda results, _: events.offer(results)]
    if tie is not None:
        listeners.append(tie.offer)
    classifier = Classifier(lookups, settings, hand_over(listeners))
    return Parts(
        settings=settings,
        stores=stores,
        upstream_status=upstream_status,
        client=client,
        quota=quota,
        cache=cache,
        scheduler=scheduler,
        lookups=lookups,
        compat=CompatibleTopics(lookups, scheduler, policy),
        classifier=classifier,
        allowance=AllowanceWatch(scheduler, quota) if settings.discover_quota else None,
        events=events,
        tie=tie,
        enricher=(
            FirstInstanceEnricher(classifier.classify)
            if settings.tie_enrich_first_instance else None
        ),
    )
