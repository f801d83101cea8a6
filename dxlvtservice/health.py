"""What ``/health`` reports: upstream status, request counters, and the snapshot itself."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

from .errors import TOO_MANY_REQUESTS, UNAUTHORIZED, ServiceError
from .upstream import Call


class UpstreamStatus:
    """The outcome of the latest upstream call, as ``ok`` / ``unauthorized`` / ..."""

    def __init__(self, api_version: int) -> None:
        self.api_version = api_version
        self.status = "ok"
        self.last_error: str | None = None

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
                raise
            self.record(None)
            return answers

        return watched

    def to_dict(self, quota: dict) -> dict:
        """The upstream section of health; a used-up daily quota also reads as exhausted."""
        day = quota["per_day"]
        exhausted = day["limit"] is not None and day["used"] >= day["limit"]
        return {
            "api_version": self.api_version,
            "status": "quota_exhausted" if exhausted else self.status,
            "last_error": self.last_error,
        }


class RequestCounters:
    """Requests answered per topic, and errors per code."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_topic: Counter[str] = Counter()
        self._errors: Counter[str] = Counter()

    def count(self, topic: str, error_code: int | None) -> None:
        with self._lock:
            self._by_topic[topic] += 1
            if error_code is not None:
                self._errors[str(error_code)] += 1

    def to_dict(self) -> dict:
        with self._lock:
            return {
                "total": sum(self._by_topic.values()),
                "by_topic": dict(self._by_topic),
                "errors": dict(self._errors),
            }
