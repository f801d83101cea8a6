"""Report.from_dict: v2 and v3 reports, errors and the v3 attributes the verdict rules read."""

import pytest

from dxlvtservice.core.reports import Report, Status

SHA256 = "ec4f15f2ab986db001d08fe62073d3ae68378941529e392733092bd840998970"


def v3(**attributes):
    stats = {"malicious": 3, "suspicious": 2, "undetected": 50, "harmless": 5, "timeout": 4,
             "confirmed-timeout": 1, "failure": 1, "type-unsupported": 6}  # fmt: skip
    return {"data": {"type": "file", "id": SHA256,
                     "attributes": {"last_analysis_stats": stats, **attributes}}}  # fmt: skip


@pytest.mark.parametrize(
    ("type_", "raw", "status", "code"),
    [
        ("file", {"response_code": 1, "positives": 2, "total": 70}, Status.FOUND, 1),
        ("file", {"response_code": 0}, Status.NOT_FOUND, 0),
        ("file", {"response_code": -2}, Status.QUEUED, -2),
        ("url", {"response_code": 1, "scan_id": "x-1"}, Status.QUEUED, 1),
        ("file", {"response_code": -1}, Status.ERROR, -1),
        ("domain", {"response_code": 1, "detected_urls": []}, Status.FOUND, 1),
        ("file", v3(), Status.FOUND, 1),
        ("file", v3()["data"], Status.FOUND, 1),
        ("file", {"error": {"code": "NotFoundError", "message": "x"}}, Status.NOT_FOUND, 0),
        ("file", {"error": {"code": "QuotaExceededError", "message": "x"}}, Status.ERROR, None),
        ("file", {"error": "gone"}, Status.ERROR, None),
        ("file", [1], Status.ERROR, None),
        ("file", {"data": {"attributes": {}}}, Status.ERROR, None),
    ],
)
def test_status(type_, raw, status, code):
    report = Report.from_dict(type_, raw)
    assert (report.status, report.response_code) == (status, code)


def test_v3_total_counts_only_opinions():
    report = Report.from_dict("file", v3())
    assert (report.positives, report.suspicious, report.total) == (3, 2, 60)


def test_v2_figures_and_names():
    raw = {"response_code": 1, "positives": 2, "total": 70, "md5": "A" * 32, "sha256": SHA256,
           "scans": {"Avast": {"detected": True}, "Bkav": {"detected": False}}}  # fmt: skip
    report = Report.from_dict("file", raw)
    assert (report.api, report.positives, report.total) == (2, 2, 70)
    assert report.results == {"Avast": "malicious", "Bkav": "undetected"}
    assert report.hashes == ("a" * 32, SHA256)


def test_v2_heuristic_count():
    raw = {"response_code": 1, "detected_urls": [{}] * 2, "detected_referrer_samples": [{}],
           "detected_communicating_samples": [{}] * 9}  # fmt: skip
    assert Report.from_dict("domain", raw).heuristic == 3
    assert Report.from_dict("ip", raw).heuristic == 11
    assert Report.from_dict("ip", {"response_code": 1, "detected_urls": "x"}).heuristic is None


def test_v3_attributes_the_rules_read():
    raw = v3(
        md5="B" * 32,
        meaningful_name="setup.exe",
        last_analysis_results={"CrowdStrike": {"category": "malicious"}, "Bad": "x"},
        popularity_ranks={"Tranco": {"rank": 9, "timestamp": 10}, "Broken": {"rank": "1"}},
        known_distributors={"distributors": ["Microsoft", 3]},
        trusted_verdict={"verdict": "goodware", "organization": "Google"},
        crowdsourced_yara_results=[{"rule_name": "a"}, {"rule_name": "b"}],
        sigma_analysis_stats={"critical": 1, "high": 2, "medium": "x"},
        crowdsourced_ids_stats={"high": 4, "info": 1},
        gti_assessment={"verdict": {"value": "VERDICT_BENIGN"}},
    )
    report = Report.from_dict("file", raw)
    assert report.results == {"CrowdStrike": "malicious"}
    assert report.popularity_ranks == {"Tranco": (9, 10)}
    assert report.known_distributors == ("Microsoft",)
    assert report.trusted_verdict["verdict"] == "goodware"
    assert report.yara_rules == 2
    assert report.sigma_stats == {"critical": 1, "high": 2}
    assert report.ids_stats == {"high": 4, "info": 1}
    assert report.gti_verdict == "VERDICT_BENIGN"
    assert (report.md5, report.meaningful_name) == ("B" * 32, "setup.exe")


@pytest.mark.parametrize("garbage", [None, [], "x", {"verdict": "VERDICT_MALICIOUS"}])
def test_garbage_v3_attributes_read_as_absent(garbage):
    raw = v3(popularity_ranks=garbage, known_distributors=garbage, trusted_verdict=garbage,
             crowdsourced_yara_results=garbage, sigma_analysis_stats=garbage,
             crowdsourced_ids_stats=garbage, gti_assessment=garbage)  # fmt: skip
    report = Report.from_dict("file", raw)
    assert report.found
    assert not report.popularity_ranks and not report.known_distributors
    assert report.yara_rules == 0 and not report.sigma_stats and not report.ids_stats
    assert report.gti_verdict is None
