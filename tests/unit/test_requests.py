"""Typed requests (docs/topics.md): each payload becomes a checked value or a 400 naming a field."""

from datetime import datetime

import pytest

from dxlvtservice.core.indicators import Indicator, IndicatorType
from dxlvtservice.core.verdicts import Rules
from dxlvtservice.errors import BAD_REQUEST, ServiceError
from dxlvtservice.topics.requests import (
    TOPIC_REQUESTS,
    AnalyzeRequest,
    ClassifyRequest,
    DomainReportRequest,
    FileReportRequest,
    HealthRequest,
    IpReportRequest,
    Named,
    RequestPolicy,
    RescanOptions,
    RescanRequest,
    Resource,
    SearchWithin,
    Text,
    UrlReportRequest,
    UrlScanRequest,
)

FILE, URL, DOMAIN, IP = IndicatorType
MD5 = "44d88612fea8a8f36de82e1278abb02f"
SHA1 = "3395856ce81f2b7382dee72602f798b642f14140"
SHA256 = "275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f"
SCAN_ID = f"{SHA256}-1390472785"
POLICY = RequestPolicy(max_indicators=3, internal_domains=("corp.example",))


def parsed(kind, document, policy=POLICY):
    return kind.parse(document, client="client-1", policy=policy)


def refused(kind, document, policy=POLICY) -> str:
    """The one-sentence reason of the 400 that ``document`` gets."""
    with pytest.raises(ServiceError) as caught:
        parsed(kind, document, policy)
    assert caught.value.code == BAD_REQUEST
    assert "\n" not in caught.value.message
    return caught.value.message


def resource(given: str, type_: IndicatorType, value: str | None = None) -> Resource:
    return Resource(given, Indicator(type_, value or given))


# -- /file/report and /url/report ---------------------------------------------

GOOD_REPORTS = [
    (FileReportRequest, {"resource": MD5}, (resource(MD5, FILE),), False, False),
    (FileReportRequest, {"resource": f" {MD5.upper()} ,{SHA1}, ", "allinfo": True},
     (resource(MD5.upper(), FILE, MD5), resource(SHA1, FILE)), True, False),
    (FileReportRequest, {"resource": [SCAN_ID.upper()], "allinfo": "1"},
     (resource(SCAN_ID.upper(), FILE, SCAN_ID),), True, False),
    (FileReportRequest, {"resource": MD5, "allinfo": "0", "scan": "ignored"},
     (resource(MD5, FILE),), False, False),
    (UrlReportRequest, {"resource": "http://a.example/\nb.example", "scan": 1, "allinfo": "TRUE"},
     (resource("http://a.example/", URL), resource("b.example", URL, "http://b.example/")),
     True, True),
    (UrlReportRequest, {"resource": "https://a.example/", "scan": False, "allinfo": 0,
                        "unknown": {"ignored": True}},
     (resource("https://a.example/", URL),), False, False),
]  # fmt: skip


@pytest.mark.parametrize(("kind", "document", "resources", "allinfo", "scan"), GOOD_REPORTS)
def test_good_report_requests(kind, document, resources, allinfo, scan):
    request = parsed(kind, document)
    assert (request.resources, request.allinfo, request.scan) == (resources, allinfo, scan)
    assert request.client == "client-1"


def test_report_options_are_the_v2_parameters():
    both = parsed(UrlReportRequest, {"resource": "a.example", "allinfo": True, "scan": "1"})
    assert both.options == (("allinfo", "1"), ("scan", "1"))
    assert parsed(FileReportRequest, {"resource": MD5}).options == ()


BAD_REPORTS = [
    (FileReportRequest, {}, "the required field 'resource' is missing"),
    (FileReportRequest, {"resource": None}, "the required field 'resource' is missing"),
    (FileReportRequest, {"resource": " , "}, "the field 'resource' names no resource"),
    (FileReportRequest, {"resource": 42}, "'resource' must be a string or an array of strings"),
    (FileReportRequest, {"resource": [MD5, 1]}, "'resource' must be a string or an array"),
    (FileReportRequest, {"resource": "not-a-hash"}, "the field 'resource' holds an invalid value"),
    (FileReportRequest, {"resource": ",".join([MD5] * 4)}, "4 resources in one request"),
    (FileReportRequest, {"resource": MD5, "allinfo": "yes"}, "the field 'allinfo' must be true"),
    (FileReportRequest, {"resource": MD5, "allinfo": 2}, "the field 'allinfo' must be true"),
    (FileReportRequest, {"resource": MD5, "allinfo": 1.0}, "the field 'allinfo' must be true"),
    (FileReportRequest, {"resource": MD5, "allinfo": []}, "the field 'allinfo' must be true"),
    (UrlReportRequest, {"resource": "ftp//broken"}, "'resource' holds an invalid value"),
    (UrlReportRequest, {"resource": "a.example", "scan": "please"}, "'scan' must be true"),
    (UrlScanRequest, {"url": 42}, "'url' must be a string or an array of strings"),
    (UrlScanRequest, {"resource": "a.example"}, "the required field 'url' is missing"),
    (UrlScanRequest, {"url": SCAN_ID}, "the field 'url' holds an invalid value"),
]


