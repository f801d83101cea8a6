"""File verdicts into TIE through the fabric: the service, the TIE double, real dxlclient.

A later export that the test waits for is the barrier that proves nothing else
was exported before it: the service exports from one thread, in order.
"""

from __future__ import annotations

import hashlib
import threading
import time

from dxlclient.message import Event

from devfabric.tie import EXTERNAL, FIRST_INSTANCE_TOPIC, GTI, KNOWN_TRUSTED
from devfabric.vtsim.dataset import FILE_HASHES, FileIdentity, v3_file

from .conftest import FAST, answer, request

FILES = {name: hashes["sha256"] for name, hashes in FILE_HASHES.items()}
EXPORT = {**FAST, "TIE": {"exportVerdicts": "yes"}}


def classify(dxl, payload: dict) -> dict:
    return answer(request(dxl, "/classify", payload))


def health(dxl) -> dict:
    return answer(request(dxl, "/health", {}))["tie"]


def wait_for_health(dxl, matches, timeout: float = 60.0) -> dict:
    """Ask /health until ``matches`` its ``tie`` section (a state change has no event)."""
    deadline = time.monotonic() + timeout
    while not matches(current := health(dxl)):
        assert time.monotonic() < deadline, f"health never matched: {current}"
        threading.Event().wait(0.2)
    return current


def meaningful_name(name: str) -> str:
    identity = FileIdentity(**FILE_HASHES[name])
    return v3_file(identity)["data"]["attributes"]["meaningful_name"]


def test_a_malicious_file_is_exported_once_with_all_hashes_and_its_name(
    dxl, start_service, simulator, tie
):
    tie.start()
    start_service(EXPORT)
    assert classify(dxl, {"hash": FILES["malicious"]})["verdict"] == "malicious"
    (report,) = tie.wait_for_reports(1)
    assert (report.provider, report.trust_level) == (EXTERNAL, 1)
    assert report.hashes == FILE_HASHES["malicious"]
    assert report.filename == meaningful_name("malicious")
    assert "58/70" in report.comment
    assert f"https://www.virustotal.com/gui/file/{FILES['malicious']}" in report.comment
    for _ in range(10):
        classify(dxl, {"hash": FILES["malicious"]})
    classify(dxl, {"md5": FILE_HASHES["malicious"]["md5"]})  # the same file by another hash
    classify(dxl, {"hash": FILES["clean"]})  # trusted: the barrier
    reports = tie.wait_for_reports(2)
    assert [(r.hashes["sha256"], r.trust_level) for r in reports] == [
        (FILES["malicious"], 1), (FILES["clean"], 70)
    ]  # fmt: skip
    stats = health(dxl)
    assert (stats["status"], stats["sent"], stats["skipped"], stats["pending"]) == ("ok", 2, 0, 0)


def test_a_file_another_provider_knows_is_not_exported(dxl, start_service, simulator, tie):
    tie.set_reputation(FILE_HASHES["clean"], GTI, KNOWN_TRUSTED)
    tie.start()
    start_service(EXPORT)
    result = classify(dxl, {"hash": [FILES["clean"], FILES["malicious"]]})
    assert [r["verdict"] for r in result["results"]] == ["trusted", "malicious"]
    (report,) = tie.wait_for_reports(1)
    assert report.hashes["sha256"] == FILES["malicious"]
    assert [q["sha256"] for q in tie.queries] == [FILES["clean"], FILES["malicious"]]
    assert health(dxl)["skipped"] == 1


def test_url_domain_and_ip_verdicts_are_never_exported(dxl, start_service, simulator, tie):
    tie.start()
    start_service(EXPORT)
    classify(dxl, {"url": "http://malware.example.com/payload.exe",
                   "domain": "malware.example.com", "ip": "192.0.43.66"})  # fmt: skip
    classify(dxl, {"hash": FILES["malicious"]})  # the barrier
    (report,) = tie.wait_for_reports(1)
    assert report.hashes["sha256"] == FILES["malicious"]
    assert len(tie.queries) == 1


def test_trusted_off_exports_only_malicious_and_v2_reports_name_the_sha256(
    dxl, start_service, simulator, tie
):
    tie.start()
    start_service({**FAST, "VirusTotal": {"apiVersion": 2},
                   "TIE": {"exportVerdicts": "yes", "trustedTrustLevel": "off",
                           "maliciousTrustLevel": 30}})  # fmt: skip
    result = classify(dxl, {"hash": [FILES["clean"], FILES["malicious"]]})
    assert [r["verdict"] for r in result["results"]] == ["trusted", "malicious"]
    (report,) = tie.wait_for_reports(1)
    assert (report.hashes, report.trust_level) == (FILE_HASHES["malicious"], 30)
    assert report.filename == FILES["malicious"]
    assert len(tie.queries) == 1  # TIE was never asked about the trusted file


def test_no_export_when_off(dxl, start_service, simulator, tie):
    tie.start()
    start_service(FAST)
    assert classify(dxl, {"hash": FILES["malicious"]})["verdict"] == "malicious"
    # No exporter exists to send anything later, nor a listener for first instances.
    assert health(dxl) == {"status": "off", "first_instance": {"status": "off"}}
    assert tie.queries == [] and tie.reports == []


