"""What the benchmark counts as a good answer for each kind of request."""

from __future__ import annotations

import json

from dxlclient.message import ErrorResponse, Response

from bench.measure import Classification, Echoed, Lookup

FILE = Lookup("/opendxl-virustotal/service/vtapi/file/report")
DOMAIN = Lookup("/opendxl-virustotal/service/vtapi/domain/report", "domain")


def _answer(lookup: Lookup, resource: str, payload: object) -> Response:
    response = Response(lookup.request(resource))
    response.payload = json.dumps(payload).encode()
    return response


def test_requests_name_the_resource_in_the_lookups_field():
    assert json.loads(DOMAIN.request("example.com").payload) == {"domain": "example.com"}
    assert json.loads(FILE.request("ab" * 32).payload) == {"resource": "ab" * 32}
    assert DOMAIN.request("example.com").destination_topic == DOMAIN.topic


def test_a_file_report_is_good_only_for_the_resource_asked():
    assert FILE.good(_answer(FILE, "a", {"resource": "a", "response_code": 1}), "a")
    assert not FILE.good(_answer(FILE, "a", {"resource": "b", "response_code": 1}), "a")


def test_a_domain_report_is_good_when_it_carries_virustotals_response_code():
    assert DOMAIN.good(_answer(DOMAIN, "example.com", {"response_code": 0}), "example.com")
    assert not DOMAIN.good(_answer(DOMAIN, "example.com", {"error": "x"}), "example.com")
    assert not DOMAIN.good(_answer(DOMAIN, "example.com", [1]), "example.com")


def test_errors_and_undecodable_answers_are_not_good():
    error = ErrorResponse(FILE.request("a"), 429, "quota")
    assert not FILE.good(error, "a")
    garbled = Response(FILE.request("a"))
    garbled.payload = b"\xff not json"
    assert not FILE.good(garbled, "a")


CLASSIFY_HASH = Classification("/opendxl-virustotal/service/vtapi/classify", "hash")
ECHO_TEXT = Echoed("/bench/echo/file/report", "text")


def _result(cached: bool) -> dict:
    return {"indicator": "a", "verdict": "malicious", "cached": cached}


def test_a_classification_asks_with_its_field():
    assert json.loads(CLASSIFY_HASH.request("ab" * 32).payload) == {"hash": "ab" * 32}


def test_a_classification_is_good_only_when_every_result_came_from_the_cache():
    def good(answer: object) -> bool:
        return CLASSIFY_HASH.good(_answer(CLASSIFY_HASH, "a", answer), "a")

    assert good({"verdict": "malicious", "results": [_result(True), _result(True)]})
    assert not good({"verdict": "malicious", "results": [_result(True), _result(False)]})
    assert not good({"verdict": "malicious", "results": []})
    assert not good({"results": [_result(True)]})
    assert not good({"verdict": "malicious", "results": ["a"]})


def test_an_echo_is_good_when_it_gives_back_the_field_asked_with():
    assert ECHO_TEXT.good(_answer(ECHO_TEXT, "some text", {"text": "some text"}), "some text")
    assert not ECHO_TEXT.good(_answer(ECHO_TEXT, "some text", {"text": "other"}), "some text")
    assert not ECHO_TEXT.good(_answer(ECHO_TEXT, "x", {"resource": "x"}), "x")
