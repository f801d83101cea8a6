"""Indicators of compromise: their types, canonical forms and whether they are internal.

Everything here is pure and cheap: the compatible topics validate every
resource with :func:`normalize` before anything is queued, and discovery
calls it for every candidate it finds.
"""

from __future__ import annotations

import base64
import functools
import ipaddress
import re
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Literal
from urllib.parse import unquote

import idna
from ada_url import URL, HostType

from ..errors import ServiceError, bad_request

URLS_REMEMBERED = 512
"""URLs whose readings are kept (least recently used first out): every ada-url call
releases the GIL, and under load each release waits its turn to get it back, so a
URL asked for again is not parsed again. Only URLs within ``MAX_URL_LENGTH`` are
kept, which bounds the memory."""

MAX_URL_LENGTH = 8192
"""Longer URLs are refused: far beyond what browsers and mail clients carry."""

HashKind = Literal["md5", "sha1", "sha256"]
_HASH_KINDS: dict[int, HashKind] = {32: "md5", 40: "sha1", 64: "sha256"}
_HEX = re.compile(r"[0-9a-fA-F]+")

# Labels may hold "_" (seen in real host names); the top-level label is
# alphabetic or punycode, which also keeps dotted numbers out.
_DOMAIN = re.compile(r"(?:(?!-)[a-z0-9_-]{1,63}(?<!-)\.)+(?:[a-z]{2,63}|xn--[a-z0-9-]{1,59}(?<!-))")
_MAX_DOMAIN_LENGTH = 253
_URL_FORBIDDEN = re.compile(r"[\s\x00-\x1f\x7f]")
_SCHEMES = ("http", "https", "ftp")
# Userinfo holding URL delimiters once decoded could be read as another host.
_AMBIGUOUS_USERINFO = re.compile(r"[@:/\\?#\[\]]")
# "[...%25eth0]": WHATWG refuses zone ids, but say why rather than "not a valid URL".
_ZONE_ID = re.compile(r"\[[^\]]*%")
# A scheme ends at the first ":" unless a port number follows (``example.com:8080/``).
_SCHEME = re.compile(r"[a-zA-Z][a-zA-Z0-9+.-]*:(?!\d)")
_SCAN_ID = re.compile(r"[0-9a-f]{64}-[0-9]+")

# Names that never resolve on the public Internet: RFC 6761 (localhost),
# RFC 6762 (local, mDNS), RFC 8375 (home.arpa) and ICANN's private-use "internal".
SPECIAL_USE_DOMAINS = ("localhost", "local", "home.arpa", "internal")


class IndicatorType(StrEnum):
    """What VirusTotal can report on."""

    FILE = "file"
    URL = "url"
    DOMAIN = "domain"
    IP = "ip"


@dataclass(frozen=True)
class Indicator:
    """A typed indicator; ``value`` is canonical when built by :meth:`parse`."""

    type: IndicatorType
    value: str

    @classmethod
    def parse(cls, type_: IndicatorType | str, raw: str) -> Indicator:
        """The canonical indicator of ``raw``, or ``bad_request`` if it is not one."""
        type_ = IndicatorType(type_)
        return cls(type_, normalize(type_, raw))


def _shown(raw: str) -> str:
    """``raw`` quoted for an error message, shortened: requests may be large."""
    return repr(raw if len(raw) <= 80 else raw[:77] + "...")


def _hash(raw: str) -> str:
    value = raw.strip()
    if len(value) not in _HASH_KINDS or not _HEX.fullmatch(value):
        raise bad_request(f"{_shown(raw)} is not an md5, sha1 or sha256 hash")
    return value.lower()


