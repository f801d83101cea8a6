"""``dxlvtservice-cli``: ask the service from a shell or a script.

::

    dxlvtservice-cli -c /etc/dxlvtservice classify evil.example 44d88612fea8a8f36de82e1278abb02f
    journalctl -u sshd | dxlvtservice-cli classify --file -
    dxlvtservice-cli analyze file report.json
    dxlvtservice-cli report domain example.com
    dxlvtservice-cli health

Exit codes scripts can use: 0 nothing malicious, 1 something malicious,
2 an error (service unreachable, bad input). The table is for people; ``--json``
prints the service's JSON (docs/topics.md).
"""

from __future__ import annotations

import argparse
import configparser
import json
import os
import socket
import sys
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, TextIO

from dxlclient.client import DxlClient
from dxlclient.client_config import DxlClientConfig

from . import __version__
from .client import DEFAULT_RESPONSE_TIMEOUT, VirusTotalServiceClient, VirusTotalServiceError
from .config import CONFIG_FILE_NAME

NOTHING_MALICIOUS, MALICIOUS, ERROR = 0, 1, 2
CONFIG_ENV = "DXLVT_CLIENT_CONFIG"
CLIENT_CONFIG = "dxlclient.config"
TYPES = ("file", "url", "domain", "ip")
COLUMNS = ("verdict", "type", "indicator", "detections", "reason", "age", "permalink")
_COLOURS = {"malicious": "31", "report_error": "33", "report_missing": "33", "trusted": "32"}
_INDICATOR_WIDTH = 64


class UsageError(Exception):
    """Bad input on the command line: exit code 2 with one sentence."""


# -- formatting (pure) -----------------------------------------------------------


def exit_code(verdicts: Iterable[str]) -> int:
    """1 when any verdict is malicious, else 0."""
    return MALICIOUS if "malicious" in verdicts else NOTHING_MALICIOUS


