"""Typed requests: each topic's payload parsed once, at the edge, into a checked value.

A payload comes from any client on the fabric. ``from_payload`` of the
topic's request type (:data:`TOPIC_REQUESTS`) decodes it within bounds
(:mod:`~dxlvtservice.topics.payloads`) and checks every field's JSON type and value. Handlers get
one of the frozen values below, never the raw document, so a field nobody
checked cannot reach the scheduler or VirusTotal.
Anything wrong is a 400 with one sentence naming the field (docs/topics.md).

- Fields a topic does not know are ignored, as the original VirusTotal DXL
  service ignored them: clients may send more than a topic reads.
- ``null`` stands for an absent field everywhere.
- Flags are JSON booleans. The compatible topics also take the forms
  ``dxlvtapiclient`` 0.2.0 sends (``"1"``) and VirusTotal's own form
  values: ``1``/``0``, ``"1"``/``"0"``, ``"true"``/``"false"``.
- What depends on the configuration and is a policy rather than a format
  (submissions allowed, internal resources: 403) is the handlers' to judge;
  an internal ``notify_url`` is a bad value (400): it is never forwarded.

Pure: no I/O here.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import Any, Self

from ..core.indicators import (
    Indicator,
    IndicatorType,
    hash_kind,
    is_internal,
    is_ipv6,
    is_scan_id,
)
from ..core.lanes import INTERACTIVE
from ..core.verdicts import rule_overrides
from ..errors import ServiceError, bad_request
from .payloads import INT_RANGE, decode_object

FILE, URL, DOMAIN, IP = IndicatorType

NAMED_FIELDS: dict[str, IndicatorType] = {
    "domain": DOMAIN,
    "url": URL,
    "ip": IP,
    "hash": FILE,
    "resource": FILE,
    "md5": FILE,
    "sha1": FILE,
    "sha256": FILE,
}
"""``classify`` fields that name indicators of one type; md5, sha1, sha256 also fix the digest."""

MAX_EXPRESSION_CHARS = 4096

RESCAN_DATE_FORMAT = "%Y%m%d%H%M%S"
"""VirusTotal's form for a rescan's ``date`` (e.g. ``20120725170000``)."""

_JSON_NAMES = {str: "a string", int: "a number", float: "a number", bool: "true or false",
               dict: "an object", list: "an array"}  # fmt: skip
_TRUE_FORMS: tuple[Any, ...] = (True, 1, "1", "true")
_FALSE_FORMS: tuple[Any, ...] = (False, 0, "0", "false")
_COUNT = re.compile(r"[0-9]{1,20}")  # a decimal string; 20 digits hold any 64-bit count
_RESCAN_DATE = re.compile(r"[0-9]{14}")
_HTTP_SCHEME = re.compile(r"https?://", re.IGNORECASE)


@dataclass(frozen=True)
class RequestPolicy:
    """What the configuration says about any request: its size and how much it may name."""

    max_payload_bytes: int = 1 << 20
    max_indicators: int = 100
    internal_domains: tuple[str, ...] = ()


DEFAULT_POLICY = RequestPolicy()
Document = Mapping[str, Any]

# -- field readers --------------------------------------------------------


def _typed(document: Document, name: str, *types: type) -> Any:
    """The field's value if it has one of the JSON ``types``; None when absent or null."""
    value = document.get(name)
    if value is None:
        return None
    if (isinstance(value, bool) and bool not in types) or not isinstance(value, types):
        raise bad_request(f"the field {name!r} must be {_JSON_NAMES[types[0]]}")
    return value


def _required_text(document: Document, name: str) -> str:
    value = _typed(document, name, str)
    if value is None:
        raise bad_request(f"the required field {name!r} is missing")
    if not value.strip():
        raise bad_request(f"the field {name!r} must be a non-empty string")
    return value.strip()


