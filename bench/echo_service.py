"""The floor: a DXL service that answers each request with its own payload, and nothing else.

It uses the same client library, broker and incoming-message thread
count (dxlbootstrap's default of 10) as dxlvtservice, so the difference
between the two is the cost of our cache-hit path.
Usage: ``python -m bench.echo_service NAME CONFIG_DIR``.
"""

from __future__ import annotations

import signal
import sys
import threading
from pathlib import Path

from dxlclient.callbacks import RequestCallback
from dxlclient.client import DxlClient
from dxlclient.client_config import DxlClientConfig
from dxlclient.message import Request, Response
from dxlclient.service import ServiceRegistrationInfo

ECHO_SERVICE_TYPE = "/bench/echo"
ECHO_TOPIC = ECHO_SERVICE_TYPE + "/file/report"
INCOMING_THREADS = 10
REGISTRATION_TIMEOUT_SEC = 10


class Echo(RequestCallback):
    def __init__(self, client: DxlClient) -> None:
        super().__init__()
        self._client = client

    def on_request(self, request: Request) -> None:
        response = Response(request)
        response.payload = request.payload
        self._client.send_response(response)


def main(argv: list[str]) -> int:
    name, config_dir = argv
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    config = DxlClientConfig.create_dxl_config_from_file(str(Path(config_dir, "dxlclient.config")))
    config.incoming_message_thread_pool_size = INCOMING_THREADS
    with DxlClient(config) as client:
        client.connect()
        service = ServiceRegistrationInfo(client, ECHO_SERVICE_TYPE)
        service.metadata = {"instance": name}
        service.add_topic(ECHO_TOPIC, Echo(client))
        client.register_service_sync(service, REGISTRATION_TIMEOUT_SEC)
        stop.wait()
        client.unregister_service_sync(service, REGISTRATION_TIMEOUT_SEC)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
