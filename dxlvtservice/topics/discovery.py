"""Finding the indicators a ``classify`` request names (docs/topics.md: `/classify`).

Three sources, read in the request's order (:class:`~dxlvtservice.topics.requests.ClassifyRequest`
has checked them):

- named indicators (fields ``domain``, ``url``, ``ip``, ``hash`` and its aliases);
- ``search_within`` (narrowed first by a JSONata ``expression``): strings under
  a key that names an indicator (:data:`KEY_TYPES`) are taken as such, every
  other string is searched like ``text``;
- ``text``: indicators in free text, defanged forms included.

Content search and its noise rules:

- ioc-fanger refangs the text (``hxxp``, ``[.]``, ``(.)``, ``[:]``, ``[dot]``...);
- http(s) URLs are taken by this module, then blanked out: ioc-finder's URL
  grammar only knows IANA top-level domains (so ``hxxps://evil[.]example/a``
  escapes it), misses bracketed IPv6 hosts, user info and IDN hosts, and costs
  a pyparsing run per URL. Blanking also keeps a URL's host, and anything in
  its path or query (tracking ids that look like md5s), from being reported
  on its own;
- ioc-finder finds domains (IANA top-level domains only, so ``corp.local`` or
  ``file.txt`` are not domains in prose), IPv4 and IPv6 addresses and
  md5/sha1/sha256 hashes. CIDR ranges are not addresses; the domain of an
  e-mail address is kept (a phishing sender's domain is an indicator);
- a domain ending in a top-level domain that is mostly a file extension
  (:data:`FILE_NAME_TLDS`: ``invoice.zip``, ``run.sh``) is taken for a file name;
- a domain or IP found by content is dropped when a URL on that same host is
  among the indicators: the URL's report covers it.

Named indicators and key names are what the requester meant, so none of these
filters applies to them.

Hostile input is bounded: runs of brackets and hyphens that make ioc-fanger's
regular expressions quadratic are blanked, text is searched in pieces of at
most :data:`CHUNK_CHARS` characters, the time budget is checked between pieces
and strings (and bounds the JSONata evaluation, which runs in a worker
process, :mod:`~dxlvtservice.topics.sandbox`, whose regular expressions are
refused), and the search stops as soon as there are surely more indicators than allowed.
"""

from __future__ import annotations

import functools
import re
import threading
import time
from collections.abc import Iterator, Sequence
from typing import Any

import ioc_fanger
from ioc_finder import find_iocs

from ..core.indicators import Indicator, IndicatorType, detect_type, url_host
from ..errors import ServiceError, bad_request
from .requests import Named, SearchWithin, Source
from .sandbox import EXPRESSIONS

FILE, URL, DOMAIN, IP = ALL_TYPES = tuple(IndicatorType)

_KEY_NAMES = {
    FILE: "hash md5 sha1 sha256 filehash md5hash sha1hash sha256hash filemd5 filesha1 filesha256",
    URL: "url uri href link",
    DOMAIN: "domain domainname hostname host fqdn dnsname",
    IP: "ip ipaddress ipaddr ipv4 ipv6 srcip dstip sourceip destinationip clientip serverip"
    " remoteip",
}
KEY_TYPES: dict[str, tuple[IndicatorType, ...]] = {
    **{name: (type_,) for type_, names in _KEY_NAMES.items() for name in names.split()},
    **dict.fromkeys(("resource", "indicator", "ioc", "observable"), ALL_TYPES),
}
"""``search_within`` key -> the types its string values are taken as.

Keys are compared lower-case, without punctuation and by their last dotted
part, so ``ip_address``, ``IPAddress``, ``source.ip`` and ``src-ip`` all match.
A value that is not a valid indicator of its key's type is searched as text.
"""

FILE_NAME_TLDS = frozenset({"zip", "mov", "sh", "py", "md", "rs", "so", "java", "pm", "pub", "cab"})
"""Top-level domains that, found in prose, are far more often file extensions."""

CHUNK_CHARS = 4096
"""Text is searched in pieces this long at most, cut at a line or word break."""

DEFAULT_TIME_BUDGET_SEC = 2.0

