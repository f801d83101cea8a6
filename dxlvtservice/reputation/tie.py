"""File verdicts into Trellix/McAfee TIE as External reputations (docs/tie.md).

TIE is the reputation store most DXL fabrics already run. A ``malicious`` or
``trusted`` file verdict becomes an External reputation (provider 15) there,
written the way ``dxltieclient``'s ``set_external_file_reputation`` writes it:
a DXL event, with all three hashes, a file name and a comment. External is a
fallback: before writing, the service asks TIE and leaves the file alone when
another provider (GTI, ATD, an administrator...) already holds a definitive
reputation.

The rules (what to export, with which hashes, name and trust level) are pure
functions. :class:`TieExporter` applies them off the answer's path: results are
judged once per verdict change (:class:`~dxlvtservice.reputation.events.VerdictMemory`),
news waits in a bounded queue, and one thread talks to TIE, retrying while TIE
is absent or silent. ``dxlclient`` forbids synchronous requests on its
callback threads, and a silent TIE holds a request for 30 s, so no request
thread ever waits for TIE.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from dxlclient.exceptions import WaitTimeoutException
from dxltieclient import TieClient

from ..core.indicators import IndicatorType
from ..core.reports import Report
from ..core.verdicts import Verdict
from ..store.base import Memory
from .events import VerdictMemory

EXTERNAL = 15
"""TIE's provider id for External reputations (``dxltieclient.constants.FileProvider``)."""
NO_OPINION = frozenset({0, 50})
"""Trust levels that say nothing: not set, unknown."""
PENDING_EXPORTS = 1_000
"""Files waiting for TIE; past this, news is dropped (counted) until TIE catches up."""
FIRST_RETRY_SEC = 1.0
LAST_RETRY_SEC = 60.0

logger = logging.getLogger(__name__)


class TieUnavailable(Exception):
    """TIE could not be asked or told: absent from the fabric, silent, or the fabric is down."""


@dataclass(frozen=True)
class Export:
    """One External reputation to write."""

    trust_level: int
    hashes: dict[str, str]
    filename: str
    comment: str


def file_name(report: Report, sha256: str) -> str:
    """The report's meaningful name (v3), else the sha256: TIE ignores nameless reports."""
    name = report.meaningful_name
    return name if name and name.strip() else sha256


def comment(result: dict) -> str:
    """What an analyst reads beside the reputation in TIE: the count and where to look."""
    return (
        f"VirusTotal: {result.get('positives')}/{result.get('total')} engines detected this file; "
        f"{result.get('permalink')}"
    )


def held_by_another_provider(reputations: dict) -> bool:
    """Whether a provider other than External already has an opinion (TIE's own sample's rule)."""
    for provider, reputation in reputations.items():
        if int(provider) == EXTERNAL or not isinstance(reputation, dict):
            continue
        if reputation.get("trustLevel", 0) not in NO_OPINION:
            return True
    return False


@dataclass(frozen=True)
class ExportPolicy:
    """Which verdicts become which trust level (``[TIE]`` in the configuration)."""

    malicious_level: int = 1
    trusted_level: int | None = 70

    @property
    def verdicts(self) -> frozenset[str]:
        """The exported verdicts: ``malicious``, and ``trusted`` unless it is off."""
        listed = {Verdict.MALICIOUS.value}
        if self.trusted_level is not None:
            listed.add(Verdict.TRUSTED.value)
        return frozenset(listed)

    def level(self, verdict: str) -> int | None:
        if verdict == Verdict.MALICIOUS:
            return self.malicious_level
        return self.trusted_level if verdict == Verdict.TRUSTED else None

    def export(self, result: dict, report: Report) -> Export | None:
        """The External reputation a file result asks for, or None (not a file, not listed)."""
        level = self.level(result.get("verdict", ""))
        hashes = report.file_hashes if result.get("type") == IndicatorType.FILE else None
        if level is None or hashes is None:
            return None
        return Export(level, hashes, file_name(report, hashes["sha256"]), comment(result))


class Tie(Protocol):
    """What the exporter needs of TIE; :class:`DxlTie` on a real fabric."""

    def reputations(self, hashes: dict[str, str]) -> dict: ...

    def report(self, export: Export) -> None: ...


