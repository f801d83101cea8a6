"""What ``/health`` reports: upstream status and calls, request counters.

The same figures feed the Prometheus endpoint (:mod:`dxlvtservice.ops.metrics`), so
every label they carry comes from a bounded set: topics, error codes,
verdicts, endpoint names. Never an indicator, never the key.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

from ..errors import TOO_MANY_REQUESTS, UNAUTHORIZED, ServiceError
from ..lookups.upstream import Call


class UpstreamStatus:
    """The outcome of the latest upstream call, as ``ok`` / ``unauthorized`` / ..."""

    def __init__(self, api_version: int) -> None:
        self.api_version = api_version
        self.status = "ok"
        self.last_error: str | None = None
        self._lock = threading.Lock()
        self._calls: Counter[tuple[str, str]] = Counter()
        self._units: Counter[tuple[str, str]] = Counter()

    def _count(self, call: Call, outcome: str) -> None:
        with self._lock:
            self._calls[call.endpoint, outcome] += 1
            self._units[call.endpoint, outcome] += call.units

    def record(self, error: ServiceError | None) -> None:
        if error is None:
            self.status = "ok"
            return
        self.last_error = error.message
        if error.code == UNAUTHORIZED:
            self.status = "unauthorized"
        elif error.code == TOO_MANY_REQUESTS:
            self.status = "quota_exhausted"
        else:  # time-outs, 5xx, garbage: VirusTotal is not usable right now
            self.status = "unreachable"

    def watch(self, execute: Callable[[Call], list[Any]]) -> Callable[[Call], list[Any]]:
        """Wrap an upstream executor so that every call updates this status."""

        def watched(call: Call) -> list[Any]:
            try:
                answers = execute(call)
            except ServiceError as error:
                self.record(error)
                self._count(call, str(error.code))
                raise
            except Exception:
                self._count(call, "error")
                raise
            self.record(None)
            self._count(call, "ok")
            return answers

        return watched

    def to_dict(self, quota: dict) -> dict:
        """The upstream section of health; a used-up daily quota also reads as exhausted."""
        day = quota["per_day"]
        exhausted = day["limit"] is not None and day["used"] >= day["limit"]
        calls: dict[str, dict[str, dict[str, int]]] = {}
        with self._lock:
            for (endpoint, outcome), count in self._calls.items():
                units = self._units[endpoint, outcome]
                calls.setdefault(endpoint, {})[outcome] = {"calls": count, "units": units}
        return {
            "api_version": self.api_version,
            "status": "quota_exhausted" if exhausted else self.status,
            "last_error": self.last_error,
            "calls": calls,
        }


def verdicts_in(answer: Any) -> list[str]:
    """The verdicts of a classify answer (one per result) or of an analyze result."""
    if not isinstance(answer, dict):
        return []
    results = answer.get("results")
    if isinstance(results, list):
        return [result["verdict"] for result in results if isinstance(result, dict)]
    verdict = answer.get("verdict")
    return [verdict] if isinstance(verdict, str) and "type" in answer else []


class RequestCounters:
    """Requests answered per topic and code (200 for a result), errors per code, verdicts."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_topic: Counter[str] = Counter()
        self._by_code: Counter[tuple[str, str]] = Counter()
        self._errors: Counter[str] = Counter()
        self._verdicts: Counter[str] = Counter()

    def count(self, topic: str, error_code: int | None, verdicts: Iterable[str] = ()) -> None:
        code = "200" if error_code is None else str(error_code)
        with self._lock:
            self._by_topic[topic] += 1
            self._by_code[topic, code] += 1
            if error_code is not None:
                self._errors[code] += 1
            self._verdicts.update(verdicts)

    def to_dict(self) -> dict:
        with self._lock:
            by_code: dict[str, dict[str, int]] = {}
            for (topic, code), count in self._by_code.items():
                by_code.setdefault(topic, {})[code] = count
            return {
                "total": sum(self._by_topic.values()),
                "by_topic": dict(self._by_topic),
                "by_code": by_code,
                "errors": dict(self._errors),
                "verdicts": dict(self._verdicts),
            }
