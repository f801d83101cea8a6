"""The verdict rules (docs/verdicts.md): a report and thresholds in, one of five outcomes out.

Pure functions, so ``classify`` (reports fetched here) and ``analyze``
(reports the requester already has) judge alike. Reports are read by
:mod:`~dxlvtservice.core.reports`; here each rule is a small function of (report, rules) that
fires with a reason and a signal, and :func:`judge` applies them in the
documented order (docs/verdicts.md).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, fields, replace
from enum import StrEnum
from typing import Any, NamedTuple

from ..errors import bad_request
from .indicators import IndicatorType
from .reports import HEURISTIC_LISTS, Report, Status, is_int


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

DAY = 86400
GTI_MALICIOUS, GTI_BENIGN = "VERDICT_MALICIOUS", "VERDICT_BENIGN"


def _int_from(low: int, *, nullable: bool) -> Callable[[Any], bool]:
    return lambda value: (nullable and value is None) or (is_int(value) and value >= low)


def _is_ratio(value: Any) -> bool:
    return value is None or (
        isinstance(value, int | float) and not isinstance(value, bool) and 0 < value <= 1
    )


def _is_engine_list(value: Any) -> bool:
    return value is None or (
        isinstance(value, list | tuple)
        and bool(value)
        and all(isinstance(name, str) and name.strip() for name in value)
    )


# Per rule: what a valid value is, and how the error sentence says it.
_CHECKS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "malicious_positives": (_int_from(1, nullable=False), "an integer >= 1"),
    "trusted_positives": (_int_from(1, nullable=True), "an integer >= 1, or null for never"),
    "domain_detections": (_int_from(0, nullable=True), "an integer >= 0, or null for off"),
    "ip_detections": (_int_from(0, nullable=True), "an integer >= 0, or null for off"),
    "count_suspicious": (lambda value: isinstance(value, bool), "true or false"),
    "malicious_ratio": (_is_ratio, "a number above 0 and at most 1, or null for off"),
    "preferred_engines": (_is_engine_list, "a non-empty list of engine names, or null for off"),
    "preferred_malicious": (_int_from(1, nullable=False), "an integer >= 1"),
    "popular_rank": (_int_from(1, nullable=True), "an integer >= 1, or null for off"),
    "popular_max_age_days": (_int_from(1, nullable=False), "an integer >= 1"),
    "trust_known_distributor": (lambda value: isinstance(value, bool), "true or false"),
    "suspicious_positives": (_int_from(1, nullable=True), "an integer >= 1, or null for off"),
    "yara_min": (_int_from(1, nullable=True), "an integer >= 1, or null for off"),
    "sigma_min": (_int_from(1, nullable=True), "an integer >= 1, or null for off"),
    "ids_min": (_int_from(1, nullable=True), "an integer >= 1, or null for off"),
    "gti_verdict": (lambda value: isinstance(value, bool), "true or false"),
}


def rule_problem(name: str, value: Any) -> str | None:
    """Why ``value`` is no valid value of rule ``name`` (one sentence naming it), or None."""
    valid, expected = _CHECKS[name]
    return None if valid(value) else f"{name} must be {expected}"


@dataclass(frozen=True)
class Rules:
    """Thresholds: M, T (None = never trusted), the heuristic ones and the v3 rules (None = off).

    The fields after ``ip_detections`` are the rules that read more of a v3
    report (docs/verdicts.md); at their defaults every verdict is that of the
    positives rules alone.
    """

    malicious_positives: int = 5
    trusted_positives: int | None = 1
    domain_detections: int | None = None
    ip_detections: int | None = None
    count_suspicious: bool = False
    malicious_ratio: float | None = None
    preferred_engines: tuple[str, ...] | None = None
    preferred_malicious: int = 1
    popular_rank: int | None = None
    popular_max_age_days: int = 400
    trust_known_distributor: bool = False
    suspicious_positives: int | None = None
    yara_min: int | None = None
    sigma_min: int | None = None
    ids_min: int | None = None
    gti_verdict: bool = False

    def merged(self, overrides: Mapping[str, Any] | None) -> Rules:
        """These rules with a request's ``rules`` object applied; 400 naming the key if invalid."""
        return replace(self, **rule_overrides(overrides))

    def heuristic_threshold(self, type_: IndicatorType) -> int | None:
        """The rule 6 threshold for ``type_`` (None when off or not applicable)."""
        if type_ is IndicatorType.DOMAIN:
            return self.domain_detections
        if type_ is IndicatorType.IP:
            return self.ip_detections
        return None


