"""The verdict rules (docs/verdicts.md), rule by rule, for v2 and v3 reports, boundaries included.

Expected values come from docs/verdicts.md (thresholds, counts, P / total), never
from running the code.
"""

import dataclasses

import pytest

from dxlvtservice.core.indicators import IndicatorType
from dxlvtservice.core.verdicts import Rules, assess, overall_verdict, summary
from dxlvtservice.errors import BAD_REQUEST, ServiceError

# Rules(M, T, domain threshold, ip threshold); None is "never" for T, "off" for the others.
DEFAULT = Rules(5, 1, None, None)
OVERLAP = Rules(1, 5, None, None)  # M checked before T
T3 = Rules(5, 3, None, None)
NEVER = Rules(5, None, None, None)
HEURISTIC = Rules(5, 1, 3, 3)
HEURISTIC_ZERO = Rules(5, 1, 0, 0)


def v2(positives, total=70, code=1):
    """A v2 file or URL report."""
    return {"response_code": code, "positives": positives, "total": total, "scans": {}}


def v3(malicious, undetected=60, harmless=5, suspicious=0, wrapped=True):
    stats = {
        "malicious": malicious,
        "suspicious": suspicious,
        "undetected": undetected,
        "harmless": harmless,
        "timeout": 0,
    }
    obj = {"type": "file", "id": "x", "attributes": {"last_analysis_stats": stats}}
    return {"data": obj} if wrapped else obj


def v2_host(type_, urls=0, downloaded=0, third=0, ignored=0, code=1):
    """A v2 domain or IP report with that many entries in each detection list.

    ``third`` fills the list rule 6 counts for this type only; ``ignored``
    fills the one it counts for the other type, which must not count.
    """
    counted, other = (
        ("detected_referrer_samples", "detected_communicating_samples")
        if type_ == "domain"
        else ("detected_communicating_samples", "detected_referrer_samples")
    )
    return {
        "response_code": code,
        "detected_urls": [{"url": f"http://x/{i}", "positives": 3} for i in range(urls)],
        "detected_downloaded_samples": [{"sha256": str(i)} for i in range(downloaded)],
        counted: [{"sha256": str(i)} for i in range(third)],
        other: [{"sha256": str(i)} for i in range(ignored)],
        "undetected_urls": [["http://y/", "h", 0, 70, "date"]] * 9,
        "resolutions": [],
    }


NOT_FOUND_V3 = {"error": {"code": "NotFoundError", "message": "not found"}}
UPSTREAM_ERROR = {"error": {"code": 502, "message": "VirusTotal answered HTTP 500"}}
V3_ERROR = {"error": {"code": "QuotaExceededError", "message": "Quota exceeded"}}

M, T, N, R_MISSING, R_ERROR = "malicious", "trusted", "no_match", "report_missing", "report_error"