def format_age(seconds: float | None) -> str:
    """A report's age for people: ``42s``, ``5m``, ``3h``, ``2d``."""
    if seconds is None:
        return "-"
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{int(seconds // size)}{unit}"
    return f"{int(seconds)}s"


def _shorten(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def row(result: dict) -> tuple[str, ...]:
    """One table row from a classify (or analyze) result."""
    positives, total = result.get("positives"), result.get("total")
    detections = "-" if positives is None else f"{positives}/{'-' if total is None else total}"
    return (
        result.get("verdict") or "-",
        result.get("type") or "-",
        _shorten(result.get("indicator") or "-", _INDICATOR_WIDTH),
        detections,
        result.get("reason") or "-",
        format_age(result.get("age")),
        result.get("permalink") or "-",
    )


def table(results: Sequence[dict], *, colour: bool = False) -> str:
    """Aligned columns with a header; the verdict coloured when ``colour``."""
    rows = [COLUMNS, *(row(result) for result in results)]
    widths = [max(len(cells[i]) for cells in rows) for i in range(len(COLUMNS))]
    lines = []
    for number, cells in enumerate(rows):
        padded = [cell.ljust(width) for cell, width in zip(cells, widths, strict=True)]
        code = _COLOURS.get(cells[0]) if colour and number else None
        if code:
            padded[0] = f"\x1b[{code}m{padded[0]}\x1b[0m"
        lines.append("  ".join(padded).rstrip())
    return "\n".join(lines)


def _errors(by_code: dict[str, int]) -> str:
    if not by_code:
        return "no errors"
    return "errors " + ", ".join(f"{count} x {code}" for code, count in sorted(by_code.items()))


def health_summary(health: dict) -> str:
    """The few lines of ``/health`` an operator looks at first."""
    upstream, quota, cache = health["upstream"], health["quota"], health["cache"]
    queue, requests = health["queue"], health["requests"]

    def used(window: dict) -> str:
        limit = window.get("limit")
        return f"{window['used']}/{'unlimited' if limit is None else limit}"

    lines = [
        f"instance   {health['instance']} (dxlvtservice {health['version']}, "
        f"up {format_age(health['uptime'])})",
        f"upstream   {upstream['status']} (API v{upstream['api_version']})"
        + (f", last error: {upstream['last_error']}" if upstream.get("last_error") else ""),
        f"quota      minute {used(quota['per_minute'])}, day {used(quota['per_day'])}, "
        f"month {used(quota['per_month'])} units",
        f"cache      {cache.get('status', 'ok')}, {cache['entries']} entries, "
        f"{cache['hits']} hits, {cache['misses']} misses",
        f"queue      {queue['waiting']} waiting, {queue['in_flight']} in flight",
        f"requests   {requests['total']} answered, {_errors(requests.get('errors') or {})}",
    ]
    return "\n".join(lines)


# -- commands ----------------------------------------------------------------------


def _read(path: str, stdin: TextIO) -> str:
    if path == "-":
        return stdin.read()
    try:
        return Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        reason = getattr(error, "strerror", None) or error
        raise UsageError(f"cannot read {path}: {reason}") from None


def classify_request(args: argparse.Namespace, stdin: TextIO) -> dict[str, Any]:
    """The classify fields the arguments ask for; indicators are searched by content."""
    texts = [text for text in (args.text, args.file and _read(args.file, stdin)) if text]
    fields: dict[str, Any] = {}
    if args.indicators:
        fields["search_within"] = list(args.indicators)
    if texts:
        fields["text"] = "\n".join(texts)
    if not fields:
        raise UsageError("give indicators, --text or --file")
    if args.max_age is not None:
        fields["max_age"] = args.max_age
    return fields


def analyze_request(args: argparse.Namespace, stdin: TextIO) -> Any:
    """The report in REPORT_FILE."""
    try:
        return json.loads(_read(args.report_file, stdin))
    except ValueError:
        raise UsageError(f"{args.report_file} is not JSON") from None


def run_classify(vt: VirusTotalServiceClient, args: argparse.Namespace, out: Output) -> int:
    answer = vt.classify(**args.request)
    if not answer["results"] and "text" not in args.request:
        raise UsageError("no hash, URL, domain or IP address found in the arguments")
    out.emit(answer, lambda: table(answer["results"], colour=out.colour))
    return exit_code([answer["verdict"]])


def run_analyze(vt: VirusTotalServiceClient, args: argparse.Namespace, out: Output) -> int:
    result = vt.analyze(args.type, args.request)
    out.emit(result, lambda: table([result], colour=out.colour))
    return exit_code([result["verdict"]])


def run_report(vt: VirusTotalServiceClient, args: argparse.Namespace, out: Output) -> int:
    """The compatible topics' v2 reports; the service's own rules classify them (analyze)."""
    values: list[str] = args.values
    if args.type == "file":
        answer = vt.file_report(values)
    elif args.type == "url":
        answer = vt.url_report(values)
    else:
        lookup = vt.ip_report if args.type == "ip" else vt.domain_report
        answer = [lookup(value) for value in values]
    reports = answer if isinstance(answer, list) else [answer]
    results = []
    for value, report in zip(values, reports, strict=False):
        result = vt.analyze(args.type, report)
        link = report.get("permalink") or result.get("permalink")
        results.append({**result, "indicator": value, "permalink": link})
    shown = answer[0] if args.type in ("ip", "domain") and len(values) == 1 else answer
    out.emit(shown, lambda: table(results, colour=out.colour))
    return exit_code(result["verdict"] for result in results)


def local_instance(config_dir: Path) -> str:
    """The instance a service run from ``config_dir`` registers: its ``[General]
    instanceName``, else this host's name (the service's own default)."""
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(config_dir / CONFIG_FILE_NAME, encoding="utf-8")
    return parser.get("General", "instanceName", fallback="").strip() or socket.gethostname()


def run_health(vt: VirusTotalServiceClient, args: argparse.Namespace, out: Output) -> int:
    if args.instance is not None:
        vt.use_instance(args.instance or local_instance(args.config_path.parent))
    health = vt.health()
    out.emit(health, lambda: health_summary(health))
    return NOTHING_MALICIOUS


class Output:
    """Where answers go: the service's JSON, or the readable form."""

    def __init__(self, stdout: TextIO, as_json: bool) -> None:
        self.stdout = stdout
        self.as_json = as_json
        self.colour = not as_json and stdout.isatty() and "NO_COLOR" not in os.environ

    def emit(self, document: Any, readable: Callable[[], str]) -> None:
        text = json.dumps(document, indent=2) if self.as_json else readable()
        print(text, file=self.stdout)


# -- the fabric --------------------------------------------------------------------


def client_config_path(given: str | None, environ: dict[str, str]) -> Path:
    """``-c`` (or ``DXLVT_CLIENT_CONFIG``): a dxlclient.config file or a folder holding one."""
    chosen = given or environ.get(CONFIG_ENV)
    if not chosen:
        raise UsageError(f"name the dxlclient.config with -c PATH or {CONFIG_ENV}")
    path = Path(chosen)
    if path.is_dir():
        path = path / CLIENT_CONFIG
    if not path.is_file():
        raise UsageError(f"no dxlclient.config at {path}")
    return path


def connect(path: Path) -> DxlClient:
    """A connected DxlClient that tries each broker once instead of forever."""
    try:
        config = DxlClientConfig.create_dxl_config_from_file(str(path))
    except Exception as error:  # dxlclient's parser: any failure is the file's
        raise UsageError(f"{path}: {error}") from None
    config.connect_retries = 1
    config.reconnect_when_disconnected = False
    client = DxlClient(config)
    try:
        client.connect()
    except Exception as error:
        client.destroy()
        raise VirusTotalServiceError(503, f"cannot connect to the fabric: {error}") from None
    return client


COMMANDS = {"classify": run_classify, "analyze": run_analyze, "report": run_report,
            "health": run_health}  # fmt: skip
# Input read before connecting, so that bad input fails fast (and stdin is read once).
REQUESTS = {"classify": classify_request, "analyze": analyze_request}


def parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--json", action="store_true", help="print the service's JSON")
    main = argparse.ArgumentParser(
        prog="dxlvtservice-cli", description="Ask dxlvtservice over the DXL fabric."
    )
    main.add_argument("-c", "--config", metavar="PATH",
                      help=f"a dxlclient.config or a folder holding one (default: ${CONFIG_ENV})")
    main.add_argument("--timeout", type=float, default=DEFAULT_RESPONSE_TIMEOUT,
                      help="seconds to wait for an answer (default: %(default)g)")
    main.add_argument("--version", action="version", version=f"dxlvtservice {__version__}")
    commands = main.add_subparsers(dest="command", required=True, metavar="COMMAND")
    classify = commands.add_parser("classify", parents=[common], help="look up and classify")
    classify.add_argument("indicators", nargs="*", metavar="INDICATOR",
                          help="hashes, URLs, domains, IPs (defanged forms too)")
    classify.add_argument("--text", help="free text to find indicators in")
    classify.add_argument("--file", metavar="PATH", help="a text file to search, - for stdin")
    classify.add_argument("--max-age", type=float, metavar="SECONDS",
                          help="do not use cached reports older than this")
    analyze = commands.add_parser("analyze", parents=[common],
                                  help="classify a report you already have (no upstream call)")
    analyze.add_argument("type", choices=TYPES)
    analyze.add_argument("report_file", metavar="REPORT_FILE",
                         help="a v2 or v3 report, - for stdin")
    report = commands.add_parser("report", parents=[common],
                                 help="VirusTotal's v2 report (the compatible topics)")
    report.add_argument("type", choices=TYPES)
    report.add_argument("values", nargs="+", metavar="VALUE")
    health = commands.add_parser("health", parents=[common], help="the service's status")
    health.add_argument("--instance", nargs="?", const="", metavar="NAME",
                        help="ask this instance; without NAME, the one the -c folder runs")
    return main  # fmt: skip


def main(
    argv: Sequence[str] | None = None,
    *,
    stdin: TextIO | None = None,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
    environ: dict[str, str] | None = None,
) -> int:
    stdin, stdout, stderr = stdin or sys.stdin, stdout or sys.stdout, stderr or sys.stderr
    try:
        args = parser().parse_args(argv)
    except SystemExit as exit_:  # argparse: --help and --version are 0, bad usage 2
        return ERROR if exit_.code else NOTHING_MALICIOUS
    out = Output(stdout, args.json)
    client = None
    try:
        path = client_config_path(args.config, dict(os.environ) if environ is None else environ)
        args.config_path = path
        prepare = REQUESTS.get(args.command)
        args.request = prepare(args, stdin) if prepare else None
        client = connect(path)
        vt = VirusTotalServiceClient(client, response_timeout=args.timeout)
        return COMMANDS[args.command](vt, args, out)
    except UsageError as error:
        print(f"dxlvtservice-cli: {error}", file=stderr)
    except VirusTotalServiceError as error:
        print(f"dxlvtservice-cli: error {error.code}: {error.message}", file=stderr)
    finally:
        if client is not None:
            client.destroy()
    return ERROR


if __name__ == "__main__":
    sys.exit(main())
