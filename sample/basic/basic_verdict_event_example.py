"""Receive verdict events: the service publishes each malicious result once (per
indicator and verdict, again at most every eventIntervalSec) for playbooks to act on.

Subscribes, classifies a malicious URL, and prints the event when it arrives.
"""

import threading

from common import CONFIG_FILE, show
from dxlclient.client import DxlClient
from dxlclient.client_config import DxlClientConfig

from dxlvtservice.client import VirusTotalServiceClient

WAIT_SEC = 30
config = DxlClientConfig.create_dxl_config_from_file(CONFIG_FILE)
received = threading.Event()
events = []


def on_verdict(result):
    events.append(result)
    received.set()


with DxlClient(config) as client:
    client.connect()
    vt = VirusTotalServiceClient(client)
    vt.add_verdict_callback(on_verdict)
    vt.classify(url="http://malware.example.com/payload.exe")
    if received.wait(WAIT_SEC):
        show(events[0])
    else:
        print(f"No verdict event within {WAIT_SEC} s: already published for this indicator?")
