"""The six topics of the existing VirusTotal DXL service, answered with v2 JSON.

Requests arrive parsed and checked (:mod:`~dxlvtservice.topics.requests`: 400 for a
malformed resource or option); here the policy is applied before anything is
queued (403 for an internal resource or a disabled submission); reports then come
through :class:`~dxlvtservice.lookups.lookup.Lookups` (cache, coalescing, batching),
while scans and rescans go straight to the scheduler and are never cached.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

from ..core.indicators import is_internal
from ..core.reports import answered_for
from ..errors import FORBIDDEN, ServiceError
from ..lookups.lookup import Lookups, Outcome, gather
from ..lookups.scheduler import Scheduler
from ..lookups.upstream import Call, split_batches
from .requests import (
    DomainReportRequest,
    IpReportRequest,
    ReportRequest,
    RescanRequest,
    Resource,
    UrlScanRequest,
)


@dataclass(frozen=True)
class Policy:
    """What the configuration says about requests on these topics."""

    allow_submissions: bool
    internal_domains: tuple[str, ...]
    batch_size: int


class CompatibleTopics:
    """Handlers for ``/file/report``, ``/url/report`` and the rest; each returns a Future."""

    def __init__(self, lookups: Lookups, scheduler: Scheduler, policy: Policy) -> None:
        self._lookups = lookups
        self._scheduler = scheduler
        self._policy = policy

    def handlers(self) -> dict[str, Callable[[Any], Future]]:
        """Topic suffix (under the service type) -> handler of its typed request."""
        return {
            "/file/report": self.report,
            "/file/rescan": self.file_rescan,
            "/url/report": self.report,
            "/url/scan": self.url_scan,
            "/ip-address/report": self.ip_report,
            "/domain/report": self.domain_report,
        }

    # -- policy -----------------------------------------------------------

    def _check_internal(self, resources: Iterable[Resource]) -> None:
        """403 for the first resource that must never be sent to VirusTotal."""
        for resource in resources:
            if is_internal(resource.indicator, self._policy.internal_domains):
                raise ServiceError(
                    FORBIDDEN,
                    f"not submitted: internal ({resource.given} is never sent to VirusTotal)",
                )

    def _check_submissions(self, topic: str) -> None:
        if not self._policy.allow_submissions:
            raise ServiceError(FORBIDDEN, f"{topic} is disabled on this service (allowSubmissions)")

    # -- reports ----------------------------------------------------------

    def _reports(
        self,
        resources: tuple[Resource, ...],
        options: tuple[tuple[str, str], ...] = (),
        client: str | None = None,
    ) -> Future:
        self._check_internal(resources)
        futures = [
            self._lookups.report(2, resource.indicator, options=options, client=client)
            for resource in resources
        ]
        answer: Future = Future()

        def assemble(done: Future) -> None:
            outcomes: list[Outcome] = [f.result() for f in done.result()]
            failed = next((o.error for o in outcomes if o.report is None), None)
            if failed is not None:
                answer.set_exception(failed)
                return
            reports = [
                _as_answered(outcome, resource.given)
                for outcome, resource in zip(outcomes, resources, strict=True)
            ]
            answer.set_result(reports[0] if len(reports) == 1 else reports)

        gather(futures).add_done_callback(assemble)
        return answer

    def report(self, request: ReportRequest) -> Future:
        """``/file/report`` and ``/url/report`` (with ``scan``, a submission)."""
        if request.scan:
            self._check_submissions("url/report with scan")
        return self._reports(request.resources, request.options, request.client)

    def ip_report(self, request: IpReportRequest) -> Future:
        return self._reports((request.ip,), client=request.client)

    def domain_report(self, request: DomainReportRequest) -> Future:
        return self._reports((request.domain,), client=request.client)

    # -- submissions --------------------------------------------------------

    def _submit(
        self,
        endpoint: str,
        resources: tuple[Resource, ...],
        options: tuple[tuple[str, str], ...],
        client: str | None,
    ) -> Future:
        self._check_internal(resources)
        values = [resource.indicator.value for resource in resources]
        batches = split_batches(values, self._policy.batch_size)
        calls = [Call(endpoint, batch, options) for batch in batches]
        futures = [self._scheduler.submit(call, coalesce=False, client=client) for call in calls]
        answer: Future = Future()

        def assemble(_: Future) -> None:
            errors = [f.exception() for f in futures if f.exception() is not None]
            if errors:
                answer.set_exception(errors[0])
                return
            answers = [item for f in futures for item in f.result()]
            answer.set_result(answers[0] if len(answers) == 1 else answers)

        gather(futures).add_done_callback(assemble)
        return answer

    def url_scan(self, request: UrlScanRequest) -> Future:
        self._check_submissions("url/scan")
        return self._submit("v2/url/scan", request.urls, (), request.client)

    def file_rescan(self, request: RescanRequest) -> Future:
        self._check_submissions("file/rescan")
        return self._submit(
            "v2/file/rescan", request.resources, request.options.as_params(), request.client
        )


def _as_answered(outcome: Outcome, requested: str) -> dict:
    """The report as VirusTotal would answer this request: ``resource`` echoes it."""
    report = answered_for(outcome.report, requested)
    if outcome.stale:
        report["stale"] = True
    return report
