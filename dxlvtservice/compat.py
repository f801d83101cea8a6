"""The six topics of the existing VirusTotal DXL service, answered with v2 JSON.

Requests are validated before anything is queued (400 for a malformed
resource, 403 for an internal one or a disabled submission); reports then come
through :class:`~dxlvtservice.lookups.Lookups` (cache, coalescing, batching),
while scans and rescans go straight to the scheduler and are never cached.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass

from .errors import FORBIDDEN, ServiceError, bad_request
from .indicators import Indicator, IndicatorType, is_internal, is_ipv6, is_scan_id, normalize
from .lookups import Lookups, Outcome, gather
from .scheduler import Scheduler
from .upstream import Call, split_batches

_TRUE_WORDS = {"1", "true", "yes", "on"}
RESCAN_OPTIONS = ("date", "period", "repeat", "notify_url", "notify_changes_only")


@dataclass(frozen=True)
class Policy:
    """What the configuration says about requests on these topics."""

    allow_submissions: bool
    internal_domains: tuple[str, ...]
    max_indicators: int
    batch_size: int


def _field(payload: dict, name: str, *, lists: bool = False) -> str | list[str]:
    """A required string field (or, with ``lists``, a list of strings)."""
    value = payload.get(name)
    if value is None:
        raise bad_request(f"the required field {name!r} is missing")
    if lists and isinstance(value, list) and all(isinstance(item, str) for item in value):
        return value
    if not isinstance(value, str) or not value.strip():
        raise bad_request(f"the field {name!r} must be a non-empty string")
    return value


def _flag(payload: dict, name: str) -> bool:
    value = payload.get(name)
    return value is True or (isinstance(value, int | str) and str(value).lower() in _TRUE_WORDS)


class CompatibleTopics:
    """Handlers for ``/file/report``, ``/url/report`` and the rest; each returns a Future."""

    def __init__(self, lookups: Lookups, scheduler: Scheduler, policy: Policy) -> None:
        self._lookups = lookups
        self._scheduler = scheduler
        self._policy = policy

    def handlers(self) -> dict[str, Callable[..., Future]]:
        """Topic suffix (under the service type) -> handler(payload, client=requester)."""
        return {
            "/file/report": self.file_report,
            "/file/rescan": self.file_rescan,
            "/url/report": self.url_report,
            "/url/scan": self.url_scan,
            "/ip-address/report": self.ip_report,
            "/domain/report": self.domain_report,
        }

    # -- validation -------------------------------------------------------

    def _items(self, payload: dict, name: str, separator: str) -> list[str]:
        raw = _field(payload, name, lists=True)
        parts = raw.split(separator) if isinstance(raw, str) else raw
        items = [item.strip() for item in parts if item.strip()]
        if not items:
            raise bad_request(f"the field {name!r} names no resource")
        if len(items) > self._policy.max_indicators:
            raise bad_request(
                f"{len(items)} resources in one request is over the limit of "
                f"{self._policy.max_indicators}"
            )
        return items

    def _indicator(self, type_: IndicatorType, raw: str, *, scan_ids: bool = False) -> Indicator:
        """Normalise one resource; a scan id stands for itself."""
        if scan_ids and is_scan_id(raw):
            return Indicator(type_, raw.lower())
        indicator = Indicator(type_, normalize(type_, raw))
        if is_internal(indicator, self._policy.internal_domains):
            raise ServiceError(
                FORBIDDEN, f"not submitted: internal ({raw} is never sent to VirusTotal)"
            )
        return indicator

    def _check_submissions(self, topic: str) -> None:
        if not self._policy.allow_submissions:
            raise ServiceError(FORBIDDEN, f"{topic} is disabled on this service (allowSubmissions)")

    # -- reports ----------------------------------------------------------

    def _reports(
        self,
        type_: IndicatorType,
        raws: list[str],
        options: tuple[tuple[str, str], ...] = (),
        *,
        scan_ids: bool = False,
        client: str | None = None,
    ) -> Future:
        indicators = [self._indicator(type_, raw, scan_ids=scan_ids) for raw in raws]
        futures = [
            self._lookups.report(2, ind, options=options, client=client) for ind in indicators
        ]
        answer: Future = Future()

        def assemble(done: Future) -> None:
            outcomes: list[Outcome] = [f.result() for f in done.result()]
            failed = next((o.error for o in outcomes if o.report is None), None)
            if failed is not None:
                answer.set_exception(failed)
                return
            reports = [_as_answered(o, raw) for o, raw in zip(outcomes, raws, strict=True)]
            answer.set_result(reports[0] if len(reports) == 1 else reports)

        gather(futures).add_done_callback(assemble)
        return answer

    def file_report(self, payload: dict, *, client: str | None = None) -> Future:
        options = (("allinfo", "1"),) if _flag(payload, "allinfo") else ()
        resources = self._items(payload, "resource", ",")
        return self._reports(IndicatorType.FILE, resources, options, scan_ids=True, client=client)

    def url_report(self, payload: dict, *, client: str | None = None) -> Future:
        options: list[tuple[str, str]] = []
        if _flag(payload, "allinfo"):
            options.append(("allinfo", "1"))
        if _flag(payload, "scan"):
            self._check_submissions("url/report with scan")
            options.append(("scan", "1"))
        resources = self._items(payload, "resource", "\n")
        return self._reports(
            IndicatorType.URL, resources, tuple(options), scan_ids=True, client=client
        )

    def ip_report(self, payload: dict, *, client: str | None = None) -> Future:
        raw = str(_field(payload, "ip")).strip()
        address = Indicator.parse(IndicatorType.IP, raw)
        if is_ipv6(address):
            raise bad_request(
                f"{address.value} is an IPv6 address: VirusTotal's v2 ip-address/report "
                "knows IPv4 only (classify looks IPv6 addresses up through v3)"
            )
        return self._reports(IndicatorType.IP, [raw], client=client)

    def domain_report(self, payload: dict, *, client: str | None = None) -> Future:
        domain = str(_field(payload, "domain")).strip()
        return self._reports(IndicatorType.DOMAIN, [domain], client=client)

    # -- submissions --------------------------------------------------------

    def _submit(
        self, endpoint: str, values: list[str], options: tuple = (), *, client: str | None
    ) -> Future:
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

    def url_scan(self, payload: dict, *, client: str | None = None) -> Future:
        urls = self._items(payload, "url", "\n")
        self._check_submissions("url/scan")
        values = [self._indicator(IndicatorType.URL, url).value for url in urls]
        return self._submit("v2/url/scan", values, client=client)

    def file_rescan(self, payload: dict, *, client: str | None = None) -> Future:
        resources = self._items(payload, "resource", ",")
        self._check_submissions("file/rescan")
        values = [self._indicator(IndicatorType.FILE, r, scan_ids=True).value for r in resources]
        options = tuple(
            (name, "1" if isinstance(payload[name], bool) else str(payload[name]))
            for name in RESCAN_OPTIONS
            if payload.get(name) not in (None, "", False)
        )
        return self._submit("v2/file/rescan", values, options, client=client)


def _as_answered(outcome: Outcome, requested: str) -> dict:
    """The report as VirusTotal would answer this request: ``resource`` echoes it."""
    report = dict(outcome.report)
    if "resource" in report:
        report["resource"] = requested
    if outcome.stale:
        report["stale"] = True
    return report
