"""Verdict events through the fabric: once per indicator and verdict change."""

from __future__ import annotations

from devfabric.vtsim.dataset import EXAMPLES

from .conftest import FAST, Events, answer, request

FILES = EXAMPLES["file"]


def classify(dxl, payload: dict) -> dict:
    return answer(request(dxl, "/classify", payload))


def barrier(dxl, events: Events, count: int, payload: dict) -> None:
    """Classify a new indicator with a published verdict and wait for its event,
    the ``count``-th.

    Events leave one publisher thread in the order results arrive, so any
    event for an earlier result would have come before this one.
    """
    classify(dxl, payload)
    assert events.wait_for(count)


def test_one_event_per_indicator_and_verdict_change(dxl, start_service, simulator, events):
    start_service(FAST)
    malicious = FILES["malicious"]
    for _ in range(50):
        assert classify(dxl, {"hash": malicious})["verdict"] == "malicious"
    classify(dxl, {"hash": [FILES["clean"], malicious]})  # clean: not listed, no event
    barrier(dxl, events, 2, {"url": EXAMPLES["url"]["malicious"]})
    assert events.seen() == [
        (malicious, "malicious", None),
        (EXAMPLES["url"]["malicious"], "malicious", None),
    ]
    # The rules change the first file's verdict, then it comes back: one event, naming the change.
    strict = {"hash": malicious, "rules": {"malicious_positives": 1000}}
    assert classify(dxl, strict)["verdict"] != "malicious"
    for _ in range(5):
        classify(dxl, {"hash": malicious})
    barrier(dxl, events, 4, {"domain": EXAMPLES["domain"]["malicious"]})
    assert events.seen()[2:] == [
        (malicious, "malicious", "no_match"),
        (EXAMPLES["domain"]["malicious"], "malicious", None),
    ]
    health = answer(request(dxl, "/health", {}))
    assert health["events"]["published"] == 4


def test_interval_zero_publishes_every_result(dxl, start_service, simulator, events):
    start_service({**FAST, "Events": {"eventIntervalSec": 0}})
    for _ in range(5):
        classify(dxl, {"hash": FILES["malicious"]})
    assert events.wait_for(5)
    assert [previous for _, _, previous in events.seen()] == [None] + ["malicious"] * 4


def test_published_verdicts_follow_the_configuration(dxl, start_service, simulator, events):
    start_service({**FAST, "Classification": {"publishVerdicts": "trusted"}})
    classify(dxl, {"hash": [FILES["malicious"], FILES["clean"]]})
    assert events.wait_for(1)
    classify(dxl, {"hash": FILES["malicious"]})
    classify(dxl, {"sha256": FILES["clean"].upper()})  # the same file: no news
    barrier(dxl, events, 2, {"url": EXAMPLES["url"]["clean"]})
    assert [(i, v) for i, v, _ in events.seen()] == [
        (FILES["clean"], "trusted"), (EXAMPLES["url"]["clean"], "trusted")
    ]
