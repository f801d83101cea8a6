"""Integration fixtures: the development fabric, real dxlclient clients, service processes."""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import Iterator

import pytest
from dxlclient.callbacks import EventCallback
from dxlclient.client import DxlClient
from dxlclient.client_config import DxlClientConfig
from dxlclient.message import ErrorResponse, Event, Message, Request

from devfabric import Fabric
from devfabric.services import SERVICE_TYPE, ServiceProcess
from devfabric.tie import TieDouble

_names = itertools.count(1)


@pytest.fixture(scope="session")
def fabric(tmp_path_factory) -> Iterator[Fabric]:
    with Fabric(tmp_path_factory.mktemp("fabric")) as running:
        yield running


def connect(fabric: Fabric, directory, name: str) -> DxlClient:
    path = fabric.write_client_config(directory, name)
    client = DxlClient(DxlClientConfig.create_dxl_config_from_file(str(path)))
    client.connect()
    return client


@pytest.fixture(scope="session")
def dxl(fabric, tmp_path_factory) -> Iterator[DxlClient]:
    client = connect(fabric, tmp_path_factory.mktemp("client"), "test-client")
    yield client
    client.destroy()


@pytest.fixture
def simulator(fabric):
    """The simulator, reset to defaults before and after the test."""
    fabric.simulator.reset(settings=True)
    yield fabric.simulator
    fabric.simulator.reset(settings=True)


@pytest.fixture
def start_service(fabric, dxl, tmp_path):
    """Start dxlvtservice processes with settings; each is stopped by pid at the end."""
    started: list[ServiceProcess] = []

    def start(settings=None, *, directory=None, name=None, env=None) -> ServiceProcess:
        name = name or f"vt-test-{next(_names)}"
        service = ServiceProcess(fabric, directory or tmp_path / name, name, settings, env=env)
        started.append(service)
        return service.start(dxl)

    yield start
    for service in started:
        service.stop()


FAST = {"RateLimit": {"rateLimitMs": 0, "requestsPerMinute": "unlimited",
                      "requestsPerDay": "unlimited"}}  # fmt: skip


def request(client: DxlClient, suffix: str, payload, timeout: float = 30) -> Message:
    """Send a request on a service topic; ``payload`` as JSON, or bytes as they are."""
    message = Request(SERVICE_TYPE + suffix)
    message.payload = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return client.sync_request(message, timeout=timeout)


def answer(response: Message):
    """The JSON of a successful response; fails the test on an error response."""
    assert not isinstance(response, ErrorResponse), (
        f"error {response.error_code}: {response.error_message}"
    )
    return json.loads(response.payload.decode("utf-8"))


# -- what the service says on the fabric: verdict events, TIE --------------------------

VERDICT_TOPIC = "/opendxl-virustotal/event/verdict"


class Events(EventCallback):
    """Collects verdict events; ``wait_for`` waits for a count, not for time."""

    def __init__(self) -> None:
        super().__init__()
        self.received: list[dict] = []
        self.cond = threading.Condition()

    def on_event(self, event: Event) -> None:
        with self.cond:
            self.received.append(json.loads(event.payload))
            self.cond.notify_all()

    def wait_for(self, count: int) -> bool:
        with self.cond:
            return self.cond.wait_for(lambda: len(self.received) >= count, 30)

    def seen(self) -> list[tuple[str, str, str | None]]:
        with self.cond:
            return [(e["indicator"], e["verdict"], e["previous_verdict"]) for e in self.received]


@pytest.fixture
def events(dxl) -> Iterator[Events]:
    collected = Events()
    dxl.add_event_callback(VERDICT_TOPIC, collected)
    yield collected
    dxl.remove_event_callback(VERDICT_TOPIC, collected)


@pytest.fixture(scope="module")
def tie_client(fabric, tmp_path_factory):
    client = connect(fabric, tmp_path_factory.mktemp("tie"), "tie-server")
    yield client
    client.destroy()


@pytest.fixture
def tie(tie_client, fabric) -> Iterator[TieDouble]:
    """A TIE on the fabric for this test; nothing it was sent may carry the API key."""
    double = TieDouble(tie_client)
    yield double
    double.stop()
    sent = json.dumps([r.payload for r in double.reports]) + json.dumps(double.queries)
    assert fabric.api_key not in sent
