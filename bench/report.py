"""The benchmark's outputs: a Markdown report (also printed) and a PNG plot."""

from __future__ import annotations

import os
import platform
import statistics
import time
from collections.abc import Sequence
from pathlib import Path

from .measure import LoadResult
from .scenarios import MAX_QUEUE_WAIT_SEC, FloorRun, Results, SystemRun
from .systems import REPORT_TOPIC, our_settings
from .targets import Target


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f}" if seconds >= 0.01 else f"{seconds * 1000:.2f}"


def _table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return lines


def _errors(load: LoadResult) -> str:
    return f"{load.errors} ({load.error_rate:.1%})"


def _zipf_rows(runs: Sequence[SystemRun]) -> list[list[object]]:
    return [
        [
            f"**{run.name}**",
            run.load.requests,
            run.upstream.calls,
            run.upstream.refusals,
            _errors(run.load),
            _ms(run.load.percentile(50)),
            _ms(run.load.percentile(99)),
            f"{run.load.wall:.1f}",
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


def markdown(results: Results, targets: Sequence[Target], command: str) -> str:
    p = results.params
    limits = our_settings(p.quota_per_minute, p.quota_per_day, MAX_QUEUE_WAIT_SEC)["RateLimit"]
    burst = results.burst
    floor = results.floor
    lines = [
        "# Benchmark: dxlvtservice against dxlvtapiservice 0.2.0",
        "",
        f"`{command}` on {time.strftime('%Y-%m-%d %H:%M')}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}; every process on one machine, over loopback.",
        "",
        "## Same workload, same quota",
        "",
        f"{p.requests} file-report requests drawn from a Zipf distribution (exponent "
        f"{p.exponent:g}, seed {p.seed}) over {p.distinct} hashes, of which "
        f"{results.workload.distinct} were drawn; {p.clients} concurrent dxlclient clients "
        f"on `{REPORT_TOPIC}`. The simulator answers each call in {p.latency_ms} ms and "
        f"allows {p.quota_per_minute} calls a minute and {p.quota_per_day} a day, for both "
        "systems, each starting from a fresh simulator state. dxlvtservice starts with an "
        "empty cache and is set for that quota: "
        + ", ".join(f"`{key} = {value}`" for key, value in limits.items())
        + ".",
        "",
        *_table(
            [
                "system",
                "requests",
                "upstream calls",
                "quota refusals (204)",
                "client errors",
                "p50 ms",
                "p99 ms",
                "wall s",
            ],
            _zipf_rows(results.systems),
        ),
        "",
        "Latency percentiles are over the requests that got a good answer.",
        "",
        "## A burst of misses (dxlvtservice)",
        "",
        f"{p.burst} distinct hashes that no cache has seen, all requested at once "
        "(asynchronous requests over the clients).",
        "",
        *_table(
            [
                "requests",
                "upstream calls",
                "resources per call",
                "client errors",
                "p50 ms",
                "p99 ms",
                "wall s",
            ],
            [
                [
                    burst.load.requests,
                    burst.upstream.calls,
                    f"{burst.upstream.per_call:.2f}",
                    _errors(burst.load),
                    _ms(burst.load.percentile(50)),
                    _ms(burst.load.percentile(99)),
                    f"{burst.load.wall:.1f}",
                ]
            ],
        ),
        "",
        "## The floor: cache hits against an echo service",
        "",
        f"{p.floor_requesters} concurrent requesters, {p.floor_requests} requests each per "
        f"run; {p.warmups} warm-up run and {p.repetitions} measured runs of each service, "
        "interleaved (echo first, then ours first, and so on); figures are medians over the "
        f"runs. Upstream calls during the measured runs: {floor.upstream_calls}.",
        "",
        *_table(
            ["service", "p50 ms", "throughput /s", "p50 ms per run", "throughput per run"],
            _floor_rows(floor),
        ),
        "",
        "## Targets",
        "",
        *_table(
            ["target", "figure", "result"],
            [[t.goal, t.figure, "met" if t.met else "**NOT MET**"] for t in targets],
        ),
        "",
        "![latencies, upstream calls and the floor](latest.png)",
        "",
    ]
    return "\n".join(lines)


def plot(results: Results, path: Path) -> None:
    """Four panels: Zipf latencies, upstream calls, and the floor's p50 and throughput."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, ((cdf, calls), (p50, rate)) = plt.subplots(2, 2, figsize=(13, 9))
    colours = {"ours": "tab:blue", "anchor": "tab:orange"}
    ours, anchor = results.systems

    for run, colour in ((ours, colours["ours"]), (anchor, colours["anchor"])):
        latencies = sorted(t * 1000 for t in run.load.latencies)
        if latencies:
            share = [(i + 1) / run.load.requests for i in range(len(latencies))]
            label = f"{run.name} ({run.load.error_rate:.0%} errors)"
            cdf.step(latencies, share, where="post", color=colour, label=label, linewidth=2)
    cdf.set_xscale("log")
    cdf.set_ylim(0, 1)
    cdf.set(
        title="Zipf workload: latency of good answers",
        xlabel="latency (ms, log scale)",
        ylabel="share of all requests",
    )
    cdf.grid(True, which="both", alpha=0.3)
    cdf.legend(loc="upper left")

    kinds = ("upstream calls", "quota refusals", "client errors")
    width = 0.38
    for offset, (run, colour) in enumerate(((ours, colours["ours"]), (anchor, colours["anchor"]))):
        values = (run.upstream.calls, run.upstream.refusals, run.load.errors)
        bars = calls.bar(
            [k + (offset - 0.5) * width for k in range(len(kinds))],
            values,
            width,
            color=colour,
            label=run.name,
        )
        calls.bar_label(bars, padding=2)
    calls.axhline(
        results.workload.distinct,
        color="black",
        linestyle="--",
        linewidth=1,
        label=f"distinct hashes ({results.workload.distinct})",
    )
    calls.set_xticks(range(len(kinds)), kinds)
    calls.set(
        title=f"Zipf workload: {results.params.requests} requests, same quota", ylabel="count"
    )
    calls.legend()

    floor = results.floor
    services = (
        ("echo service", floor.echo, "tab:gray"),
        ("dxlvtservice\ncache hits", floor.ours, colours["ours"]),
    )
    panels = (
        (p50, "p50 latency (ms)", lambda run: run.percentile(50) * 1000, floor.p50_ratio),
        (rate, "throughput (requests / s)", lambda run: run.throughput, floor.throughput_ratio),
    )
    for axes, title, figure_of, ratio in panels:
        for x, (_, runs, colour) in enumerate(services):
            values = [figure_of(run) for run in runs]
            median = statistics.median(values)
            axes.scatter([x] * len(values), values, color=colour, alpha=0.6, s=40)
            axes.hlines(median, x - 0.25, x + 0.25, color=colour, linewidth=3)
            axes.annotate(
                f"{median:.2f}" if median < 100 else f"{median:.0f}",
                (x + 0.28, median),
                va="center",
            )
        axes.set_xticks([0, 1], [name for name, _, _ in services])
        axes.set_xlim(-0.6, 1.8)
        axes.set_ylim(bottom=0)
        axes.set_title(
            f"Floor, {results.params.floor_requesters} requesters: {title}\n"
            f"per run and median; ours / echo = {ratio:.2f}x"
        )
        axes.grid(True, axis="y", alpha=0.3)

    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def write(results: Results, targets: Sequence[Target], directory: Path, command: str) -> str:
    """Write ``latest.md`` and ``latest.png`` in ``directory``; return the Markdown."""
    directory.mkdir(parents=True, exist_ok=True)
    text = markdown(results, targets, command)
    (directory / "latest.md").write_text(text, encoding="utf-8")
    plot(results, directory / "latest.png")
    return text
