"""Life cycle: graceful shutdown with requests in flight, and a broker that comes back."""

from __future__ import annotations

import json
import threading

from dxlclient.callbacks import EventCallback
from dxlclient.message import Request

from devfabric import Fabric
from devfabric.services import REGISTER_EVENT, SERVICE_TYPE, ServiceProcess
from devfabric.vtsim.dataset import EXAMPLES

from .conftest import FAST, answer, connect, request
from .test_quota import Collector, send


def test_shutdown_finishes_requests_in_flight(dxl, start_service, simulator):
    service = start_service({**FAST, "Limits": {"shutdownGraceSec": 20}})
    simulator.configure(latency_ms=1000)
    collector = Collector()
    send(dxl, collector, "/domain/report", {"domain": EXAMPLES["domain"]["malicious"]})
    assert simulator.wait_in_progress(1, timeout=30)
    send(dxl, collector, "/domain/report", {"domain": EXAMPLES["domain"]["low"]})
    assert simulator.wait_in_progress(2, timeout=30)
    assert service.stop() == 0
    assert collector.wait_for(2, timeout=30)
    assert [answer(response)["response_code"] for _, response in collector.arrivals] == [1, 1]
    assert "Stopped" in service.log_text()


class Registrations(EventCallback):
    def __init__(self) -> None:
        super().__init__()
        self.guids: set[str] = set()
        self.cond = threading.Condition()

    def on_event(self, event) -> None:
        with self.cond:
            self.guids.add(json.loads(event.payload)["serviceGuid"])
            self.cond.notify_all()


def registered_guids(client) -> set[str]:
    query = Request("/mcafee/service/dxl/svcregistry/query")
    query.payload = json.dumps({"serviceType": SERVICE_TYPE}).encode()
    return set(answer(client.sync_request(query, timeout=10))["services"])


def test_service_registers_again_when_the_broker_comes_back(tmp_path):
    with Fabric(tmp_path / "fabric") as fabric:
        observer = connect(fabric, tmp_path / "observer", "observer")
        service = ServiceProcess(fabric, tmp_path / "service", "comeback", FAST)
        try:
            service.start(observer)
            guid = service.registration["serviceGuid"]
            observer.destroy()
            fabric.restart_broker()
            client = connect(fabric, tmp_path / "client", "after-restart")
            events = Registrations()
            client.add_event_callback(REGISTER_EVENT, events)
            if guid not in registered_guids(client):
                with events.cond:
                    assert events.cond.wait_for(lambda: guid in events.guids, 90)
            reply = answer(request(client, "/domain/report", {"domain": "example.com"}))
            assert reply["response_code"] in (0, 1)
            client.destroy()
        finally:
            assert service.stop() == 0
