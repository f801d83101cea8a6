"""Command line: ``python -m devfabric up --dir DIR`` runs a development fabric until stopped.

It writes ready-to-use client configurations, ``DIR/service/dxlclient.config``
(for dxlvtservice) and ``DIR/client/dxlclient.config`` (for a tool that asks
it), prints where everything is, and stops both children on SIGINT or SIGTERM.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

from .fabric import Fabric


def _arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m devfabric", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    up = commands.add_parser("up", help="run the broker double and the VirusTotal simulator")
    up.add_argument("--dir", type=Path, required=True, help="where PKI, logs and configs go")
    return parser.parse_args(argv)


def up(directory: Path) -> int:
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    with Fabric(directory / "fabric") as fabric:
        service = fabric.write_client_config(directory / "service", "service")
        client = fabric.write_client_config(directory / "client", "client")
        print(f"DXL broker:            127.0.0.1:{fabric.broker_port} (TLS, client certificates)")
        print(f"VirusTotal simulator:  {fabric.simulator_url} (API key {fabric.api_key})")
        print(f"service client config: {service}")
        print(f"other client config:   {client}")
        print(f"logs:                  {fabric.workdir}")
        print("Ctrl-C stops the fabric.", flush=True)
        while not stop.wait(1.0):
            if not fabric.running:
                print(f"a fabric process died; see the logs in {fabric.workdir}", file=sys.stderr)
                return 1
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _arguments(argv)
    return up(args.dir.resolve())


if __name__ == "__main__":
    sys.exit(main())
