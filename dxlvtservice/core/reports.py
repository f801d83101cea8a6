"""VirusTotal reports as one value type: the only module that knows their JSON shapes.

A report arrives in one of two shapes: v2, a flat object with a
``response_code``, and v3, a JSON:API object whose ``attributes`` carry the
analysis; an error is ``{"error": {...}}`` (VirusTotal's v3 error object, or
the service's own for a failed lookup). :meth:`Report.from_dict` reads any of
them into a :class:`Report`, so that the verdict rules (docs/verdicts.md),
the cache, the upstream edge, the compatible topics and the TIE export ask
questions of one type instead of digging through dicts. The raw JSON stays
with it (``raw``): the cache keeps it and the compatible topics answer it.
Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from .indicators import IndicatorType

# v2 domain and IP reports have no positives; these lists stand in for them.
HEURISTIC_LISTS = {
    IndicatorType.DOMAIN: (
        "detected_urls",
        "detected_downloaded_samples",
        "detected_referrer_samples",
    ),
    IndicatorType.IP: (
        "detected_urls",
        "detected_downloaded_samples",
        "detected_communicating_samples",
    ),
}
# Engine categories that are an opinion; timeout, confirmed-timeout, failure and
# type-unsupported are engines that did not run (docs/verdicts.md).
OPINIONS = ("harmless", "undetected", "malicious", "suspicious")

_V2_MEANINGS = {-2: "still queued for analysis", -1: "VirusTotal reported an error"}
V3_NOT_FOUND = "NotFoundError"


class Status(StrEnum):
    """What a report says about its indicator.

    ``INCOMPLETE``: VirusTotal has a report, but not the figures the verdict
    rules need (a v3 object not analysed yet, a v2 report without valid
    positives and total); it is an answer about the indicator all the same.
    """

    FOUND = "found"
    INCOMPLETE = "incomplete"
    NOT_FOUND = "not_found"
    QUEUED = "queued"
    ERROR = "error"


def is_int(value: Any) -> bool:
    """An integer, not a bool (JSON's true is no count)."""
    return isinstance(value, int) and not isinstance(value, bool)


def _counts(value: Any, keys: tuple[str, ...]) -> dict[str, int]:
    """The integer counts of ``keys`` in a stats dict (missing or garbage counts are 0)."""
    if not isinstance(value, dict):
        return {}
    return {key: value[key] for key in keys if is_int(value.get(key)) and value[key] >= 0}


@dataclass(frozen=True)
class Report:
    """One report, read: status, the figures the verdict rules use, the file's names.

    ``api`` is 2 or 3 (None for an error that is no report of either kind).
    ``positives`` and ``total`` are the engine figures: v2 ``positives`` and
    ``total``; v3 ``last_analysis_stats.malicious`` and the engines that gave an
    opinion. ``heuristic`` is the v2 domain / IP detection count (None when the
    lists are not lists). ``md5``, ``sha1``, ``sha256`` are a file's names (v2
    fields or v3 attributes); the fields after them are v3 attributes, empty
    when the report lacks them. ``raw`` is the JSON as it was read.
    """

    status: Status
    api: int | None = None
    response_code: int | None = None
    problem: str | None = None
    positives: int | None = None
    total: int | None = None
    suspicious: int = 0
    heuristic: int | None = None
    results: Mapping[str, str] = field(default_factory=dict)
    md5: str | None = None
    sha1: str | None = None
    sha256: str | None = None
    meaningful_name: str | None = None
    popularity_ranks: Mapping[str, tuple[int, int]] = field(default_factory=dict)
    known_distributors: tuple[str, ...] = ()
    trusted_verdict: Mapping[str, str] = field(default_factory=dict)
    yara_rules: int = 0
    sigma_stats: Mapping[str, int] = field(default_factory=dict)
    ids_stats: Mapping[str, int] = field(default_factory=dict)
    gti_verdict: str | None = None
    raw: Any = field(default=None, compare=False, repr=False)

    @property
    def found(self) -> bool:
        return self.status is Status.FOUND

    @property
    def known(self) -> bool:
        """VirusTotal has a report on the indicator (found, complete or not)."""
        return self.status in (Status.FOUND, Status.INCOMPLETE)

    @property
    def cacheable(self) -> bool:
        """A fact about the indicator (it is known, or not found); errors and queued
        answers are not."""
        return self.known or self.status is Status.NOT_FOUND

    @property
    def file_hashes(self) -> dict[str, str] | None:
        """``{"md5", "sha1", "sha256"}`` lower-case when the report carries all three, else None."""
        md5, sha1, sha256 = self.md5, self.sha1, self.sha256
        if not (md5 and sha1 and sha256):
            return None
        return {"md5": md5.lower(), "sha1": sha1.lower(), "sha256": sha256.lower()}

    @classmethod
    def from_dict(cls, type_: IndicatorType | str, raw: Any) -> Report:
        """Read a v2 report, a v3 object (whole or its ``data``), or an ``{"error": ...}``."""
        return replace(_read(IndicatorType(type_), raw), raw=raw)

    @classmethod
    def failure(cls, message: str) -> Report:
        """A lookup that failed with ``message``: no report, an error."""
        return cls(Status.ERROR, problem=message)


def _read(type_: IndicatorType, raw: Any) -> Report:
    if not isinstance(raw, dict):
        return Report(Status.ERROR, problem="the report is not a JSON object")
    if raw.get("error") is not None:
        return _from_error(raw["error"])
    data = raw.get("data", raw)
    attributes = data.get("attributes") if isinstance(data, dict) else None
    if isinstance(attributes, dict):
        return _from_v3(attributes)
    if is_v3_object(raw):
        return Report(Status.INCOMPLETE, api=3, problem="the v3 object has no attributes")
    return _from_v2(type_, raw)


def error_code(raw: Any) -> str:
    """The ``code`` of a v3 error answer (``NotFoundError``, ``QuotaExceededError``...),
    else ""."""
    if isinstance(raw, dict) and isinstance(raw.get("error"), dict):
        return str(raw["error"].get("code", ""))
    return ""


def is_v3_object(raw: Any) -> bool:
    """Whether ``raw`` is a v3 JSON:API document: its ``data`` an object."""
    return isinstance(raw, dict) and isinstance(raw.get("data"), dict)


def echoes(raw: Any) -> tuple[str, ...]:
    """What a v2 answer says it answers, case-folded: its ``resource`` (and, for a
    URL scan, its ``url``). Batch answers are matched to their resources by these."""
    if not isinstance(raw, dict):
        return ()
    return tuple(raw[n].casefold() for n in ("resource", "url") if isinstance(raw.get(n), str))


def answered_for(raw: dict, requested: str) -> dict:
    """A copy of a v2 answer that echoes ``requested`` as given, as VirusTotal does."""
    answer = dict(raw)
    if "resource" in answer:
        answer["resource"] = requested
    return answer


def _from_error(error: Any) -> Report:
    if isinstance(error, dict):
        if error.get("code") == V3_NOT_FOUND:
            return Report(Status.NOT_FOUND, api=3, response_code=0, problem=V3_NOT_FOUND)
        return Report(Status.ERROR, problem=str(error.get("message") or error.get("code")
                                                or "unknown error"))  # fmt: skip
    return Report(Status.ERROR, problem=str(error))


def _names(raw: Mapping) -> dict[str, str | None]:
    return {
        name: raw[name] if isinstance(raw.get(name), str) and raw[name] else None
        for name in ("md5", "sha1", "sha256")
    }


def _from_v2(type_: IndicatorType, raw: dict) -> Report:
    code = raw.get("response_code")
    if not is_int(code):
        problem = "neither a v2 report with a response_code nor a v3 report"
        return Report(Status.ERROR, problem=problem)
    if code < 0:
        status = Status.QUEUED if code == -2 else Status.ERROR
        meaning = _V2_MEANINGS.get(code, "an error")
        problem = f"response_code {code} ({meaning})"
        return Report(status, api=2, response_code=code, problem=problem)
    if code == 0:
        return Report(Status.NOT_FOUND, api=2, response_code=0, problem="response_code 0")
    if code != 1:
        return Report(Status.ERROR, api=2, response_code=code,
                      problem=f"unexpected response_code {code}")  # fmt: skip
    if "scan_id" in raw and "positives" not in raw and type_ not in HEURISTIC_LISTS:
        # A "scan queued" answer also says 1, but carries a scan id and no results.
        return Report(Status.QUEUED, api=2, response_code=1, problem="scan queued")
    if type_ in HEURISTIC_LISTS:
        lists = [raw.get(name) or [] for name in HEURISTIC_LISTS[type_]]
        heuristic = sum(map(len, lists)) if all(isinstance(x, list) for x in lists) else None
        return Report(Status.FOUND, api=2, response_code=1, heuristic=heuristic)
    positives, total = raw.get("positives"), raw.get("total")
    if not (is_int(positives) and is_int(total) and 0 <= positives <= total):
        problem = "the report has no valid positives and total"
        return Report(Status.INCOMPLETE, api=2, response_code=code, problem=problem, **_names(raw))
    scans = raw.get("scans") if isinstance(raw.get("scans"), dict) else {}
    results = {
        engine: "malicious" if scan.get("detected") else "undetected"
        for engine, scan in scans.items()
        if isinstance(scan, dict)
    }
    return Report(Status.FOUND, api=2, response_code=1, positives=positives, total=total,
                  results=results, **_names(raw))  # fmt: skip


def _from_v3(attributes: dict) -> Report:
    name = attributes.get("meaningful_name")
    names = {**_names(attributes), "meaningful_name": name if isinstance(name, str) else None}
    stats = attributes.get("last_analysis_stats")
    if not isinstance(stats, dict) or not stats:
        problem = "the v3 report has no last_analysis_stats (not analysed yet?)"
        return Report(Status.INCOMPLETE, api=3, problem=problem, **names)
    if not all(is_int(count) and count >= 0 for count in stats.values()):
        problem = "the v3 report's last_analysis_stats are not counts"
        return Report(Status.INCOMPLETE, api=3, problem=problem, **names)
    raw_results = attributes.get("last_analysis_results")
    results = {
        engine: result["category"]
        for engine, result in (raw_results.items() if isinstance(raw_results, dict) else ())
        if isinstance(result, dict) and isinstance(result.get("category"), str)
    }
    return Report(
        Status.FOUND,
        api=3,
        response_code=1,
        positives=stats.get("malicious", 0),
        total=sum(stats.get(key, 0) for key in OPINIONS),
        suspicious=stats.get("suspicious", 0),
        results=results,
        popularity_ranks=_popularity(attributes.get("popularity_ranks")),
        known_distributors=_distributors(attributes.get("known_distributors")),
        trusted_verdict=_trusted_verdict(attributes.get("trusted_verdict")),
        yara_rules=_count_list(attributes.get("crowdsourced_yara_results")),
        sigma_stats=_counts(attributes.get("sigma_analysis_stats"),
                            ("critical", "high", "medium", "low")),
        ids_stats=_counts(attributes.get("crowdsourced_ids_stats"),
                          ("high", "medium", "low", "info")),
        gti_verdict=_gti_verdict(attributes.get("gti_assessment")),
        **names,
    )  # fmt: skip


def _popularity(value: Any) -> dict[str, tuple[int, int]]:
    """``{"Cisco Umbrella": {"rank": 5, "timestamp": ...}}`` as ``{name: (rank, timestamp)}``."""
    if not isinstance(value, dict):
        return {}
    return {
        name: (entry["rank"], entry["timestamp"])
        for name, entry in value.items()
        if isinstance(entry, dict) and is_int(entry.get("rank")) and is_int(entry.get("timestamp"))
    }


def _distributors(value: Any) -> tuple[str, ...]:
    names = value.get("distributors") if isinstance(value, dict) else None
    return tuple(n for n in names if isinstance(n, str) and n) if isinstance(names, list) else ()


def _trusted_verdict(value: Any) -> dict[str, str]:
    if not isinstance(value, dict):
        return {}
    return {key: item for key, item in value.items() if isinstance(item, str)}


def _count_list(value: Any) -> int:
    return len(value) if isinstance(value, list) else 0


def _gti_verdict(value: Any) -> str | None:
    verdict = value.get("verdict") if isinstance(value, dict) else None
    verdict = verdict.get("value") if isinstance(verdict, dict) else None
    return verdict if isinstance(verdict, str) else None
