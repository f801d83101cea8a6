"""The verdict rules (README: Verdict rules): a report and thresholds in, one of five outcomes out.

Pure functions over plain dicts, so ``classify`` (reports fetched here) and
``analyze`` (reports the requester already has) judge alike. Reports come in
two shapes: v2, with a ``response_code``, and v3, a JSON:API object whose
``attributes`` carry ``last_analysis_stats``; the shape tells them apart.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields, replace
from enum import StrEnum
from typing import Any

from .errors import bad_request
from .indicators import IndicatorType


class Verdict(StrEnum):
    """The five outcomes, in the seed's order."""

    MALICIOUS = "malicious"
    TRUSTED = "trusted"
    NO_MATCH = "no_match"
    REPORT_MISSING = "report_missing"
    REPORT_ERROR = "report_error"


URGENCY = (
    Verdict.MALICIOUS,
    Verdict.REPORT_ERROR,
    Verdict.REPORT_MISSING,
    Verdict.NO_MATCH,
    Verdict.TRUSTED,
)
"""Most urgent first: the order in which a request's overall verdict is chosen."""

# v2 domain and IP reports have no positives; these lists stand in (rule 6).
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

_V2_MEANINGS = {-2: "still queued for analysis", -1: "VirusTotal reported an error"}
_V3_NOT_FOUND = "NotFoundError"


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass(frozen=True)
class Rules:
    """Thresholds: M, T (None = never trusted) and the heuristic ones (None = off)."""

    malicious_positives: int = 5
    trusted_positives: int | None = 1
    domain_detections: int | None = None
    ip_detections: int | None = None

    def merged(self, overrides: Mapping[str, Any] | None) -> Rules:
        """These rules with a request's ``rules`` object applied; 400 if it is invalid."""
        return replace(self, **rule_overrides(overrides))

    def heuristic_threshold(self, type_: IndicatorType) -> int | None:
        """The rule 6 threshold for ``type_`` (None when off or not applicable)."""
        if type_ is IndicatorType.DOMAIN:
            return self.domain_detections
        if type_ is IndicatorType.IP:
            return self.ip_detections
        return None


def rule_overrides(overrides: Any) -> dict[str, Any]:
    """A request's ``rules`` object, checked: 400 naming the first unknown or invalid rule."""
    if overrides is None:
        return {}
    if not isinstance(overrides, Mapping):
        raise bad_request("rules must be an object")
    known = [f.name for f in fields(Rules)]
    for name, value in overrides.items():
        if name not in known:
            raise bad_request(f"unknown rule {name!r}; the rules are {', '.join(known)}")
        _check_rule(name, value)
    return dict(overrides)


def _check_rule(name: str, value: Any) -> None:
    if name == "malicious_positives":
        if not _is_int(value) or value < 1:
            raise bad_request("malicious_positives must be an integer >= 1")
    elif name == "trusted_positives":
        if value is not None and (not _is_int(value) or value < 1):
            raise bad_request("trusted_positives must be an integer >= 1, or null for never")
    elif value is not None and (not _is_int(value) or value < 0):
        raise bad_request(f"{name} must be an integer >= 0, or null for off")


@dataclass(frozen=True)
class Assessment:
    """One indicator's verdict and the figures behind it; fields as in a ``classify`` result."""

    verdict: Verdict
    positives: int | None = None
    total: int | None = None
    positives_source: str | None = None
    confidence: float | None = None
    response_code: int | None = None
    reason: str = ""


def _missing(why: str) -> Assessment:
    return Assessment(Verdict.REPORT_MISSING, reason=f"no report: {why}")


def _error(why: str, code: int | None = None) -> Assessment:
    return Assessment(Verdict.REPORT_ERROR, response_code=code, reason=f"report error: {why}")


def _not_found(detail: str) -> Assessment:
    return Assessment(Verdict.NO_MATCH, response_code=0, reason=f"not on VirusTotal ({detail})")


def _judge_positives(positives: int, total: int, rules: Rules) -> Assessment:
    """Rules 4 and 5: engine positives against M, then T."""
    if total == 0:
        reason = "no engine has analysed it (0 of 0)"
        return Assessment(Verdict.NO_MATCH, 0, 0, "engines", response_code=1, reason=reason)
    p, m, t = positives, rules.malicious_positives, rules.trusted_positives
    if p >= m:
        verdict, reason = Verdict.MALICIOUS, f"{p} positives >= malicious threshold {m}"
    elif t is not None and p < t:
        verdict, reason = Verdict.TRUSTED, f"{p} positives < trusted threshold {t}"
    else:
        trusted = "trusted never" if t is None else f"not < trusted threshold {t}"
        verdict, reason = Verdict.NO_MATCH, f"{p} positives < malicious threshold {m}, {trusted}"
    return Assessment(verdict, p, total, "engines", round(p / total, 3), 1, reason)


