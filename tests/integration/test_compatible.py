"""The six compatible topics, through the broker double, with the real dxlvtapiclient."""

from __future__ import annotations

import json
import threading
from datetime import datetime

import pytest
import requests
from dxlclient.message import ErrorResponse, Request
from dxlvtapiclient.client import VirusTotalApiClient

from devfabric.services import SERVICE_TYPE
from devfabric.vtsim.dataset import EXAMPLES

from .conftest import FAST, answer, request

TOPICS = ["/file/report", "/file/rescan", "/url/report", "/url/scan",
          "/ip-address/report", "/domain/report"]  # fmt: skip


def upstream(fabric, endpoint: str, method: str = "GET", **params):
    """What the simulator itself answers, asked directly."""
    params["apikey"] = fabric.api_key
    carrier = "params" if method == "GET" else "data"
    url = f"{fabric.simulator_url}/vtapi/v2/{endpoint}"
    response = requests.request(method, url, timeout=10, **{carrier: params})
    response.raise_for_status()
    return response.json()


@pytest.fixture
def service(start_service, simulator):
    return start_service(FAST)


def test_dxlvtapiclient_gets_exactly_the_simulators_json(fabric, dxl, service, simulator):
    simulator.configure(premium=True)  # file/rescan is premium API: 403 to a public key
    client = VirusTotalApiClient(dxl)
    files = EXAMPLES["file"]
    hashes = [files["malicious"], files["clean"], files["unknown"]]
    url = EXAMPLES["url"]["malicious"]
    ip = EXAMPLES["ip"]["malicious"]
    domain = EXAMPLES["domain"]["malicious"]

    assert client.file_report(files["low"]) == upstream(
        fabric, "file/report", resource=files["low"]
    )
    listed = client.file_report(hashes)
    assert isinstance(listed, list) and len(listed) == 3
    assert [r["resource"] for r in listed] == hashes
    assert listed == upstream(fabric, "file/report", resource=",".join(hashes))
    assert client.url_report(url) == upstream(fabric, "url/report", resource=url)
    assert client.ip_report(ip) == upstream(fabric, "ip-address/report", ip=ip)
    assert client.domain_report(domain) == upstream(fabric, "domain/report", domain=domain)

    scanned = client.url_scan(url)
    assert scanned == upstream(fabric, "url/scan", "POST", url=url)
    rescanned = client.file_rescan(files["malicious"])
    expected = upstream(fabric, "file/rescan", "POST", resource=files["malicious"])
    assert rescanned["response_code"] == expected["response_code"] == 1
    assert rescanned["sha256"] == expected["sha256"]


def test_registers_every_topic_and_comes_back_after_restart(dxl, start_service, simulator):
    service = start_service(FAST)

    def registered():
        reply = answer(dxl.sync_request(_query({"serviceType": SERVICE_TYPE}), timeout=10))
        return [
            record for record in reply["services"].values()
            if record.get("metaData", {}).get("instance") == service.name
        ]  # fmt: skip

    records = registered()
    assert len(records) == 1
    channels = set(records[0]["requestChannels"])
    assert {SERVICE_TYPE + t for t in [*TOPICS, "/classify", "/analyze", "/health"]} <= channels

    assert service.stop() == 0
    assert registered() == []
    service.start(dxl)
    assert len(registered()) == 1
    domain = EXAMPLES["domain"]["clean"]
    assert answer(request(dxl, "/domain/report", {"domain": domain}))["response_code"] == 1


def _query(payload: dict) -> Request:
    message = Request("/mcafee/service/dxl/svcregistry/query")
    message.payload = json.dumps(payload).encode()
    return message


BAD_REQUESTS = [
    ("/file/report", b"this is not json"),
    ("/file/report", b'["a list"]'),
    ("/file/report", b"{}"),
    ("/file/report", {"resource": "not-a-hash"}),
    ("/file/report", {"resource": "a" * 33}),
    ("/ip-address/report", {"ip": "300.1.2.3"}),
    ("/domain/report", {"domain": "no spaces.example"}),
    ("/url/report", {"resource": "ftp//broken"}),
    ("/url/scan", {"url": 42}),
    ("/domain/report", {"domain": ""}),
]


