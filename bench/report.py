"""The benchmark's outputs: a Markdown report (also printed) and a PNG plot."""

from __future__ import annotations

import os
import platform
import statistics
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from .measure import LoadResult
from .scenarios import MAX_QUEUE_WAIT_SEC, BacklogRun, FloorRun, Params, Results, SystemRun
from .systems import REPORT_TOPIC, our_settings
from .targets import MAX_P50_RATIO, MIN_BACKLOG_RATIO, MIN_THROUGHPUT_RATIO, Target

if TYPE_CHECKING:
    from matplotlib.axes import Axes


def _number(value: float) -> str:
    """Three significant figures or so, without exponents."""
    return f"{value:.0f}" if value >= 100 else f"{value:.1f}" if value >= 10 else f"{value:.2f}"


def _ms(seconds: float) -> str:
    return _number(seconds * 1000)


def _table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return lines


def _errors(load: LoadResult) -> str:
    return f"{load.errors} ({load.error_rate:.1%})"


def _zipf_rows(runs: Sequence[SystemRun]) -> list[list[object]]:
    return [
        [
            run.name,
            run.load.requests,
            run.answered,
            run.upstream.units,
            f"**{run.units_per_answered:.2f}**",
            run.upstream.refusals,
            _errors(run.load),
            run.upstream.calls,
            _ms(run.load.percentile(50)),
            _ms(run.load.percentile(99)),
            f"{run.load.wall:.1f}",
        ]
        for run in runs
    ]


def _backlog_rows(runs: Sequence[BacklogRun]) -> list[list[object]]:
    return [
        [
            run.name,
            run.kind,
            f"{run.per_minute:.1f}",
            run.allowed_per_minute,
            f"**{run.ratio:.3f}**",
            run.upstream.units,
            run.upstream.refusals,
            _errors(run.load),
            run.upstream.calls,
            f"{run.upstream.per_call:.2f}",
            _ms(run.load.percentile(50)),
            _ms(run.load.percentile(99)),
        ]
        for run in runs
    ]


def _floor_rows(floor: FloorRun) -> list[list[object]]:
    def row(name: str, runs: tuple[LoadResult, ...]) -> list[object]:
        per_run_p50 = ", ".join(_ms(run.percentile(50)) for run in runs)
        per_run_rate = ", ".join(f"{run.throughput:.0f}" for run in runs)
        return [
            name,
            _ms(floor.p50(runs)),
            f"{floor.throughput(runs):.0f}",
            per_run_p50,
            per_run_rate,
        ]

    return [
        row("echo service", floor.echo),
        row("**dxlvtservice, cache hits**", floor.ours),
        [
            "ratio (ours / echo)",
            f"**{floor.p50_ratio:.2f}x**",
            f"**{floor.throughput_ratio:.2f}x**",
            "",
            "",
        ],
    ]


def _zipf_section(results: Results) -> list[str]:
    p = results.params
    limits = our_settings(p.quota_per_minute, p.quota_per_day, MAX_QUEUE_WAIT_SEC)["RateLimit"]
    settings = ", ".join(f"`{key} = {value}`" for key, value in limits.items())
    header = [
        "system",
        "requests",
        "hashes answered",
        "units",
        "units per hash answered",
        "VirusTotal refusals (204)",
        "client errors",
        "upstream calls",
        "p50 ms",
        "p99 ms",
        "wall s",
    ]
    return [
        "## Same workload, same quota",
        "",
        f"{p.requests} file-report requests drawn from a Zipf distribution (exponent "
        f"{p.exponent:g}, seed {p.seed}) over {p.distinct} hashes, of which "
        f"{results.workload.distinct} were drawn; {p.clients} concurrent dxlclient clients "
        f"on `{REPORT_TOPIC}`. The simulator answers each call in {p.latency_ms} ms and "
        f"allows {p.quota_per_minute} units a minute and {p.quota_per_day} a day, for both "
        "systems, each starting from a fresh simulator state. dxlvtservice starts with an "
        f"empty cache and is set for that quota: {settings}.",
        "",
        *_table(header, _zipf_rows(results.systems)),
        "",
        "Units are the simulator's count: one per hash of a v2 batch, one per other call; "
        "a refused call costs none. A hash counts as answered when at least one request "
        "for it got its report. Latency percentiles are over the requests that got a good "
        "answer.",
    ]


