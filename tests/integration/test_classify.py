"""classify and analyze through the fabric."""

from __future__ import annotations

import json

import pytest
from dxlclient.message import ErrorResponse

from devfabric.vtsim.dataset import EXAMPLES

from .conftest import FAST, answer, request

SHA256 = "275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f"


def classify(dxl, payload: dict) -> dict:
    return answer(request(dxl, "/classify", payload))


def by_indicator(reply: dict) -> dict[str, dict]:
    return {result["indicator"]: result for result in reply["results"]}


@pytest.fixture
def service(start_service, simulator):
    return start_service(FAST)


def test_seed_example_runs_one_domain_and_one_url_lookup(dxl, service, simulator):
    seed = {"domain": "baddomain.com", "url": "https://baddomain.com/path/to/file"}
    reply = classify(dxl, {"search_within": seed})
    assert [(r["type"], r["indicator"]) for r in reply["results"]] == [
        ("domain", "baddomain.com"),
        ("url", "https://baddomain.com/path/to/file"),
    ]
    calls = simulator.stats()["calls_by_endpoint"]
    assert calls == {"v3/domains": 1, "v3/urls": 1}
    assert sum(reply["summary"].values()) == 2
    for result in reply["results"]:
        assert result["reason"] and result["permalink"].startswith("https://www.virustotal.com/")
        assert result["cached"] is False and result["age"] == 0 and result["error"] is None


def test_free_text_with_defanged_indicators(dxl, service, simulator):
    text = f"Callback to hxxps://evil[.]example/a from 10.0.0[.]1; dropper {SHA256} seen."
    results = by_indicator(classify(dxl, {"text": text}))
    assert set(results) == {"https://evil.example/a", "10.0.0.1", SHA256}
    internal = results["10.0.0.1"]
    assert internal["verdict"] == "report_missing"
    assert internal["reason"] == "not submitted: internal"
    seen = [r for rs in simulator.stats()["resources_by_endpoint"].values() for r in rs]
    assert not [resource for resource in seen if "10.0.0.1" in resource]
    assert SHA256 in seen


def test_jsonata_expression_limits_the_search(dxl, service):
    message = {"alert": {"ioc": {"domain": "inside.example.com"}},
               "context": {"domain": "outside.example.com", "note": "see 203.0.113.9"}}  # fmt: skip
    everything = by_indicator(classify(dxl, {"search_within": message}))
    assert {"inside.example.com", "outside.example.com"} <= set(everything)
    limited = classify(dxl, {"search_within": message, "expression": "alert.ioc"})
    assert [r["indicator"] for r in limited["results"]] == ["inside.example.com"]


# What the verdict rules (README) predict for the simulator's examples (DATASET.md) with
# maliciousPositives 5, trustedPositives 1 and both heuristic thresholds 10.
EXPECTED = {
    3: {
        ("file", "malicious"): "malicious", ("file", "low"): "no_match",
        ("file", "clean"): "trusted", ("file", "unknown"): "no_match",
        ("file", "queued"): "no_match",
        ("url", "malicious"): "malicious", ("url", "low"): "no_match",
        ("url", "clean"): "trusted", ("url", "unknown"): "no_match",
        ("domain", "malicious"): "malicious", ("domain", "low"): "no_match",
        ("domain", "clean"): "trusted", ("domain", "boundary"): "no_match",
        ("domain", "unknown"): "no_match",
        ("ip", "malicious"): "malicious", ("ip", "low"): "no_match",
        ("ip", "clean"): "trusted", ("ip", "boundary"): "no_match",
        ("ip", "unknown"): "no_match",
    },
    2: {
        ("file", "malicious"): "malicious", ("file", "low"): "no_match",
        ("file", "clean"): "trusted", ("file", "unknown"): "no_match",
        ("file", "queued"): "report_error",
        ("url", "malicious"): "malicious", ("url", "low"): "no_match",
        ("url", "clean"): "trusted", ("url", "unknown"): "no_match",
        # v2 domain / IP reports: the heuristic (22 and 20 > 10; 10 == 10 is no match).
        ("domain", "malicious"): "malicious", ("domain", "low"): "no_match",
        ("domain", "clean"): "no_match", ("domain", "boundary"): "no_match",
        ("domain", "unknown"): "no_match",
        ("ip", "malicious"): "malicious", ("ip", "low"): "no_match",
        ("ip", "clean"): "no_match", ("ip", "boundary"): "no_match",
        ("ip", "unknown"): "no_match",
    },
}  # fmt: skip
FIELDS = {"file": "hash", "url": "url", "domain": "domain", "ip": "ip"}


@pytest.mark.parametrize("api", [2, 3])
def test_api_versions_give_the_predicted_verdicts(dxl, start_service, simulator, api):
    start_service({**FAST, "VirusTotal": {"apiVersion": api},
                   "Classification": {"domainDetectionsThreshold": 10,
                                      "ipDetectionsThreshold": 10}})  # fmt: skip
    for (type_, example), verdict in EXPECTED[api].items():
        value = EXAMPLES[type_][example]
        result = classify(dxl, {FIELDS[type_]: value})["results"][0]
        assert result["verdict"] == verdict, (api, type_, example, result["reason"])
    endpoints = simulator.stats()["calls_by_endpoint"]
    assert all(name.startswith(f"v{api}/") for name in endpoints)


