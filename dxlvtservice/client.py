"""A client library for dxlvtservice, in the style of the OpenDXL client libraries.

::

    from dxlclient.client import DxlClient
    from dxlclient.client_config import DxlClientConfig
    from dxlvtservice.client import VirusTotalServiceClient

    config = DxlClientConfig.create_dxl_config_from_file("dxlclient.config")
    with DxlClient(config) as dxl_client:
        dxl_client.connect()
        vt = VirusTotalServiceClient(dxl_client)
        answer = vt.classify(text="beacon to hxxp://evil[.]example/gate")
        print(answer["verdict"])

Every call returns the service's JSON (docs/topics.md) and raises
:class:`VirusTotalServiceError` for anything else: an error answer of the
service (docs/errors.md), the fabric's "unable to locate service", no answer
in time, or a client that is not connected.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable
from typing import Any

from dxlclient.callbacks import EventCallback
from dxlclient.client import DxlClient
from dxlclient.exceptions import DxlException, WaitTimeoutException
from dxlclient.message import ErrorResponse, Event, Request

from . import SERVICE_TYPE, VERDICT_EVENT_TOPIC
from .errors import BAD_GATEWAY, GATEWAY_TIMEOUT, TOO_MANY_REQUESTS, UNAVAILABLE

DEFAULT_RESPONSE_TIMEOUT = 90.0
"""Seconds to wait for an answer: the service's default deadline (``maxQueueWaitSec``,
60 s) plus a margin for the fabric and the answer itself."""

REGISTRY_QUERY_TOPIC = "/mcafee/service/dxl/svcregistry/query"
"""The fabric's service registry (docs/broker.md)."""

_RETRY_IN = re.compile(r"retry in (\d+(?:\.\d+)?) seconds?")


class VirusTotalServiceError(Exception):
    """A request the service (or the fabric) did not answer with a result.

    ``code`` is one of the service's error codes (docs/errors.md), or the
    fabric's own code when no service took the request; ``retry_after`` is the
    number of seconds to wait when waiting would help (quota exhausted, 429).
    """

    def __init__(self, code: int, message: str, retry_after: float | None = None) -> None:
        super().__init__(f"{message} ({code})")
        self.code = code
        self.message = message
        self.retry_after = retry_after

    @classmethod
    def from_response(cls, response: ErrorResponse) -> VirusTotalServiceError:
        """The error in a DXL ``ErrorResponse``; a 429 carries the seconds its message names."""
        message = response.error_message or "the service answered an error"
        return cls(response.error_code, message, retry_after_seconds(response.error_code, message))


def retry_after_seconds(code: int, message: str) -> float | None:
    """The seconds a 429 message asks to wait (``"... retry in 42 seconds"``), else None."""
    if code != TOO_MANY_REQUESTS:
        return None
    found = _RETRY_IN.search(message)
    return float(found.group(1)) if found else None


def _joined(value: str | list[str], separator: str) -> str:
    return separator.join(value) if isinstance(value, list | tuple) else value


def _present(**fields: Any) -> dict[str, Any]:
    """The fields that were given (None means absent)."""
    return {name: value for name, value in fields.items() if value is not None}


class _VerdictCallback(EventCallback):
    def __init__(self, function: Callable[[dict], None]) -> None:
        super().__init__()
        self.function = function

    def on_event(self, event: Event) -> None:
        self.function(json.loads(event.payload.decode("utf-8")))


