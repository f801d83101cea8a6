"""Logging set-up: ``[General] logFormat = text | json``, and one line per answered request.

In ``json`` every line the service writes is one JSON object with ``time``
(ISO 8601, UTC), ``level``, ``logger`` and ``message``, plus the fields a line
carries (docs/operations.md): lines a SIEM can ingest as they are. The API-key
redaction (:mod:`dxlvtservice.ops.redaction`) is a handler filter, so it applies
to JSON lines as to text lines.
"""

from __future__ import annotations

import logging
import logging.config
import sys
import threading
from pathlib import Path

from pythonjsonlogger.json import JsonFormatter

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
REQUESTS = logging.getLogger("dxlvtservice.requests")
"""One DEBUG line per answered request: turn it on in logging.config (docs/operations.md)."""


def json_formatter() -> logging.Formatter:
    return JsonFormatter(
        ["levelname", "name", "message"],
        rename_fields={"levelname": "level", "name": "logger"},
        timestamp="time",
    )


def setup_logging(config_dir: Path, log_format: str = "text") -> None:
    """``logging.config`` if the folder has one, else INFO to stderr; then the format."""
    logging_config = Path(config_dir) / "logging.config"
    if logging_config.is_file():
        logging.config.fileConfig(logging_config, disable_existing_loggers=False)
    else:
        logging.basicConfig(level=logging.INFO, format=TEXT_FORMAT)
    # ioc-finder logs a line per text it searches: noise at INFO.
    logging.getLogger("ioc_finder").setLevel(logging.WARNING)
    if log_format == "json":
        for handler in logging.getLogger().handlers:
            handler.setFormatter(json_formatter())
        _route_stray_output()


def _route_stray_output() -> None:
    """Warnings and uncaught exceptions go through logging too: no line escapes as text."""
    logging.captureWarnings(True)
    crashes = logging.getLogger("dxlvtservice.crash")

    def thread_crashed(args: threading.ExceptHookArgs) -> None:
        thread = args.thread.name if args.thread else "?"
        crashes.error("Uncaught exception in thread %s", thread,
                      exc_info=(args.exc_type, args.exc_value, args.exc_traceback))  # fmt: skip

    def crashed(kind, value, traceback) -> None:
        crashes.error("Uncaught exception", exc_info=(kind, value, traceback))

    threading.excepthook = thread_crashed
    sys.excepthook = crashed


def log_request(
    topic: str, message_id: str, client_id: str, code: int, duration: float
) -> None:
    """The answered-request line: ``topic``, ``message_id``, ``outcome``, ``duration_ms``.

    DEBUG, not INFO: a busy fabric asks thousands of cached lookups a second,
    and a line each would cost every cache hit a formatted write and flood the
    journal by default; ``/metrics`` already counts them. Off, it costs one
    level check.
    """
    if not REQUESTS.isEnabledFor(logging.DEBUG):
        return
    outcome = "ok" if code == 200 else "error"
    duration_ms = round(duration * 1000, 1)
    REQUESTS.debug(
        "%s %s %d in %.1f ms", topic, outcome, code, duration_ms,
        extra={"topic": topic, "message_id": message_id, "client_id": client_id,
               "outcome": outcome, "code": code, "duration_ms": duration_ms},
    )  # fmt: skip