# (id, type, report, rules, verdict, positives, total, source, confidence, response_code)
CASES = [
    # Rule 1: no report.
    ("r1-none-file", "file", None, DEFAULT, R_MISSING, None, None, None, None, None),
    ("r1-none-domain", "domain", None, HEURISTIC, R_MISSING, None, None, None, None, None),
    # Rule 2: an error, a negative response_code, garbage.
    ("r2-v2-queued", "file", v2(0, code=-2), DEFAULT, R_ERROR, None, None, None, None, -2),
    ("r2-v2-error", "url", v2(0, code=-1), DEFAULT, R_ERROR, None, None, None, None, -1),
    ("r2-v2-domain-error", "domain", v2_host("domain", code=-1), HEURISTIC,
     R_ERROR, None, None, None, None, -1),
    ("r2-upstream", "file", UPSTREAM_ERROR, DEFAULT, R_ERROR, None, None, None, None, None),
    ("r2-v3-error", "ip", V3_ERROR, DEFAULT, R_ERROR, None, None, None, None, None),
    ("r2-text", "file", "<html>502</html>", DEFAULT, R_ERROR, None, None, None, None, None),
    ("r2-list", "url", [v2(9)], DEFAULT, R_ERROR, None, None, None, None, None),
    ("r2-empty", "file", {}, DEFAULT, R_ERROR, None, None, None, None, None),
    ("r2-code-str", "file", {"response_code": "1", "positives": 9, "total": 70}, DEFAULT,
     R_ERROR, None, None, None, None, None),
    ("r2-code-bool", "file", {"response_code": True, "positives": 9, "total": 70}, DEFAULT,
     R_ERROR, None, None, None, None, None),
    ("r2-code-2", "file", v2(9, code=2), DEFAULT, R_ERROR, None, None, None, None, 2),
    ("r2-no-positives", "url", {"response_code": 1, "scan_id": "x"}, DEFAULT,
     R_ERROR, None, None, None, None, 1),
    ("r2-positives-str", "file", v2("9"), DEFAULT, R_ERROR, None, None, None, None, 1),
    ("r2-positives-over-total", "file", v2(71, 70), DEFAULT, R_ERROR, None, None, None, None, 1),
    ("r2-v3-no-stats", "file", {"data": {"attributes": {"names": []}}}, DEFAULT,
     R_ERROR, None, None, None, None, None),
    ("r2-v3-bad-stats", "file", {"attributes": {"last_analysis_stats": {"malicious": "a"}}},
     DEFAULT, R_ERROR, None, None, None, None, None),
    ("r2-v2-domain-lists", "domain", {"response_code": 1, "detected_urls": "many"}, HEURISTIC,
     R_ERROR, None, None, None, None, 1),
    # Rule 3: not found.
    ("r3-v2-file", "file", v2(None, None, code=0), DEFAULT, N, None, None, None, None, 0),
    ("r3-v2-url", "url", {"response_code": 0, "verbose_msg": "absent"}, DEFAULT,
     N, None, None, None, None, 0),
    ("r3-v2-domain", "domain", {"response_code": 0}, HEURISTIC, N, None, None, None, None, 0),
    ("r3-v2-ip", "ip", {"response_code": 0}, HEURISTIC, N, None, None, None, None, 0),
    ("r3-v3-file", "file", NOT_FOUND_V3, DEFAULT, N, None, None, None, None, 0),
    ("r3-v3-domain", "domain", NOT_FOUND_V3, HEURISTIC, N, None, None, None, None, 0),
    # Rules 4 and 5, v2 file and URL reports: positives / total.
    ("r5-v2-P=M", "file", v2(5, 70), DEFAULT, M, 5, 70, "engines", 0.071, 1),
    ("r5-v2-P=M-1", "file", v2(4, 70), DEFAULT, N, 4, 70, "engines", 0.057, 1),
    ("r5-v2-spec-example", "url", v2(12, 94), DEFAULT, M, 12, 94, "engines", 0.128, 1),
    ("r5-v2-P=T", "url", v2(3, 70), T3, N, 3, 70, "engines", 0.043, 1),
    ("r5-v2-P=T-1", "url", v2(2, 70), T3, T, 2, 70, "engines", 0.029, 1),
    ("r5-v2-zero-trusted", "file", v2(0, 70), DEFAULT, T, 0, 70, "engines", 0.0, 1),
    ("r5-v2-never", "file", v2(0, 70), NEVER, N, 0, 70, "engines", 0.0, 1),
    ("r5-v2-overlap-P=M", "file", v2(1, 70), OVERLAP, M, 1, 70, "engines", 0.014, 1),
    ("r5-v2-overlap-P<T", "file", v2(4, 70), OVERLAP, M, 4, 70, "engines", 0.057, 1),
    ("r5-v2-overlap-zero", "file", v2(0, 70), OVERLAP, T, 0, 70, "engines", 0.0, 1),
    ("r5-v2-all", "url", v2(70, 70), DEFAULT, M, 70, 70, "engines", 1.0, 1),
    # Rules 4 and 5, v3 reports of every type: malicious / sum of the stats.
    ("r5-v3-P=M", "file", v3(5, undetected=60, harmless=5), DEFAULT, M, 5, 70, "engines", 0.071, 1),
    ("r5-v3-P=M-1", "url", v3(4, undetected=61, harmless=5), DEFAULT,
     N, 4, 70, "engines", 0.057, 1),
    ("r5-v3-spec-example", "domain", v3(12, undetected=60, harmless=21, suspicious=1), DEFAULT,
     M, 12, 94, "engines", 0.128, 1),
    ("r5-v3-P=T", "ip", v3(3, undetected=62, harmless=5), T3, N, 3, 70, "engines", 0.043, 1),
    ("r5-v3-P=T-1", "ip", v3(2, undetected=63, harmless=5), T3, T, 2, 70, "engines", 0.029, 1),
    ("r5-v3-never", "domain", v3(0, undetected=65, harmless=5), NEVER,
     N, 0, 70, "engines", 0.0, 1),
    ("r5-v3-overlap", "url", v3(1, undetected=64, harmless=5), OVERLAP,
     M, 1, 70, "engines", 0.014, 1),
    ("r5-v3-suspicious-not-positive", "file", v3(0, undetected=60, harmless=5, suspicious=5),
     DEFAULT, T, 0, 70, "engines", 0.0, 1),
    ("r5-v3-bare-object", "file", v3(7, undetected=58, harmless=5, wrapped=False), DEFAULT,
     M, 7, 70, "engines", 0.1, 1),
    ("r5-v3-domain-ignores-heuristic", "domain", v3(0, undetected=65, harmless=5), HEURISTIC,
     T, 0, 70, "engines", 0.0, 1),
    ("r5-v3-no-engines", "url", v3(0, undetected=0, harmless=0), DEFAULT,
     N, 0, 0, "engines", None, 1),
    # Rule 6: v2 domain and IP reports, heuristic (threshold 3: P > 3 is malicious).
    ("r6-domain-P=thr", "domain", v2_host("domain", 1, 1, 1, ignored=20), HEURISTIC,
     N, 3, None, "heuristic", None, 1),
    ("r6-domain-P=thr+1", "domain", v2_host("domain", 2, 1, 1), HEURISTIC,
     M, 4, None, "heuristic", None, 1),
    ("r6-domain-third-list", "domain", v2_host("domain", 0, 0, 4), HEURISTIC,
     M, 4, None, "heuristic", None, 1),
    ("r6-domain-zero-never-trusted", "domain", v2_host("domain"), HEURISTIC,
     N, 0, None, "heuristic", None, 1),
    ("r6-ip-P=thr", "ip", v2_host("ip", 1, 1, 1, ignored=20), HEURISTIC,
     N, 3, None, "heuristic", None, 1),
    ("r6-ip-P=thr+1", "ip", v2_host("ip", 0, 0, 4), HEURISTIC, M, 4, None, "heuristic", None, 1),
    ("r6-ip-zero-never-trusted", "ip", v2_host("ip"), HEURISTIC,
     N, 0, None, "heuristic", None, 1),
    ("r6-threshold-0-P=0", "ip", v2_host("ip"), HEURISTIC_ZERO, N, 0, None, "heuristic", None, 1),
    ("r6-threshold-0-P=1", "domain", v2_host("domain", 1), HEURISTIC_ZERO,
     M, 1, None, "heuristic", None, 1),
    ("r6-missing-lists", "domain", {"response_code": 1, "detected_urls": [{}] * 5}, HEURISTIC,
     M, 5, None, "heuristic", None, 1),
    ("r6-domain-off", "domain", v2_host("domain", 50, 50, 50), DEFAULT,
     N, None, None, None, None, 1),
    ("r6-ip-off", "ip", v2_host("ip", 50, 50, 50), DEFAULT, N, None, None, None, None, 1),
]  # fmt: skip


