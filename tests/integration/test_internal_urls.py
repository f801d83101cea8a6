"""Nothing internal reaches VirusTotal, however a URL hides it; zone ids are bad input.

URLs are read as browsers read them (WHATWG): ``\\`` ends a host there, so the
first URL below opens wiki.corp.example, while an RFC 3986 reader sees
evil.example.com. Each check ends on the simulator's own call log.
"""

from __future__ import annotations

import pytest
from dxlclient.message import ErrorResponse

from .conftest import FAST, answer, request

INTERNAL = "corp.example"
HIDDEN = [
    "http://wiki.corp.example\\@evil.example.com/",
    "http://wiki.corp.example:pw@evil.example.com/",
    "http://user:wiki.corp.example@evil.example.com/login",
    "wiki.corp.example\\@evil.example.com/",
]
ZONE_IDS = ["2606:4700::1%25?a=b#c", "fe80::1%eth0", "2606:4700::1%1"]


@pytest.fixture
def service(start_service, simulator):
    return start_service({**FAST, "Classification": {"internalDomains": INTERNAL}})


def _sent(simulator) -> list[str]:
    return [r for rs in simulator.stats()["resources_by_endpoint"].values() for r in rs]


def _error(response, code: int) -> str:
    assert isinstance(response, ErrorResponse), response.payload
    assert response.error_code == code, response.error_message
    return response.error_message


@pytest.mark.parametrize("url", HIDDEN)
def test_a_url_hiding_an_internal_name_never_reaches_virustotal(dxl, service, simulator, url):
    result = answer(request(dxl, "/classify", {"url": url}))["results"][0]
    assert (result["verdict"], result["reason"]) == ("report_missing", "not submitted: internal")
    if "://" in url:  # in prose only a scheme makes a URL
        found = answer(request(dxl, "/classify", {"text": f"the link {url} was clicked"}))
        assert {r["reason"] for r in found["results"]} == {"not submitted: internal"}
    assert "internal" in _error(request(dxl, "/url/report", {"resource": url}), 403)
    assert "internal" in _error(request(dxl, "/url/scan", {"url": url}), 403)

    # A public URL asked alongside shows the service does reach the simulator.
    assert answer(request(dxl, "/url/report", {"resource": "http://evil.example.com/"}))
    assert _sent(simulator) == ["http://evil.example.com/"]


def test_ipv6_zone_ids_are_invalid_input(dxl, service, simulator):
    for ip in ZONE_IDS:
        assert "zone id" in _error(request(dxl, "/classify", {"ip": ip}), 400)
        assert "zone id" in _error(request(dxl, "/ip-address/report", {"ip": ip}), 400)
        url = f"http://[{ip.replace('%', '%25')}]/"
        assert "zone id" in _error(request(dxl, "/url/report", {"resource": url}), 400)
    assert simulator.stats()["calls"] == 0