class DxlTie:
    """TIE through ``dxltieclient``, on the service's DXL client (never on its callback threads)."""

    def __init__(self, dxl_client: Callable[[], Any]) -> None:
        self._dxl_client = dxl_client  # connected after start-up, so asked for when needed
        self._tie_client: TieClient | None = None

    def _client(self) -> TieClient:
        if self._tie_client is None:
            self._tie_client = TieClient(self._dxl_client())
        return self._tie_client

    def reputations(self, hashes: dict[str, str]) -> dict:
        try:
            return self._client().get_file_reputation(hashes)
        except Exception as error:  # dxltieclient raises bare Exceptions for error responses
            raise TieUnavailable(_reason(error)) from None

    def report(self, export: Export) -> None:
        try:
            self._client().set_external_file_reputation(
                export.trust_level, export.hashes,
                filename=export.filename, comment=export.comment,
            )  # fmt: skip
        except Exception as error:
            raise TieUnavailable(_reason(error)) from None


def _reason(error: Exception) -> str:
    if isinstance(error, WaitTimeoutException):
        return "TIE did not answer a reputation query in time"
    return str(error) or type(error).__name__


class TieExporter:
    """Exports file verdicts to TIE from a background thread; never blocks the caller."""

    def __init__(
        self,
        policy: ExportPolicy,
        tie: Tie,
        *,
        pending: int = PENDING_EXPORTS,
        first_retry: float = FIRST_RETRY_SEC,
        shared: Memory | None = None,
    ) -> None:
        self._policy = policy
        self._tie = tie
        # Once per change, no repeats; shared by a fleet's hosts when ``shared`` is given.
        self._memory = VerdictMemory(policy.verdicts, math.inf, shared=shared)
        self._capacity = pending
        self._first_retry = first_retry
        self._pending: OrderedDict[str, Export] = OrderedDict()  # by sha256: the latest wins
        self._changed = threading.Condition()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="tie-export", daemon=True)
        self.status = "ok"
        self.last_error: str | None = None
        self._asking_since: float | None = None
        self.sent = 0
        self.skipped = 0
        self.dropped = 0

    def start(self) -> None:
        self._thread.start()

    def offer(self, results: list[dict], reports: list[Any]) -> None:
        """Hand over a request's results and their reports; only news about files is queued."""
        for result, raw in zip(results, reports, strict=True):
            if result.get("type") != IndicatorType.FILE:
                continue
            report = Report.from_dict(IndicatorType.FILE, raw)
            hashes = report.file_hashes
            if hashes is None:
                continue
            news, _ = self._memory.observe(
                f"file:{hashes['sha256']}", result["verdict"], time.time()
            )
            export = self._policy.export(result, report) if news else None
            if export is not None:
                self._enqueue(export)

    def _enqueue(self, export: Export) -> None:
        key = export.hashes["sha256"]
        with self._changed:
            if key not in self._pending and len(self._pending) >= self._capacity:
                self.dropped += 1
                return
            self._pending[key] = export
            self._changed.notify_all()

    def _run(self) -> None:
        delay = self._first_retry
        while not self._stopping.is_set():
            with self._changed:
                self._changed.wait_for(lambda: self._pending or self._stopping.is_set())
                if self._stopping.is_set():
                    return
                key, export = next(iter(self._pending.items()))
            try:
                self._export(export)
            except TieUnavailable as error:
                self.status, self.last_error = "unavailable", str(error)
                logger.warning("TIE unavailable, %d exports wait: %s", len(self._pending), error)
                with self._changed:  # to the back: one file TIE keeps refusing blocks no other
                    if self._pending.get(key) is export:
                        self._pending.move_to_end(key)
                self._stopping.wait(delay)
                delay = min(delay * 2, LAST_RETRY_SEC)
                continue
            except Exception:
                logger.exception("Could not export a verdict to TIE")
            self.status, delay = "ok", self._first_retry
            with self._changed:
                if self._pending.get(key) is export:
                    del self._pending[key]

    def _export(self, export: Export) -> None:
        self._asking_since = time.monotonic()
        try:
            reputations = self._tie.reputations(export.hashes)
        finally:
            self._asking_since = None
        if held_by_another_provider(reputations):
            self.skipped += 1
            return
        self._tie.report(export)
        self.sent += 1

    def stop(self, timeout: float = 2.0) -> None:
        """Stop; what is pending is not exported (a new process exports it at its next lookup)."""
        self._stopping.set()
        with self._changed:
            self._changed.notify_all()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def stats(self) -> dict[str, Any]:
        since = self._asking_since
        with self._changed:
            pending = len(self._pending)
        return {
            "status": self.status,
            "last_error": self.last_error,
            "sent": self.sent,
            "skipped": self.skipped,
            "pending": pending,
            "dropped": self.dropped,
            "awaiting_answer_sec": None if since is None else round(time.monotonic() - since, 1),
        }


OFF = {"status": "off"}
"""Health's ``tie`` section when export is off."""
