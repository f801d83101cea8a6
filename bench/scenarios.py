"""The benchmark's three scenarios, run one after the other on one fabric.

1. ``zipf``: the same Zipf workload against the anchor (dxlvtapiservice 0.2.0),
   then against ours, each with a fresh simulator state, ours with a fresh
   cache: the quota units spent per distinct indicator;
2. ``backlog``: a sustained backlog of misses (fresh file hashes, then fresh
   domains) against each system: resources served per minute against the
   units the quota allows per minute;
3. ``floor``: ours answering from its cache against an echo service, both
   registered at once, in interleaved repetitions after a warm-up, so that a
   noisy machine hits both alike: file reports, then ``classify`` of one
   malicious hash and of a 4 KiB text naming five indicators, each against
   the echo service answering the same payload.
"""

from __future__ import annotations

import logging
import math
import statistics
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dxlclient.client import DxlClient

from devfabric import Fabric
from devfabric.vtsim.dataset import EXAMPLES

from . import systems
from .echo_service import ECHO_SERVICE_TYPE, ECHO_TOPIC
from .measure import Classification, Echoed, LoadResult, Lookup, Requesters
from .rates import sustained_rate
from .systems import CLASSIFY_TOPIC, DOMAIN_TOPIC, REPORT_TOPIC
from .workload import Workload, domain_stream, hash_stream, indicator_text, zipf_workload

# dxlvtservice's default deadline for a request waiting for an upstream slot.
MAX_QUEUE_WAIT_SEC = 60
REQUEST_TIMEOUT_SEC = MAX_QUEUE_WAIT_SEC + 30
# A public key allows 500 units a day for 4 a minute; a scaled key keeps that ratio.
DAY_PER_MINUTE = 500 // 4

FILE_REPORT = Lookup(REPORT_TOPIC)
DOMAIN_REPORT = Lookup(DOMAIN_TOPIC, "domain")
ECHO = Lookup(ECHO_TOPIC)
# What a backlog asks for: v2 file reports (batchable, one unit per hash) and
# v2 domain reports (one unit per call).
BACKLOGS = {"file hashes": (FILE_REPORT, hash_stream), "domains": (DOMAIN_REPORT, domain_stream)}
# classify's cache hits: one malicious file (a verdict event is published for it, once),
# and a text naming five indicators of four types, each known to the simulator.
MALICIOUS_HASH = EXAMPLES["file"]["malicious"]
TEXT_INDICATORS = (
    MALICIOUS_HASH,
    EXAMPLES["url"]["malicious"],
    EXAMPLES["domain"]["low"],
    EXAMPLES["ip"]["malicious"],
    EXAMPLES["file"]["low"],
)
TEXT_BYTES = 4096
# The floors, by what ours answers from its cache.
FILE_FLOOR = "file/report"
HASH_FLOOR = "classify: one malicious hash"
TEXT_FLOOR = f"classify: a {TEXT_BYTES // 1024} KiB text naming {len(TEXT_INDICATORS)} indicators"

OURS, ANCHOR = "dxlvtservice", "dxlvtapiservice 0.2.0"

logger = logging.getLogger("bench")


@dataclass(frozen=True)
class Params:
    """The benchmark's knobs (``python -m bench --help`` describes each)."""

    requests: int = 500
    distinct: int = 150
    clients: int = 8
    latency_ms: int = 150
    quota_per_minute: int = 120
    exponent: float = 1.0
    backlog_requesters: int = 8
    backlog_warmup: int = 10  # seconds before the measured window
    backlog_seconds: int = 60  # the measured window
    floor_requesters: int = 16
    floor_requests: int = 200  # per requester and run
    repetitions: int = 7
    warmups: int = 1
    seed: int = 1

    @property
    def quota_per_day(self) -> int:
        return self.quota_per_minute * DAY_PER_MINUTE


@dataclass(frozen=True)
class Upstream:
    """What the simulator saw since its last reset."""

    calls: int
    units: int  # quota units the calls it admitted cost
    refusals: int  # quota refusals: v2 204s (and v3 429s)
    resources: int  # resources asked for, over all calls

    @classmethod
    def from_stats(cls, stats: dict[str, Any]) -> Upstream:
        resources = sum(len(names) for names in stats["resources_by_endpoint"].values())
        return cls(stats["calls"], stats["units"], stats["quota_refusals"], resources)

    @property
    def per_call(self) -> float:
        """Resources per call: round trips saved by batching, not quota."""
        return self.resources / self.calls if self.calls else 0.0