def rule_overrides(overrides: Any) -> dict[str, Any]:
    """A request's ``rules`` object, checked (400 naming the first bad rule), engines trimmed."""
    if overrides is None:
        return {}
    if not isinstance(overrides, Mapping):
        raise bad_request("rules must be an object")
    known = [f.name for f in fields(Rules)]
    for name, value in overrides.items():
        if name not in known:
            raise bad_request(f"unknown rule {name!r}; the rules are {', '.join(known)}")
        problem = rule_problem(name, value)
        if problem:
            raise bad_request(problem)
    checked = dict(overrides)
    engines = checked.get("preferred_engines")
    if engines is not None:
        checked["preferred_engines"] = tuple(name.strip() for name in engines)
    return checked


@dataclass(frozen=True)
class Assessment:
    """One indicator's verdict and the figures behind it; fields as in a ``classify`` result.

    ``suspicious`` and ``signals`` are the triage hint of the v3 rules: they
    name every rule that fired, with its figure, and never change ``verdict``.
    """

    verdict: Verdict
    positives: int | None = None
    total: int | None = None
    positives_source: str | None = None
    confidence: float | None = None
    response_code: int | None = None
    reason: str = ""
    suspicious: bool = False
    signals: tuple[str, ...] = ()


def _missing(why: str) -> Assessment:
    return Assessment(Verdict.REPORT_MISSING, reason=f"no report: {why}")


def _error(why: str, code: int | None = None) -> Assessment:
    return Assessment(Verdict.REPORT_ERROR, response_code=code, reason=f"report error: {why}")


def _not_found(detail: str) -> Assessment:
    return Assessment(Verdict.NO_MATCH, response_code=0, reason=f"not on VirusTotal ({detail})")


class Finding(NamedTuple):
    """A rule that fired: the reason it gives when it decides, and its signal (or None)."""

    reason: str
    signal: str | None = None


Rule = Callable[[Report, Rules, int, float], Finding | None]
"""A rule: (report, rules, positives P, now) -> a finding when it fires, else None."""


def at_least_m(report: Report, rules: Rules, p: int, now: float) -> Finding | None:
    """Rule 5: P >= M."""
    m = rules.malicious_positives
    return Finding(f"{p} positives >= malicious threshold {m}") if p >= m else None


def preferred_engines(report: Report, rules: Rules, p: int, now: float) -> Finding | None:
    """At least ``preferred_malicious`` of the named engines (all results) say malicious."""
    if rules.preferred_engines is None:
        return None
    wanted = {name.casefold() for name in rules.preferred_engines}
    saying = sorted(
        engine
        for engine, category in report.results.items()
        if engine.casefold() in wanted and category == "malicious"
    )
    if len(saying) < rules.preferred_malicious:
        return None
    reason = (
        f"preferred engines {', '.join(saying)} say malicious "
        f"({len(saying)} >= {rules.preferred_malicious})"
    )
    return Finding(reason, f"preferred:{len(saying)}/{len(wanted)}")


def malicious_ratio(report: Report, rules: Rules, p: int, now: float) -> Finding | None:
    """P / total >= ``malicious_ratio``."""
    r, total = rules.malicious_ratio, report.total
    if r is None or not total or p / total < r:
        return None
    return Finding(f"{p}/{total} = {p / total:.3f} of engines >= malicious ratio {r}",
                   f"ratio:{p}/{total}")  # fmt: skip


def _gti(expected: str) -> Rule:
    def rule(report: Report, rules: Rules, p: int, now: float) -> Finding | None:
        if not rules.gti_verdict or report.gti_verdict != expected:
            return None
        return Finding(f"Google Threat Intelligence verdict {expected}", f"gti:{expected}")

    rule.__name__ = rule.__qualname__ = f"gti_{expected.removeprefix('VERDICT_').lower()}"
    rule.__doc__ = f"``gti_assessment.verdict.value`` is {expected}."
    return rule


gti_malicious, gti_benign = _gti(GTI_MALICIOUS), _gti(GTI_BENIGN)


