"""Crashes and restarts under load: the service killed, the broker restarted, a planted cache.

The first two run on a fabric of their own: a killed service stays
registered on its broker (as on a real one) and a restarted broker would
disturb the other tests' clients.
"""

from __future__ import annotations

import json
import os
import pickle
import random
import signal
from pathlib import Path

from diskcache.core import MODE_PICKLE
from dxlclient.client import DxlClient
from dxlclient.message import Request

from devfabric import Fabric
from devfabric.services import REGISTER_EVENT, SERVICE_TYPE, ServiceProcess
from devfabric.vtsim.dataset import EXAMPLES
from tests.integration.conftest import FAST, answer, connect
from tests.integration.test_lifecycle import Registrations, registered_guids
from tests.unit.test_storage import _plant, _Touch

from .answers import Answers
from .workload import fresh_indicator, run_load

BURST = 400
KILL_AFTER_ANSWERS = 60


def _burst(answers: Answers, client: DxlClient, rng: random.Random) -> None:
    """Lookups nobody made before, sent without waiting: the cache is busy storing them."""
    for _ in range(BURST):
        kind = rng.choice(("domain", "ip", "file"))
        field = {"domain": "domain", "ip": "ip", "file": "resource"}[kind]
        suffix = {"domain": "/domain/report", "ip": "/ip-address/report", "file": "/file/report"}
        payload = json.dumps({field: fresh_indicator(rng, kind)}).encode()
        answers.send(client, suffix[kind], payload)


def _ask(client: DxlClient, suffix: str, payload: dict, service_id: str = "") -> dict:
    """The JSON answer of one instance (``service_id``) of the service, or of any."""
    message = Request(SERVICE_TYPE + suffix)
    message.payload = json.dumps(payload).encode()
    message.service_id = service_id
    return answer(client.sync_request(message, timeout=30))


def test_a_service_killed_mid_load_restarts_on_its_cache_and_ledger(tmp_path):
    known = EXAMPLES["domain"]["malicious"]
    with Fabric(tmp_path / "fabric") as fabric:
        client = connect(fabric, tmp_path / "client", "client")
        first = ServiceProcess(fabric, tmp_path / "service", "crashing", FAST)
        second = ServiceProcess(fabric, tmp_path / "service", "crashing", FAST)
        try:
            first.start(client)
            assert _ask(client, "/classify", {"domain": known})["verdict"] == "malicious"
            answers = Answers()
            answers.watch(client)
            _burst(answers, client, random.Random(5))
            assert answers.wait_answered(KILL_AFTER_ANSWERS, timeout=60)
            os.kill(first.pid, signal.SIGKILL)
            assert first.stop() == -signal.SIGKILL
            answers.unwatch()

            second.start(client)
            guid = second.registration["serviceGuid"]
            result = _ask(client, "/classify", {"domain": known}, guid)["results"][0]
            health = _ask(client, "/health", {}, guid)
        finally:
            second.stop()
            first.stop()
            client.destroy()
    assert (result["verdict"], result["cached"]) == ("malicious", True)  # stored before the kill
    assert (health["cache"]["status"], health["cache"]["last_error"]) == ("ok", None)
    assert health["cache"]["entries"] > 1
    assert (health["quota"]["shared"], health["quota"]["degraded"]) == (True, None)


def _wait_connected(client: DxlClient, timeout: float) -> bool:
    """Wait for dxlclient to reconnect by itself (it notifies this condition when it does)."""
    condition = client._connected_wait_condition
    with condition:
        return condition.wait_for(lambda: client.connected, timeout)


def test_requests_after_a_broker_restart_mid_load_are_answered(tmp_path):
    with Fabric(tmp_path / "fabric") as fabric:
        before = connect(fabric, tmp_path / "before", "before")
        service = ServiceProcess(fabric, tmp_path / "service", "survivor", FAST)
        after = None
        try:
            service.start(before)
            guid = service.registration["serviceGuid"]
            answers = Answers()
            answers.watch(before)
            _burst(answers, before, random.Random(6))
            assert answers.wait_answered(KILL_AFTER_ANSWERS, timeout=60)
            fabric.restart_broker()  # what is in flight now is lost with the broker
            answers.unwatch()

            after = connect(fabric, tmp_path / "after", "after")
            registrations = Registrations()
            after.add_event_callback(REGISTER_EVENT, registrations)
            if guid not in registered_guids(after):
                with registrations.cond:
                    assert registrations.cond.wait_for(lambda: guid in registrations.guids, 90)
            assert _wait_connected(before, 90)
            result = run_load([before, after], requesters=8, requests_each=40, seed=6)
        finally:
            assert service.stop() == 0
            for client in (before, after):
                if client is not None:
                    client.destroy()
    tally = result.tally
    assert (tally.lost, tally.duplicates, tally.problems, result.unexpected) == (0, 0, [], [])
    assert tally.answers == 8 * 40 + 2


def test_planted_pickle_rows_never_run_and_the_service_answers(
    dxl, start_service, simulator, tmp_path
):
    """A cache directory someone wrote pickles into (CVE-2025-69872): the rows are
    corrupt, not loaded, and the service answers from upstream."""
    directory = tmp_path / "planted"
    domain = EXAMPLES["domain"]["low"]
    first = start_service(FAST, directory=directory, name="planted-1")
    assert _ask(dxl, "/domain/report", {"domain": domain})["response_code"] == 1
    assert first.stop() == 0
    marker = tmp_path / "pickle-ran"
    planted = pickle.dumps(_Touch(marker))
    cache = Path(first.directory) / "cache"
    _plant(cache / "reports" / "cache.db",
           "UPDATE Cache SET mode = ?, value = ?", MODE_PICKLE, planted)  # fmt: skip
    _plant(cache / "quota" / "cache.db", "UPDATE Cache SET raw = 0, key = ?, mode = ?, value = ?",
           planted, MODE_PICKLE, planted)  # fmt: skip
    calls = simulator.stats()["calls"]

    start_service(FAST, directory=directory, name="planted-2")
    reply = _ask(dxl, "/domain/report", {"domain": domain})
    health = _ask(dxl, "/health", {})

    assert not marker.exists()
    assert reply["response_code"] == 1
    assert simulator.stats()["calls"] == calls + 1  # the planted report was a miss
    assert health["version"]