class Counter:
    """Counts responses per request id, to show each request gets exactly one."""

    def __init__(self) -> None:
        self.by_request: dict[str, list] = {}
        self.lock = threading.Lock()
        self.done = threading.Condition(self.lock)

    def on_response(self, response) -> None:
        with self.lock:
            self.by_request.setdefault(response.request_message_id, []).append(response)
            self.done.notify_all()

    def wait_for(self, count: int, timeout: float = 60) -> bool:
        with self.lock:
            return self.done.wait_for(lambda: len(self.by_request) >= count, timeout)


def send_async(dxl, counter: Counter, suffix: str, payload) -> str:
    message = Request(SERVICE_TYPE + suffix)
    message.payload = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    dxl.async_request(message, _Callback(counter.on_response))
    return message.message_id


class _Callback:
    """dxlclient wants a ResponseCallback-like object with on_response."""

    def __init__(self, function) -> None:
        self.on_response = function


def test_bad_input_gets_400_and_exactly_one_answer_each(dxl, service):
    counter = Counter()
    ids = [send_async(dxl, counter, topic, payload) for topic, payload in BAD_REQUESTS]
    assert counter.wait_for(len(ids))
    # A final good request, answered after all of the above, closes the window
    # in which a duplicate answer could still arrive.
    good = answer(request(dxl, "/domain/report", {"domain": EXAMPLES["domain"]["clean"]}))
    assert good["response_code"] == 1
    for message_id, (topic, payload) in zip(ids, BAD_REQUESTS, strict=True):
        responses = counter.by_request[message_id]
        assert len(responses) == 1, (topic, payload)
        assert isinstance(responses[0], ErrorResponse), (topic, payload)
        assert responses[0].error_code == 400, (topic, payload, responses[0].error_message)
        assert responses[0].error_message.strip()
    assert set(counter.by_request) == set(ids)


def test_upstream_failures_map_to_error_codes(dxl, start_service, simulator):
    service = start_service({**FAST, "VirusTotal": {"requestTimeoutSec": 1}})
    domain = EXAMPLES["domain"]["low"]
    cases = [("reject_key", 401, "unauthorized"), ("garbage", 502, "unreachable"),
             ("hang", 504, "unreachable")]  # fmt: skip
    errors = []
    for fault, code, status in cases:
        simulator.reset()
        simulator.configure(fault=fault)
        response = request(dxl, "/domain/report", {"domain": domain})
        assert isinstance(response, ErrorResponse), fault
        assert response.error_code == code, (fault, response.error_message)
        errors.append(response.error_message)
        assert answer(request(dxl, "/health", {}))["upstream"]["status"] == status
    simulator.reset()
    assert answer(request(dxl, "/domain/report", {"domain": domain}))["response_code"] == 1
    assert answer(request(dxl, "/health", {}))["upstream"]["status"] == "ok"
    key = service.fabric.api_key
    assert all(key not in message for message in errors)
    assert key not in service.log_text()


def test_api_key_never_leaks(fabric, dxl, start_service, simulator):
    service = start_service({**FAST, "VirusTotal": {"requestTimeoutSec": 1}})
    seen = []
    for fault in (None, "reject_key", "garbage", "http500", "hang"):
        simulator.reset()
        if fault:
            simulator.configure(fault=fault)
        for topic, payload in [
            ("/file/report", {"resource": EXAMPLES["file"]["malicious"]}),
            ("/url/scan", {"url": EXAMPLES["url"]["clean"]}),
            ("/health", {}),
            ("/file/report", b"{bad"),
        ]:
            response = request(dxl, topic, payload)
            seen.append(response.payload.decode("utf-8", "replace"))
            if isinstance(response, ErrorResponse):
                seen.append(response.error_message)
    simulator.reset()
    assert service.stop() == 0
    key = fabric.api_key
    assert not [text for text in seen if key in text]
    log = service.log_text()
    assert log.strip(), "the service logged nothing"
    assert key not in log
    cache_files = b"".join(
        path.read_bytes() for path in service.directory.joinpath("cache").rglob("*")
        if path.is_file()
    )  # fmt: skip
    assert key.encode() not in cache_files