@pytest.mark.parametrize(("type_", "topic", "field", "rule"), [
    ("domain", "/domain/report", "domain", "domain_detections"),
    ("ip", "/ip-address/report", "ip", "ip_detections"),
])  # fmt: skip
def test_heuristic_boundary_on_a_fetched_v2_report(dxl, service, type_, topic, field, rule):
    # The boundary examples have exactly 10 heuristic detections (DATASET.md).
    report = answer(request(dxl, topic, {field: EXAMPLES[type_]["boundary"]}))

    def analyze(threshold: int) -> dict:
        payload = {"type": type_, "report": report, "rules": {rule: threshold}}
        return answer(request(dxl, "/analyze", payload))

    assert analyze(9)["verdict"] == "malicious"
    at_threshold = analyze(10)
    assert at_threshold["verdict"] == "no_match"
    assert at_threshold["positives"] == 10
    assert at_threshold["positives_source"] == "heuristic"
    assert at_threshold["confidence"] is None


@pytest.mark.parametrize(
    "payload",
    [
        {},
        {"unrelated": "field"},
        {"domain": "example.com", "rules": {"malicious_positives": 0}},
        {"domain": "example.com", "rules": {"trusted_positives": "never"}},
        {"hash": "not-a-hash"},
        {"text": " ".join(f"host{i}.example.com" for i in range(101))},
        {"search_within": {"a": 1}, "expression": "$$$("},
        {"domain": "example.com", "max_age": -1},
    ],
)
def test_bad_classify_requests_get_400(dxl, service, payload):
    response = request(dxl, "/classify", payload)
    assert isinstance(response, ErrorResponse)
    assert response.error_code == 400, response.error_message


def test_hostile_megabyte_of_text_is_answered_or_refused(dxl, service):
    text = ("[.]" * 7 + "hxxp://" + ":" * 13 + "1.2.3." + "a" * 30 + "\n") * 17000
    response = request(dxl, "/classify", {"text": text[:1_000_000]}, timeout=60)
    if isinstance(response, ErrorResponse):
        assert response.error_code == 400
    else:
        assert "verdict" in json.loads(response.payload)
    assert answer(request(dxl, "/health", {}))["version"]


def test_nothing_found_is_report_missing(dxl, service):
    reply = classify(dxl, {"text": "nothing to see here"})
    assert reply == {"verdict": "report_missing", "results": [], "summary": {
        "malicious": 0, "trusted": 0, "no_match": 0, "report_missing": 0, "report_error": 0}}


def test_quota_without_a_slot_gives_report_missing_with_retry_after(dxl, start_service):
    start_service({"RateLimit": {"rateLimitMs": 0, "requestsPerMinute": 1,
                                 "maxQueueWaitSec": 2}})  # fmt: skip
    classify(dxl, {"domain": "first.example.com"})
    result = classify(dxl, {"domain": "second.example.com"})["results"][0]
    assert result["verdict"] == "report_missing"
    assert result["error"]["code"] == 429
    assert 0 < result["error"]["retry_after"] <= 60


def test_upstream_errors_stay_in_their_results(dxl, service, simulator):
    simulator.configure(fault="garbage")
    reply = classify(dxl, {"domain": "garbage.example.com"})
    assert reply["verdict"] == "report_error"
    assert reply["results"][0]["error"]["code"] == 502


def test_cache_age_max_age_and_include_report(dxl, service, simulator):
    domain = {"domain": EXAMPLES["domain"]["low"]}
    first = classify(dxl, {**domain, "include_report": True})["results"][0]
    assert first["report"]["data"]["id"] == EXAMPLES["domain"]["low"]
    again = classify(dxl, domain)["results"][0]
    assert again["cached"] is True and "report" not in again
    forced = classify(dxl, {**domain, "max_age": 0})["results"][0]
    assert forced["cached"] is False
    assert simulator.stats()["calls"] == 2


def test_analyze(dxl, service):
    def analyze(payload: dict) -> dict:
        return answer(request(dxl, "/analyze", payload))

    assert analyze({"type": "file", "report": None})["verdict"] == "report_missing"
    assert analyze({"type": "url", "report": {"response_code": -2}})["verdict"] == "report_error"
    v3 = {"data": {"attributes": {"last_analysis_stats": {"malicious": 7, "undetected": 63}}}}
    result = analyze({"type": "file", "report": v3})
    assert (result["verdict"], result["positives"], result["total"]) == ("malicious", 7, 70)
    assert result["cached"] is False and result["age"] is None
    rules = {"malicious_positives": 8}
    assert analyze({"type": "file", "report": v3, "rules": rules})["verdict"] == "no_match"
    bad = request(dxl, "/analyze", {"type": "mutex", "report": {}})
    assert isinstance(bad, ErrorResponse) and bad.error_code == 400
