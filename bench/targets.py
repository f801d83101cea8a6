"""The targets of issue 3, each judged on the figures of one run."""

from __future__ import annotations

from dataclasses import dataclass

from .scenarios import Results

MIN_RESOURCES_PER_CALL = 3.5
MAX_P50_RATIO = 1.25
MIN_THROUGHPUT_RATIO = 0.8


@dataclass(frozen=True)
class Target:
    goal: str
    figure: str
    met: bool


def evaluate(results: Results) -> list[Target]:
    ours, anchor = results.systems
    distinct = results.workload.distinct
    burst = results.burst.upstream
    floor = results.floor
    # The floor compares cache hits: a run that reached upstream measured something else.
    hits_only = floor.upstream_calls == 0
    caveat = "" if hits_only else f"; not all hits: {floor.upstream_calls} upstream calls"
    pairs = len(floor.ours)
    return [
        Target(
            "upstream calls <= distinct indicators",
            f"{ours.upstream.calls} calls for {distinct} distinct hashes "
            f"(the anchor: {anchor.upstream.calls})",
            ours.upstream.calls <= distinct,
        ),
        Target(
            "zero quota refusals",
            f"{ours.upstream.refusals} (the anchor: {anchor.upstream.refusals})",
            ours.upstream.refusals == 0,
        ),
        Target(
            f">= {MIN_RESOURCES_PER_CALL} resources per call in a burst of v2 misses",
            f"{burst.per_call:.2f} ({burst.resources} resources in {burst.calls} calls)",
            burst.per_call >= MIN_RESOURCES_PER_CALL,
        ),
        Target(
            f"cache-hit p50 <= {MAX_P50_RATIO}x echo",
            f"{floor.p50_ratio:.2f}x over {pairs} pairs of runs (medians "
            f"{floor.p50(floor.ours) * 1000:.2f} ms vs {floor.p50(floor.echo) * 1000:.2f} ms"
            f"{caveat})",
            hits_only and floor.p50_ratio <= MAX_P50_RATIO,
        ),
        Target(
            f"cache-hit throughput >= {MIN_THROUGHPUT_RATIO}x echo",
            f"{floor.throughput_ratio:.2f}x over {pairs} pairs of runs (medians "
            f"{floor.throughput(floor.ours):.0f}/s vs {floor.throughput(floor.echo):.0f}/s"
            f"{caveat})",
            hits_only and floor.throughput_ratio >= MIN_THROUGHPUT_RATIO,
        ),
    ]