def test_internal_indicators_are_refused_with_403(dxl, service, simulator):
    before = simulator.stats()["calls"]
    response = request(dxl, "/ip-address/report", {"ip": "10.1.2.3"})
    assert isinstance(response, ErrorResponse) and response.error_code == 403
    assert "internal" in response.error_message
    assert simulator.stats()["calls"] == before


def test_submissions_can_be_disabled(dxl, start_service, simulator):
    start_service({**FAST, "VirusTotal": {"allowSubmissions": "no"}})
    for topic, payload in [
        ("/url/scan", {"url": EXAMPLES["url"]["clean"]}),
        ("/file/rescan", {"resource": EXAMPLES["file"]["clean"]}),
        ("/url/report", {"resource": EXAMPLES["url"]["clean"], "scan": "1"}),
    ]:
        response = request(dxl, topic, payload)
        assert isinstance(response, ErrorResponse) and response.error_code == 403, topic
    assert simulator.stats()["calls"] == 0


def test_list_requests_are_served_per_item_from_the_cache(dxl, service, simulator):
    urls = EXAMPLES["url"]
    first = answer(request(dxl, "/url/report", {"resource": urls["malicious"]}))
    both = answer(request(dxl, "/url/report", {"resource": f"{urls['malicious']}\n{urls['low']}"}))
    assert [r["url"] for r in both] == [urls["malicious"], urls["low"]]
    assert both[0] == first
    assert simulator.stats()["resources_by_endpoint"]["v2/url/report"] == [
        urls["malicious"], urls["low"]]  # fmt: skip


def test_scan_ids_and_alternate_hashes(dxl, service, simulator):
    report = answer(request(dxl, "/file/report", {"resource": EXAMPLES["file"]["low"]}))
    by_scan_id = answer(request(dxl, "/file/report", {"resource": report["scan_id"]}))
    assert by_scan_id["sha256"] == report["sha256"]
    by_sha1 = answer(request(dxl, "/file/report", {"resource": report["sha1"].upper()}))
    assert by_sha1 == {**report, "resource": report["sha1"].upper()}
    assert simulator.stats()["calls"] == 2  # the sha1 came from the cache


BAD_RESCAN_OPTIONS = [
    ({"notify_url": "\ud800"}, "not valid Unicode"),
    ({"notify_url": "http://hooks.corp.example/x"}, "'notify_url' names an internal host"),
    ({"notify_url": "http://192.168.1.20/x"}, "'notify_url' names an internal host"),
    ({"notify_url": "ftp://hooks.example.com/x"}, "'notify_url' must be an http:// or https://"),
    ({"date": "2026-12-24"}, "'date' must be a date and time as YYYYMMDDhhmmss"),
    ({"period": 0}, "'period' must be a whole number >= 1"),
    ({"period": 2, "repeat": "twice"}, "'repeat' must be a whole number >= 1"),
    ({"notify_changes_only": "yes", "notify_url": "https://hooks.example.com/"},
     "'notify_changes_only' must be true or false"),
]  # fmt: skip


def test_rescan_options_are_checked_before_anything_goes_upstream(dxl, start_service, simulator):
    """Each bad option is a 400 naming it, and the simulator sees no call; with good options
    (sent by the real dxlvtapiclient, in its forms) the same rescan does go upstream.
    """
    start_service({**FAST, "Classification": {"internalDomains": "corp.example"}})
    simulator.configure(premium=True)  # file/rescan is premium API: 403 to a public key
    resource = EXAMPLES["file"]["malicious"]
    for options, reason in BAD_RESCAN_OPTIONS:
        response = request(dxl, "/file/rescan", {"resource": resource, **options})
        assert isinstance(response, ErrorResponse), options
        assert response.error_code == 400, (options, response.error_message)
        assert reason in response.error_message, options
    assert simulator.stats()["calls"] == 0

    rescanned = VirusTotalApiClient(dxl).file_rescan(
        resource, date=datetime(2030, 7, 25, 17), period=3, repeat=2,
        notify_url="https://hooks.example.com/vt", notify_changes_only=True,
    )  # fmt: skip
    assert rescanned["response_code"] == 1
    assert simulator.stats()["calls_by_endpoint"] == {"v2/file/rescan": 1}