@pytest.mark.parametrize(("kind", "document", "reason"), BAD_REPORTS)
def test_bad_report_and_scan_requests(kind, document, reason):
    assert reason in refused(kind, document)


def test_url_scan_takes_urls_only():
    request = parsed(UrlScanRequest, {"url": ["a.example/x", "https://b.example/"]})
    assert [r.indicator.value for r in request.urls] == ["http://a.example/x", "https://b.example/"]


def test_internal_resources_are_left_to_the_handlers_403():
    request = parsed(UrlScanRequest, {"url": "http://wiki.corp.example/"})
    assert request.urls == (resource("http://wiki.corp.example/", URL),)


# -- /file/rescan ---------------------------------------------------------------

GOOD_RESCANS = [
    ({}, RescanOptions(), ()),
    ({"date": "20120725170000", "period": 3, "repeat": "2",
      "notify_url": "HTTPS://Hooks.Example.com/vt#frag", "notify_changes_only": "1"},
     RescanOptions(datetime(2012, 7, 25, 17), 3, 2, "https://hooks.example.com/vt", True),
     (("date", "20120725170000"), ("period", "3"), ("repeat", "2"),
      ("notify_url", "https://hooks.example.com/vt"), ("notify_changes_only", "1"))),
    ({"date": 20301231235959, "period": "7", "notify_changes_only": False},
     RescanOptions(datetime(2030, 12, 31, 23, 59, 59), 7), (("date", "20301231235959"),
                                                           ("period", "7"))),
    ({"notify_url": "http://[2606:4700::1]/hook", "notify_changes_only": True},
     RescanOptions(notify_url="http://[2606:4700::1]/hook", notify_changes_only=True),
     (("notify_url", "http://[2606:4700::1]/hook"), ("notify_changes_only", "1"))),
]  # fmt: skip


@pytest.mark.parametrize(("options", "expected", "params"), GOOD_RESCANS)
def test_good_rescan_options(options, expected, params):
    request = parsed(RescanRequest, {"resource": f"{MD5},{SHA256}", **options})
    assert request.resources == (resource(MD5, FILE), resource(SHA256, FILE))
    assert request.options == expected
    assert request.options.as_params() == params


BAD_RESCANS = [
    ({"date": "2012-07-25 17:00:00"}, "'date' must be a date and time as YYYYMMDDhhmmss"),
    ({"date": "20121325170000"}, "'date' must be a date and time"),  # month 13
    ({"date": "20120230170000"}, "'date' must be a date and time"),  # 30 February
    ({"date": "2012072517000"}, "'date' must be a date and time"),
    ({"date": "\uff12" * 14}, "'date' must be a date and time"),  # fullwidth digits
    ({"date": True}, "'date' must be a date and time"),
    ({"date": 2.5}, "'date' must be a date and time"),
    ({"period": 0}, "'period' must be a whole number >= 1"),
    ({"period": -3}, "'period' must be a whole number >= 1"),
    ({"period": 1.5}, "'period' must be a whole number >= 1"),
    ({"period": "3 days"}, "'period' must be a whole number >= 1"),
    ({"period": True}, "'period' must be a whole number >= 1"),
    ({"period": "9" * 5000}, "'period' must be a whole number >= 1"),
    ({"period": "٣"}, "'period' must be a whole number >= 1"),  # an Arabic-Indic digit
    ({"period": 2, "repeat": "0"}, "'repeat' must be a whole number >= 1"),
    ({"repeat": 2}, "the field 'repeat' needs 'period'"),
    ({"notify_url": 7}, "the field 'notify_url' must be a string"),
    ({"notify_url": "hooks.example.com/x"}, "'notify_url' must be an http:// or https:// URL"),
    ({"notify_url": "ftp://hooks.example.com/x"}, "must be an http:// or https:// URL"),
    ({"notify_url": "javascript:alert(1)"}, "must be an http:// or https:// URL"),
    ({"notify_url": "http://hooks example.com/"}, "'notify_url' holds an invalid value"),
    ({"notify_url": "http://hooks.corp.example/x"}, "'notify_url' names an internal host"),
    ({"notify_url": "https://10.0.0.8/x"}, "'notify_url' names an internal host"),
    ({"notify_url": "http://localhost:8080/x"}, "'notify_url' names an internal host"),
    ({"notify_url": "http://wiki.corp.example\\@evil.example.com/"}, "names an internal host"),
    ({"notify_url": "http://[fe80::1%25eth0]/"}, "zone id"),
    ({"notify_changes_only": True}, "the field 'notify_changes_only' needs 'notify_url'"),
    ({"notify_url": "https://hooks.example.com/", "notify_changes_only": "maybe"},
     "'notify_changes_only' must be true or false"),
]  # fmt: skip


