"""The targets of the benchmark, in quota units, each judged on the figures of one run."""

from __future__ import annotations

from dataclasses import dataclass

from .scenarios import FILE_FLOOR, HASH_FLOOR, OURS, TEXT_FLOOR, FloorRun, Results

MAX_UNITS_PER_INDICATOR = 1.0
MIN_BACKLOG_RATIO = 0.95
MAX_P50_RATIO = 1.25
MIN_THROUGHPUT_RATIO = 0.8
# Each floor's goals against the echo service: (at most this p50, at least this throughput).
# classify of one cached hash costs little more than a file report; a text, its search.
FLOOR_GOALS = {
    FILE_FLOOR: (MAX_P50_RATIO, MIN_THROUGHPUT_RATIO),
    HASH_FLOOR: (1.10, 0.90),
    TEXT_FLOOR: (2.0, 0.5),
}


@dataclass(frozen=True)
class Target:
    goal: str
    figure: str
    met: bool


def evaluate(results: Results) -> list[Target]:
    ours, anchor = results.systems
    our_backlogs = [run for run in results.backlogs if run.name == OURS]
    anchor_backlogs = [run for run in results.backlogs if run.name != OURS]
    refusals = ours.upstream.refusals + sum(run.upstream.refusals for run in our_backlogs)
    anchor_refusals = anchor.upstream.refusals + sum(
        run.upstream.refusals for run in anchor_backlogs
    )
    errors = ours.load.errors + sum(run.load.errors for run in our_backlogs)
    anchor_errors = anchor.load.errors + sum(run.load.errors for run in anchor_backlogs)
    anchor_ratio = {run.kind: run.ratio for run in anchor_backlogs}
    return [
        Target(
            f"units per distinct indicator answered <= {MAX_UNITS_PER_INDICATOR:.2f}",
            f"{ours.units_per_answered:.2f}: {ours.upstream.units} units for {ours.answered} "
            f"hashes (the anchor: {anchor.units_per_answered:.2f}, {anchor.upstream.units} "
            f"units for {anchor.answered})",
            ours.units_per_answered <= MAX_UNITS_PER_INDICATOR,
        ),
        Target(
            "zero VirusTotal refusals (Zipf workload and backlogs)",
            f"{refusals} (the anchor: {anchor_refusals})",
            refusals == 0,
        ),
        Target(
            "zero client errors (Zipf workload and backlogs)",
            f"{errors} (the anchor: {anchor_errors})",
            errors == 0,
        ),
        *(
            Target(
                f"backlog of {run.kind}: served / allowed per minute >= {MIN_BACKLOG_RATIO}",
                f"{run.ratio:.3f}: {run.per_minute:.1f} of {run.allowed_per_minute} a minute "
                f"(the anchor: {anchor_ratio[run.kind]:.3f})",
                run.ratio >= MIN_BACKLOG_RATIO,
            )
            for run in our_backlogs
        ),
        *floor_targets((results.floor, *results.classify)),
    ]


def floor_targets(floors: tuple[FloorRun, ...]) -> list[Target]:
    """p50 and throughput of each floor's cache hits against the echo service."""
    targets = []
    for floor in floors:
        max_p50, min_throughput = FLOOR_GOALS[floor.name]
        # A floor compares cache hits: a run that reached upstream measured something else.
        hits_only = floor.upstream_calls == 0
        caveat = "" if hits_only else f"; not all hits: {floor.upstream_calls} upstream calls"
        pairs = len(floor.ours)
        targets += [
            Target(
                f"{floor.name}, cache-hit p50 <= {max_p50}x echo",
                f"{floor.p50_ratio:.2f}x over {pairs} pairs of runs (medians "
                f"{floor.p50(floor.ours) * 1000:.2f} ms vs {floor.p50(floor.echo) * 1000:.2f} ms"
                f"{caveat})",
                hits_only and floor.p50_ratio <= max_p50,
            ),
            Target(
                f"{floor.name}, cache-hit throughput >= {min_throughput}x echo",
                f"{floor.throughput_ratio:.2f}x over {pairs} pairs of runs (medians "
                f"{floor.throughput(floor.ours):.0f}/s vs {floor.throughput(floor.echo):.0f}/s"
                f"{caveat})",
                hits_only and floor.throughput_ratio >= min_throughput,
            ),
        ]
    return targets
