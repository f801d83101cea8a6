"""The systems under test, as service processes on the development fabric.

``ours`` is dxlvtservice configured as a user would for the key's quota;
``anchor`` is dxlvtapiservice 0.2.0 (through :mod:`bench.anchor`); ``echo`` is
the floor (:mod:`bench.echo_service`). Ours and the anchor register the same
service type, so they run one after the other, each stopped (and seen gone
from the registry) before the next starts.
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from dxlclient.client import DxlClient
from dxlclient.message import ErrorResponse, Request

from devfabric import Fabric
from devfabric.services import SERVICE_TYPE, ServiceProcess

REPORT_TOPIC = SERVICE_TYPE + "/file/report"
DOMAIN_TOPIC = SERVICE_TYPE + "/domain/report"
CLASSIFY_TOPIC = SERVICE_TYPE + "/classify"
PROJECT_ROOT = Path(__file__).resolve().parent.parent
# The children import bench and devfabric from the work tree, and reach the
# simulator on loopback, never through a proxy.
CHILD_ENV = {
    "PYTHONPATH": os.pathsep.join(filter(None, [str(PROJECT_ROOT), os.environ.get("PYTHONPATH")])),
    "NO_PROXY": "127.0.0.1,localhost",
    "no_proxy": "127.0.0.1,localhost",
}
GONE_TIMEOUT_SEC = 10.0


def our_settings(quota_per_minute: int, quota_per_day: int, max_queue_wait_sec: int) -> dict:
    """What a user sets for a key with this quota: the rate spread evenly over the minute."""
    return {
        "RateLimit": {
            "rateLimitMs": math.ceil(60_000 / quota_per_minute),
            "requestsPerMinute": quota_per_minute,
            "requestsPerDay": quota_per_day,
            "batchSize": 4,
            "maxQueueWaitSec": max_queue_wait_sec,
        }
    }


def ours(fabric: Fabric, directory: Path, settings: dict) -> ServiceProcess:
    """dxlvtservice with a fresh cache (``directory`` is new for every instance)."""
    return ServiceProcess(fabric, directory, "bench-ours", settings, env=CHILD_ENV)


def anchor(fabric: Fabric, directory: Path) -> ServiceProcess:
    """dxlvtapiservice 0.2.0, as shipped, its VirusTotal address pointed at the simulator."""
    return ServiceProcess(
        fabric,
        directory,
        "bench-anchor",
        command=[sys.executable, "-m", "bench.anchor", fabric.simulator_url],
        config_file="dxlvtapiservice.config",
        env=CHILD_ENV,
        # It registers no instance name; only one service of its type runs at a time.
        ready=lambda record: record.get("serviceType") == SERVICE_TYPE,
    )


def echo(fabric: Fabric, directory: Path) -> ServiceProcess:
    return ServiceProcess(
        fabric,
        directory,
        "bench-echo",
        command=[sys.executable, "-m", "bench.echo_service", "bench-echo"],
        config_file="echo.config",
        env=CHILD_ENV,
    )


def registered(observer: DxlClient, service_type: str) -> int:
    """How many services of ``service_type`` the broker's registry lists."""
    query = Request("/mcafee/service/dxl/svcregistry/query")
    query.payload = json.dumps({"serviceType": service_type}).encode()
    response = observer.sync_request(query, timeout=10)
    if isinstance(response, ErrorResponse):
        raise RuntimeError(f"registry query failed: {response.error_message}")
    return len(json.loads(response.payload)["services"])


@contextmanager
def running(
    service: ServiceProcess, observer: DxlClient, service_type: str = SERVICE_TYPE
) -> Iterator[ServiceProcess]:
    """The service, registered; stopped by pid on the way out, whatever happens, and
    then seen gone from the registry, so that the next system has the topic alone."""
    try:
        yield service.start(observer)
    finally:
        service.stop()
    deadline = time.monotonic() + GONE_TIMEOUT_SEC
    while registered(observer, service_type):
        if time.monotonic() > deadline:
            raise RuntimeError(f"{service.name} is still registered after it stopped")
        time.sleep(0.1)
