"""The demo: the service on a local development fabric, against the VirusTotal simulator.

Starts the broker double and the simulator, runs dxlvtservice as a real
process, sends it requests with dxlclient and the PyPI ``dxlvtapiclient``,
prints what comes back, and stops everything it started. Run: ``./dev demo``.
"""

from __future__ import annotations

import json
import sys
import tempfile
import threading
from pathlib import Path

from dxlclient.callbacks import EventCallback
from dxlclient.client import DxlClient
from dxlclient.client_config import DxlClientConfig
from dxlclient.message import ErrorResponse, Request
from dxlvtapiclient.client import VirusTotalApiClient

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from devfabric import Fabric
from devfabric.services import SERVICE_TYPE, ServiceProcess
from devfabric.vtsim.dataset import EXAMPLES

SETTINGS = {
    # A generous key so that the demo takes seconds; the defaults suit a public key.
    "RateLimit": {"rateLimitMs": 250, "requestsPerMinute": 120},
    "Classification": {"internalDomains": "corp.example.com", "publishVerdicts": "malicious"},
}


def ask(client: DxlClient, suffix: str, payload: dict) -> dict:
    request = Request(SERVICE_TYPE + suffix)
    request.payload = json.dumps(payload).encode()
    response = client.sync_request(request, timeout=60)
    if isinstance(response, ErrorResponse):
        raise RuntimeError(f"error {response.error_code}: {response.error_message}")
    return json.loads(response.payload)


def show(title: str, answer: dict) -> None:
    print(f"\n== {title}: overall verdict {answer['verdict'].upper()}")
    for result in answer["results"]:
        origin = "not sent" if result["error"] else "cache" if result["cached"] else "VirusTotal"
        print(
            f"   {result['verdict']:<15} {result['type']:<6} {result['indicator'][:60]:<60}"
            f"  {result['reason']}  [{origin}]"
        )


class VerdictEvents(EventCallback):
    def __init__(self) -> None:
        super().__init__()
        self.received: list[dict] = []
        self.lock = threading.Lock()

    def on_event(self, event) -> None:
        with self.lock:
            self.received.append(json.loads(event.payload))


def demo(workdir: Path) -> int:
    with Fabric(workdir / "fabric") as fabric:
        config = fabric.write_client_config(workdir / "client", "demo-client")
        client = DxlClient(DxlClientConfig.create_dxl_config_from_file(str(config)))
        client.connect()
        events = VerdictEvents()
        client.add_event_callback("/opendxl-virustotal/event/verdict", events)
        service = ServiceProcess(fabric, workdir / "service", "demo-service", SETTINGS)
        try:
            service.start(client)
            print(f"dxlvtservice is registered on the fabric (pid {service.pid})")
            vt = VirusTotalApiClient(client)
            files = EXAMPLES["file"]
            reports = vt.file_report([files["malicious"], files["clean"], files["unknown"]])
            print("\n== dxlvtapiclient file_report for three hashes (compatible topic):")
            for report in reports:
                detections = (
                    f"{report['positives']}/{report['total']}" if "positives" in report else "-"
                )
                print(f"   {report['resource']}  response_code={report['response_code']}"
                      f"  detections={detections}")  # fmt: skip

            seed = {"domain": EXAMPLES["domain"]["malicious"], "url": EXAMPLES["url"]["malicious"]}
            show("classify search_within (the seed's example)", ask(
                client, "/classify", {"search_within": seed}))  # fmt: skip
            text = (
                f"Beacon to hxxp://{EXAMPLES['domain']['malicious'].replace('.', '[.]')}/gate "
                f"from 10.0.0[.]1, dropper sha256 {files['malicious']}, "
                f"and a clean {files['clean']}; notes on wiki.corp.example.com."
            )
            show("classify free text (defanged)", ask(client, "/classify", {"text": text}))
            show("classify the same again (from the cache)", ask(
                client, "/classify", {"text": text}))  # fmt: skip
            analyzed = ask(client, "/analyze", {
                "type": "file", "report": {"response_code": 1, "positives": 3, "total": 70},
                "rules": {"malicious_positives": 3}})  # fmt: skip
            print(f"\n== analyze a report you already have: {analyzed['verdict']} "
                  f"({analyzed['reason']})")  # fmt: skip
            health = ask(client, "/health", {})
            quota, cache = health["quota"], health["cache"]
            print(f"\n== health: upstream {health['upstream']['status']}, "
                  f"{quota['per_minute']['used']} calls in the last minute, "
                  f"cache {cache['entries']} entries / {cache['hits']} hits / "
                  f"{cache['misses']} misses")  # fmt: skip
            stats = fabric.simulator.stats()
            print(f"== the simulator saw {stats['calls']} calls for the whole demo")
        finally:
            code = service.stop()
            client.destroy()
        with events.lock:
            print(f"== {len(events.received)} malicious verdict events were published")
        print(f"\ndxlvtservice stopped with exit code {code}; fabric stopped.")
        return 0 if code == 0 else 1


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="dxlvt-demo-") as workdir:
        return demo(Path(workdir))


if __name__ == "__main__":
    sys.exit(main())
