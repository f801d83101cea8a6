"""``dxlvtservice CONFIG_DIR``: run the service; ``--check-config`` only validates."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from pathlib import Path

from dxlclient.client_config import DxlClientConfig

from . import __version__
from .app import VirusTotalService
from .config import ConfigError, load
from .ops.logs import setup_logging
from .ops.redaction import protect_logs

logger = logging.getLogger("dxlvtservice")


def client_problems(path: Path) -> None:
    """Raise ConfigError if dxlclient.config cannot connect anywhere as it stands."""
    try:
        client = DxlClientConfig.create_dxl_config_from_file(str(path))
    except Exception as error:  # dxlclient's own parser: any failure is a config problem
        raise ConfigError(f"dxlclient.config: {error}") from None
    for key, file in (
        ("BrokerCertChain", client.broker_ca_bundle),
        ("CertFile", client.cert_file),
        ("PrivateKey", client.private_key),
    ):
        if not os.access(file, os.R_OK):
            raise ConfigError(f"dxlclient.config: [Certs] {key}: cannot read {file}")
    if not client.brokers:
        raise ConfigError("dxlclient.config: [Brokers] names no broker")


def check_config(config_dir: Path) -> int:
    """Validate both configuration files without connecting anywhere."""
    try:
        settings = load(config_dir)
        client_problems(config_dir / "dxlclient.config")
    except ConfigError as error:
        print(f"configuration error: {error}", file=sys.stderr)
        return 1
    for warning in settings.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    if settings.unknown:
        for problem in settings.unknown:
            print(f"configuration error: {problem}", file=sys.stderr)
        return 1
    print("configuration OK")
    return 0


def run(config_dir: Path) -> int:
    """Run until SIGTERM/SIGINT, then shut down gracefully and return 0."""
    try:
        settings = load(config_dir)
        client_problems(config_dir / "dxlclient.config")
    except ConfigError as error:
        setup_logging(config_dir)  # logFormat may be what is wrong: say it in text
        logger.error("Configuration error: %s", error)
        return 1
    setup_logging(config_dir, settings.log_format)
    protect_logs(settings.api_key)
    if settings.fleet is not None and settings.fleet.password:
        protect_logs(settings.fleet.password)
    stop = threading.Event()
    running = threading.Event()

    service = VirusTotalService(config_dir)

    def on_signal(signum: int, _frame: object) -> None:
        logger.info("Signal %d received, stopping", signum)
        first = not stop.is_set()
        stop.set()
        # Still connecting: nothing to drain or unregister. Once connected, the
        # start-up goes on to its end and shuts down at once, so a service that
        # was registered is unregistered.
        if first and not running.is_set() and not service.connected:
            raise SystemExit(0)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        service.run()
    except ConfigError as error:
        logger.error("Configuration error: %s", error)
        return 1
    running.set()
    logger.info("dxlvtservice %s running as %s", __version__, settings.instance_name)
    stop.wait()
    service.shutdown()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="dxlvtservice", description="VirusTotal service for a DXL fabric."
    )
    parser.add_argument("config_dir", type=Path, help="folder with dxlclient.config and "
                        "dxlvtservice.config")  # fmt: skip
    parser.add_argument("--check-config", action="store_true", help="validate and exit")
    parser.add_argument("--version", action="version", version=f"dxlvtservice {__version__}")
    args = parser.parse_args(argv)
    if args.check_config:
        return check_config(args.config_dir)
    return run(args.config_dir)


if __name__ == "__main__":
    sys.exit(main())