def test_an_absent_tie_delays_no_answer_and_exports_wait_until_it_comes(
    dxl, start_service, simulator, tie
):
    start_service(EXPORT)
    for name in ("malicious", "clean", "low"):
        assert classify(dxl, {"hash": FILES[name]})["results"][0]["verdict"] != "report_error"
    stats = wait_for_health(dxl, lambda tie_: tie_["status"] == "unavailable")
    assert "unable to locate service" in stats["last_error"]
    assert stats["pending"] == 2 and stats["sent"] == 0
    tie.start()
    reports = tie.wait_for_reports(2, timeout=90)
    assert {r.hashes["sha256"] for r in reports} == {FILES["malicious"], FILES["clean"]}
    assert wait_for_health(dxl, lambda tie_: tie_["sent"] == 2)["status"] == "ok"


def test_a_hung_tie_delays_no_answer(dxl, start_service, simulator, tie):
    tie.hanging = True
    tie.start()
    start_service(EXPORT)
    classify(dxl, {"hash": FILES["malicious"]})
    tie.wait_for_queries(1)  # the exporter now waits for an answer that does not come
    answers = [classify(dxl, {"hash": FILES[name]}) for name in ("clean", "low", "unknown")]
    assert [a["verdict"] for a in answers] == ["trusted", "no_match", "no_match"]
    stats = health(dxl)
    assert stats["pending"] == 2 and stats["sent"] == 0
    assert stats["awaiting_answer_sec"] is not None
    tie.hanging = False  # after dxltieclient's time-out, the exporter asks again
    reports = tie.wait_for_reports(2, timeout=120)
    assert {r.hashes["sha256"] for r in reports} == {FILES["malicious"], FILES["clean"]}
    assert "in time" in health(dxl)["last_error"]


def test_files_tie_announces_are_classified_and_exported(
    dxl, start_service, simulator, tie, tie_client
):
    tie.start()
    start_service({**EXPORT, "TIE": {"exportVerdicts": "yes", "enrichFirstInstance": "yes"}})
    garbage = Event(FIRST_INSTANCE_TOPIC)
    garbage.payload = b'{"agentGuid": "{a}", "hashes": [{"type": "md5", "value": "%%%"}]}'
    tie_client.send_event(garbage)
    tie.publish_first_instance(FILE_HASHES["malicious"], "new.exe")
    (report,) = tie.wait_for_reports(1)  # nobody asked the service: the announcement did
    assert (report.hashes, report.trust_level) == (FILE_HASHES["malicious"], 1)
    assert simulator.stats()["calls"] >= 1
    counted = {"status": "on", "enriched": 1, "ignored": 1, "dropped": 0, "in_flight": 0}
    wait_for_health(dxl, lambda tie_: tie_["first_instance"] == counted)


def new_file(i: int) -> dict[str, str]:
    """Hashes of a file nobody looked up before (VirusTotal does not know it)."""
    seed = f"first-instance-flood-{i}".encode()
    return {kind: hashlib.new(kind, seed).hexdigest() for kind in ("md5", "sha1", "sha256")}


def background_units_by_minute(log: list[dict], background: set[str]) -> list[int]:
    """For each metered call, the background units in the minute that starts with it."""
    return [
        sum(c["units"] for c in log
            if start["at"] <= c["at"] < start["at"] + 60 and set(c["resources"]) <= background)
        for start in log
    ]  # fmt: skip


def test_a_first_instance_flood_leaves_interactive_requests_their_quota(
    dxl, start_service, simulator, tie
):
    """40 announced files under 8 units a minute, a quarter for the background: an
    interactive classify sent while background lookups wait goes before them and is
    answered with its report, and the background never took more than 2 units of any
    minute (from the simulator's own log) over the two minutes it worked."""
    simulator.configure(quota_per_minute=8)
    tie.start()
    start_service({"RateLimit": {"rateLimitMs": 0, "requestsPerMinute": 8,
                                 "requestsPerDay": "unlimited", "maxQueueWaitSec": 90},
                   "TIE": {"enrichFirstInstance": "yes", "backgroundShare": 0.25}})  # fmt: skip
    flood = [new_file(i) for i in range(40)]
    for hashes in flood:
        tie.publish_first_instance(hashes, "new.exe")
    # Two background lookups went; those that fit the deadline wait for the next minute.
    wait_for_health(dxl, lambda tie_: tie_["first_instance"]["enriched"] == 38)
    queue = answer(request(dxl, "/health", {}))["queue"]
    assert queue["background"]["waiting"] == 2 and queue["background"]["units_spent"] == 2
    result = classify(dxl, {"hash": FILES["malicious"]})["results"][0]
    assert (result["verdict"], result["error"], result["cached"]) == ("malicious", None, False)
    health = answer(request(dxl, "/health", {}))
    assert health["queue"]["background"]["waiting"] == 2  # still waiting: it went first
    assert health["quota"]["background"]["per_minute"] == {"limit": 2, "used": 2}
    wait_for_health(dxl, lambda tie_: tie_["first_instance"]["enriched"] == 40, timeout=120)
    log = simulator.log()
    background = {h for hashes in flood for h in hashes.values()}
    assert sum(c["units"] for c in log if set(c["resources"]) <= background) == 4
    assert max(background_units_by_minute(log, background)) <= 2
    assert [c["resources"] for c in log if FILES["malicious"] in c["resources"]] == [
        [FILES["malicious"]]
    ]