_IOC_FINDER_TYPES = {
    "domains": DOMAIN,
    "ipv4s": IP,
    "ipv6s": IP,
    "md5s": FILE,
    "sha1s": FILE,
    "sha256s": FILE,
}
# Cheap test for strings that cannot hold an indicator, even defanged.
_MAY_HOLD_INDICATOR = re.compile(r"[.:,]|dot|punto|punkt|[0-9a-f]{32}", re.IGNORECASE)
# Runs on which ioc-fanger's bracket and hyphen patterns go quadratic; none
# can be part of an indicator (a DNS label is at most 63 characters).
_PATHOLOGICAL_RUN = re.compile(r"[\[\](){}]{16,}|-{64,}")
# ioc-finder's pyparsing grammars are shared and not thread-safe (pyparsing issue #89):
# classify requests that search text at the same moment made a parse action fail with
# a TypeError. The search is pure Python under the GIL, so one at a time costs nothing.
_IOC_FINDER_LOCK = threading.Lock()
_URL = re.compile(r"(?<![a-z0-9])h(?:tt|xx)ps?://[^\s<>\"'`]+", re.IGNORECASE)
_URL_TRAILING = ".,;:!?'\")]}>"
_CLOSING = {")": "(", "]": "[", "}": "{", ">": "<"}


def _key_types(key: Any) -> tuple[IndicatorType, ...]:
    name = str(key).rpartition(".")[2]
    return KEY_TYPES.get(re.sub(r"[^a-z0-9]", "", name.lower()), ())


def _strings(root: Any) -> Iterator[tuple[str, tuple[IndicatorType, ...]]]:
    """Every string in a JSON value, in document order, with the types its key names.

    Iterative: a request may nest as deep as the JSON decoder allows.
    """
    stack: list[tuple[Any, tuple[IndicatorType, ...]]] = [(root, ())]
    while stack:
        value, types = stack.pop()
        if isinstance(value, str):
            yield value, types
        elif isinstance(value, dict):
            stack.extend((child, _key_types(key)) for key, child in reversed(value.items()))
        elif isinstance(value, list):
            stack.extend((child, types) for child in reversed(value))


def _as_typed(value: str, types: tuple[IndicatorType, ...]) -> Indicator | None:
    """``value`` as an indicator of one of ``types``, or None."""
    type_ = types[0] if len(types) == 1 else detect_type(value)
    if type_ not in types:
        return None
    try:
        return Indicator.parse(type_, value)
    except ServiceError:
        return None


def _chunks(text: str) -> Iterator[str]:
    """``text`` in pieces of at most CHUNK_CHARS, cut at a line or word break if any."""
    start = 0
    while len(text) - start > CHUNK_CHARS:
        window = text[start : start + CHUNK_CHARS]
        cut = window.rfind("\n")
        if cut < CHUNK_CHARS // 2:
            cut = max(window.rfind(" "), window.rfind("\t"))
        if cut < CHUNK_CHARS // 2:
            cut = CHUNK_CHARS
        yield window[:cut]
        start += cut
    yield text[start:]


def _trim_url(url: str) -> str:
    """A URL matched in prose without the punctuation that follows it."""
    while url and url[-1] in _URL_TRAILING:
        opener = _CLOSING.get(url[-1])
        if opener and url.count(opener) >= url.count(url[-1]):
            break
        url = url[:-1]
    return url


@functools.lru_cache(maxsize=256)
def _extract(piece: str) -> tuple[Indicator, ...]:
    """The indicators in one piece of text, in order of appearance.

    Cached: repetitive text (logs, and hostile padding) repeats its pieces.
    """
    fanged = ioc_fanger.fang(piece)
    found: list[tuple[int, Indicator]] = []
    blanked = list(fanged)
    for match in _URL.finditer(fanged):
        url = _trim_url(match.group())
        blanked[match.start() : match.start() + len(url)] = " " * len(url)
        indicator = _as_typed("http" + url[4:], (URL,))
        if indicator:
            found.append((match.start(), indicator))
    rest = "".join(blanked)
    with _IOC_FINDER_LOCK:
        iocs = find_iocs(
            rest,
            included_ioc_types=list(_IOC_FINDER_TYPES),
            parse_address_from_cidr=False,
            parse_unicode_iocs=True,
        )
    lowered = rest.lower()
    for kind, type_ in _IOC_FINDER_TYPES.items():
        for raw in iocs[kind]:
            if type_ is DOMAIN and raw.rpartition(".")[2] in FILE_NAME_TLDS:
                continue
            indicator = _as_typed(raw, (type_,))
            if indicator:
                position = lowered.find(raw.lower())
                found.append((position if position >= 0 else len(rest), indicator))
    found.sort(key=lambda item: item[0])
    return tuple(indicator for _, indicator in found)


