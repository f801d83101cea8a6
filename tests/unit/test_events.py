"""Verdict events: once per indicator and verdict change, off the answer's path."""

from __future__ import annotations

import threading

import pytest

from dxlvtservice.reputation.events import VerdictEvents, VerdictMemory, memory_key

HOUR = 3600.0


@pytest.mark.parametrize(
    ("history", "expected"),
    [
        # (verdict, time) seen in order -> (publish?, previous) for the last one
        ([("malicious", 0)], (True, None)),
        ([("malicious", 0), ("malicious", 1)], (False, "malicious")),
        ([("malicious", 0), ("malicious", HOUR - 1)], (False, "malicious")),
        ([("malicious", 0), ("malicious", HOUR)], (True, "malicious")),
        ([("malicious", 0), ("malicious", 10), ("malicious", HOUR)], (True, "malicious")),
        ([("no_match", 0)], (False, None)),
        ([("no_match", 0), ("malicious", 1)], (True, "no_match")),
        ([("malicious", 0), ("no_match", 1), ("malicious", 2)], (True, "no_match")),
        ([("malicious", 0), ("report_missing", 1)], (False, "malicious")),
        ([("trusted", 0), ("trusted", HOUR * 2)], (False, "trusted")),
    ],
)
def test_memory_publishes_first_verdict_changes_and_repeats_after_the_interval(history, expected):
    memory = VerdictMemory({"malicious"}, HOUR)
    for verdict, now in history[:-1]:
        memory.observe("file:a", verdict, now)
    verdict, now = history[-1]
    assert memory.observe("file:a", verdict, now) == expected


def test_interval_zero_publishes_every_listed_result():
    memory = VerdictMemory({"malicious"}, 0)
    assert [memory.observe("file:a", "malicious", 5)[0] for _ in range(3)] == [True] * 3


def test_indicators_are_remembered_apart_and_the_least_recent_forgotten():
    memory = VerdictMemory({"malicious"}, HOUR, capacity=2)
    assert memory.observe("file:a", "malicious", 0) == (True, None)
    assert memory.observe("file:b", "malicious", 0) == (True, None)
    memory.observe("file:a", "malicious", 1)  # a is now the most recent
    memory.observe("file:c", "malicious", 2)  # b goes
    assert memory.remembered() == 2
    assert memory.observe("file:a", "malicious", 3) == (False, "malicious")
    assert memory.observe("file:b", "malicious", 3) == (True, None)


def test_memory_key_names_type_and_indicator():
    assert memory_key({"type": "file", "indicator": "abc"}) == "file:abc"
    assert memory_key({"type": "file", "indicator": None}) is None


class Sent:
    def __init__(self, expected: int) -> None:
        self.payloads: list[dict] = []
        self.done = threading.Event()
        self.expected = expected

    def __call__(self, payload: dict) -> None:
        self.payloads.append(payload)
        if len(self.payloads) >= self.expected:
            self.done.set()


def result(indicator: str, verdict: str) -> dict:
    return {"indicator": indicator, "type": "file", "verdict": verdict}


def test_events_are_published_once_with_previous_verdict():
    sent = Sent(expected=3)
    events = VerdictEvents(VerdictMemory({"malicious"}, HOUR), sent, clock=lambda: 100.0)
    events.start()
    events.offer([result("a", "malicious")] * 50)
    events.offer([result("a", "no_match"), result("a", "malicious"), result("b", "malicious")])
    assert sent.done.wait(10)
    events.stop()
    assert [(p["indicator"], p["previous_verdict"]) for p in sent.payloads] == [
        ("a", None), ("a", "no_match"), ("b", None)
    ]
    assert events.stats()["published"] == 3


def test_a_failing_send_does_not_stop_the_publisher():
    calls: list[dict] = []
    done = threading.Event()

    def send(payload: dict) -> None:
        calls.append(payload)
        if len(calls) == 1:
            raise ConnectionError("broker gone")
        done.set()

    events = VerdictEvents(VerdictMemory({"malicious"}, HOUR), send)
    events.start()
    events.offer([result("a", "malicious"), result("b", "malicious")])
    assert done.wait(10)
    events.stop()
    assert [p["indicator"] for p in calls] == ["a", "b"]


def test_a_full_queue_drops_and_counts_instead_of_blocking():
    events = VerdictEvents(VerdictMemory({"malicious"}, HOUR), lambda _: None, pending=2)
    events.offer([result(str(i), "malicious") for i in range(5)])  # not started: nothing drains
    assert events.stats()["dropped"] == 3
    assert events.stats()["pending"] == 2
