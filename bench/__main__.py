"""``python -m bench``: run the benchmark, print the report, write ``bench/results/``.

On the development fabric's broker double by default; with ``--dxlclient-config``,
on the broker that config names (the VirusTotal simulator stays local).
"""

from __future__ import annotations

import argparse
import logging
import shlex
import signal
import sys
import tempfile
from dataclasses import dataclass, fields, replace
from pathlib import Path

from dxlclient.client import DxlClient
from dxlclient.client_config import DxlClientConfig

from devfabric import Fabric

from . import report
from .measure import Requesters
from .scenarios import Bench, Params
from .targets import evaluate, floor_targets

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


@dataclass(frozen=True)
class Options:
    """What to run, besides the scenarios' knobs."""

    output: Path
    dxlclient_config: Path | None  # another broker's client config: None for the double
    floors_only: bool


def parse(argv: list[str]) -> tuple[Params, Options]:
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
    parser.add_argument(
        "--dxlclient-config",
        type=Path,
        metavar="PATH",
        help="run on the broker this dxlclient.config names, with its certificate, instead "
        "of the development fabric's broker double",
    )
    parser.add_argument(
        "--floors-only",
        action="store_true",
        help="run the floors (cache hits against the echo service) alone; writes floors.md",
    )
    args = parser.parse_args(argv)
    chosen = {name: getattr(args, name) for name in OPTIONS if getattr(args, name) is not None}
    params = replace(defaults, **{**(QUICK if args.quick else {}), **chosen})
    return params, Options(args.output, args.dxlclient_config, args.floors_only)


def _stop_on_sigterm() -> None:
    """SIGTERM unwinds like Ctrl-C, so that every process started is stopped by pid."""

    def interrupt(_signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)


def main(argv: list[str]) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    logging.getLogger("dxlclient").setLevel(logging.CRITICAL)
    params, options = parse(argv)
    _stop_on_sigterm()
    config = options.dxlclient_config
    broker = f"the one `{config}` names" if config else "the development fabric's broker double"
    command = shlex.join(["python", "-m", "bench", *argv])
    with tempfile.TemporaryDirectory(prefix="dxlvt-bench-") as scratch:
        workdir = Path(scratch)
        with Fabric(workdir / "fabric", client_config=config) as fabric:
            path = fabric.write_client_config(workdir / "observer", "bench-observer")
            with DxlClient(DxlClientConfig.create_dxl_config_from_file(str(path))) as observer:
                observer.connect()
                count = max(params.clients, params.backlog_requesters, params.floor_requesters)
                with Requesters(fabric, workdir / "requesters", count) as requesters:
                    bench = Bench(fabric, observer, requesters, workdir, params)
                    if options.floors_only:
                        floors = bench.floors()
                    else:
                        results = bench.run()
    if options.floors_only:
        targets = floor_targets(floors)
        print(report.write_floors(params, floors, targets, options.output, command, broker))
    else:
        targets = evaluate(results)
        print(report.write(results, targets, options.output, command, broker))
    return 0 if all(target.met for target in targets) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
