"""Generated payloads on all nine topics: one promised answer each, and the service lives."""

from __future__ import annotations

import json

from tests.integration.conftest import FAST, answer, request

from .answers import Answers
from .fuzzing import PROFILE, fuzz, settings


def test_generated_requests_are_each_answered_once_with_a_promised_code(
    dxl, start_service, simulator, record_property
):
    service = start_service(FAST)
    answers = Answers()
    answers.watch(dxl)
    try:
        outcomes = fuzz(dxl, answers)
        answers.barrier(dxl)
    finally:
        answers.unwatch()

    tally = answers.tally()
    record_property("fuzz_outcomes", json.dumps({str(k): v for k, v in outcomes.items()}))
    print(f"fuzz outcomes by code: {dict(outcomes)}")
    assert tally.requests >= settings.get_profile(PROFILE).max_examples
    assert (tally.lost, tally.duplicates, tally.problems) == (0, 0, [])
    assert answer(request(dxl, "/health", {}))["version"]
    assert service.stop() == 0
