"""Steer a running simulator from tests, benchmarks and the demo, over its ``/_sim`` endpoints.

Standard library only, and never through a proxy: the simulator is on loopback.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class SimulatorControl:
    def __init__(self, base_url: str, timeout: float = 10.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout

    def configure(self, **settings: Any) -> dict[str, Any]:
        """Change settings; returns all settings now in force (the API key left out).

        ``latency_ms`` (int >= 0): added to every API call before it is answered.
        ``quota_per_minute``, ``quota_per_hour``, ``quota_per_day``,
        ``quota_per_month`` (int >= 0, or None for unlimited): quota units of the
        sliding minute and of the UTC hour, day (reset at 00:00 UTC) and calendar
        month. A v2 report/scan/rescan batch costs one unit per resource asked,
        every other call one. A call that does not fit every window is refused
        whole (v2 204, v3 429 ``QuotaExceededError``) and uses nothing.
        ``premium`` (bool, default False): a premium key gets 25 v2 resources
        answered per call (a public key 4, the rest silently dropped) and may use
        ``file/rescan`` (403 to a public key).
        ``api_key`` (str): the one key accepted.
        ``fault`` (``"http500"``, ``"garbage"``, ``"hang"``, ``"reject_key"``,
        ``"reset"`` (the connection closed by a TCP reset, no answer),
        ``"dribble"`` (the answer sent one byte every ``dribble_ms``, int >= 1,
        default 1000; cut off by a reset or stop), or None to clear it) with
        optional ``fault_count`` (int >= 1; the next N API calls only, default
        every call until cleared or reset). A fault replaces the previous one.
        A bad name or value raises ``ValueError``, changing nothing.
        """
        return self._call("POST", "configure", settings)["settings"]

    def consume(self, units: int) -> dict[str, Any]:
        """Spend ``units`` of the key as another tool would; returns the quota windows."""
        return self._call("POST", "consume", {"units": units})["quota"]

    def stats(self) -> dict[str, Any]:
        """Counters since the last reset (``units`` and ``units_by_endpoint``
        included), the quota windows in units, and the settings."""
        return self._call("GET", "stats")

    def log(self) -> list[dict[str, Any]]:
        """Each call the quota counted since the last reset, oldest first (at most 10,000):
        ``at`` (the simulator's clock, seconds), ``endpoint``, ``resources``, ``units``."""
        return self._call("GET", "log")["calls"]

    def reset(self, *, settings: bool = False) -> None:
        """Zero the counters and quota windows and clear the fault, releasing hung
        calls; with ``settings`` also go back to the settings it started with."""
        self._call("POST", "reset", {"settings": settings})

    def wait_in_progress(self, count: int, timeout: float = 10.0) -> bool:
        """Wait until at least ``count`` API calls are in progress (e.g. hanging)."""
        payload = {"in_progress": count, "timeout": timeout}
        return self._call("POST", "wait", payload, timeout + self.timeout)["reached"]

    def _call(
        self, method: str, action: str, payload: dict | None = None, timeout: float | None = None
    ) -> dict[str, Any]:
        data = None if payload is None else json.dumps(payload).encode("utf-8")
        request = urllib.request.Request(
            f"{self.base_url}/_sim/{action}",
            data=data,
            method=method,
            headers={"Content-Type": "application/json"},
        )
        try:
            with _DIRECT.open(request, timeout=timeout or self.timeout) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as error:
            if error.code == 400:
                raise ValueError(json.loads(error.read())["error"]) from None
            raise