@pytest.mark.parametrize(
    ("type_", "report", "rules", "verdict", "positives", "total", "source", "confidence", "code"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_rules(type_, report, rules, verdict, positives, total, source, confidence, code):
    assessment = assess(type_, report, rules)
    assert assessment.verdict == verdict
    assert assessment.positives == positives
    assert assessment.total == total
    assert assessment.positives_source == source
    assert assessment.confidence == confidence
    assert assessment.response_code == code


@pytest.mark.parametrize("case", CASES, ids=[case[0] for case in CASES])
def test_rule_7_every_result_has_a_one_line_reason(case):
    reason = assess(case[1], case[2], case[3]).reason
    assert reason
    assert "\n" not in reason


@pytest.mark.parametrize(
    ("report", "rules", "reason"),
    [
        (v2(12, 94), DEFAULT, "12 positives >= malicious threshold 5"),
        (v2(2, 70), T3, "2 positives < trusted threshold 3"),
    ],
)
def test_reason_names_the_thresholds_as_the_spec_example(report, rules, reason):
    assert assess("url", report, rules).reason == reason


@pytest.mark.parametrize(
    ("type_", "report", "rules", "words"),
    [
        ("file", v2(3, 70), T3, ["3", "malicious threshold 5", "trusted threshold 3"]),
        ("file", v2(0, 70), NEVER, ["0", "malicious threshold 5", "never"]),
        ("domain", v2_host("domain", 4), HEURISTIC, ["heuristic", "4", "3"]),
        ("ip", v2_host("ip", 3), HEURISTIC, ["heuristic", "3"]),
        ("ip", v2_host("ip", 9), DEFAULT, ["heuristic", "off"]),
        ("file", v2(0, code=-2), DEFAULT, ["-2", "queued"]),
        ("file", v2(0, code=-1), DEFAULT, ["-1"]),
        ("file", UPSTREAM_ERROR, DEFAULT, ["VirusTotal answered HTTP 500"]),
        ("file", {"response_code": 0}, DEFAULT, ["not"]),
        ("file", NOT_FOUND_V3, DEFAULT, ["NotFoundError"]),
    ],
)
def test_reason_says_why(type_, report, rules, words):
    reason = assess(type_, report, rules).reason
    for word in words:
        assert word in reason


@pytest.mark.parametrize(
    "why", ["not submitted: internal", "no report: quota exhausted, retry in 40 seconds"]
)
def test_rule_1_missing_report_carries_the_callers_reason(why):
    # classify has no report when the quota left no slot or the indicator is
    # internal; it keeps the rule 1 assessment and gives its own reason.
    assessment = dataclasses.replace(assess("ip", None, DEFAULT), reason=why)
    assert assessment.verdict == "report_missing"
    assert assessment.reason == why
    assert dataclasses.asdict(assessment) == {
        "verdict": "report_missing",
        "positives": None,
        "total": None,
        "positives_source": None,
        "confidence": None,
        "response_code": None,
        "reason": why,
        "suspicious": False,
        "signals": (),
    }


def test_assessment_is_asdict_friendly():
    fields = dataclasses.asdict(assess("url", v2(12, 94), DEFAULT))
    assert list(fields) == [
        "verdict",
        "positives",
        "total",
        "positives_source",
        "confidence",
        "response_code",
        "reason",
        "suspicious",
        "signals",
    ]


def test_assess_accepts_the_type_as_enum_or_string():
    assert assess(IndicatorType.DOMAIN, v2_host("domain", 9), HEURISTIC).verdict == "malicious"


# -- Rules.merged ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        (None, DEFAULT),
        ({}, DEFAULT),
        ({"malicious_positives": 10}, Rules(10, 1, None, None)),
        ({"trusted_positives": None}, Rules(5, None, None, None)),
        ({"trusted_positives": 3}, Rules(5, 3, None, None)),
        ({"domain_detections": 0, "ip_detections": 7}, Rules(5, 1, 0, 7)),
        ({"domain_detections": None}, Rules(5, 1, None, None)),
        (
            {
                "malicious_positives": 1,
                "trusted_positives": 5,
                "domain_detections": 2,
                "ip_detections": 3,
            },
            Rules(1, 5, 2, 3),
        ),
    ],
)
def test_rules_merged(overrides, expected):
    assert DEFAULT.merged(overrides) == expected