class VirusTotalServiceClient:
    """Requests to ``/opendxl-virustotal/service/vtapi`` over an existing ``DxlClient``."""

    def __init__(
        self,
        dxl_client: DxlClient,
        response_timeout: float = DEFAULT_RESPONSE_TIMEOUT,
        service_id: str | None = None,
    ) -> None:
        """``service_id`` sends every request to that one registered instance
        (see :meth:`instances`); by default the fabric picks one, round robin."""
        self._dxl_client = dxl_client
        self.response_timeout = response_timeout
        self.service_id = service_id
        self._verdict_callbacks: dict[Callable[[dict], None], _VerdictCallback] = {}
        self._lock = threading.Lock()

    # -- new topics --------------------------------------------------------

    def classify(
        self,
        *,
        domain: str | list[str] | None = None,
        url: str | list[str] | None = None,
        ip: str | list[str] | None = None,
        hash: str | list[str] | None = None,
        resource: str | list[str] | None = None,
        md5: str | list[str] | None = None,
        sha1: str | list[str] | None = None,
        sha256: str | list[str] | None = None,
        search_within: Any = None,
        text: str | None = None,
        expression: str | None = None,
        rules: dict[str, Any] | None = None,
        max_age: float | None = None,
        include_report: bool | None = None,
    ) -> dict:
        """Find indicators in what is given, look them up, classify them (docs/topics.md)."""
        return self._request("/classify", _present(
            domain=domain, url=url, ip=ip, hash=hash, resource=resource, md5=md5, sha1=sha1,
            sha256=sha256, search_within=search_within, text=text, expression=expression,
            rules=rules, max_age=max_age, include_report=include_report,
        ))  # fmt: skip

    def analyze(self, type: str, report: Any, rules: dict[str, Any] | None = None) -> dict:
        """Classify a report you already have (``file``, ``url``, ``domain`` or ``ip``)."""
        return self._request("/analyze", _present(type=type, rules=rules) | {"report": report})

    def health(self) -> dict:
        """The service's status: upstream, quota, cache, queue, requests."""
        return self._request("/health", {})

    # -- compatible topics (v2 JSON, as dxlvtapiclient gets it) -------------

    def file_report(self, resource: str | list[str], all_info: bool = False) -> Any:
        """v2 file report(s) for md5/sha1/sha256 hashes or scan ids."""
        return self._request("/file/report", _present(
            resource=_joined(resource, ","), allinfo="1" if all_info else None))  # fmt: skip

    def file_rescan(
        self,
        resource: str | list[str],
        date: str | None = None,
        period: int | None = None,
        repeat: int | None = None,
        notify_url: str | None = None,
        notify_changes_only: bool = False,
    ) -> Any:
        """Ask VirusTotal to rescan files (a private key upstream; never cached)."""
        return self._request("/file/rescan", _present(
            resource=_joined(resource, ","), date=date, period=period, repeat=repeat,
            notify_url=notify_url, notify_changes_only="1" if notify_changes_only else None,
        ))  # fmt: skip

    def url_report(self, url: str | list[str], scan: bool = False, all_info: bool = False) -> Any:
        """v2 URL report(s); ``scan`` submits the URL when VirusTotal does not know it."""
        return self._request("/url/report", _present(
            resource=_joined(url, "\n"), scan="1" if scan else None,
            allinfo="1" if all_info else None,
        ))  # fmt: skip

    def url_scan(self, url: str | list[str]) -> Any:
        """Submit URL(s) for scanning (never cached)."""
        return self._request("/url/scan", {"url": _joined(url, "\n")})

    def ip_report(self, ip: str) -> dict:
        """v2 IPv4 address report."""
        return self._request("/ip-address/report", {"ip": ip})

    def domain_report(self, domain: str) -> dict:
        """v2 domain report."""
        return self._request("/domain/report", {"domain": domain})

    # -- instances -----------------------------------------------------------

    def instances(self) -> dict[str, str]:
        """Registered dxlvtservice instances: instance name -> service id (the registry's)."""
        request = Request(REGISTRY_QUERY_TOPIC)
        request.payload = json.dumps({"serviceType": SERVICE_TYPE}).encode("utf-8")
        records = self._send(request).get("services") or {}
        return {
            record.get("metaData", {}).get("instance", guid): guid
            for guid, record in records.items()
        }

    def use_instance(self, name: str) -> None:
        """Send every further request to the instance registered as ``name``."""
        service_id = self.instances().get(name)
        if service_id is None:
            raise VirusTotalServiceError(UNAVAILABLE, f"no instance {name!r} is registered")
        self.service_id = service_id

    # -- verdict events ----------------------------------------------------

    def add_verdict_callback(self, function: Callable[[dict], None]) -> None:
        """Call ``function(result)`` for each verdict event the service publishes.

        ``result`` is the event's payload, a classify result (docs/topics.md);
        the function runs on one of dxlclient's threads and must not block.
        """
        with self._lock:
            if function in self._verdict_callbacks:
                return
            callback = self._verdict_callbacks[function] = _VerdictCallback(function)
        self._dxl_client.add_event_callback(VERDICT_EVENT_TOPIC, callback)

    def remove_verdict_callback(self, function: Callable[[dict], None]) -> None:
        """Stop calling ``function`` for verdict events."""
        with self._lock:
            callback = self._verdict_callbacks.pop(function, None)
        if callback is not None:
            self._dxl_client.remove_event_callback(VERDICT_EVENT_TOPIC, callback)

    # -- the one request path ------------------------------------------------

    def _request(self, suffix: str, payload: dict) -> Any:
        request = Request(SERVICE_TYPE + suffix)
        request.payload = json.dumps(payload).encode("utf-8")
        if self.service_id:
            request.service_id = self.service_id
        return self._send(request)

    def _send(self, request: Request) -> Any:
        try:
            response = self._dxl_client.sync_request(request, timeout=self.response_timeout)
        except WaitTimeoutException:
            raise VirusTotalServiceError(
                GATEWAY_TIMEOUT,
                f"no answer from the service within {self.response_timeout:g} seconds",
            ) from None
        except DxlException as error:  # not connected, or asked from a callback thread
            message = f"the request was not sent: {error}"
            raise VirusTotalServiceError(UNAVAILABLE, message) from None
        if isinstance(response, ErrorResponse):
            raise VirusTotalServiceError.from_response(response)
        try:
            return json.loads(response.payload.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            raise VirusTotalServiceError(
                BAD_GATEWAY, "the service answered something that is not JSON"
            ) from None