def popular(report: Report, rules: Rules, p: int, now: float) -> Finding | None:
    """A domain's best popularity rank, among ranks no older than the day count, is <= the rank."""
    if rules.popular_rank is None:
        return None
    oldest = now - rules.popular_max_age_days * DAY
    fresh = [(rank, name) for name, (rank, at) in report.popularity_ranks.items() if at >= oldest]
    if not fresh:
        return None
    rank, name = min(fresh)
    if rank > rules.popular_rank:
        return None
    return Finding(f"popular: {name} rank {rank} <= {rules.popular_rank}", f"popular:{name}#{rank}")


def known_distributor(report: Report, rules: Rules, p: int, now: float) -> Finding | None:
    """A file with ``known_distributors``, or a ``trusted_verdict`` of goodware."""
    if not rules.trust_known_distributor:
        return None
    if report.known_distributors:
        names = ", ".join(report.known_distributors)
        return Finding(f"known distributor: {names}", f"distributor:{report.known_distributors[0]}")
    if report.trusted_verdict.get("verdict") == "goodware":
        source = report.trusted_verdict.get("organization") or "unnamed"
        return Finding(f"trusted verdict goodware from {source}", f"goodware:{source}")
    return None


def below_t(report: Report, rules: Rules, p: int, now: float) -> Finding | None:
    """Rule 5: P < T."""
    t = rules.trusted_positives
    return Finding(f"{p} positives < trusted threshold {t}") if t is not None and p < t else None


def _reaches(name: str, value: int, minimum: int | None, what: str) -> Finding | None:
    if minimum is None or value < minimum:
        return None
    return Finding(f"{what} {value} >= {minimum}", f"{name}:{value}")


def suspicious_flag(report: Report, rules: Rules, p: int, now: float) -> Finding | None:
    """Flag: malicious + suspicious engines reach ``suspicious_positives``."""
    engines = (report.positives or 0) + report.suspicious
    return _reaches("suspicious", engines, rules.suspicious_positives, "malicious + suspicious")


def yara_flag(report: Report, rules: Rules, p: int, now: float) -> Finding | None:
    """Flag: crowdsourced YARA rules that matched reach ``yara_min``."""
    return _reaches("yara", report.yara_rules, rules.yara_min, "crowdsourced YARA rules")


def sigma_flag(report: Report, rules: Rules, p: int, now: float) -> Finding | None:
    """Flag: high and critical Sigma rules that matched reach ``sigma_min``."""
    count = report.sigma_stats.get("high", 0) + report.sigma_stats.get("critical", 0)
    return _reaches("sigma", count, rules.sigma_min, "high and critical Sigma rules")


def ids_flag(report: Report, rules: Rules, p: int, now: float) -> Finding | None:
    """Flag: high-severity IDS rules that matched reach ``ids_min``."""
    count = report.ids_stats.get("high", 0)
    return _reaches("ids", count, rules.ids_min, "high-severity IDS rules")


# The order of docs/verdicts.md: malicious evidence before benign evidence.
MALICIOUS_RULES: tuple[Rule, ...] = (at_least_m, preferred_engines, malicious_ratio, gti_malicious)
TRUSTED_RULES: tuple[Rule, ...] = (popular, known_distributor, gti_benign, below_t)
FLAG_RULES: tuple[Rule, ...] = (suspicious_flag, yara_flag, sigma_flag, ids_flag)
_ONLY_FOR = {popular: IndicatorType.DOMAIN, known_distributor: IndicatorType.FILE}


def _engines(verdict: Verdict, p: int, total: int, reason: str, **hint: Any) -> Assessment:
    return Assessment(verdict, p, total, "engines", round(p / total, 3), 1, reason, **hint)


def _judge_v2_positives(report: Report, rules: Rules) -> Assessment:
    """Rules 4 and 5 on a v2 file or URL report: P against M, then T."""
    p, total = report.positives or 0, report.total or 0
    for verdict, rule in ((Verdict.MALICIOUS, at_least_m), (Verdict.TRUSTED, below_t)):
        finding = rule(report, rules, p, 0.0)
        if finding:
            return _engines(verdict, p, total, finding.reason)
    return _engines(Verdict.NO_MATCH, p, total, _no_match_reason(p, rules))


def _no_match_reason(p: int, rules: Rules) -> str:
    t, m = rules.trusted_positives, rules.malicious_positives
    trusted = "trusted never" if t is None else f"not < trusted threshold {t}"
    return f"{p} positives < malicious threshold {m}, {trusted}"


