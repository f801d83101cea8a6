"""The VirusTotal HTTP edge: one ``requests.Session``, v2 and v3, failures as error codes.

An upstream call is described by a :class:`Call` (pure data), so the scheduler
can queue, coalesce and batch calls without knowing HTTP, and this module can
execute them without knowing about queues. Error messages are composed here
and never quote the request URL, which for v2 carries the API key.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import requests

from .. import __version__
from ..core.indicators import v3_url_id
from ..core.reports import V3_NOT_FOUND, echoes, error_code, is_v3_object
from ..errors import BAD_GATEWAY, FORBIDDEN, GATEWAY_TIMEOUT, UNAUTHORIZED, ServiceError
from .deadlines import Deadlines, WatchedAdapter

# v2 endpoints: name -> (HTTP method, parameter carrying the resources, separator).
V2_ENDPOINTS: dict[str, tuple[str, str, str]] = {
    "v2/file/report": ("GET", "resource", ","),
    "v2/file/rescan": ("POST", "resource", ","),
    "v2/url/report": ("GET", "resource", "\n"),
    "v2/url/scan": ("POST", "url", "\n"),
    "v2/ip-address/report": ("GET", "ip", ""),
    "v2/domain/report": ("GET", "domain", ""),
}
V3_ENDPOINTS = ("v3/files", "v3/urls", "v3/domains", "v3/ip_addresses")
# The key's own allowance and usage (docs/quota.md); it takes no resource.
OVERALL_QUOTAS = "v3/overall_quotas"
# Endpoints that accept several resources in one call, each costing one quota
# unit (docs/quota.md); every other call costs one unit whatever it carries.
PER_RESOURCE = frozenset({"v2/file/report", "v2/url/report", "v2/url/scan", "v2/file/rescan"})
# Of those, the lookups the scheduler may merge into one call.
BATCHABLE = frozenset({"v2/file/report", "v2/url/report"})
DEFAULT_QUOTA_BACKOFF = 60.0


@dataclass(frozen=True)
class Call:
    """One upstream request: an endpoint, its resources in order, extra options."""

    endpoint: str
    resources: tuple[str, ...]
    options: tuple[tuple[str, str], ...] = ()

    @property
    def units(self) -> int:
        """The quota units VirusTotal counts for this call."""
        return len(self.resources) if self.endpoint in PER_RESOURCE else 1

    @property
    def batch_key(self) -> tuple[str, tuple[tuple[str, str], ...]]:
        """Calls with equal keys may be merged into one."""
        return self.endpoint, self.options


class UpstreamError(ServiceError):
    """A failed upstream call, with what the scheduler should do about it.

    ``retry`` is ``"quota"`` (VirusTotal refused for quota: wait ``retry_after``),
    ``"transient"`` (5xx, connection trouble: back off exponentially) or ``None``.
    """

    def __init__(
        self,
        code: int,
        message: str,
        retry: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(code, message, retry_after)
        self.retry = retry


def quota_refused(retry_after: float | None) -> UpstreamError:
    wait = DEFAULT_QUOTA_BACKOFF if retry_after is None else retry_after
    return UpstreamError(
        429, "VirusTotal refused the call: API quota exceeded", retry="quota", retry_after=wait
    )


def _connection_error(error: requests.RequestException, timeout: float) -> UpstreamError:
    """What a failed HTTP call becomes: connection trouble (a connect time-out
    included) is retried; a read time-out is not."""
    if isinstance(error, requests.Timeout) and not isinstance(error, requests.ConnectTimeout):
        return UpstreamError(
            GATEWAY_TIMEOUT, f"VirusTotal did not answer within {timeout:g} seconds"
        )
    if isinstance(error, requests.ConnectTimeout):
        message = f"VirusTotal could not be reached within {timeout:g} seconds"
        return UpstreamError(GATEWAY_TIMEOUT, message, retry="transient")
    message = f"VirusTotal could not be reached ({type(error).__name__})"
    return UpstreamError(BAD_GATEWAY, message, retry="transient")


def _retry_after_header(response: requests.Response) -> float | None:
    try:
        return max(0.0, float(response.headers["Retry-After"]))
    except (KeyError, ValueError):
        return None


class VirusTotalClient:
    """Executes :class:`Call` objects against VirusTotal (or the simulator)."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        timeout: float,
        session: requests.Session | None = None,
    ) -> None:
        self._base_url = base_url.rstrip("/")
        self._api_key = api_key
        self._timeout = timeout
        self._session = session or requests.Session()
        self._session.headers["User-Agent"] = f"dxlvtservice/{__version__}"
        self._deadlines = Deadlines()
        for prefix in ("http://", "https://"):
            self._session.mount(prefix, WatchedAdapter())

    def abort(self) -> None:
        """End every call in progress now (shutdown): each fails with 504."""
        self._deadlines.abort_all()

    def close(self) -> None:
        self.abort()
        self._session.close()

    def execute(self, call: Call) -> list[Any]:
        """Run ``call``; return one answer per resource, in order.

        A v3 "not found" is an answer (the error object VirusTotal sent), not
        an exception: it is a fact about the indicator worth caching.
        """
        if call.endpoint in V2_ENDPOINTS:
            return self._execute_v2(call)
        if call.endpoint in V3_ENDPOINTS:
            return [self._execute_v3(call.endpoint, resource) for resource in call.resources]
        if call.endpoint == OVERALL_QUOTAS:
            return [self._get_v3(f"users/{self._api_key}/overall_quotas")]
        raise ValueError(f"unknown endpoint {call.endpoint}")

    def _send(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        """One HTTP call, ended by ``timeout`` in all (connect, headers and body)."""
        with self._deadlines.bound(self._timeout) as watch:
            try:
                return self._session.request(method, url, timeout=self._timeout, **kwargs)
            except requests.RequestException as error:
                if watch.cut_off and not isinstance(error, requests.ConnectTimeout):
                    raise UpstreamError(
                        GATEWAY_TIMEOUT,
                        f"VirusTotal did not answer within {self._timeout:g} seconds",
                    ) from None
                raise _connection_error(error, self._timeout) from None

    def _execute_v2(self, call: Call) -> list[Any]:
        method, parameter, separator = V2_ENDPOINTS[call.endpoint]
        fields = dict(call.options)
        fields[parameter] = separator.join(call.resources) if separator else call.resources[0]
        fields["apikey"] = self._api_key
        url = f"{self._base_url}/vtapi/{call.endpoint}"
        carrier = "params" if method == "GET" else "data"
        response = self._send(method, url, **{carrier: fields})
        status = response.status_code
        if status == 204:
            raise quota_refused(_retry_after_header(response))
        if status == 403 and call.endpoint == "v2/file/rescan":
            raise UpstreamError(FORBIDDEN, "VirusTotal refused file/rescan: it needs a private key")
        if status in (401, 403):
            raise UpstreamError(UNAUTHORIZED, "VirusTotal rejected the API key")
        self._raise_for_server_error(status)
        if status != 200:
            raise UpstreamError(BAD_GATEWAY, f"VirusTotal answered HTTP {status}")
        body = self._json(response)
        answers = body if isinstance(body, list) else [body]
        if not answers or not all(isinstance(a, dict) for a in answers):
            raise UpstreamError(BAD_GATEWAY, "VirusTotal answered with an unexpected document")
        return answers

    def _execute_v3(self, endpoint: str, resource: str) -> dict:
        identifier = v3_url_id(resource) if endpoint == "v3/urls" else resource
        return self._get_v3(f"{endpoint.removeprefix('v3/')}/{identifier}")

    def _get_v3(self, path: str) -> dict:
        url = f"{self._base_url}/api/v3/{path}"
        response = self._send("GET", url, headers={"x-apikey": self._api_key})
        status = response.status_code
        if status == 429:
            raise quota_refused(_retry_after_header(response))
        if status in (401, 403):
            raise UpstreamError(UNAUTHORIZED, "VirusTotal rejected the API key")
        self._raise_for_server_error(status)
        body = self._json(response)
        if status == 404 and error_code(body) == V3_NOT_FOUND:
            return body
        if status != 200 or not is_v3_object(body):
            detail = error_code(body) or f"HTTP {status}"
            raise UpstreamError(BAD_GATEWAY, f"VirusTotal answered an error ({detail})")
        return body

    @staticmethod
    def _raise_for_server_error(status: int) -> None:
        if status >= 500:
            raise UpstreamError(
                BAD_GATEWAY, f"VirusTotal answered HTTP {status}", retry="transient"
            )

    @staticmethod
    def _json(response: requests.Response) -> Any:
        try:
            return response.json()
        except (ValueError, json.JSONDecodeError):
            message = "VirusTotal answered with garbage (not JSON)"
            raise UpstreamError(BAD_GATEWAY, message) from None


@dataclass(frozen=True)
class Matched:
    """A batch answer sorted out: answers by resource index, and what is left."""

    answers: dict[int, Any]
    missing: tuple[int, ...]  # left out of the answer: ask again
    unmatched: tuple[int, ...]  # the answer cannot be told apart: a 502 for these


def match_answers(resources: Sequence[str], answers: Sequence[Any]) -> Matched:
    """Pair each answer of a v2 call with the resource it echoes, never by position alone.

    VirusTotal answers a batch over the key's limit for its first items only,
    silently; the resources it left out are ``missing``. A single resource with
    a single answer needs no echo (domain and IP reports carry none).
    """
    if len(resources) == 1 and len(answers) == 1:
        return Matched({0: answers[0]}, (), ())
    wanted: dict[str, list[int]] = {}
    for index, resource in enumerate(resources):
        wanted.setdefault(resource.casefold(), []).append(index)
    matched: dict[int, Any] = {}
    strays = 0
    for answer in answers:
        slots = next((wanted[echo] for echo in echoes(answer) if wanted.get(echo)), [])
        if not slots:
            strays += 1
            continue
        for index in slots:
            matched[index] = answer
        slots.clear()
    left = tuple(i for i in range(len(resources)) if i not in matched)
    if strays:
        return Matched(matched, (), left)
    return Matched(matched, left, ())


def parse_overall_quotas(body: Any) -> tuple[int | None, ...]:
    """``(daily allowed, daily used, monthly allowed, monthly used)`` of the key's user
    from an ``overall_quotas`` answer; None where VirusTotal says nothing usable."""

    def number(window: str, name: str) -> int | None:
        data = body.get("data") if isinstance(body, dict) else None
        section = data.get(window) if isinstance(data, dict) else None
        user = section.get("user") if isinstance(section, dict) else None
        value = user.get(name) if isinstance(user, dict) else None
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    return (
        number("api_requests_daily", "allowed"),
        number("api_requests_daily", "used"),
        number("api_requests_monthly", "allowed"),
        number("api_requests_monthly", "used"),
    )


def split_batches(resources: Sequence[str], size: int) -> list[tuple[str, ...]]:
    """Cut a resource list into calls of at most ``size`` resources."""
    return [tuple(resources[i : i + size]) for i in range(0, len(resources), size)]