def _domain(raw: str) -> str:
    value = raw.strip().removesuffix(".")
    if len(value) > _MAX_DOMAIN_LENGTH:
        raise bad_request(f"a domain name of {len(value)} characters is over the limit of 253")
    if not value.isascii():
        try:
            mapped = idna.uts46_remap(value, std3_rules=False, transitional=False)
            value = ".".join(
                label if label.isascii() else idna.alabel(label).decode("ascii")
                for label in mapped.removesuffix(".").split(".")
            )
        except UnicodeError:
            raise bad_request(f"{_shown(raw)} is not a valid internationalised domain") from None
    value = value.lower()
    if value == "localhost" or (len(value) <= _MAX_DOMAIN_LENGTH and _DOMAIN.fullmatch(value)):
        return value
    raise bad_request(f"{_shown(raw)} is not a valid domain name with a top-level domain")


def _zone_id(raw: str) -> ServiceError:
    return bad_request(f"{_shown(raw)} is not accepted: IPv6 zone ids name a local interface")


def _address(raw: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    value = raw.strip()
    if "%" in value:  # ipaddress takes anything after "%" as a zone id
        raise _zone_id(raw)
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        raise bad_request(f"{_shown(raw)} is not an IPv4 or IPv6 address") from None
    # ::ffff:a.b.c.d is the IPv4 host itself; VirusTotal reports on that.
    if address.version == 6 and address.ipv4_mapped:
        return address.ipv4_mapped
    return address


def _ip(raw: str) -> str:
    return str(_address(raw))


def _url(raw: str) -> str:
    return _read_url(raw) if len(raw) > MAX_URL_LENGTH else _remembered_url(raw)


def _read_url(raw: str) -> str:
    value = raw.strip()
    if "://" not in value and not _SCHEME.match(value):
        value = f"http://{value}"  # VirusTotal takes a URL without a scheme as http
    if len(value) > MAX_URL_LENGTH:
        raise bad_request(f"a URL of {len(value)} characters is over the limit of {MAX_URL_LENGTH}")
    if _URL_FORBIDDEN.search(value):
        raise bad_request(
            f"{_shown(raw)} is not a valid URL: it holds a space or control character"
        )
    if _ZONE_ID.search(value):
        raise _zone_id(raw)
    try:
        parsed = URL(value)  # read as a browser reads it (WHATWG)
    except ValueError:
        raise bad_request(f"{_shown(raw)} is not a valid URL") from None
    if parsed.protocol.removesuffix(":") not in _SCHEMES:
        raise bad_request(f"{_shown(raw)} is not an http, https or ftp URL")
    host = parsed.hostname
    if not host:
        raise bad_request(f"{_shown(raw)} is not a valid URL: it names no host")
    if host.startswith("["):
        address = _address(host[1:-1])
        if address.version == 4:
            parsed.hostname = str(address)
    elif parsed.host_type == HostType.DEFAULT:
        parsed.hostname = _domain(host)
    parsed.hash = ""
    return parsed.href


_remembered_url = functools.lru_cache(maxsize=URLS_REMEMBERED)(_read_url)


_NORMALIZERS = {
    IndicatorType.FILE: _hash,
    IndicatorType.URL: _url,
    IndicatorType.DOMAIN: _domain,
    IndicatorType.IP: _ip,
}


def normalize(type_: IndicatorType | str, raw: str) -> str:
    """The canonical form of ``raw`` as an indicator of ``type_``.

    Hashes lower-case; domains lower-case, IDN to punycode, no trailing dot;
    IPs as :mod:`ipaddress` writes them (IPv4-mapped IPv6 as IPv4, zone ids
    refused); URLs (http, https or ftp; ``http://`` assumed when there is no
    scheme) as browsers read and write them (WHATWG, by ada-url: lower-case
    scheme and host, IDN to punycode, IPv4 hosts in dotted decimal, dot
    segments resolved, no default port, ``/`` for an empty path) without the
    fragment. Raises ``bad_request`` (400) when
    ``raw`` is not a valid indicator of that type.
    """
    return _NORMALIZERS[IndicatorType(type_)](raw)


def hash_kind(value: str) -> HashKind:
    """Which digest ``value`` is, by its length; ``bad_request`` if it is none."""
    return _HASH_KINDS[len(_hash(value))]


def is_scan_id(value: str) -> bool:
    """Whether ``value`` is a v2 scan id (``<sha256>-<unix time>``): one analysis, maybe old."""
    return _SCAN_ID.fullmatch(value.lower()) is not None


def is_ipv6(indicator: Indicator) -> bool:
    """Whether ``indicator`` is an IPv6 address (VirusTotal's v2 API knows IPv4 only)."""
    return indicator.type is IndicatorType.IP and ":" in indicator.value


@functools.lru_cache(maxsize=URLS_REMEMBERED)
def url_host(url: str) -> str:
    """The host of a URL as a browser reads it, as an indicator value (IPv6 without brackets)."""
    try:
        host = URL(url).hostname
    except ValueError:
        return ""
    return host.removeprefix("[").removesuffix("]")


def v3_url_id(url: str) -> str:
    """The identifier VirusTotal v3 gives a URL: unpadded URL-safe base64."""
    return base64.urlsafe_b64encode(url.encode("utf-8")).decode("ascii").rstrip("=")


def _is_internal_address(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if address.version == 6 and address.ipv4_mapped:
        address = address.ipv4_mapped
    # is_global is False for private, loopback, link-local, unspecified and
    # shared (100.64/10) space; multicast, reserved and IPv6 site-local are not
    # routable to a host on the Internet either.
    return (
        not address.is_global
        or address.is_multicast
        or address.is_reserved
        or getattr(address, "is_site_local", False)
    )


def _is_internal_name(name: str, internal_domains: Sequence[str]) -> bool:
    name = name.lower().removesuffix(".")
    suffixes = [*SPECIAL_USE_DOMAINS, *(d.strip(".").lower() for d in internal_domains)]
    return any(name == suffix or name.endswith(f".{suffix}") for suffix in suffixes if suffix)


def _is_internal_host(host: str, internal_domains: Sequence[str]) -> bool:
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return _is_internal_name(host, internal_domains)
    return _is_internal_address(address)


@functools.lru_cache(maxsize=URLS_REMEMBERED)
def _is_internal_url(url: str, internal_domains: tuple[str, ...]) -> bool:
    """Judge every host-like part: the host a browser reads, and the userinfo.

    Userinfo is where a name hides from a careless reader
    (``http://wiki.corp.example:pw@evil.example/``); userinfo holding URL
    delimiters once decoded is ambiguous, so it counts as internal.
    """
    try:
        parsed = URL(url)
    except ValueError:
        return True  # what cannot be read cannot be judged: never sent
    userinfo = [unquote(part) for part in (parsed.username, parsed.password) if part]
    if any(_AMBIGUOUS_USERINFO.search(part) for part in userinfo):
        return True
    return any(_is_internal_host(part, internal_domains) for part in [url_host(url), *userinfo])


def is_internal(indicator: Indicator, internal_domains: Sequence[str] = ()) -> bool:
    """Whether ``indicator`` must never be sent to VirusTotal.

    True for IPs that are not globally routable, for names equal to or under
    a special-use domain or one of ``internal_domains``, and for URLs with
    such a host or userinfo (or userinfo that could be read as a host). File
    hashes are never internal.
    """
    if indicator.type is IndicatorType.FILE:
        return False
    if indicator.type is IndicatorType.URL:
        return _is_internal_url(indicator.value, tuple(internal_domains))
    return _is_internal_host(indicator.value, internal_domains)


def detect_type(raw: str) -> IndicatorType | None:
    """The type ``raw`` is a valid indicator of as a whole, or None.

    For values whose key names no type (``resource``, ``ioc``...): here a URL
    needs a scheme, so a bare ``evil.example`` is a domain and ``1.2.3.4`` an IP.
    """
    value = raw.strip()
    if "://" in value:
        candidates: tuple[IndicatorType, ...] = (IndicatorType.URL,)
    elif len(value) in _HASH_KINDS and _HEX.fullmatch(value):
        candidates = (IndicatorType.FILE,)
    else:
        candidates = (IndicatorType.IP, IndicatorType.DOMAIN)
    for type_ in candidates:
        try:
            normalize(type_, value)
        except ServiceError:
            continue
        return type_
    return None