def _flag(document: Document, name: str, *, form_values: bool = False) -> bool:
    """A boolean field, false when absent; ``form_values``: also 1, "1", "true" and opposites."""
    value = document.get(name)
    if value is None or isinstance(value, bool):
        return bool(value)
    if form_values and isinstance(value, int | str):
        word = value.lower() if isinstance(value, str) else value
        if word in _TRUE_FORMS:
            return True
        if word in _FALSE_FORMS:
            return False
    forms = ' (or 1, 0, "1", "0", "true", "false")' if form_values else ""
    raise bad_request(f"the field {name!r} must be true or false{forms}")


def _parsed(name: str, type_: IndicatorType, raw: str) -> Indicator:
    try:
        return Indicator.parse(type_, raw)
    except ServiceError as error:
        raise bad_request(f"the field {name!r} holds an invalid value: {error.message}") from None


@dataclass(frozen=True)
class Resource:
    """One resource of a compatible request: as the requester wrote it, and what it names."""

    given: str
    indicator: Indicator


def _resources(
    document: Document,
    name: str,
    type_: IndicatorType,
    separator: str,
    policy: RequestPolicy,
    *,
    scan_ids: bool,
) -> tuple[Resource, ...]:
    """A required list of resources: a ``separator`` list in one string, or an array of strings."""
    value = document.get(name)
    if value is None:
        raise bad_request(f"the required field {name!r} is missing")
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        parts = value
    elif isinstance(value, str):
        parts = value.split(separator)
    else:
        raise bad_request(f"the field {name!r} must be a string or an array of strings")
    given = [part.strip() for part in parts if part.strip()]
    if not given:
        raise bad_request(f"the field {name!r} names no resource")
    if len(given) > policy.max_indicators:
        raise bad_request(
            f"{len(given)} resources in one request is over the limit of {policy.max_indicators}"
        )
    return tuple(
        Resource(raw, Indicator(type_, raw.lower()) if scan_ids and is_scan_id(raw)
                 else _parsed(name, type_, raw))
        for raw in given
    )  # fmt: skip


# -- the values -------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class ServiceRequest:
    """What every request carries: the DXL client that sent it (its ``source_client_id``)."""

    client: str | None = None

    @classmethod
    def parse(
        cls,
        document: Document,
        *,
        client: str | None = None,
        policy: RequestPolicy = DEFAULT_POLICY,
    ) -> Self:
        """The checked value of a decoded payload; ``bad_request`` (400) naming the bad field."""
        raise NotImplementedError

    @classmethod
    def from_payload(
        cls,
        payload: bytes,
        *,
        client: str | None = None,
        policy: RequestPolicy = DEFAULT_POLICY,
    ) -> Self:
        """Decode ``payload`` within the policy's bounds, then :meth:`parse` it."""
        document = decode_object(payload, max_bytes=policy.max_payload_bytes)
        return cls.parse(document, client=client, policy=policy)


@dataclass(frozen=True, kw_only=True)
class ReportRequest(ServiceRequest):
    """``/file/report`` and ``/url/report``: reports on resources, a list answered as a list."""

    resources: tuple[Resource, ...]
    allinfo: bool = False
    scan: bool = False

    @property
    def options(self) -> tuple[tuple[str, str], ...]:
        """The v2 parameters beside the resources."""
        return tuple((name, "1") for name in ("allinfo", "scan") if getattr(self, name))


@dataclass(frozen=True, kw_only=True)
class FileReportRequest(ReportRequest):
    """``/file/report``: md5, sha1, sha256 or scan ids, a comma list."""

    @classmethod
    def parse(
        cls,
        document: Document,
        *,
        client: str | None = None,
        policy: RequestPolicy = DEFAULT_POLICY,
    ) -> Self:
        resources = _resources(document, "resource", FILE, ",", policy, scan_ids=True)
        return cls(resources=resources, allinfo=_flag(document, "allinfo", form_values=True),
                   client=client)  # fmt: skip


