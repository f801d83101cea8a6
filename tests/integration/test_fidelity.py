"""Fidelity to VirusTotal's own behaviour, through the broker double with the real dxlclient.

Each test is one defect found against the real API: the service must ask
VirusTotal what VirusTotal would be asked, and keep in its cache only what
VirusTotal's answer really says.
"""

from __future__ import annotations

import pytest
from dxlclient.message import ErrorResponse
from dxlvtapiclient.client import VirusTotalApiClient

from devfabric.vtsim.dataset import EXAMPLES
from dxlvtservice.core.indicators import v3_url_id

from .conftest import FAST, answer, request

IPV6 = "2606:4700:4700::1111"


@pytest.fixture
def service(start_service, simulator):
    return start_service(FAST)


def _resources(simulator, endpoint: str) -> list[str]:
    return simulator.stats()["resources_by_endpoint"].get(endpoint, [])


def test_url_report_with_scan_always_goes_upstream(dxl, service, simulator):
    """docs.virustotal.com/v2.0/reference/url-report: ``scan=1`` submits the URL
    when VirusTotal has no report, so a cached not-found must not answer it."""
    unknown = EXAMPLES["url"]["unknown"]
    assert answer(request(dxl, "/url/report", {"resource": unknown}))["response_code"] == 0
    submitted = answer(request(dxl, "/url/report", {"resource": unknown, "scan": "1"}))
    assert submitted["scan_id"] and "positives" not in submitted  # queued for analysis
    assert _resources(simulator, "v2/url/report") == [unknown, unknown]

    # A "queued" answer is never cached; a found report fetched with scan=1 is.
    found = EXAMPLES["url"]["malicious"]
    assert answer(request(dxl, "/url/report", {"resource": found, "scan": 1}))["positives"] > 0
    assert answer(request(dxl, "/url/report", {"resource": found}))["positives"] > 0
    assert answer(request(dxl, "/url/report", {"resource": found, "scan": True}))["positives"] > 0
    assert _resources(simulator, "v2/url/report") == [unknown, unknown, found, found]


@pytest.mark.parametrize(
    ("given", "sent"),
    [("fidelity.example.com/path?q=1", "http://fidelity.example.com/path?q=1"),
     ("ftp://ftp.fidelity.example.com/pub/file.txt", "ftp://ftp.fidelity.example.com/pub/file.txt")],
)  # fmt: skip
def test_urls_without_a_scheme_and_ftp_urls_are_urls(dxl, service, simulator, given, sent):
    """docs.virustotal.com/reference/url: VirusTotal takes a URL without a scheme
    as http, and ftp URLs as URLs: the compatible topic passes them on."""
    report = VirusTotalApiClient(dxl).url_report(given)
    assert report["resource"] == given
    assert _resources(simulator, "v2/url/report") == [sent]

    result = answer(request(dxl, "/classify", {"url": given}))["results"][0]
    assert (result["type"], result["indicator"]) == ("url", sent)
    # The simulator records the URL itself, or the id it was asked by if it takes no such URL.
    assert _resources(simulator, "v3/urls") in ([sent], [v3_url_id(sent)])


def test_ipv6_never_goes_to_v2_ip_address_report(dxl, service, simulator):
    """docs.virustotal.com/v2.0/reference/ip-address-report: v2 knows IPv4 only."""
    response = request(dxl, "/ip-address/report", {"ip": IPV6})
    assert isinstance(response, ErrorResponse) and response.error_code == 400
    assert "IPv4 only" in response.error_message
    assert simulator.stats()["calls"] == 0


def test_classify_on_v2_looks_ipv6_up_through_v3(dxl, start_service, simulator):
    """docs.virustotal.com/reference/ip-info: v3 ``ip_addresses`` knows IPv6 too."""
    start_service({**FAST, "VirusTotal": {"apiVersion": 2}})
    payload = {"ip": [IPV6, EXAMPLES["ip"]["clean"]], "include_report": True}
    v6, v4 = answer(request(dxl, "/classify", payload))["results"]
    assert v6["verdict"] != "report_error" and "data" in v6["report"], v6["reason"]
    assert v4["verdict"] != "report_error" and "response_code" in v4["report"], v4["reason"]
    assert _resources(simulator, "v3/ip_addresses") == [IPV6]
    assert _resources(simulator, "v2/ip-address/report") == [EXAMPLES["ip"]["clean"]]


def test_a_report_fetched_by_scan_id_is_cached_under_that_scan_id_only(dxl, service, simulator):
    """docs.virustotal.com/v2.0/reference/file-report: a scan id names one analysis,
    maybe an old one; the file's hashes name its latest report."""
    sha256 = EXAMPLES["file"]["low"]
    scan_id = f"{sha256}-1500000000"
    old = answer(request(dxl, "/file/report", {"resource": scan_id}))
    assert answer(request(dxl, "/file/report", {"resource": scan_id})) == old  # cached
    current = answer(request(dxl, "/file/report", {"resource": sha256}))
    assert current["sha256"] == sha256
    answer(request(dxl, "/file/report", {"resource": current["md5"]}))  # from the sha256 fetch
    assert _resources(simulator, "v2/file/report") == [scan_id, sha256]
