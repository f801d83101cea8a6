"""An upstream that dribbles bytes: one total deadline per call, and a prompt shutdown."""

from __future__ import annotations

from devfabric.vtsim.dataset import EXAMPLES

from .conftest import FAST, request
from .test_quota import Collector, send


def test_a_dribbling_upstream_is_cut_at_the_total_deadline(dxl, start_service, simulator):
    """One byte a second would take minutes to deliver a report; the call ends at
    ``requestTimeoutSec`` in all and the request is answered 504."""
    start_service({**FAST, "VirusTotal": {"requestTimeoutSec": 3}})
    simulator.configure(fault="dribble", dribble_ms=1000)
    response = request(dxl, "/domain/report", {"domain": EXAMPLES["domain"]["clean"]}, 90)
    assert response.error_code == 504
    assert "did not answer within 3 seconds" in response.error_message


def test_sigterm_ends_the_process_while_upstream_dribbles(dxl, start_service, simulator):
    service = start_service(
        {**FAST, "VirusTotal": {"requestTimeoutSec": 600}, "Limits": {"shutdownGraceSec": 1}}
    )
    simulator.configure(fault="dribble", dribble_ms=1000)
    collector = Collector()
    send(dxl, collector, "/domain/report", {"domain": EXAMPLES["domain"]["low"]})
    assert simulator.wait_in_progress(1, timeout=30)
    # stop() sends SIGTERM and waits 20 s before SIGKILL; a killed process has no code 0.
    assert service.stop(timeout=20) == 0
    assert collector.wait_for(1, timeout=10)
    (_, answer), = collector.arrivals
    assert answer.error_code in (503, 504)
