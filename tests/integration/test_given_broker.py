"""A fabric given a dxlclient.config: its clients and services use that config's broker.

This is how the benchmark runs on a real broker (``python -m bench
--dxlclient-config PATH``); here the given broker is another fabric's double.
"""

from __future__ import annotations

import hashlib

from devfabric import Fabric
from devfabric.services import ServiceProcess

from .conftest import answer, request


def test_a_service_of_a_fabric_given_a_config_answers_on_that_configs_broker(fabric, dxl, tmp_path):
    given = fabric.write_client_config(tmp_path / "given", "given-client")
    with Fabric(tmp_path / "other", client_config=given) as other:
        assert other.running and other.broker_port == 0  # no broker double of its own
        service = ServiceProcess(other, tmp_path / "service", "on-given-broker")
        try:
            service.start(dxl)  # dxl is a client of the first fabric's broker
            resource = hashlib.sha256(b"test_given_broker").hexdigest()
            report = answer(request(dxl, "/file/report", {"resource": resource}))
            assert report["resource"] == resource
            assert other.simulator.stats()["calls"] == 1  # the other fabric's simulator
        finally:
            service.stop()