@dataclass(frozen=True)
class SystemRun:
    name: str
    load: LoadResult
    upstream: Upstream
    answered: int  # distinct resources that got a good answer

    @property
    def units_per_answered(self) -> float:
        """Quota units spent per distinct indicator answered (inf if none was)."""
        return self.upstream.units / self.answered if self.answered else math.inf


@dataclass(frozen=True)
class BacklogRun:
    """A sustained backlog of misses, and how close its service came to the quota."""

    name: str
    kind: str  # a key of BACKLOGS
    load: LoadResult
    upstream: Upstream
    per_minute: float  # resources served per minute over the measured window
    allowed_per_minute: int

    @property
    def ratio(self) -> float:
        return self.per_minute / self.allowed_per_minute


@dataclass(frozen=True)
class FloorRun:
    """Measured runs of the echo service and of our cache hits, in pairs run back to back.

    The ratios are medians of each pair's ratio: load from elsewhere on the
    machine comes and goes, and then weighs on both runs of a pair alike.
    """

    name: str  # what ours answered from its cache
    echo: tuple[LoadResult, ...]
    ours: tuple[LoadResult, ...]
    upstream_calls: int  # during the measured runs: 0 when every request was a cache hit

    @staticmethod
    def p50(runs: tuple[LoadResult, ...]) -> float:
        """The median over runs of each run's median latency."""
        return statistics.median(run.percentile(50) for run in runs)

    @staticmethod
    def throughput(runs: tuple[LoadResult, ...]) -> float:
        return statistics.median(run.throughput for run in runs)

    @property
    def p50_ratio(self) -> float:
        pairs = zip(self.ours, self.echo, strict=True)
        return statistics.median(ours.percentile(50) / echo.percentile(50) for ours, echo in pairs)

    @property
    def throughput_ratio(self) -> float:
        pairs = zip(self.ours, self.echo, strict=True)
        return statistics.median(ours.throughput / echo.throughput for ours, echo in pairs)


@dataclass(frozen=True)
class Results:
    params: Params
    workload: Workload
    systems: tuple[SystemRun, ...]  # ours, then the anchor
    backlogs: tuple[BacklogRun, ...]  # ours for each kind, then the anchor for each
    floor: FloorRun  # file reports
    classify: tuple[FloorRun, ...]  # classify: one malicious hash, a text naming five indicators


