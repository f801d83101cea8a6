"""Report.from_dict: v2 and v3 reports, errors and the v3 attributes the verdict rules read.

Shapes follow VirusTotal's API reference (v2: ``response_code`` 1 found, 0 not
found, -2 still queued; a batch answers a list whose items echo ``resource``;
v3: a JSON:API ``data`` object, or ``{"error": {"code": "NotFoundError"}}``).
"""

import pytest

from dxlvtservice.core.reports import (
    Report,
    Status,
    answered_for,
    echoes,
    error_code,
    is_v3_object,
)

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
        ("file", {"data": {"attributes": {}}}, Status.INCOMPLETE, None),
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
    assert (report.md5, report.sha1, report.sha256) == ("A" * 32, None, SHA256)
    assert report.file_hashes is None  # a sha1 is missing


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


MD5, SHA1 = "a" * 32, "b" * 40
V2_FILE = {"response_code": 1, "resource": MD5, "scan_id": f"{SHA256}-1700000000",
           "md5": MD5, "sha1": SHA1, "sha256": SHA256, "positives": 2, "total": 70}  # fmt: skip
V3_FILE = {"data": {"type": "file", "id": SHA256, "attributes": {
    "md5": MD5.upper(), "sha1": SHA1, "sha256": SHA256, "meaningful_name": "setup.exe",
    "last_analysis_stats": {"malicious": 2, "undetected": 68}}}}  # fmt: skip
V2_QUEUED_SCAN = {"response_code": 1, "resource": "http://a.example/", "url": "http://a.example/",
                  "scan_id": "9f86d081-1700000000", "verbose_msg": "Scan request successfully "
                  "queued, come back later for the report"}  # fmt: skip


@pytest.mark.parametrize(
    ("name", "type_", "raw", "status", "known", "cacheable"),
    [
        ("v2 found", "file", V2_FILE, Status.FOUND, True, True),
        ("v2 found, no valid total", "file", {**V2_FILE, "total": None}, Status.INCOMPLETE,
         True, True),
        ("v2 domain found", "domain", {"response_code": 1, "resolutions": []}, Status.FOUND,
         True, True),
        ("v2 not found", "file", {"response_code": 0, "resource": MD5}, Status.NOT_FOUND,
         False, True),
        ("v2 still queued", "file", {"response_code": -2, "resource": MD5}, Status.QUEUED,
         False, False),
        ("v2 scan queued", "url", V2_QUEUED_SCAN, Status.QUEUED, False, False),
        ("v2 error", "file", {"response_code": -1}, Status.ERROR, False, False),
        ("v3 found", "file", V3_FILE, Status.FOUND, True, True),
        ("v3 not analysed yet", "file", {"data": {"attributes": {"md5": MD5}}},
         Status.INCOMPLETE, True, True),
        ("v3 object without attributes", "file", {"data": {"id": "x"}}, Status.INCOMPLETE,
         True, True),
        ("v3 not found", "file", {"error": {"code": "NotFoundError", "message": "x"}},
         Status.NOT_FOUND, False, True),
        ("v3 quota error", "file", {"error": {"code": "QuotaExceededError"}}, Status.ERROR,
         False, False),
        ("garbage", "file", "garbage", Status.ERROR, False, False),
    ],
)  # fmt: skip
def test_what_a_report_is_and_whether_it_may_be_kept(name, type_, raw, status, known, cacheable):
    report = Report.from_dict(type_, raw)
    assert (report.status, report.known, report.cacheable) == (status, known, cacheable), name
    assert report.raw is raw


@pytest.mark.parametrize(
    ("raw", "hashes"),
    [
        (V2_FILE, {"md5": MD5, "sha1": SHA1, "sha256": SHA256}),
        (V3_FILE, {"md5": MD5, "sha1": SHA1, "sha256": SHA256}),
        ({**V2_FILE, "positives": None}, {"md5": MD5, "sha1": SHA1, "sha256": SHA256}),
        ({"data": {"attributes": {"md5": MD5, "sha1": SHA1, "sha256": SHA256}}},
         {"md5": MD5, "sha1": SHA1, "sha256": SHA256}),
        ({**V2_FILE, "sha1": ""}, None),
        ({"data": {"attributes": {"sha256": SHA256}}}, None),
        ({"response_code": 0, "resource": MD5}, None),
        ({"error": {"code": "NotFoundError"}}, None),
        (None, None),
    ],
)  # fmt: skip
def test_a_files_three_hashes_come_lower_case_and_all_or_none(raw, hashes):
    """Found and incomplete reports alike carry the names (the cache files under them)."""
    assert Report.from_dict("file", raw).file_hashes == hashes


def test_the_meaningful_name_is_read_even_before_analysis():
    assert Report.from_dict("file", V3_FILE).meaningful_name == "setup.exe"
    raw = {"data": {"attributes": {"meaningful_name": "x.exe"}}}
    assert Report.from_dict("file", raw).meaningful_name == "x.exe"
    assert Report.from_dict("file", V2_FILE).meaningful_name is None


def test_a_failed_lookup_is_an_error_with_its_message():
    report = Report.failure("VirusTotal did not answer within 5 seconds")
    assert report.status is Status.ERROR
    assert report.problem == "VirusTotal did not answer within 5 seconds"
    assert not report.cacheable


@pytest.mark.parametrize(
    ("raw", "echoed"),
    [
        (V2_FILE, (MD5,)),
        ({"response_code": 0, "resource": "ABC"}, ("abc",)),
        (V2_QUEUED_SCAN, ("http://a.example/", "http://a.example/")),
        ({"response_code": 1, "resolutions": []}, ()),  # domain and IP reports echo nothing
        ({"response_code": 1, "resource": 7}, ()),
        ("garbage", ()),
    ],
)
def test_what_a_v2_answer_echoes(raw, echoed):
    assert echoes(raw) == echoed


def test_a_truncated_batch_answer_echoes_only_what_it_answers():
    """Over the key's limit VirusTotal answers a batch's first items only, silently."""
    asked = [MD5, SHA1, SHA256]
    answers = [{**V2_FILE, "resource": SHA1.upper()}, {"response_code": 0, "resource": MD5}]
    answered = {echo for answer in answers for echo in echoes(answer)}
    assert [resource for resource in asked if resource not in answered] == [SHA256]


@pytest.mark.parametrize(
    ("raw", "code", "v3"),
    [
        ({"error": {"code": "NotFoundError", "message": "x"}}, "NotFoundError", False),
        ({"error": {"code": "QuotaExceededError"}}, "QuotaExceededError", False),
        ({"error": "gone"}, "", False),
        (V3_FILE, "", True),
        ({"data": []}, "", False),
        (V2_FILE, "", False),
        ([V3_FILE], "", False),
    ],
)
def test_v3_error_codes_and_objects(raw, code, v3):
    assert (error_code(raw), is_v3_object(raw)) == (code, v3)


def test_an_answer_echoes_the_resource_as_requested_without_touching_the_original():
    answer = answered_for(V2_FILE, MD5.upper())
    assert answer == {**V2_FILE, "resource": MD5.upper()}
    assert V2_FILE["resource"] == MD5
    domain = {"response_code": 1, "resolutions": []}
    assert answered_for(domain, "example.com") == domain
