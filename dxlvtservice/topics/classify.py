"""``classify`` and ``analyze``: indicators in, verdicts out (docs/topics.md).

Discovery and the verdict rules are pure (:mod:`~dxlvtservice.topics.discovery`,
:mod:`~dxlvtservice.core.verdicts`); this module turns lookups into result
objects, and hands every request's results, with the report behind each, to
the service's listeners (verdict events, TIE export), which act on what is
news. Upstream trouble never fails a ``classify`` request: it shows in the affected results.
"""

from __future__ import annotations

import dataclasses
import hashlib
import time
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from ..config import Settings
from ..core.indicators import Indicator, IndicatorType, is_internal
from ..core.reports import Report
from ..core.verdicts import Assessment, Rules, assess, overall_verdict, summary
from ..errors import FORBIDDEN, TOO_MANY_REQUESTS, ServiceError
from ..lookups.lookup import Lookups, Outcome, gather
from .discovery import find_indicators
from .requests import AnalyzeRequest, ClassifyRequest

GUI = "https://www.virustotal.com/gui"
_GUI_KINDS = {"file": "file", "url": "url", "domain": "domain", "ip": "ip-address"}


Listener = Callable[[list[dict], list[Any]], None]
"""Receives a request's results and, in the same order, the report behind each (or None)."""


def permalink(indicator: Indicator) -> str:
    """The VirusTotal web page of an indicator."""
    value = indicator.value
    if indicator.type is IndicatorType.URL:
        value = hashlib.sha256(value.encode("utf-8")).hexdigest()
    return f"{GUI}/{_GUI_KINDS[indicator.type.value]}/{value}"


def missing(type_: str, rules: Rules, reason: str) -> Assessment:
    """The no-report verdict (docs/verdicts.md), with the caller's reason."""
    return dataclasses.replace(assess(type_, None, rules), reason=reason)


def build_result(
    indicator: Indicator | None,
    type_: str,
    assessment: Assessment,
    *,
    outcome: Outcome | None = None,
    error: ServiceError | None = None,
    include_report: bool = False,
    now: float | None = None,
) -> dict[str, Any]:
    """One entry of ``results``: the assessment plus where the report came from."""
    result: dict[str, Any] = {
        "indicator": indicator.value if indicator else None,
        "type": type_,
        **dataclasses.asdict(assessment),
        "cached": bool(outcome and outcome.cached),
        "age": outcome.age(time.time() if now is None else now) if outcome else None,
        "stale": bool(outcome and outcome.stale),
        "permalink": permalink(indicator) if indicator else None,
        "error": error.to_dict() if error else None,
    }
    if include_report:
        result["report"] = outcome.report if outcome else None
    return result


class Classifier:
    """Handlers for ``/classify`` and ``/analyze``."""

    def __init__(self, lookups: Lookups, settings: Settings, publish: Listener) -> None:
        self._lookups = lookups
        self._settings = settings
        self._publish = publish

    def classify(self, request: ClassifyRequest) -> Future:
        rules = self._settings.rules.merged(request.rules)
        indicators = find_indicators(request.sources, max_indicators=self._settings.max_indicators)
        futures = [self._one(indicator, rules, request) for indicator in indicators]
        answer: Future = Future()

        def assemble(done: Future) -> None:
            pairs = [f.result() for f in done.result()]
            results = [result for result, _ in pairs]
            self._publish(results, [report for _, report in pairs])
            verdicts = [r["verdict"] for r in results]
            answer.set_result(
                {
                    "verdict": overall_verdict(verdicts),
                    "results": results,
                    "summary": summary(verdicts),
                }
            )

        gather(futures).add_done_callback(assemble)
        return answer

    def _one(
        self,
        indicator: Indicator,
        rules: Rules,
        request: ClassifyRequest,
    ) -> Future:
        """A future (result, report) for one indicator; the report only for the listeners."""
        type_ = indicator.type.value
        if is_internal(indicator, self._settings.internal_domains):
            future: Future = Future()
            error = ServiceError(FORBIDDEN, "internal indicators are never sent to VirusTotal")
            assessment = missing(type_, rules, "not submitted: internal")
            future.set_result(
                (build_result(indicator, type_, assessment, error=error,
                              include_report=request.include_report), None)
            )  # fmt: skip
            return future
        lookup = self._lookups.report(
            self._settings.api_version,
            indicator,
            max_age=request.max_age,
            client=request.client,
            lane=request.lane,
        )
        result: Future = Future()

        def settle(done: Future) -> None:
            outcome: Outcome = done.result()
            error = outcome.error
            if error is None:
                assessment = assess(type_, outcome.report, rules)
            elif error.code == TOO_MANY_REQUESTS:
                assessment = missing(type_, rules, f"no report: {error.message}")
            else:
                assessment = assess(type_, Report.failure(error.message), rules)
            result.set_result(
                (build_result(indicator, type_, assessment, outcome=outcome, error=error,
                              include_report=request.include_report), outcome.report)
            )  # fmt: skip

        lookup.add_done_callback(settle)
        return result

    def analyze(self, request: AnalyzeRequest) -> Future:
        rules = self._settings.rules.merged(request.rules)
        assessment = assess(request.type, request.report, rules)
        future: Future = Future()
        future.set_result(build_result(None, request.type.value, assessment))
        return future