@pytest.mark.parametrize(("options", "reason"), BAD_RESCANS)
def test_bad_rescan_options(options, reason):
    assert reason in refused(RescanRequest, {"resource": MD5, **options})


def test_rescan_needs_files():
    assert "'resource' holds an invalid value" in refused(
        RescanRequest, {"resource": "http://a.example/"}
    )


# -- /ip-address/report and /domain/report --------------------------------------


def test_ip_and_domain_reports():
    ip = parsed(IpReportRequest, {"ip": " ::ffff:8.8.8.8 "})
    assert ip.ip == resource("::ffff:8.8.8.8", IP, "8.8.8.8")
    domain = parsed(DomainReportRequest, {"domain": "Bücher.DE."})
    assert domain.domain == resource("Bücher.DE.", DOMAIN, "xn--bcher-kva.de")


@pytest.mark.parametrize(
    ("kind", "document", "reason"),
    [(IpReportRequest, {}, "the required field 'ip' is missing"),
     (IpReportRequest, {"ip": 8}, "the field 'ip' must be a string"),
     (IpReportRequest, {"ip": "300.1.2.3"}, "the field 'ip' holds an invalid value"),
     (IpReportRequest, {"ip": "2606:4700::1"}, "knows IPv4 only"),
     (IpReportRequest, {"ip": "fe80::1%eth0"}, "zone id"),
     (DomainReportRequest, {"domain": ""}, "'domain' must be a non-empty string"),
     (DomainReportRequest, {"domain": ["a.example"]}, "'domain' must be a string"),
     (DomainReportRequest, {"domain": "no spaces.example"}, "'domain' holds an invalid value")],
)  # fmt: skip
def test_bad_ip_and_domain_reports(kind, document, reason):
    assert reason in refused(kind, document)


# -- /classify --------------------------------------------------------------------


def test_classify_keeps_the_request_order_of_its_sources():
    request = parsed(ClassifyRequest, {
        "text": "seen 8.8.8.8", "md5": MD5.upper(), "search_within": {"a": 1},
        "expression": "a", "domain": ["Evil.Example.", "b.example"], "max_age": 0,
        "include_report": True, "rules": {"malicious_positives": 3}, "other": "ignored",
    })  # fmt: skip
    assert request.sources == (
        Text("seen 8.8.8.8"),
        Named((Indicator(FILE, MD5),)),
        SearchWithin({"a": 1}, "a"),
        Named((Indicator(DOMAIN, "evil.example"), Indicator(DOMAIN, "b.example"))),
    )
    assert (request.max_age, request.include_report) == (0.0, True)
    assert request.rules == {"malicious_positives": 3}
    assert request.client == "client-1"


def test_classify_defaults():
    request = parsed(ClassifyRequest, {"domain": [], "max_age": None, "include_report": None})
    assert request.sources == (Named(()),)
    assert (request.max_age, request.include_report, request.rules) == (None, False, {})


