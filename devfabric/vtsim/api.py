"""VirusTotal's wire behaviour: what each v2 and v3 call is, and the reply it gets.

``server`` owns HTTP and the order of the gates (latency, fault, key, quota);
this module knows VirusTotal's endpoints, where each API version carries its
key and its resources, and the exact shape of every answer, refusals included.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from . import dataset
from .catalogue import Catalogue
from .indicators import (
    canonical_domain,
    canonical_ip,
    canonical_url,
    file_lookup_hash,
    hash_kind,
    scan_id_sha256,
    v3_url_id,
)


@dataclass(frozen=True)
class Reply:
    """An HTTP answer; ``body`` is a JSON value, raw bytes, or None for an empty body."""

    status: int
    body: Any = None


def _v3_error(status: int, code: str, message: str) -> Reply:
    return Reply(status, {"error": {"code": code, "message": message}})


@dataclass(frozen=True)
class Call:
    """One API call as the gates see it.

    ``endpoint`` names it in the counters (``v2/file/report``, ``v3/files``);
    ``units`` is what it costs: one per resource of a v2 batch, else one;
    ``metered`` is false for calls that fail on their route (unknown endpoint,
    wrong method) before VirusTotal would count them against the quota;
    ``premium_only`` marks the private API, forbidden to a public key.
    """

    endpoint: str
    version: int
    key: str | None
    resources: list[str]
    reply: Callable[[], Reply]
    metered: bool = True
    units: int = 1
    premium_only: bool = False

    def rejected(self) -> Reply:
        """A wrong or missing key: v2 403 with an empty body, v3 401 with an error."""
        if self.version == 2:
            return Reply(403)
        if self.key is None:
            return _v3_error(401, "AuthenticationRequiredError", "X-Apikey header is missing")
        return _v3_error(401, "WrongCredentialsError", "Wrong API key")

    def refused(self) -> Reply:
        """Over quota: v2 204 with an empty body, v3 429 with an error."""
        if self.version == 2:
            return Reply(204)
        return _v3_error(429, "QuotaExceededError", "Quota exceeded")


# -- API v2 -----------------------------------------------------------------------------------

Answer = Callable[[Catalogue, str, Mapping[str, str]], dict]


@dataclass(frozen=True)
class V2Endpoint:
    methods: tuple[str, ...]
    parameter: str
    separator: str | None  # between several resources; None: one resource per call
    answer: Answer  # for one resource
    premium_only: bool = False


def _flag(params: Mapping[str, str], name: str) -> bool:
    return params.get(name, "").strip().lower() in ("1", "true")


def _file_report(catalogue: Catalogue, resource: str, params: Mapping[str, str]) -> dict:
    file_hash = file_lookup_hash(resource)
    if file_hash is None:
        return dataset.v2_invalid_resource(resource)
    identity = catalogue.file(file_hash)
    return dataset.v2_file_report(identity, resource, allinfo=_flag(params, "allinfo"))


def _file_rescan(catalogue: Catalogue, resource: str, params: Mapping[str, str]) -> dict:
    file_hash = file_lookup_hash(resource)
    if file_hash is None:
        return dataset.v2_invalid_resource(resource)
    return dataset.v2_file_rescan(catalogue.file(file_hash), resource)


def _url_report(catalogue: Catalogue, resource: str, params: Mapping[str, str]) -> dict:
    scanned = scan_id_sha256(resource)
    url = catalogue.url(scanned) if scanned else canonical_url(resource)
    if url is None:  # a scan id the simulator never handed out, or no URL at all
        return (dataset.v2_url_not_found if scanned else dataset.v2_invalid_resource)(resource)
    catalogue.remember_url(url)
    return dataset.v2_url_report(url, resource, scan=_flag(params, "scan"))


def _url_scan(catalogue: Catalogue, resource: str, params: Mapping[str, str]) -> dict:
    url = canonical_url(resource)
    if url is None:
        return dataset.v2_invalid_url_scan()
    catalogue.remember_url(url)
    return dataset.v2_url_scan(url)


def _ip_report(catalogue: Catalogue, resource: str, params: Mapping[str, str]) -> dict:
    ip = canonical_ip(resource, v4_only=True)
    return dataset.v2_ip_report(ip) if ip else dataset.v2_invalid_ip()


def _domain_report(catalogue: Catalogue, resource: str, params: Mapping[str, str]) -> dict:
    domain = canonical_domain(resource)
    return dataset.v2_domain_report(domain) if domain else dataset.v2_invalid_domain()


V2_ENDPOINTS = {
    "file/report": V2Endpoint(("GET", "POST"), "resource", ",", _file_report),
    "file/rescan": V2Endpoint(("POST",), "resource", ",", _file_rescan, premium_only=True),
    "url/report": V2Endpoint(("GET", "POST"), "resource", "\n", _url_report),
    "url/scan": V2Endpoint(("POST",), "url", "\n", _url_scan),
    "ip-address/report": V2Endpoint(("GET",), "ip", None, _ip_report),
    "domain/report": V2Endpoint(("GET",), "domain", None, _domain_report),
}


def _split(value: str, separator: str | None) -> list[str]:
    items = [value] if separator is None else value.split(separator)
    return [item.strip() for item in items if item.strip()]


def v2_call(
    method: str, name: str, params: Mapping[str, str], catalogue: Catalogue, batch_limit: int
) -> Call:
    """A call to ``/vtapi/v2/<name>``; the key is the ``apikey`` parameter.

    Several resources get a JSON list in request order; past ``batch_limit``
    only the first ``batch_limit`` are answered, silently. A batch costs one
    unit per resource asked, answered or not.
    """
    endpoint = V2_ENDPOINTS.get(name)
    key = params.get("apikey")
    if endpoint is None:
        return Call(f"v2/{name}", 2, key, [], lambda: Reply(404), metered=False)
    resources = _split(params.get(endpoint.parameter, ""), endpoint.separator)
    if method not in endpoint.methods:
        return Call(f"v2/{name}", 2, key, resources, lambda: Reply(405), metered=False)

    def reply() -> Reply:
        asked = resources or [""]
        answers = [endpoint.answer(catalogue, item, params) for item in asked[:batch_limit]]
        return Reply(200, answers if len(asked) > 1 else answers[0])

    units = max(1, len(resources))
    return Call(f"v2/{name}", 2, key, resources, reply, units=units,
                premium_only=endpoint.premium_only)  # fmt: skip


# -- API v3 -----------------------------------------------------------------------------------


def _found(report: dict | None, what: str) -> Reply:
    return Reply(200, report) if report else _v3_error(404, "NotFoundError", f"{what} not found")


def _v3_file(catalogue: Catalogue, identifier: str) -> Reply:
    if hash_kind(identifier) is None:
        return _v3_error(400, "InvalidArgumentError", f'"{identifier}" is not a valid file hash')
    return _found(dataset.v3_file(catalogue.file(identifier.lower())), f'File "{identifier}"')


def _v3_url(catalogue: Catalogue, identifier: str) -> Reply:
    parsed = v3_url_id(identifier)
    if parsed is None:
        return _v3_error(400, "InvalidArgumentError", f'"{identifier}" is not a valid URL id')
    sha256, url = parsed
    if url:
        catalogue.remember_url(url)
    return _found(dataset.v3_url(sha256, url or catalogue.url(sha256)), f'URL "{identifier}"')


def _v3_domain(catalogue: Catalogue, identifier: str) -> Reply:
    domain = canonical_domain(identifier)
    if domain is None:
        message = f'Domain "{identifier}" is not a valid domain pattern'
        return _v3_error(400, "InvalidArgumentError", message)
    return _found(dataset.v3_domain(domain), f'Domain "{domain}"')


def _v3_ip(catalogue: Catalogue, identifier: str) -> Reply:
    ip = canonical_ip(identifier)
    if ip is None:
        return _v3_error(400, "InvalidArgumentError", f'"{identifier}" is not a valid IP address')
    return _found(dataset.v3_ip(ip), f'IP address "{ip}"')


V3_COLLECTIONS: dict[str, Callable[[Catalogue, str], Reply]] = {
    "files": _v3_file,
    "urls": _v3_url,
    "domains": _v3_domain,
    "ip_addresses": _v3_ip,
}


def _v3_resource(collection: str, identifier: str) -> str:
    """What the counters record: the URL itself when a URL id carries it."""
    parsed = v3_url_id(identifier) if collection == "urls" else None
    if parsed and parsed[1]:
        return parsed[1]
    return identifier


UNLIMITED_ALLOWED = 1_000_000_000  # what VirusTotal reports for a window it does not limit
OVERALL_QUOTAS = {"per_hour": "api_requests_hourly", "per_day": "api_requests_daily",
                  "per_month": "api_requests_monthly"}  # fmt: skip

Usage = Callable[[], Mapping[str, Mapping[str, int | None]]]


def _overall_quotas(usage: Usage) -> Reply:
    """The key's own allowances and units used this UTC hour, day and month."""
    windows = usage()
    data = {}
    for window, name in OVERALL_QUOTAS.items():
        limit = windows[window]["limit"]
        allowed = UNLIMITED_ALLOWED if limit is None else limit
        data[name] = {"user": {"allowed": allowed, "used": windows[window]["used"]}}
    return Reply(200, {"data": data})


