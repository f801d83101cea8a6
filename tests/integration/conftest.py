"""Integration fixtures: the development fabric, real dxlclient clients, service processes."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator

import pytest
from dxlclient.client import DxlClient
from dxlclient.client_config import DxlClientConfig
from dxlclient.message import ErrorResponse, Message, Request

from devfabric import Fabric
from devfabric.services import SERVICE_TYPE, ServiceProcess

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
