"""An upstream that dribbles its answers one byte a second, under a mixed load.

tests/integration/test_hostile_upstream.py pins one call cut at its total
deadline and one SIGTERM with a call in flight; here many requests on every
topic are in flight at once, and SIGTERM comes while calls are dribbling.
"""

from __future__ import annotations

import json
import random

from tests.integration.conftest import FAST

from .answers import Answers
from .workload import fresh_indicator, plan

GRACE_SEC = 2
DRIBBLING = {**FAST, "VirusTotal": {"requestTimeoutSec": 3},
             "Limits": {"shutdownGraceSec": GRACE_SEC}}  # fmt: skip
REQUESTS = 48
STOPPED_WITHIN_SEC = GRACE_SEC + 5


def test_every_request_is_answered_and_sigterm_ends_the_process_in_time(
    dxl, start_service, simulator
):
    service = start_service(DRIBBLING)
    simulator.configure(fault="dribble", dribble_ms=1000)
    answers = Answers()
    answers.watch(dxl)
    rng = random.Random(3)
    try:
        planned = [plan(rng) for _ in range(REQUESTS)]
        sent = [answers.send(dxl, p.suffix, p.payload) for p in planned]
        assert all(answers.wait(message_id, 90) is not None for message_id in sent)
        answers.barrier(dxl)
        tally = answers.tally()
        assert (tally.lost, tally.duplicates, tally.problems) == (0, 0, [])
        assert 504 in tally.outcomes  # the dribbling calls were cut, not waited out

        domains = [fresh_indicator(rng, "domain") for _ in range(4)]
        lookups = [json.dumps({"domain": domain}).encode() for domain in domains]
        in_flight = [answers.send(dxl, "/domain/report", payload) for payload in lookups]
        assert simulator.wait_in_progress(len(in_flight), timeout=30)
        assert service.stop(timeout=STOPPED_WITHIN_SEC) == 0  # SIGKILL would leave -9
        got = [answers.wait(message_id, 10) for message_id in in_flight]
    finally:
        answers.unwatch()
    assert set(got) <= {503, 504}, got
