"""The long form of the reliability suite: ``./dev soak`` (docs/reliability.md).

One service process on a development fabric of its own takes a long mixed
load and then a long fuzzing run (10,000 cases by default); the summary
says how many requests got how many answers, how the fuzz cases were
answered, whether the service died, its peak resident memory (``VmHWM``)
and the slowest answer. Exits 1 when a request was lost or answered twice,
an answer was not one the service promises, or the service died.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from dxlclient.client import DxlClient

from devfabric import Fabric
from devfabric.services import ServiceProcess
from tests.integration.conftest import FAST, connect

from .answers import Answers
from .fuzzing import fuzz
from .workload import run_load

RSS_GOAL_MB = 300


def peak_rss_mb(pid: int) -> float:
    """The process's peak resident set size so far, from ``/proc/PID/status``."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmHWM for process {pid}")


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="./dev soak", description=__doc__)
    parser.add_argument("--requesters", type=int, default=32)
    parser.add_argument("--requests-each", type=int, default=1000)
    parser.add_argument("--fuzz-cases", type=int, default=10_000)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    return parser.parse_args(argv)


def soak(args: argparse.Namespace, workdir: Path) -> dict:
    crashes = 0
    with Fabric(workdir / "fabric") as fabric:
        clients = [connect(fabric, workdir / f"client-{i}", f"soak-{i}")
                   for i in range(args.connections)]  # fmt: skip
        service = ServiceProcess(fabric, workdir / "service", "soak", FAST)
        try:
            service.start(clients[0])
            started = time.monotonic()
            load = run_load(clients, requesters=args.requesters,
                            requests_each=args.requests_each, seed=args.seed)  # fmt: skip
            load_sec = time.monotonic() - started
            crashes += not service.running

            answers = Answers()
            answers.watch(clients[0])
            started = time.monotonic()
            try:
                outcomes = fuzz(clients[0], answers, args.fuzz_cases)
                fuzz_failure = None
            except Exception as error:  # hypothesis reports the failing case
                outcomes, fuzz_failure = Counter(), f"{type(error).__name__}: {error}"
            answers.barrier(clients[0])
            answers.unwatch()
            fuzz_sec = time.monotonic() - started
            crashes += not service.running
            rss = peak_rss_mb(service.pid) if service.running else None
        finally:
            code = service.stop()
            with ThreadPoolExecutor(len(clients)) as pool:
                list(pool.map(DxlClient.destroy, clients))
    crashes += code != 0
    fuzzed = answers.tally()
    return {
        "load": {
            "requesters": args.requesters, "requests_each": args.requests_each,
            "requests": load.tally.requests, "answers": load.tally.answers,
            "duplicates": load.tally.duplicates, "lost": load.tally.lost,
            "outcomes": {str(k): v for k, v in load.tally.outcomes.items()},
            "unacceptable": len(load.tally.problems), "unexpected": len(load.unexpected),
            "seconds": round(load_sec, 1), "slowest_sec": round(load.tally.slowest, 3),
        },
        "fuzz": {
            "cases": sum(outcomes.values()), "requests": fuzzed.requests,
            "answers": fuzzed.answers, "duplicates": fuzzed.duplicates, "lost": fuzzed.lost,
            "outcomes": {str(k): v for k, v in outcomes.items()},
            "unacceptable": len(fuzzed.problems), "failure": fuzz_failure,
            "seconds": round(fuzz_sec, 1), "slowest_sec": round(fuzzed.slowest, 3),
        },
        "crashes": crashes,
        "exit_code": code,
        "peak_rss_mb": None if rss is None else round(rss, 1),
        "slowest_answer_sec": round(max(load.tally.slowest, fuzzed.slowest), 3),
        "problems": load.tally.problems[:5] + load.unexpected[:5] + fuzzed.problems[:5],
    }  # fmt: skip


def summary(figures: dict) -> str:
    load, fuzzed = figures["load"], figures["fuzz"]
    rss = figures["peak_rss_mb"]
    rss_text = "unknown (the service died)" if rss is None else f"{rss:.1f} MB"
    lines = [
        f"load: {load['requesters']} requesters x {load['requests_each']} requests "
        f"in {load['seconds']} s",
        f"  requests {load['requests']}, answers {load['answers']}, "
        f"duplicates {load['duplicates']}, lost {load['lost']}",
        f"  outcomes {load['outcomes']}; unacceptable {load['unacceptable']}, "
        f"not as planned {load['unexpected']}",
        f"fuzz: {fuzzed['cases']} cases in {fuzzed['seconds']} s",
        f"  requests {fuzzed['requests']}, answers {fuzzed['answers']}, "
        f"duplicates {fuzzed['duplicates']}, lost {fuzzed['lost']}",
        f"  outcomes {fuzzed['outcomes']}; unacceptable {fuzzed['unacceptable']}",
        f"crashes: {figures['crashes']} (exit code {figures['exit_code']})",
        f"peak RSS of the service: {rss_text} (goal under {RSS_GOAL_MB} MB)",
        f"slowest answer: {figures['slowest_answer_sec']} s",
    ]
    if fuzzed["failure"]:
        lines.append(f"fuzz failure: {fuzzed['failure']}")
    lines += [f"problem: {problem}" for problem in figures["problems"]]
    return "\n".join(lines)


def healthy(figures: dict) -> bool:
    load, fuzzed = figures["load"], figures["fuzz"]
    return not (
        figures["crashes"] or figures["problems"] or fuzzed["failure"]
        or load["lost"] or load["duplicates"] or fuzzed["lost"] or fuzzed["duplicates"]
    )  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    args = _arguments(argv)
    with tempfile.TemporaryDirectory(prefix="dxlvt-soak-") as workdir:
        figures = soak(args, Path(workdir))
    print(summary(figures))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    return 0 if healthy(figures) else 1


if __name__ == "__main__":
    sys.exit(main())