@dataclass(frozen=True, kw_only=True)
class UrlReportRequest(ReportRequest):
    """``/url/report``: URLs or scan ids, a newline list; ``scan`` submits what is unknown."""

    @classmethod
    def parse(
        cls,
        document: Document,
        *,
        client: str | None = None,
        policy: RequestPolicy = DEFAULT_POLICY,
    ) -> Self:
        resources = _resources(document, "resource", URL, "\n", policy, scan_ids=True)
        return cls(resources=resources, allinfo=_flag(document, "allinfo", form_values=True),
                   scan=_flag(document, "scan", form_values=True), client=client)  # fmt: skip


@dataclass(frozen=True, kw_only=True)
class UrlScanRequest(ServiceRequest):
    """``/url/scan``: URLs to submit, a newline list."""

    urls: tuple[Resource, ...]

    @classmethod
    def parse(
        cls,
        document: Document,
        *,
        client: str | None = None,
        policy: RequestPolicy = DEFAULT_POLICY,
    ) -> Self:
        return cls(urls=_resources(document, "url", URL, "\n", policy, scan_ids=False),
                   client=client)  # fmt: skip


def _positive_count(document: Document, name: str) -> int | None:
    """A whole number >= 1: a JSON integer, or its decimal string (dxlvtapiclient sends str())."""
    value = document.get(name)
    if value is None:
        return None
    if isinstance(value, str) and _COUNT.fullmatch(value.strip()):
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= INT_RANGE[1]:
        raise bad_request(f"the field {name!r} must be a whole number >= 1")
    return value


def _rescan_date(document: Document) -> datetime | None:
    value = document.get("date")
    if value is None:
        return None
    text = "" if isinstance(value, bool) or not isinstance(value, int | str) else str(value)
    if _RESCAN_DATE.fullmatch(text):
        with contextlib.suppress(ValueError):  # no such day or time
            return datetime.strptime(text, RESCAN_DATE_FORMAT)
    raise bad_request(
        "the field 'date' must be a date and time as YYYYMMDDhhmmss (e.g. 20120725170000)"
    )


def _notify_url(document: Document, policy: RequestPolicy) -> str | None:
    """An http(s) URL VirusTotal can reach, in the canonical form that was judged."""
    raw = _typed(document, "notify_url", str)
    if raw is None:
        return None
    if not _HTTP_SCHEME.match(raw.strip()):
        raise bad_request("the field 'notify_url' must be an http:// or https:// URL")
    indicator = _parsed("notify_url", URL, raw)
    if is_internal(indicator, policy.internal_domains):
        raise bad_request(
            "the field 'notify_url' names an internal host: it is never sent to VirusTotal"
        )
    return indicator.value


@dataclass(frozen=True)
class RescanOptions:
    """When and how often VirusTotal rescans, and whom it tells (its v2 ``file/rescan`` options).

    ``period`` is in days; ``repeat`` counts the periodic rescans (without it
    they go on indefinitely), so it needs ``period``; ``notify_changes_only``
    qualifies ``notify_url``, so it needs one.
    """

    date: datetime | None = None
    period: int | None = None
    repeat: int | None = None
    notify_url: str | None = None
    notify_changes_only: bool = False

    @classmethod
    def parse(cls, document: Document, policy: RequestPolicy) -> RescanOptions:
        """The options of a ``/file/rescan`` payload; 400 naming the first bad one."""
        options = cls(
            _rescan_date(document),
            _positive_count(document, "period"),
            _positive_count(document, "repeat"),
            _notify_url(document, policy),
            _flag(document, "notify_changes_only", form_values=True),
        )
        if options.repeat is not None and options.period is None:
            raise bad_request("the field 'repeat' needs 'period': it counts periodic rescans")
        if options.notify_changes_only and options.notify_url is None:
            raise bad_request("the field 'notify_changes_only' needs 'notify_url'")
        return options

    def as_params(self) -> tuple[tuple[str, str], ...]:
        """The options as VirusTotal's form parameters; unset ones left out."""
        values = {
            "date": self.date.strftime(RESCAN_DATE_FORMAT) if self.date else None,
            "period": self.period,
            "repeat": self.repeat,
            "notify_url": self.notify_url,
            "notify_changes_only": "1" if self.notify_changes_only else None,
        }
        return tuple((name, str(value)) for name, value in values.items() if value is not None)