def test_rules_merged_keeps_what_is_not_overridden():
    base = Rules(7, None, 4, 6)
    assert base.merged({"ip_detections": None}) == Rules(7, None, 4, None)


@pytest.mark.parametrize(
    "overrides",
    [
        [],
        "strict",
        {"malicious": 5},
        {"malicious_positives": 0},
        {"malicious_positives": -3},
        {"malicious_positives": None},
        {"malicious_positives": "5"},
        {"malicious_positives": 5.0},
        {"malicious_positives": True},
        {"trusted_positives": 0},
        {"trusted_positives": "never"},
        {"trusted_positives": 1.5},
        {"domain_detections": -1},
        {"ip_detections": "off"},
        {"ip_detections": False},
    ],
)
def test_rules_merged_rejects_invalid_overrides(overrides):
    with pytest.raises(ServiceError) as caught:
        DEFAULT.merged(overrides)
    assert caught.value.code == BAD_REQUEST


def test_unknown_rule_is_named_in_the_error():
    with pytest.raises(ServiceError) as caught:
        DEFAULT.merged({"malicious_positives": 3, "maliciousPositives": 3})
    assert "maliciousPositives" in caught.value.message


# -- overall verdict and summary ------------------------------------------------


@pytest.mark.parametrize(
    ("verdicts", "expected"),
    [
        ([], R_MISSING),
        ([T], T),
        ([T, N], N),
        ([N, R_MISSING, T], R_MISSING),
        ([R_MISSING, R_ERROR, N], R_ERROR),
        ([T, R_ERROR, M, N, R_MISSING], M),
        ([M, M], M),
    ],
)
def test_overall_verdict_is_the_most_urgent(verdicts, expected):
    assert overall_verdict(verdicts) == expected


def test_summary_counts_every_verdict():
    assert summary([M, T, T, R_ERROR]) == {
        "malicious": 1,
        "trusted": 2,
        "no_match": 0,
        "report_missing": 0,
        "report_error": 1,
    }
    assert summary([]) == dict.fromkeys([M, T, N, R_MISSING, R_ERROR], 0)
