"""Hostile input through the fabric: each is answered, 400 with a reason, and the service lives.

Requests go over TLS with the real dxlclient to a service process on the
development fabric.
"""

from __future__ import annotations

import threading

import pytest
from dxlclient.message import ErrorResponse

from .conftest import FAST, answer, request

LIMITS = {**FAST, "Limits": {"maxPayloadBytes": 1 << 20}}


@pytest.fixture
def service(start_service, simulator):
    return start_service(LIMITS)


def refused(response) -> str:
    assert isinstance(response, ErrorResponse), "expected an error response"
    assert response.error_code == 400, f"{response.error_code}: {response.error_message}"
    return response.error_message


def alive(dxl) -> None:
    assert answer(request(dxl, "/health", {}))["version"]


@pytest.mark.parametrize(
    ("suffix", "payload", "reason"),
    [
        ("/classify", b'{"search_within": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
         "nests deeper than"),
        ("/classify", b'{"domain": "example.com", "max_age": ' + b"9" * 400 + b"}",
         "out of range"),
        ("/analyze", b'{"type": [], "report": null}', "'type' must be a string"),
        ("/file/report", b'{"resource": "\\ud800"}', "not valid Unicode"),
    ],
    ids=["deep", "400-digit max_age", "analyze type list", "lone surrogate"],
)  # fmt: skip
def test_bad_payloads_are_answered_400(dxl, service, suffix, payload, reason):
    assert reason in refused(request(dxl, suffix, payload))
    alive(dxl)


def test_a_message_over_the_client_librarys_limit_is_answered_400(dxl, service):
    """dxlclient's decoder drops payloads over 1 MiB; the service still answers them."""
    payload = b'{"text": "' + b"a" * (1 << 20) + b'"}'
    reason = refused(request(dxl, "/classify", payload, timeout=30))
    assert f"{len(payload)} bytes is over the limit of {1 << 20}" in reason
    alive(dxl)


HOSTILE_EXPRESSIONS = ['$pad("x", 1000000000, "y")', "$sum([1..10000000])",
                       "$distinct([1..1000000])"]  # fmt: skip


def test_hostile_jsonata_is_refused_while_others_are_answered(dxl, service):
    """Three expensive built-ins at once: each a 400; health and a plain lookup still answered."""
    answers: dict[str, object] = {}

    def send(name: str, suffix: str, payload) -> None:
        answers[name] = request(dxl, suffix, payload)

    threads = [
        threading.Thread(target=send, args=(expression, "/classify",
                                            {"search_within": {"a": 1}, "expression": expression}))
        for expression in HOSTILE_EXPRESSIONS
    ]  # fmt: skip
    threads.append(threading.Thread(target=send, args=("health", "/health", {})))
    threads.append(threading.Thread(
        target=send, args=("plain", "/classify", {"search_within": {"ioc": {"domain": "a.example"}},
                                                   "expression": "ioc"})))  # fmt: skip
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for expression in HOSTILE_EXPRESSIONS:
        assert "budget" in refused(answers[expression])
    assert answer(answers["health"])["version"]
    assert [r["indicator"] for r in answer(answers["plain"])["results"]] == ["a.example"]
    alive(dxl)
