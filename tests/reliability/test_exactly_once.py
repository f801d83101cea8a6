"""Every request gets exactly one answer under load: 32 requesters, all nine topics."""

from __future__ import annotations

from tests.integration.conftest import FAST

from .workload import run_load

REQUESTERS = 32
REQUESTS_EACH = 200


def test_every_request_is_answered_exactly_once_under_load(connections, start_service, simulator):
    service = start_service(FAST)

    result = run_load(connections, requesters=REQUESTERS, requests_each=REQUESTS_EACH)

    tally = result.tally
    sent = REQUESTERS * REQUESTS_EACH + len(connections)  # and one barrier per connection
    assert (tally.requests, tally.lost, tally.duplicates) == (sent, 0, 0)
    assert tally.answers == sent
    assert tally.problems == []
    assert result.unexpected == []
    assert {"ok", 400} <= set(tally.outcomes)
    assert service.stop() == 0