def _backlog_section(results: Results) -> list[str]:
    p = results.params
    header = [
        "system",
        "misses",
        "served / min",
        "allowed / min",
        "served / allowed",
        "units",
        "VirusTotal refusals",
        "client errors",
        "upstream calls",
        "resources per call",
        "p50 ms",
        "p99 ms",
    ]
    return [
        "## A sustained backlog of misses",
        "",
        f"{p.backlog_requesters} clients each ask for fresh misses (file hashes, then "
        "domains, that no cache has seen), one after the other, for "
        f"{p.backlog_warmup} s of warm-up and a measured window of {p.backlog_seconds} s; "
        "each system and each kind starts from a fresh simulator state with the same quota. "
        "Served per minute is the rate of good answers between the answer instants that "
        "bound the window; the quota allows "
        f"{p.quota_per_minute} units a minute, so a system that kept to the quota and lost "
        "none of it would serve that many file hashes (one unit each, four to a call) and "
        "as many domains (one unit per call). Resources per call counts round trips "
        "(batching), not quota; the other figures cover the whole run.",
        "",
        *_table(header, _backlog_rows(results.backlogs)),
    ]


def _floor_section(p: Params, floors: Sequence[FloorRun]) -> list[str]:
    lines = [
        "## The floor: cache hits against an echo service",
        "",
        f"{p.floor_requesters} concurrent requesters, {p.floor_requests} requests each per "
        f"run; warm-up runs: {p.warmups} of each service, then {p.repetitions} measured runs "
        "of each, interleaved (echo first, then ours first, and so on). Figures are medians "
        "over the measured runs; a ratio is the median over the repetitions of ours / echo "
        "in the same repetition, run back to back. The echo service answers the same "
        "payloads as ours.",
    ]
    for floor in floors:
        lines += [
            "",
            f"### {floor.name}",
            "",
            f"Upstream calls during the measured runs: {floor.upstream_calls}.",
            "",
            *_table(
                ["service", "p50 ms", "throughput /s", "p50 ms per run", "throughput per run"],
                _floor_rows(floor),
            ),
        ]
    return lines


def _targets_section(targets: Sequence[Target]) -> list[str]:
    outcomes = [[t.goal, t.figure, "met" if t.met else "**NOT MET**"] for t in targets]
    return ["## Targets", "", *_table(["target", "figure", "result"], outcomes)]


def _heading(title: str, command: str, broker: str) -> list[str]:
    return [
        f"# {title}",
        "",
        f"`{command}` on {time.strftime('%Y-%m-%d %H:%M')}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}; every process on one machine, over loopback; "
        f"broker: {broker}.",
    ]


def markdown(results: Results, targets: Sequence[Target], command: str, broker: str) -> str:
    lines = [
        *_heading("Benchmark: dxlvtservice against dxlvtapiservice 0.2.0", command, broker),
        "",
        *_zipf_section(results),
        "",
        *_backlog_section(results),
        "",
        *_floor_section(results.params, (results.floor, *results.classify)),
        "",
        *_targets_section(targets),
        "",
        "![latencies, units, backlogs and the floor](latest.png)",
        "",
    ]
    return "\n".join(lines)


def floors_markdown(
    params: Params, floors: Sequence[FloorRun], targets: Sequence[Target], command: str, broker: str
) -> str:
    """The report of a run of the floors alone (``--floors-only``)."""
    lines = [
        *_heading("Benchmark: the floors of dxlvtservice's cache hits", command, broker),
        "",
        *_floor_section(params, floors),
        "",
        *_targets_section(targets),
        "",
    ]
    return "\n".join(lines)