def _judge_v3(type_: IndicatorType, report: Report, rules: Rules, now: float) -> Assessment:
    """Rules 4 and 5 with the v3 rules: malicious evidence, then benign, then the flags."""
    p = (report.positives or 0) + (report.suspicious if rules.count_suspicious else 0)
    total = report.total or 0
    groups = [(Verdict.MALICIOUS, MALICIOUS_RULES), (Verdict.TRUSTED, TRUSTED_RULES),
              (None, FLAG_RULES)]  # fmt: skip
    decided: tuple[Verdict, str] | None = None
    signals: list[str] = []
    suspicious = False
    for verdict, rules_of_group in groups:
        for rule in rules_of_group:
            if _ONLY_FOR.get(rule, type_) is not type_:
                continue
            finding = rule(report, rules, p, now)
            if finding is None:
                continue
            if finding.signal:
                signals.append(finding.signal)
            if verdict is None:
                suspicious = True
            elif decided is None:
                decided = (verdict, finding.reason)
    hint = {"suspicious": suspicious, "signals": tuple(signals)}
    if total == 0:
        return Assessment(Verdict.NO_MATCH, p, 0, "engines", None, 1, "no engine verdicts", **hint)
    verdict, reason = decided or (Verdict.NO_MATCH, _no_match_reason(p, rules))
    return _engines(verdict, p, total, reason, **hint)


def _judge_heuristic(type_: IndicatorType, report: Report, rules: Rules) -> Assessment:
    """Rule 6: a v2 domain or IP report, judged by its lists of detected items."""
    threshold = rules.heuristic_threshold(type_)
    if threshold is None:
        reason = f"v2 {type_} reports carry no positives and the {type_} heuristic is off"
        return Assessment(Verdict.NO_MATCH, response_code=1, reason=reason)
    positives = report.heuristic
    if positives is None:
        return _error(f"the {type_} report's detection lists are not lists", 1)
    if positives > threshold:
        verdict, comparison = Verdict.MALICIOUS, ">"
    else:
        verdict, comparison = Verdict.NO_MATCH, "<="
    reason = f"heuristic: {positives} detections {comparison} {type_} threshold {threshold}"
    return Assessment(verdict, positives, None, "heuristic", None, 1, reason)


def judge(type_: IndicatorType, report: Report, rules: Rules, now: float) -> Assessment:
    """Apply the verdict rules to a report already read (rules 2-7 and the v3 rules)."""
    if report.status in (Status.ERROR, Status.QUEUED, Status.INCOMPLETE):
        return _error(report.problem or "unknown error", report.response_code)
    if report.status is Status.NOT_FOUND:
        return _not_found(report.problem or "not found")
    if report.api == 2 and type_ in HEURISTIC_LISTS:
        return _judge_heuristic(type_, report, rules)
    if report.api == 2:
        if report.total == 0:
            return Assessment(Verdict.NO_MATCH, report.positives, 0, "engines", None, 1,
                              "no engine verdicts")  # fmt: skip
        return _judge_v2_positives(report, rules)
    return _judge_v3(type_, report, rules, now)


def assess(
    type_: IndicatorType | str, report: Any, rules: Rules, *, now: float | None = None
) -> Assessment:
    """Apply the verdict rules to one report of an indicator of ``type_``.

    ``report`` is a v2 or v3 report as VirusTotal answers it, or a
    :class:`Report` already read (:meth:`Report.failure` for a failed lookup,
    rule 2), None when there is none (rule 1; callers with a better reason
    replace ``reason``), or ``{"error": {...}}`` (rule 2; a v3 ``NotFoundError``
    is rule 3). ``response_code`` of a v3 report is 1 when found and 0 when not.
    ``now`` (default: the clock) dates popularity ranks.
    """
    type_ = IndicatorType(type_)
    if report is None:
        return _missing("none was supplied")
    if not isinstance(report, Report):
        report = Report.from_dict(type_, report)
    return judge(type_, report, rules, time.time() if now is None else now)


def overall_verdict(verdicts: Iterable[str]) -> Verdict:
    """The most urgent verdict present; ``report_missing`` when there is none."""
    return min(map(Verdict, verdicts), key=URGENCY.index, default=Verdict.REPORT_MISSING)


def summary(verdicts: Iterable[str]) -> dict[str, int]:
    """How many results have each verdict; every verdict is a key."""
    counts = Counter(map(Verdict, verdicts))
    return {verdict.value: counts[verdict] for verdict in Verdict}