@dataclass(frozen=True, kw_only=True)
class RescanRequest(ServiceRequest):
    """``/file/rescan``: files (md5, sha1, sha256, a comma list) and the rescan's options."""

    resources: tuple[Resource, ...]
    options: RescanOptions = RescanOptions()

    @classmethod
    def parse(
        cls,
        document: Document,
        *,
        client: str | None = None,
        policy: RequestPolicy = DEFAULT_POLICY,
    ) -> Self:
        resources = _resources(document, "resource", FILE, ",", policy, scan_ids=True)
        return cls(resources=resources, options=RescanOptions.parse(document, policy),
                   client=client)  # fmt: skip


@dataclass(frozen=True, kw_only=True)
class IpReportRequest(ServiceRequest):
    """``/ip-address/report``: one IPv4 address (VirusTotal's v2 API knows no other)."""

    ip: Resource

    @classmethod
    def parse(
        cls,
        document: Document,
        *,
        client: str | None = None,
        policy: RequestPolicy = DEFAULT_POLICY,
    ) -> Self:
        raw = _required_text(document, "ip")
        address = _parsed("ip", IP, raw)
        if is_ipv6(address):
            raise bad_request(
                f"{address.value} is an IPv6 address: VirusTotal's v2 ip-address/report "
                "knows IPv4 only (classify looks IPv6 addresses up through v3)"
            )
        return cls(ip=Resource(raw, address), client=client)


@dataclass(frozen=True, kw_only=True)
class DomainReportRequest(ServiceRequest):
    """``/domain/report``: one domain."""

    domain: Resource

    @classmethod
    def parse(
        cls,
        document: Document,
        *,
        client: str | None = None,
        policy: RequestPolicy = DEFAULT_POLICY,
    ) -> Self:
        raw = _required_text(document, "domain")
        return cls(domain=Resource(raw, _parsed("domain", DOMAIN, raw)), client=client)


# -- classify, analyze, health ------------------------------------------------


@dataclass(frozen=True)
class Named:
    """Indicators a ``classify`` field names (``domain``, ``hash``...): meant as they are."""

    indicators: tuple[Indicator, ...]


@dataclass(frozen=True)
class SearchWithin:
    """``search_within``: any JSON value, narrowed first by a JSONata ``expression`` if given."""

    document: Any
    expression: str | None = None


@dataclass(frozen=True)
class Text:
    """``text``: free text to search for indicators."""

    text: str


Source = Named | SearchWithin | Text


def _named(name: str, value: Any) -> Named:
    values = value if isinstance(value, list) else [value]
    if not all(isinstance(item, str) for item in values):
        raise bad_request(f"the field {name!r} must be a string or a list of strings")
    indicators = []
    for item in values:
        indicator = _parsed(name, NAMED_FIELDS[name], item)
        if name in ("md5", "sha1", "sha256") and hash_kind(indicator.value) != name:
            kind = hash_kind(indicator.value)
            raise bad_request(f"the field {name!r} holds an {kind} hash, not an {name} hash")
        indicators.append(indicator)
    return Named(tuple(indicators))


def _expression(document: Document) -> str | None:
    expression = document.get("expression")
    if expression is None:
        return None
    if not isinstance(expression, str) or not expression.strip():
        raise bad_request("expression must be a non-empty JSONata expression")
    if len(expression) > MAX_EXPRESSION_CHARS:
        raise bad_request(f"expression is longer than {MAX_EXPRESSION_CHARS} characters")
    if document.get("search_within") is None:
        raise bad_request("expression needs search_within to be evaluated on")
    return expression