OURS, ANCHOR, ECHO = "tab:blue", "tab:orange", "tab:gray"


def _plot_latencies(axes: Axes, results: Results) -> None:
    """The distribution of good answers' latencies; errors keep a curve below 100%."""
    for run, colour in zip(results.systems, (OURS, ANCHOR), strict=True):
        latencies = sorted(t * 1000 for t in run.load.latencies)
        share = [(i + 1) / run.load.requests for i in range(len(latencies))]
        label = f"{run.name} ({run.load.error_rate:.0%} errors)"
        axes.step(latencies, share, where="post", color=colour, label=label, linewidth=2)
    axes.axvline(
        results.params.latency_ms,
        color="black",
        linestyle=":",
        linewidth=1,
        label=f"one upstream call ({results.params.latency_ms} ms)",
    )
    axes.set_xscale("log")
    axes.set_ylim(0, 1)
    axes.set(
        title=f"Zipf workload: latency of good answers ({results.params.clients} clients)",
        xlabel="latency (ms, log scale)",
        ylabel="share of all requests",
    )
    axes.grid(True, which="both", alpha=0.3)
    axes.legend(loc="upper left")


def _plot_units(axes: Axes, results: Results) -> None:
    kinds = ("quota units", "hashes answered", "VirusTotal refusals", "client errors")
    width = 0.38
    for offset, (run, colour) in enumerate(zip(results.systems, (OURS, ANCHOR), strict=True)):
        values = (run.upstream.units, run.answered, run.upstream.refusals, run.load.errors)
        where = [k + (offset - 0.5) * width for k in range(len(kinds))]
        axes.bar_label(axes.bar(where, values, width, color=colour, label=run.name), padding=2)
    distinct = results.workload.distinct
    axes.axhline(
        distinct,
        color="black",
        linestyle="--",
        linewidth=1,
        label=f"distinct hashes requested ({distinct})",
    )
    axes.set_xticks(range(len(kinds)), kinds)
    axes.set_ylim(0, results.params.requests * 1.45)
    axes.set(title=f"Zipf workload: {results.params.requests} requests, same quota", ylabel="count")
    axes.legend(loc="upper right")


def _plot_backlogs(axes: Axes, results: Results) -> None:
    """Answers over time in each backlog, against what the quota allows."""
    p = results.params
    ours = results.systems[0].name
    for run in results.backlogs:
        times = list(run.load.answered_at)
        axes.step(
            times,
            range(1, len(times) + 1),
            where="post",
            color=OURS if run.name == ours else ANCHOR,
            linestyle="-" if run.kind == "file hashes" else "--",
            label=f"{run.name}, {run.kind} ({run.ratio:.2f} of allowed)",
        )
    end = p.backlog_warmup + p.backlog_seconds
    axes.plot(
        [0, end],
        [0, p.quota_per_minute * end / 60],
        color="black",
        linestyle=":",
        label=f"allowed: {p.quota_per_minute} units / min",
    )
    axes.axvspan(p.backlog_warmup, end, color="tab:green", alpha=0.08, label="measured window")
    axes.set(
        title=f"Backlogs of misses: answers over time (target {MIN_BACKLOG_RATIO} of allowed)",
        xlabel="seconds",
        ylabel="good answers",
    )
    axes.grid(True, alpha=0.3)
    axes.legend(loc="upper left", fontsize="small")


