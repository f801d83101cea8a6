"""Reliability fixtures: the integration fabric, service and client, plus more connections."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from dxlclient.client import DxlClient

from tests.integration import conftest as integration

# The integration suite's fixtures, shared: one fabric, a client, service processes.
fabric = integration.fabric
dxl = integration.dxl
simulator = integration.simulator
start_service = integration.start_service

CONNECTIONS = 4


@pytest.fixture(scope="session")
def connections(fabric, tmp_path_factory) -> Iterator[list[DxlClient]]:
    """A few client connections for many requester threads to share."""
    directory = tmp_path_factory.mktemp("requesters")
    clients = [
        integration.connect(fabric, directory / str(i), f"requester-{i}")
        for i in range(CONNECTIONS)
    ]
    yield clients
    with ThreadPoolExecutor(len(clients)) as pool:
        list(pool.map(DxlClient.destroy, clients))