def _judge_heuristic(type_: IndicatorType, report: dict, rules: Rules) -> Assessment:
    """Rule 6: a v2 domain or IP report, judged by its lists of detected items."""
    threshold = rules.heuristic_threshold(type_)
    if threshold is None:
        reason = f"v2 {type_} reports carry no positives and the {type_} heuristic is off"
        return Assessment(Verdict.NO_MATCH, response_code=1, reason=reason)
    lists = [report.get(name) or [] for name in HEURISTIC_LISTS[type_]]
    if not all(isinstance(items, list) for items in lists):
        return _error(f"the {type_} report's detection lists are not lists", 1)
    positives = sum(len(items) for items in lists)
    if positives > threshold:
        verdict, comparison = Verdict.MALICIOUS, ">"
    else:
        verdict, comparison = Verdict.NO_MATCH, "<="
    reason = f"heuristic: {positives} detections {comparison} {type_} threshold {threshold}"
    return Assessment(verdict, positives, None, "heuristic", None, 1, reason)


def _assess_v2(type_: IndicatorType, report: dict, rules: Rules) -> Assessment:
    code = report.get("response_code")
    if not _is_int(code):
        return _error("neither a v2 report with a response_code nor a v3 report")
    if code < 0:
        meaning = _V2_MEANINGS.get(code, "an error")
        return _error(f"response_code {code} ({meaning})", code)
    if code == 0:
        return _not_found("response_code 0")
    if code != 1:
        return _error(f"unexpected response_code {code}", code)
    if type_ in HEURISTIC_LISTS:
        return _judge_heuristic(type_, report, rules)
    positives, total = report.get("positives"), report.get("total")
    if not (_is_int(positives) and _is_int(total) and 0 <= positives <= total):
        return _error("the report has no valid positives and total", code)
    return _judge_positives(positives, total, rules)


def _v3_attributes(report: dict) -> dict | None:
    """The ``attributes`` of a v3 object, whole (``{"data": {...}}``) or bare."""
    data = report.get("data", report)
    attributes = data.get("attributes") if isinstance(data, dict) else None
    return attributes if isinstance(attributes, dict) else None


def _assess_v3(attributes: dict, rules: Rules) -> Assessment:
    stats = attributes.get("last_analysis_stats")
    if not isinstance(stats, dict) or not stats:
        return _error("the v3 report has no last_analysis_stats (not analysed yet?)")
    if not all(_is_int(count) and count >= 0 for count in stats.values()):
        return _error("the v3 report's last_analysis_stats are not counts")
    return _judge_positives(stats.get("malicious", 0), sum(stats.values()), rules)


def _assess_error(error: Any) -> Assessment:
    """A report that is an error: VirusTotal's v3 error object or the caller's."""
    if isinstance(error, dict):
        if error.get("code") == _V3_NOT_FOUND:
            return _not_found(_V3_NOT_FOUND)
        detail = error.get("message") or error.get("code") or "unknown error"
        return _error(str(detail))
    return _error(str(error))


def assess(type_: IndicatorType | str, report: Any, rules: Rules) -> Assessment:
    """Apply the verdict rules to one report of an indicator of ``type_``.

    ``report`` is a v2 or v3 report as VirusTotal answers it, None when there
    is none (rule 1; callers with a better reason replace ``reason``), or
    ``{"error": {...}}`` for a failed lookup (rule 2; a v3 ``NotFoundError``
    is rule 3). ``response_code`` of a v3 report is 1 when found and 0 when not.
    """
    type_ = IndicatorType(type_)
    if report is None:
        return _missing("none was supplied")
    if not isinstance(report, dict):
        return _error("the report is not a JSON object")
    if report.get("error") is not None:
        return _assess_error(report["error"])
    attributes = _v3_attributes(report)
    if attributes is not None:
        return _assess_v3(attributes, rules)
    return _assess_v2(type_, report, rules)


def overall_verdict(verdicts: Iterable[str]) -> Verdict:
    """The most urgent verdict present; ``report_missing`` when there is none."""
    return min(map(Verdict, verdicts), key=URGENCY.index, default=Verdict.REPORT_MISSING)


def summary(verdicts: Iterable[str]) -> dict[str, int]:
    """How many results have each verdict; every verdict is a key."""
    counts = Counter(map(Verdict, verdicts))
    return {verdict.value: counts[verdict] for verdict in Verdict}