def _plot_backlog_ratios(axes: Axes, results: Results) -> None:
    ours = results.systems[0].name
    runs = results.backlogs
    bars = axes.bar(
        [f"{run.name}\n{run.kind}" for run in runs],
        [run.ratio for run in runs],
        color=[OURS if run.name == ours else ANCHOR for run in runs],
    )
    axes.bar_label(bars, fmt="%.3f", padding=2)
    labels = [f"{run.upstream.refusals} refusals" for run in runs]
    axes.bar_label(bars, labels=labels, label_type="center", color="white")
    axes.axhline(
        MIN_BACKLOG_RATIO,
        color="tab:red",
        linestyle="--",
        linewidth=1,
        label=f"target: at least {MIN_BACKLOG_RATIO}",
    )
    axes.set_ylim(0, 1.25)
    axes.set(
        title="Backlogs: served / allowed per minute, measured window", ylabel="served / allowed"
    )
    axes.tick_params(axis="x", labelsize="small")
    axes.legend(loc="upper right")


def _plot_floor(
    axes: Axes,
    floor: FloorRun,
    title: str,
    figure_of: Callable[[LoadResult], float],
    target: float,
    ratio: float,
) -> None:
    """Each run as a dot, the medians as bars, and where the target puts ours."""
    services = (("echo service", floor.echo, ECHO), ("dxlvtservice\ncache hits", floor.ours, OURS))
    medians = []
    highest = 0.0
    for x, (_, runs, colour) in enumerate(services):
        values = [figure_of(run) for run in runs]
        medians.append(statistics.median(values))
        highest = max(highest, *values)
        axes.scatter([x] * len(values), values, color=colour, alpha=0.6, s=40)
        axes.hlines(medians[-1], x - 0.25, x + 0.25, color=colour, linewidth=3)
        axes.annotate(_number(medians[-1]), (x + 0.28, medians[-1]), va="center")
    axes.axhline(
        medians[0] * target,
        color="tab:red",
        linestyle="--",
        linewidth=1,
        label=f"target: {'at most' if target > 1 else 'at least'} {target:g} x echo",
    )
    axes.set_xticks([0, 1], [name for name, _, _ in services])
    axes.set_xlim(-0.6, 1.8)
    axes.set_ylim(0, max(highest, medians[0] * target) * 1.3)
    axes.set_title(f"Floor: {title}, per run and median\nours / echo = {ratio:.2f}x")
    axes.grid(True, axis="y", alpha=0.3)
    axes.legend(loc="upper left")


def plot(results: Results, path: Path) -> None:
    """Six panels: Zipf latencies and units, backlogs over time and their ratios, and the
    floor's p50 and throughput."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, ((latencies, units, backlogs), (p50, rate, ratios)) = plt.subplots(
        2, 3, figsize=(19, 9)
    )
    _plot_backlog_ratios(ratios, results)
    _plot_latencies(latencies, results)
    _plot_units(units, results)
    _plot_backlogs(backlogs, results)
    floor = results.floor
    requesters = results.params.floor_requesters
    _plot_floor(
        p50,
        floor,
        f"p50 latency (ms), {requesters} requesters",
        lambda run: run.percentile(50) * 1000,
        MAX_P50_RATIO,
        floor.p50_ratio,
    )
    _plot_floor(
        rate,
        floor,
        f"throughput (requests / s), {requesters} requesters",
        lambda run: run.throughput,
        MIN_THROUGHPUT_RATIO,
        floor.throughput_ratio,
    )
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def write(
    results: Results, targets: Sequence[Target], directory: Path, command: str, broker: str
) -> str:
    """Write ``latest.md`` and ``latest.png`` in ``directory``; return the Markdown."""
    directory.mkdir(parents=True, exist_ok=True)
    text = markdown(results, targets, command, broker)
    (directory / "latest.md").write_text(text, encoding="utf-8")
    plot(results, directory / "latest.png")
    return text


def write_floors(
    params: Params,
    floors: Sequence[FloorRun],
    targets: Sequence[Target],
    directory: Path,
    command: str,
    broker: str,
) -> str:
    """Write ``floors.md`` in ``directory``; return the Markdown."""
    directory.mkdir(parents=True, exist_ok=True)
    text = floors_markdown(params, floors, targets, command, broker)
    (directory / "floors.md").write_text(text, encoding="utf-8")
    return text
