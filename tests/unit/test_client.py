"""The client library: payloads it sends, and how answers become results or one error type."""

from __future__ import annotations

import json

import pytest
from dxlclient.exceptions import DxlException, WaitTimeoutException
from dxlclient.message import ErrorResponse, Request, Response

from dxlvtservice.client import (
    DEFAULT_RESPONSE_TIMEOUT,
    VirusTotalServiceClient,
    VirusTotalServiceError,
    retry_after_seconds,
)


class FakeDxl:
    """Answers each request with what ``answer(request)`` returns (or raises)."""

    def __init__(self, answer) -> None:
        self.answer = answer
        self.sent: list[tuple[str, dict, float]] = []

    def sync_request(self, request: Request, timeout: float):
        self.sent.append((request.destination_topic, json.loads(request.payload), timeout))
        return self.answer(request)


def replying(payload: bytes):
    def answer(request):
        response = Response(request)
        response.payload = payload
        return response

    return answer


def failing(code: int, message: str):
    return lambda request: ErrorResponse(request, error_code=code, error_message=message)


def test_default_timeout_outlasts_the_service_deadline():
    assert DEFAULT_RESPONSE_TIMEOUT > 60
    dxl = FakeDxl(replying(b"{}"))
    VirusTotalServiceClient(dxl).health()
    assert dxl.sent[0][2] == DEFAULT_RESPONSE_TIMEOUT


def test_classify_sends_only_the_fields_given():
    dxl = FakeDxl(replying(b'{"verdict": "no_match"}'))
    vt = VirusTotalServiceClient(dxl)
    answer = vt.classify(hash=["AA" * 16], text="x", rules={"trusted_positives": None}, max_age=0)
    topic, payload, _ = dxl.sent[0]
    assert topic == "/opendxl-virustotal/service/vtapi/classify"
    assert payload == {"hash": ["AA" * 16], "text": "x",
                       "rules": {"trusted_positives": None}, "max_age": 0}  # fmt: skip
    assert answer == {"verdict": "no_match"}


def test_analyze_sends_a_null_report_as_null():
    dxl = FakeDxl(replying(b"{}"))
    VirusTotalServiceClient(dxl).analyze("file", None)
    assert dxl.sent[0][1] == {"type": "file", "report": None}


def test_compatible_calls_join_lists_as_the_old_client_does():
    dxl = FakeDxl(replying(b"[]"))
    vt = VirusTotalServiceClient(dxl)
    vt.file_report(["a" * 32, "b" * 32], all_info=True)
    vt.url_report(["http://a.example/", "http://b.example/"], scan=True)
    vt.url_scan("http://c.example/")
    vt.file_rescan("c" * 32, period=3, notify_changes_only=True)
    vt.ip_report("192.0.2.1")
    vt.domain_report("example.com")
    assert [(topic.rsplit("vtapi", 1)[1], payload) for topic, payload, _ in dxl.sent] == [
        ("/file/report", {"resource": "a" * 32 + "," + "b" * 32, "allinfo": "1"}),
        ("/url/report", {"resource": "http://a.example/\nhttp://b.example/", "scan": "1"}),
        ("/url/scan", {"url": "http://c.example/"}),
        ("/file/rescan", {"resource": "c" * 32, "period": 3, "notify_changes_only": "1"}),
        ("/ip-address/report", {"ip": "192.0.2.1"}),
        ("/domain/report", {"domain": "example.com"}),
    ]


def test_error_response_keeps_code_and_message():
    vt = VirusTotalServiceClient(FakeDxl(failing(403, "internal indicators are never sent")))
    with pytest.raises(VirusTotalServiceError) as caught:
        vt.ip_report("10.0.0.1")
    assert (caught.value.code, caught.value.message) == (403, "internal indicators are never sent")
    assert caught.value.retry_after is None


def test_quota_error_carries_the_seconds_to_wait():
    message = "the per-day quota is spent; retry in 3600 seconds"
    vt = VirusTotalServiceClient(FakeDxl(failing(429, message)))
    with pytest.raises(VirusTotalServiceError) as caught:
        vt.file_report("a" * 32)
    assert caught.value.code == 429 and caught.value.retry_after == 3600


@pytest.mark.parametrize(
    ("code", "message", "expected"),
    [(429, "retry in 1 second", 1), (429, "quota exhausted", None),
     (503, "retry in 5 seconds", None)],
)
def test_retry_after_only_from_a_quota_message(code, message, expected):
    assert retry_after_seconds(code, message) == expected


def test_fabric_error_keeps_the_fabric_code():
    vt = VirusTotalServiceClient(FakeDxl(failing(-2147483647, "unable to locate service")))
    with pytest.raises(VirusTotalServiceError) as caught:
        vt.health()
    assert caught.value.code == -2147483647


def test_no_answer_in_time_is_504():
    def late(request):
        raise WaitTimeoutException("Timeout waiting for response to message")

    vt = VirusTotalServiceClient(FakeDxl(late), response_timeout=2)
    with pytest.raises(VirusTotalServiceError) as caught:
        vt.health()
    assert caught.value.code == 504 and "2 seconds" in caught.value.message


def test_not_connected_is_503():
    def unsent(request):
        raise DxlException("The client is not connected")

    with pytest.raises(VirusTotalServiceError) as caught:
        VirusTotalServiceClient(FakeDxl(unsent)).health()
    assert caught.value.code == 503 and "not connected" in caught.value.message


def test_an_answer_that_is_not_json_is_502():
    with pytest.raises(VirusTotalServiceError) as caught:
        VirusTotalServiceClient(FakeDxl(replying(b"\xff not json"))).health()
    assert caught.value.code == 502
