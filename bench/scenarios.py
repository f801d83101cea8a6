"""The benchmark's three scenarios, run one after the other on one fabric.

1. ``zipf``: the same Zipf workload against the anchor (dxlvtapiservice 0.2.0),
   then against ours, each with a fresh simulator state, ours with a fresh cache;
2. ``burst``: many distinct v2 file-report misses at once against ours, to see
   how many resources each upstream call carries;
3. ``floor``: ours answering from its cache against an echo service, both
   registered at once, in interleaved repetitions after a warm-up, so that a
   noisy machine hits both alike.
"""

from __future__ import annotations

import logging
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dxlclient.client import DxlClient

from devfabric import Fabric

from . import systems
from .echo_service import ECHO_SERVICE_TYPE, ECHO_TOPIC
from .measure import LoadResult, Requesters
from .systems import REPORT_TOPIC
from .workload import Workload, file_hashes, zipf_workload

# dxlvtservice's default deadline for a request waiting for an upstream slot.
MAX_QUEUE_WAIT_SEC = 60
REQUEST_TIMEOUT_SEC = MAX_QUEUE_WAIT_SEC + 30
# A public key allows 500 calls a day for 4 a minute; a scaled key keeps that ratio.
DAY_PER_MINUTE = 500 // 4

logger = logging.getLogger("bench")


@dataclass(frozen=True)
class Params:
    """The benchmark's knobs (``python -m bench --help`` describes each)."""

    requests: int = 500
    distinct: int = 150
    clients: int = 8
    latency_ms: int = 150
    quota_per_minute: int = 60
    exponent: float = 1.0
    burst: int = 48
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
    refusals: int  # quota refusals: v2 204s (and v3 429s)
    resources: int  # resources asked for, over all calls

    @classmethod
    def from_stats(cls, stats: dict[str, Any]) -> Upstream:
        resources = sum(len(names) for names in stats["resources_by_endpoint"].values())
        return cls(stats["calls"], stats["quota_refusals"], resources)

    @property
    def per_call(self) -> float:
        return self.resources / self.calls if self.calls else 0.0


@dataclass(frozen=True)
class SystemRun:
    name: str
    load: LoadResult
    upstream: Upstream


@dataclass(frozen=True)
class FloorRun:
    """Measured runs of the echo service and of our cache hits, in pairs run back to back.

    The ratios are medians of each pair's ratio: load from elsewhere on the
    machine comes and goes, and then weighs on both runs of a pair alike.
    """

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
    burst: SystemRun
    floor: FloorRun


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
        workload = zipf_workload(p.requests, p.distinct, exponent=p.exponent, seed=p.seed)
        self.simulator.configure(
            latency_ms=p.latency_ms,
            quota_per_minute=p.quota_per_minute,
            quota_per_day=p.quota_per_day,
        )
        with systems.running(systems.anchor(self.fabric, self.workdir / "anchor"), self.observer):
            anchor = self._zipf("dxlvtapiservice 0.2.0", workload)
        settings = systems.our_settings(p.quota_per_minute, p.quota_per_day, MAX_QUEUE_WAIT_SEC)
        with systems.running(
            systems.ours(self.fabric, self.workdir / "ours", settings), self.observer
        ):
            ours = self._zipf("dxlvtservice", workload)
            burst = self._burst()
            echo = systems.echo(self.fabric, self.workdir / "echo")
            with systems.running(echo, self.observer, ECHO_SERVICE_TYPE):
                floor = self._floor(workload.most_common(p.floor_requesters))
        return Results(p, workload, (ours, anchor), burst, floor)

    def _zipf(self, name: str, workload: Workload) -> SystemRun:
        self.simulator.reset()
        logger.info(
            "%s: %d requests from %d clients ...", name, len(workload.requests), self.params.clients
        )
        load = self.requesters.closed_loop(
            REPORT_TOPIC, workload.split(self.params.clients), REQUEST_TIMEOUT_SEC
        )
        run = SystemRun(name, load, Upstream.from_stats(self.simulator.stats()))
        logger.info(
            "%s: %.1f s, %d errors, %d upstream calls, %d quota refusals",
            name,
            load.wall,
            load.errors,
            run.upstream.calls,
            run.upstream.refusals,
        )
        return run

    def _burst(self) -> SystemRun:
        self.simulator.reset()
        misses = file_hashes(self.params.burst, "burst")
        logger.info("dxlvtservice: a burst of %d distinct misses ...", len(misses))
        load = self.requesters.burst(REPORT_TOPIC, misses, REQUEST_TIMEOUT_SEC)
        run = SystemRun(
            "dxlvtservice, burst of misses", load, Upstream.from_stats(self.simulator.stats())
        )
        logger.info("burst: %d resources in %d calls", run.upstream.resources, run.upstream.calls)
        return run

    def _floor(self, cached: list[str]) -> FloorRun:
        p = self.params
        plan = [
            [cached[(requester + k) % len(cached)] for k in range(p.floor_requests)]
            for requester in range(p.floor_requesters)
        ]

        def measure(topic: str) -> LoadResult:
            return self.requesters.closed_loop(topic, plan, REQUEST_TIMEOUT_SEC)

        logger.info(
            "floor: %d warm-up and %d measured runs of echo and of cache hits, %d requesters ...",
            p.warmups,
            p.repetitions,
            p.floor_requesters,
        )
        for _ in range(p.warmups):
            measure(ECHO_TOPIC)
            measure(REPORT_TOPIC)
        self.simulator.reset()
        echo: list[LoadResult] = []
        ours: list[LoadResult] = []
        for repetition in range(p.repetitions):
            order = [(ECHO_TOPIC, echo), (REPORT_TOPIC, ours)]
            for topic, runs in order if repetition % 2 == 0 else reversed(order):
                runs.append(measure(topic))
        floor = FloorRun(tuple(echo), tuple(ours), self.simulator.stats()["calls"])
        logger.info(
            "floor: p50 ratio %.2f, throughput ratio %.2f", floor.p50_ratio, floor.throughput_ratio
        )
        return floor
