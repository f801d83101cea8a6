"""``python -m bench``: run the benchmark, print the report, write ``bench/results/``."""

from __future__ import annotations

import argparse
import logging
import shlex
import signal
import sys
import tempfile
from dataclasses import fields, replace
from pathlib import Path

from dxlclient.client import DxlClient
from dxlclient.client_config import DxlClientConfig

from devfabric import Fabric

from . import report
from .measure import Requesters
from .scenarios import Bench, Params
from .targets import evaluate

RESULTS = Path(__file__).resolve().parent / "results"
# A smoke run: every scenario, in about three minutes.
QUICK = {
    "requests": 120,
    "distinct": 40,
    "clients": 4,
    "backlog_warmup": 5,
    "backlog_seconds": 20,
    "floor_requests": 50,
    "repetitions": 2,
}
OPTIONS = {
    "requests": "requests in the Zipf workload",
    "distinct": "distinct file hashes the Zipf workload draws from",
    "clients": "concurrent clients sending the Zipf workload",
    "latency_ms": "simulator latency per upstream call",
    "quota_per_minute": "simulator quota for both systems (ours is set to match)",
    "exponent": "Zipf exponent",
    "backlog_requesters": "clients keeping a backlog of misses",
    "backlog_warmup": "seconds of a backlog before its measured window",
    "backlog_seconds": "seconds of a backlog's measured window",
    "floor_requesters": "concurrent requesters in the floor scenario",
    "floor_requests": "requests per requester in one floor run",
    "repetitions": "measured floor runs of each service",
    "warmups": "warm-up floor runs of each service",
    "seed": "seed of the Zipf draws",
}


def parse(argv: list[str]) -> tuple[Params, Path]:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    defaults = Params()
    for option in fields(Params):
        parser.add_argument(
            "--" + option.name.replace("_", "-"),
            type=type(getattr(defaults, option.name)),
            help=f"{OPTIONS[option.name]} (default {getattr(defaults, option.name)}; "
            f"--quick: {QUICK.get(option.name, 'same')})",
        )
    parser.add_argument("--quick", action="store_true", help="a fast smoke run")
    parser.add_argument("--output", type=Path, default=RESULTS, help="where to write the report")
    args = parser.parse_args(argv)
    chosen = {name: getattr(args, name) for name in OPTIONS if getattr(args, name) is not None}
    params = replace(defaults, **{**(QUICK if args.quick else {}), **chosen})
    return params, args.output


def _stop_on_sigterm() -> None:
    """SIGTERM unwinds like Ctrl-C, so that every process started is stopped by pid."""

    def interrupt(_signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)


def main(argv: list[str]) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    logging.getLogger("dxlclient").setLevel(logging.CRITICAL)
    params, output = parse(argv)
    _stop_on_sigterm()
    with tempfile.TemporaryDirectory(prefix="dxlvt-bench-") as scratch:
        workdir = Path(scratch)
        with Fabric(workdir / "fabric") as fabric:
            path = fabric.write_client_config(workdir / "observer", "bench-observer")
            with DxlClient(DxlClientConfig.create_dxl_config_from_file(str(path))) as observer:
                observer.connect()
                count = max(params.clients, params.backlog_requesters, params.floor_requesters)
                with Requesters(fabric, workdir / "requesters", count) as requesters:
                    results = Bench(fabric, observer, requesters, workdir, params).run()
    targets = evaluate(results)
    command = shlex.join(["python", "-m", "bench", *argv])
    print(report.write(results, targets, output, command))
    return 0 if all(target.met for target in targets) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
