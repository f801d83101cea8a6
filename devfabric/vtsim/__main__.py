"""Command line: run the simulator until SIGTERM or SIGINT, then exit 0.

Whoever starts it learns the port it bound from ``--ready-file``: the file
appears, complete, only once the simulator is serving.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from pathlib import Path

from ..process import write_ready_file
from .quota import WINDOWS
from .server import Simulator
from .state import Settings


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m devfabric.vtsim",
        description="Serve a VirusTotal double (API v2 and v3) until SIGTERM or SIGINT.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--api-key", required=True, help="the one key it accepts")
    parser.add_argument("--ready-file", type=Path, help='receives {"port": N, "pid": P}')
    parser.add_argument("--latency-ms", type=int, default=0)
    for window in WINDOWS:
        flag = "--quota-" + window.replace("_", "-")
        parser.add_argument(flag, type=int, help="units; default: unlimited")
    parser.add_argument("--premium", action="store_true", help="a premium key (default: public)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = _arguments(argv)
    try:
        settings = Settings(
            api_key=args.api_key,
            latency_ms=args.latency_ms,
            premium=args.premium,
            **{f"quota_{window}": getattr(args, f"quota_{window}") for window in WINDOWS},
        )
    except ValueError as error:
        print(f"vtsim: {error}", file=sys.stderr)
        return 2
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    simulator = Simulator(settings, args.host, args.port).start()
    if args.ready_file:
        write_ready_file(args.ready_file, {"port": simulator.port, "pid": os.getpid()})
    print(f"vtsim serving on {simulator.url}", file=sys.stderr, flush=True)
    stop.wait()
    simulator.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