BAD_CLASSIFY = [
    ({}, "names nothing to classify"),
    ({"domain": None, "rules": {"malicious_positives": 3}}, "names nothing to classify"),
    ({"ip": "999.1.1.1"}, "the field 'ip' holds an invalid value"),
    ({"domain": ["evil.com", "not a domain"]}, "the field 'domain' holds an invalid value"),
    ({"url": ["http://a.com/", None]}, "'url' must be a string or a list of strings"),
    ({"md5": SHA256}, "the field 'md5' holds an sha256 hash, not an md5 hash"),
    ({"resource": "http://evil.com/"}, "the field 'resource' holds an invalid value"),
    ({"ip": [f"8.8.8.{i}" for i in range(4)]}, "names more than 3 indicators"),
    ({"text": ["evil.com"]}, "the field 'text' must be a string"),
    ({"text": "x", "expression": "a"}, "expression needs search_within"),
    ({"search_within": {}, "expression": " "}, "non-empty JSONata expression"),
    ({"search_within": {}, "expression": 5}, "non-empty JSONata expression"),
    ({"search_within": {}, "expression": "a" * 4097}, "longer than 4096 characters"),
    ({"text": "x", "max_age": "60"}, "the field 'max_age' must be a number"),
    ({"text": "x", "max_age": True}, "the field 'max_age' must be a number"),
    ({"text": "x", "max_age": -1}, "'max_age' must be a number of seconds >= 0"),
    ({"text": "x", "include_report": "true"}, "the field 'include_report' must be true or false"),
    ({"text": "x", "include_report": 1}, "the field 'include_report' must be true or false"),
    ({"text": "x", "rules": []}, "rules must be an object"),
    ({"text": "x", "rules": {"malicious": 5}}, "unknown rule 'malicious'"),
    ({"text": "x", "rules": {"malicious_positives": 0}}, "malicious_positives must be an integer"),
]


@pytest.mark.parametrize(("document", "reason"), BAD_CLASSIFY)
def test_bad_classify_requests(document, reason):
    assert reason in refused(ClassifyRequest, document)


def test_rules_overrides_are_read_only_and_merge_into_the_rules():
    request = parsed(ClassifyRequest, {"text": "x", "rules": {"malicious_positives": 3}})
    with pytest.raises(TypeError):
        request.rules["malicious_positives"] = 1
    assert Rules().merged(request.rules) == Rules(malicious_positives=3)


def test_duplicates_do_not_count_towards_the_limit_of_named_indicators():
    request = parsed(ClassifyRequest, {"ip": ["8.8.8.8"] * 5, "domain": "a.example"})
    assert len(request.sources) == 2


# -- /analyze and /health ----------------------------------------------------------


def test_analyze():
    report = {"response_code": 1, "positives": 3, "total": 70}
    document = {"type": "url", "report": report, "rules": {"ip_detections": 2}}
    request = parsed(AnalyzeRequest, document)
    assert (request.type, request.report, request.rules) == (URL, report, {"ip_detections": 2})
    assert parsed(AnalyzeRequest, {"type": "ip"}).report is None


@pytest.mark.parametrize(
    ("document", "reason"),
    [({}, "'type' must be one of file, url, domain, ip"),
     ({"type": "hash"}, "'type' must be one of file, url, domain, ip"),
     ({"type": []}, "the field 'type' must be a string"),
     ({"type": "file", "rules": {"trusted_positives": "never"}}, "trusted_positives must be")],
)  # fmt: skip
def test_bad_analyze_requests(document, reason):
    assert reason in refused(AnalyzeRequest, document)


@pytest.mark.parametrize("payload", [b"", b"not json", b"[1]", b'{"anything": 1}'])
def test_any_payload_is_a_health_request(payload):
    assert HealthRequest.from_payload(payload, client="c") == HealthRequest(client="c")


# -- from the payload -----------------------------------------------------------------


def test_every_topic_decodes_within_bounds_first():
    for kind in set(TOPIC_REQUESTS.values()) - {HealthRequest}:
        with pytest.raises(ServiceError, match="not valid Unicode"):
            kind.from_payload(b'{"notify_url": "\\ud800", "resource": "\\ud800"}')
        with pytest.raises(ServiceError, match="over the limit of 8"):
            kind.from_payload(b'{"text": "a.example"}', policy=RequestPolicy(max_payload_bytes=8))


def test_a_payload_becomes_its_topics_value():
    payload = f'{{"resource": "{MD5}", "allinfo": "1"}}'.encode()
    request = TOPIC_REQUESTS["/file/report"].from_payload(payload, client="c")
    assert request == FileReportRequest(resources=(resource(MD5, FILE),), allinfo=True, client="c")