class Bench:
    """Runs the scenarios with requesters and an observer client already on ``fabric``."""

    def __init__(
        self,
        fabric: Fabric,
        observer: DxlClient,
        requesters: Requesters,
        workdir: Path,
        params: Params,
    ) -> None:
        assert fabric.simulator is not None
        self.fabric = fabric
        self.simulator = fabric.simulator
        self.observer = observer
        self.requesters = requesters
        self.workdir = Path(workdir)
        self.params = params

    def run(self) -> Results:
        p = self.params
        workload = self._workload()
        with systems.running(systems.anchor(self.fabric, self.workdir / "anchor"), self.observer):
            anchor = self._zipf(ANCHOR, workload)
            anchor_backlogs = [self._backlog(ANCHOR, kind) for kind in BACKLOGS]
        with self._ours():
            ours = self._zipf(OURS, workload)
            our_backlogs = [self._backlog(OURS, kind) for kind in BACKLOGS]
            floor, *classify = self._floors(workload)
        backlogs = (*our_backlogs, *anchor_backlogs)
        return Results(p, workload, (ours, anchor), backlogs, floor, tuple(classify))

    def floors(self) -> tuple[FloorRun, ...]:
        """The floor scenarios alone, against ours with a fresh cache (the warm-up fills it)."""
        workload = self._workload()
        with self._ours():
            return self._floors(workload)

    def _workload(self) -> Workload:
        """The Zipf workload, with the simulator set to the run's latency and quota."""
        p = self.params
        self.simulator.configure(
            latency_ms=p.latency_ms,
            quota_per_minute=p.quota_per_minute,
            quota_per_day=p.quota_per_day,
        )
        return zipf_workload(p.requests, p.distinct, exponent=p.exponent, seed=p.seed)

    def _ours(self) -> AbstractContextManager:
        p = self.params
        settings = systems.our_settings(p.quota_per_minute, p.quota_per_day, MAX_QUEUE_WAIT_SEC)
        ours = systems.ours(self.fabric, self.workdir / "ours", settings)
        return systems.running(ours, self.observer)

    def _floors(self, workload: Workload) -> tuple[FloorRun, ...]:
        """With ours running: file reports of the workload's most asked hashes, then
        ``classify`` of one hash and of a text, each against the echo service."""
        text = indicator_text(TEXT_INDICATORS, TEXT_BYTES)
        echo = systems.echo(self.fabric, self.workdir / "echo")
        with systems.running(echo, self.observer, ECHO_SERVICE_TYPE):
            return (
                self._floor(
                    FILE_FLOOR,
                    FILE_REPORT,
                    ECHO,
                    workload.most_common(self.params.floor_requesters),
                ),
                self._floor(
                    HASH_FLOOR,
                    Classification(CLASSIFY_TOPIC, "hash"),
                    Echoed(ECHO_TOPIC, "hash"),
                    [MALICIOUS_HASH],
                ),
                self._floor(
                    TEXT_FLOOR,
                    Classification(CLASSIFY_TOPIC, "text"),
                    Echoed(ECHO_TOPIC, "text"),
                    [text],
                ),
            )

    def _zipf(self, name: str, workload: Workload) -> SystemRun:
        self.simulator.reset()
        logger.info(
            "%s: %d requests from %d clients ...", name, len(workload.requests), self.params.clients
        )
        load = self.requesters.closed_loop(
            FILE_REPORT, workload.split(self.params.clients), REQUEST_TIMEOUT_SEC
        )
        answered = len(set(load.answered_resources))
        run = SystemRun(name, load, Upstream.from_stats(self.simulator.stats()), answered)
        logger.info(
            "%s: %.1f s, %d errors, %d units, %d quota refusals",
            name,
            load.wall,
            load.errors,
            run.upstream.units,
            run.upstream.refusals,
        )
        return run

    def _backlog(self, name: str, kind: str) -> BacklogRun:
        """Fresh misses, asked one after the other by each requester, for the warm-up
        and the measured window; the rate is taken over that window only."""
        p = self.params
        lookup, stream = BACKLOGS[kind]
        self.simulator.reset()
        logger.info(
            "%s: a backlog of %s misses, %d requesters, %d + %d s ...",
            name,
            kind,
            p.backlog_requesters,
            p.backlog_warmup,
            p.backlog_seconds,
        )
        until = p.backlog_warmup + p.backlog_seconds
        # The same misses for every system: each system's cache is its own.
        streams = [stream(f"backlog:{kind}:{index}") for index in range(p.backlog_requesters)]
        load = self.requesters.closed_loop(lookup, streams, REQUEST_TIMEOUT_SEC, until)
        rate = sustained_rate(load.answered_at, p.backlog_warmup, until)
        run = BacklogRun(
            name,
            kind,
            load,
            Upstream.from_stats(self.simulator.stats()),
            rate * 60,
            p.quota_per_minute,
        )
        logger.info(
            "%s, %s: %.1f served a minute of %d allowed (%.3f), %d refusals, %d errors",
            name,
            kind,
            run.per_minute,
            run.allowed_per_minute,
            run.ratio,
            run.upstream.refusals,
            load.errors,
        )
        return run

    def _floor(self, name: str, ours: Lookup, echo: Lookup, cached: list[str]) -> FloorRun:
        """``ours`` against ``echo``, each asked for ``cached`` by every requester in turn."""
        p = self.params
        plan = [
            [cached[(requester + k) % len(cached)] for k in range(p.floor_requests)]
            for requester in range(p.floor_requesters)
        ]

        def measure(lookup: Lookup) -> LoadResult:
            return self.requesters.closed_loop(lookup, plan, REQUEST_TIMEOUT_SEC)

        logger.info(
            "floor, %s: %d warm-up and %d measured runs of echo and of cache hits, "
            "%d requesters ...",
            name,
            p.warmups,
            p.repetitions,
            p.floor_requesters,
        )
        for _ in range(p.warmups):
            measure(echo)
            measure(ours)
        self.simulator.reset()
        echo_runs: list[LoadResult] = []
        our_runs: list[LoadResult] = []
        for repetition in range(p.repetitions):
            order = [(echo, echo_runs), (ours, our_runs)]
            for lookup, runs in order if repetition % 2 == 0 else reversed(order):
                runs.append(measure(lookup))
        floor = FloorRun(name, tuple(echo_runs), tuple(our_runs), self.simulator.stats()["calls"])
        logger.info(
            "floor, %s: p50 ratio %.2f, throughput ratio %.2f",
            name,
            floor.p50_ratio,
            floor.throughput_ratio,
        )
        return floor