class _Finder:
    """Collects indicators in first-seen order, within the limits of one request."""

    def __init__(self, max_indicators: int, budget: float) -> None:
        self._max = max_indicators
        self._budget = budget
        self._deadline = time.monotonic() + budget
        self._found: dict[Indicator, None] = {}  # an ordered set
        # Domains and IPs found only by content, by value, and those of them
        # that a URL's host covers: these are not reported on their own.
        self._by_content: dict[str, Indicator] = {}
        self._named: set[Indicator] = set()
        self._url_hosts: set[str] = set()
        self._covered: set[Indicator] = set()

    def remaining(self) -> float:
        return self._deadline - time.monotonic()

    def _check_time(self) -> None:
        if self.remaining() <= 0:
            raise bad_request(
                f"searching the request for indicators took over {self._budget:g} seconds; "
                "send less text or narrow search_within with an expression"
            )

    def add(self, indicator: Indicator, *, by_content: bool) -> None:
        """Count ``indicator`` in; 400 as soon as the limit is passed.

        The count never falls as indicators are added (a URL covers at most
        the one host it adds), so stopping early is exact.
        """
        self._found[indicator] = None
        if indicator.type is URL:
            host = url_host(indicator.value)
            self._url_hosts.add(host)
            if host in self._by_content and self._by_content[host] not in self._named:
                self._covered.add(self._by_content[host])
        elif indicator.type in (DOMAIN, IP):
            if not by_content:
                self._named.add(indicator)
                self._covered.discard(indicator)
            elif indicator not in self._named:
                self._by_content[indicator.value] = indicator
                if indicator.value in self._url_hosts:
                    self._covered.add(indicator)
        if len(self._found) - len(self._covered) > self._max:
            raise bad_request(f"the request names more than {self._max} indicators, the limit")

    def search_json(self, data: Any) -> None:
        for value, types in _strings(data):
            self._check_time()
            indicator = _as_typed(value, types) if types else None
            if indicator:
                self.add(indicator, by_content=False)
            else:
                self.search_text(value)

    def search_text(self, text: str) -> None:
        for piece in _chunks(_PATHOLOGICAL_RUN.sub(" ", text)):
            self._check_time()
            if _MAY_HOLD_INDICATOR.search(piece):
                for indicator in _extract(piece):
                    self.add(indicator, by_content=True)

    def indicators(self) -> list[Indicator]:
        """What was found, first seen first."""
        return [indicator for indicator in self._found if indicator not in self._covered]


def find_indicators(
    sources: Sequence[Source],
    *,
    max_indicators: int,
    time_budget_sec: float = DEFAULT_TIME_BUDGET_SEC,
) -> list[Indicator]:
    """The normalised, de-duplicated indicators of a ``classify`` request, first seen first.

    Raises ``bad_request`` (400) when the expression fails, there are more
    than ``max_indicators`` indicators, or the search takes longer than
    ``time_budget_sec``. An empty list means nothing was found.
    """
    finder = _Finder(max_indicators, time_budget_sec)
    for source in sources:
        if isinstance(source, Named):
            for indicator in source.indicators:
                finder.add(indicator, by_content=False)
        elif isinstance(source, SearchWithin):
            document = source.document
            if source.expression is not None:
                document = EXPRESSIONS.evaluate(source.expression, document, finder.remaining())
            finder.search_json(document)
        else:
            finder.search_text(source.text)
    return finder.indicators()
