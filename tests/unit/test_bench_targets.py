"""The floors' figures and targets: ratios of paired runs, and cache hits only."""

from __future__ import annotations

import pytest

from bench.measure import LoadResult
from bench.scenarios import FILE_FLOOR, HASH_FLOOR, TEXT_FLOOR, FloorRun
from bench.targets import FLOOR_GOALS, floor_targets


def run(latency: float, wall: float, answers: int = 10) -> LoadResult:
    return LoadResult((latency,) * answers, 0, wall)


def floor(name: str, ours: list[LoadResult], echo: list[LoadResult], calls: int = 0) -> FloorRun:
    return FloorRun(name, tuple(echo), tuple(ours), calls)


def test_ratios_are_medians_of_each_pairs_ratio():
    # Pairs at 2x, 1.5x and 1x slower: the median pair says 1.5x, whatever the other pairs.
    measured = floor(
        HASH_FLOOR,
        ours=[run(0.002, 2.0), run(0.030, 30.0), run(0.001, 1.0)],
        echo=[run(0.001, 1.0), run(0.020, 20.0), run(0.001, 1.0)],
    )
    assert measured.p50_ratio == pytest.approx(1.5)
    assert measured.throughput_ratio == pytest.approx(1 / 1.5)


@pytest.mark.parametrize("name", [FILE_FLOOR, HASH_FLOOR, TEXT_FLOOR])
def test_each_floor_is_judged_on_its_own_goals(name):
    max_p50, min_throughput = FLOOR_GOALS[name]
    at_goal = floor(name, [run(0.001 * max_p50, 1.0 / min_throughput)], [run(0.001, 1.0)])
    p50, throughput = floor_targets((at_goal,))
    assert p50.met and throughput.met
    over = floor(name, [run(0.0011 * max_p50, 1.1 / min_throughput)], [run(0.001, 1.0)])
    assert not any(target.met for target in floor_targets((over,)))


def test_a_floor_that_reached_upstream_meets_nothing():
    fast = floor(TEXT_FLOOR, [run(0.001, 1.0)], [run(0.001, 1.0)], calls=3)
    targets = floor_targets((fast,))
    assert not any(target.met for target in targets)
    assert all("3 upstream calls" in target.figure for target in targets)
