"""Fixtures: the broker double as a real process, and real dxlclient clients over TLS."""

from __future__ import annotations

import itertools
import json
import threading
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from dxlclient.callbacks import EventCallback, RequestCallback
from dxlclient.client import DxlClient
from dxlclient.client_config import DxlClientConfig
from dxlclient.message import Event, Message, Request, Response
from dxlclient.service import ServiceRegistrationInfo

from devfabric.certs import Pki
from devfabric.fabric import ChildProcess, write_client_config

TIMEOUT = 10.0
_names = itertools.count(1)


class BrokerProcess:
    """A broker double child process, and the dxlclient clients connected to it."""

    def __init__(self, workdir: Path, pki: Pki, *options: str) -> None:
        self.workdir = workdir
        self.pki = pki
        self.port = 0
        self.guid = ""
        self.clients: list[DxlClient] = []
        self._options = options
        self._process: ChildProcess | None = None

    def start(self, port: int = 0) -> BrokerProcess:
        arguments = ["--pki-dir", str(self.pki.directory), "--port", str(port), *self._options]
        self._process = ChildProcess("broker", "devfabric.broker", arguments, self.workdir)
        self._process.start()
        ready = self._process.wait_ready()
        self.port, self.guid = ready["port"], ready["guid"]
        return self

    def restart(self) -> None:
        """A new broker process on the same port, as when a real broker comes back."""
        self._process.stop()
        self.start(self.port)

    def client_config(self, name: str) -> Path:
        """A dxlclient.config with a fresh certificate, in a folder of its own."""
        name = f"{name}-{next(_names)}"
        return write_client_config(self.workdir / name, name, pki=self.pki, broker_port=self.port)

    def connect(self, name: str = "client") -> DxlClient:
        config = DxlClientConfig.create_dxl_config_from_file(str(self.client_config(name)))
        client = DxlClient(config)
        self.clients.append(client)
        client.connect()
        return client

    def stop(self) -> None:
        self._process.stop()


@pytest.fixture(scope="session")
def pki(tmp_path_factory) -> Pki:
    return Pki.ensure(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="session")
def start_broker(pki, tmp_path_factory) -> Iterator[Callable[..., BrokerProcess]]:
    """Start a broker with command-line options.

    Brokers and their clients live until the end of the session: destroying a
    dxlclient takes about a second, so they are all destroyed at once then.
    """
    started: list[BrokerProcess] = []

    def start(*options: str) -> BrokerProcess:
        started.append(BrokerProcess(tmp_path_factory.mktemp("broker"), pki, *options))
        return started[-1].start()

    yield start
    clients = [client for running in started for client in running.clients]
    if clients:
        with ThreadPoolExecutor(len(clients)) as pool:
            list(pool.map(DxlClient.destroy, clients))
    for running in started:
        running.stop()


@pytest.fixture(scope="session")
def broker(start_broker) -> BrokerProcess:
    """The broker most tests share; each test uses topics of its own."""
    return start_broker()


@pytest.fixture
def topic() -> str:
    """A topic prefix no other test uses."""
    return f"/devfabric-test/{uuid.uuid4().hex}"


class Inbox(EventCallback, RequestCallback):
    """Collects the events or requests a client receives, for a test to wait on."""

    def __init__(self) -> None:
        super().__init__()
        self.messages: list[Message] = []
        self._changed = threading.Condition()

    def on_event(self, event: Event) -> None:
        self._add(event)

    def on_request(self, request: Request) -> None:
        self._add(request)

    def _add(self, message: Message) -> None:
        with self._changed:
            self.messages.append(message)
            self._changed.notify_all()

    def wait_for(self, matches: Callable[[Message], bool], timeout: float = TIMEOUT) -> Message:
        """The first message that ``matches``, waiting for it if need be."""
        with self._changed:
            found = self._changed.wait_for(
                lambda: next((m for m in self.messages if matches(m)), None), timeout
            )
        assert found is not None, "expected message never arrived"
        return found

    def payloads(self) -> list[Any]:
        with self._changed:
            return [json.loads(m.payload) for m in self.messages]


def watch_events(client: DxlClient, topic: str) -> Inbox:
    inbox = Inbox()
    client.add_event_callback(topic, inbox)
    return inbox


def flush(sender: DxlClient, receiver: DxlClient) -> None:
    """Return once ``receiver`` has handled everything the broker sent it before now.

    The broker writes to a connection in order and dxlclient handles incoming
    messages one at a time, in order: a marker event that arrives last proves
    that nothing else is still on its way.
    """
    marker = f"/devfabric-test/flush/{uuid.uuid4().hex}"
    inbox = watch_events(receiver, marker)
    sender.send_event(Event(marker))
    inbox.wait_for(lambda message: True)
    receiver.remove_event_callback(marker, inbox)


class EchoService(RequestCallback):
    """A registered service that answers every request with its own name."""

    def __init__(self, client: DxlClient, name: str, service_type: str, topics: list[str]) -> None:
        super().__init__()
        self.client = client
        self.name = name
        self.requests = Inbox()
        self.info = ServiceRegistrationInfo(client, service_type)
        self.info.metadata = {"name": name}
        for request_topic in topics:
            self.info.add_topic(request_topic, self)
        client.register_service_sync(self.info, TIMEOUT)

    @property
    def service_id(self) -> str:
        return self.info.service_id

    def on_request(self, request: Request) -> None:
        self.requests.on_request(request)
        response = Response(request)
        response.payload = self.name.encode()
        self.client.send_response(response)


def request(client: DxlClient, topic: str, payload: Any = b"", service_id: str = "") -> Message:
    """Send a request and wait for its answer; ``payload`` as bytes or as JSON."""
    message = Request(topic)
    message.payload = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    message.service_id = service_id
    return client.sync_request(message, timeout=TIMEOUT)