def _sources(document: Document, policy: RequestPolicy) -> tuple[Source, ...]:
    """What to search, in the request's order (results come first seen first)."""
    expression = _expression(document)
    sources: list[Source] = []
    named: set[Indicator] = set()
    for name, value in document.items():
        if value is None:
            continue
        if name in NAMED_FIELDS:
            source = _named(name, value)
            named.update(source.indicators)
            if len(named) > policy.max_indicators:  # named ones always count: stop early
                raise bad_request(
                    f"the request names more than {policy.max_indicators} indicators, the limit"
                )
        elif name == "search_within":
            source = SearchWithin(value, expression)
        elif name == "text":
            if not isinstance(value, str):
                raise bad_request("the field 'text' must be a string")
            source = Text(value)
        else:
            continue
        sources.append(source)
    if not sources:
        raise bad_request(
            "the request names nothing to classify: give domain, url, ip, hash, "
            "search_within or text"
        )
    return tuple(sources)


def _rules(document: Document) -> Document:
    """The request's ``rules`` overrides, checked, read-only."""
    return MappingProxyType(rule_overrides(document.get("rules")))


def _max_age(document: Document) -> float | None:
    value = _typed(document, "max_age", int, float)
    if value is not None and value < 0:
        raise bad_request("the field 'max_age' must be a number of seconds >= 0")
    return None if value is None else float(value)


@dataclass(frozen=True, kw_only=True)
class ClassifyRequest(ServiceRequest):
    """``/classify``: where to find indicators, and how to judge and answer them.

    ``lane`` is never read from a request: the service's own background work
    (first-instance enrichment) sets it to wait behind every requester.
    """

    sources: tuple[Source, ...]
    rules: Document = field(default_factory=lambda: MappingProxyType({}))
    max_age: float | None = None
    include_report: bool = False
    lane: str = INTERACTIVE

    @classmethod
    def parse(
        cls,
        document: Document,
        *,
        client: str | None = None,
        policy: RequestPolicy = DEFAULT_POLICY,
    ) -> Self:
        return cls(
            sources=_sources(document, policy),
            rules=_rules(document),
            max_age=_max_age(document),
            include_report=_flag(document, "include_report"),
            client=client,
        )


@dataclass(frozen=True, kw_only=True)
class AnalyzeRequest(ServiceRequest):
    """``/analyze``: a report the requester has (None: none was supplied) and its type."""

    type: IndicatorType
    report: Any = None
    rules: Document = field(default_factory=lambda: MappingProxyType({}))

    @classmethod
    def parse(
        cls,
        document: Document,
        *,
        client: str | None = None,
        policy: RequestPolicy = DEFAULT_POLICY,
    ) -> Self:
        type_ = _typed(document, "type", str)
        if type_ not in tuple(IndicatorType):
            raise bad_request("the field 'type' must be one of file, url, domain, ip")
        return cls(type=IndicatorType(type_), report=document.get("report"),
                   rules=_rules(document), client=client)  # fmt: skip


@dataclass(frozen=True, kw_only=True)
class HealthRequest(ServiceRequest):
    """``/health``: any payload, even none or one that is not JSON, is a health request."""

    @classmethod
    def parse(
        cls,
        document: Document,
        *,
        client: str | None = None,
        policy: RequestPolicy = DEFAULT_POLICY,
    ) -> Self:
        return cls(client=client)

    @classmethod
    def from_payload(
        cls,
        payload: bytes,
        *,
        client: str | None = None,
        policy: RequestPolicy = DEFAULT_POLICY,
    ) -> Self:
        return cls(client=client)


TOPIC_REQUESTS: dict[str, type[ServiceRequest]] = {
    "/file/report": FileReportRequest,
    "/file/rescan": RescanRequest,
    "/url/report": UrlReportRequest,
    "/url/scan": UrlScanRequest,
    "/ip-address/report": IpReportRequest,
    "/domain/report": DomainReportRequest,
    "/classify": ClassifyRequest,
    "/analyze": AnalyzeRequest,
    "/health": HealthRequest,
}
"""Topic suffix (under the service type) -> the request its payloads are parsed into."""
