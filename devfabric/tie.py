"""A TIE double: the Trellix/McAfee TIE server's file reputation topics, on the broker double.

It speaks what ``dxltieclient`` speaks (docs/tie.md): it answers reputation
queries on ``/mcafee/service/tie/file/reputation`` (hashes in base64, one
reputation per provider), records the External reputations sent as events on
``/mcafee/event/external/file/report`` (and, like TIE, keeps them as provider
15's reputation of the file), and publishes first-instance events. A test sets
reputations per hash, makes it hang (queries get no answer) or takes it off
the fabric (``stop``: queries then fail at once with "unable to locate service").
"""

from __future__ import annotations

import base64
import binascii
import json
import threading
import time
from dataclasses import dataclass
from typing import Any

from dxlclient.callbacks import EventCallback, RequestCallback
from dxlclient.client import DxlClient
from dxlclient.message import Event, Request, Response
from dxlclient.service import ServiceRegistrationInfo

SERVICE_TYPE = "/mcafee/service/tie"
REPUTATION_TOPIC = "/mcafee/service/tie/file/reputation"
EXTERNAL_REPORT_TOPIC = "/mcafee/event/external/file/report"
FIRST_INSTANCE_TOPIC = "/mcafee/event/tie/file/firstinstance"

GTI = 1
ENTERPRISE = 3
EXTERNAL = 15
NOT_SET = 0
UNKNOWN = 50
KNOWN_TRUSTED = 99
TIMEOUT = 10.0


def to_base64(hex_digest: str) -> str:
    """TIE's form of a hash on the fabric: the digest's bytes in base64."""
    return base64.b64encode(binascii.unhexlify(hex_digest)).decode("ascii")


def to_hex(base64_digest: str) -> str:
    return binascii.hexlify(base64.b64decode(base64_digest)).decode("ascii")


@dataclass(frozen=True)
class ExternalReport:
    """One External reputation as received: who sent it, what it says, about which file."""

    provider: int
    trust_level: int
    hashes: dict[str, str]
    filename: str
    comment: str
    payload: dict[str, Any]


def _external_report(payload: dict[str, Any]) -> ExternalReport:
    file = payload.get("file", {})
    return ExternalReport(
        provider=payload.get("provider", {}).get("id"),
        trust_level=file.get("reputation", {}).get("score"),
        hashes=dict(file.get("hashes", {})),
        filename=file.get("attributes", {}).get("filename", ""),
        comment=payload.get("comment", ""),
        payload=payload,
    )


class TieDouble(RequestCallback):
    """The TIE server as far as file reputations go, driven by a test."""

    def __init__(self, client: DxlClient) -> None:
        super().__init__()
        self._client = client
        self._lock = threading.Condition()
        self._reputations: dict[str, dict[int, int]] = {}  # hex digest -> provider -> trust level
        self._registration: ServiceRegistrationInfo | None = None
        self.hanging = False
        self.queries: list[dict[str, str]] = []  # hashes of each query, hex by type
        self.reports: list[ExternalReport] = []
        self._on_report = _ReportCallback(self)

    # -- control ----------------------------------------------------------------

    def start(self) -> TieDouble:
        """Register the service and listen for External reports."""
        self._registration = ServiceRegistrationInfo(self._client, SERVICE_TYPE)
        self._registration.add_topic(REPUTATION_TOPIC, self)
        self._client.add_event_callback(EXTERNAL_REPORT_TOPIC, self._on_report)
        self._client.register_service_sync(self._registration, TIMEOUT)
        return self

    def stop(self) -> None:
        """Leave the fabric: queries now fail with "unable to locate service"."""
        if self._registration is not None:
            self._client.unregister_service_sync(self._registration, TIMEOUT)
            self._registration = None
        self._client.remove_event_callback(EXTERNAL_REPORT_TOPIC, self._on_report)

    def set_reputation(self, hashes: dict[str, str] | str, provider: int, trust_level: int) -> None:
        """Give a file (any of its hex hashes) ``provider``'s ``trust_level``."""
        digests = [hashes] if isinstance(hashes, str) else list(hashes.values())
        with self._lock:
            for digest in digests:
                self._reputations.setdefault(digest.lower(), {})[provider] = trust_level

    def reset(self) -> None:
        """No reputations, queries or reports; answering."""
        with self._lock:
            self._reputations.clear()
            self.queries.clear()
            self.reports.clear()
            self.hanging = False

    def publish_first_instance(
        self, hashes: dict[str, str], name: str, agent_guid: str = "{devfabric-agent}"
    ) -> None:
        """Announce that an endpoint saw a file for the first time, as TIE does."""
        event = Event(FIRST_INSTANCE_TOPIC)
        event.payload = json.dumps(
            {
                "agentGuid": agent_guid,
                "hashes": [{"type": kind, "value": to_base64(v)} for kind, v in hashes.items()],
                "name": name,
            }
        ).encode("utf-8")
        self._client.send_event(event)

    def wait_for_reports(self, count: int, timeout: float = 30.0) -> list[ExternalReport]:
        """The External reports, once at least ``count`` have arrived (fails otherwise)."""
        with self._lock:
            arrived = self._lock.wait_for(lambda: len(self.reports) >= count, timeout)
            assert arrived, f"expected {count} External reports, got {len(self.reports)}"
            return list(self.reports)

    def wait_for_queries(self, count: int, timeout: float = 30.0) -> list[dict[str, str]]:
        with self._lock:
            arrived = self._lock.wait_for(lambda: len(self.queries) >= count, timeout)
            assert arrived, f"expected {count} reputation queries, got {len(self.queries)}"
            return list(self.queries)

    # -- the fabric side ---------------------------------------------------------

    def on_request(self, request: Request) -> None:
        document = json.loads(request.payload or b"{}")
        hashes = {h["type"]: to_hex(h["value"]) for h in document.get("hashes", [])}
        with self._lock:
            self.queries.append(hashes)
            self._lock.notify_all()
            if self.hanging:
                return
            levels = {ENTERPRISE: NOT_SET, GTI: UNKNOWN}  # what TIE says of a file it does not know
            for digest in hashes.values():
                levels.update(self._reputations.get(digest, {}))
        now = int(time.time())
        response = Response(request)
        response.payload = json.dumps(
            {
                "reputations": [
                    {"providerId": provider, "trustLevel": level, "createDate": now,
                     "attributes": {}}
                    for provider, level in sorted(levels.items())
                ]
            }
        ).encode("utf-8")  # fmt: skip
        self._client.send_response(response)

    def _record(self, payload: dict[str, Any]) -> None:
        report = _external_report(payload)
        if report.provider == EXTERNAL and report.filename:  # TIE ignores reports without a name
            self.set_reputation(report.hashes, EXTERNAL, report.trust_level)
        with self._lock:
            self.reports.append(report)
            self._lock.notify_all()


class _ReportCallback(EventCallback):
    def __init__(self, double: TieDouble) -> None:
        super().__init__()
        self._double = double

    def on_event(self, event: Event) -> None:
        self._double._record(json.loads(event.payload))