def _users_call(method: str, path: str, key: str | None, usage: Usage) -> Call:
    """``users/{key}/overall_quotas``; the key never reaches the counters or a message."""
    user, _, relation = path.removeprefix("users/").partition("/")
    if method != "GET":
        return Call("v3/overall_quotas", 3, key, [], lambda: Reply(405), metered=False)
    if relation != "overall_quotas" or unquote(user) != key:
        missing = _v3_error(404, "NotFoundError", "User or resource not found")
        return Call("v3/users", 3, key, [], lambda: missing, metered=False)
    return Call("v3/overall_quotas", 3, key, [], lambda: _overall_quotas(usage))


def v3_call(method: str, path: str, key: str | None, catalogue: Catalogue, usage: Usage) -> Call:
    """A call to ``/api/v3/<collection>/<id>``; the key is the ``x-apikey`` header.

    ``usage`` gives the quota windows, for ``users/{key}/overall_quotas``.
    """
    if path.startswith("users/"):
        return _users_call(method, path, key, usage)
    collection, _, identifier = path.partition("/")
    identifier = unquote(identifier)
    lookup = V3_COLLECTIONS.get(collection)
    name = f"v3/{collection}"
    if lookup is None or not identifier or "/" in identifier:
        missing = _v3_error(404, "NotFoundError", f"Resource not found: /api/v3/{path}")
        return Call(name, 3, key, [], lambda: missing, metered=False)
    resources = [_v3_resource(collection, identifier)]
    if method != "GET":
        return Call(name, 3, key, resources, lambda: Reply(405), metered=False)
    return Call(name, 3, key, resources, lambda: lookup(catalogue, identifier))
