"""What ``/health`` reports: upstream status, request counters, and the snapshot itself."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

from .errors import GATEWAY_TIMEOUT, TOO_MANY_REQUESTS, UNAUTHORIZED, ServiceError
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
        elif error.code == GATEWAY_TIMEOUT or getattr(error, "retry", None) == "transient":
            self.status = "unreachable"
        else:
            self.status = "error"

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

    def to_dict(self) -> dict:
        return {
            "api_version": self.api_version,
            "status": self.status,
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
