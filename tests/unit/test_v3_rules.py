"""The rules that read more of a v3 report (docs/verdicts.md): one table per rule, the order,
the flags, the v3 total, validation of request rules and configuration keys.

Expected values come from the documented rules (thresholds, counts, ranks and their age),
never from running the code.
"""

from __future__ import annotations

import configparser
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dxlvtservice.config import ConfigError, parse
from dxlvtservice.core import verdicts
from dxlvtservice.core.reports import Report
from dxlvtservice.core.verdicts import Rules, assess
from dxlvtservice.errors import BAD_REQUEST, ServiceError

from .test_config import check, write_dxlclient_config

NOW = 1_800_000_000
DAY = 86400
SEED = Rules()


def stats(malicious=0, suspicious=0, undetected=60, harmless=5, **not_run):
    counts = {"malicious": malicious, "suspicious": suspicious, "undetected": undetected,
              "harmless": harmless, "timeout": 0, "confirmed-timeout": 0, "failure": 0,
              "type-unsupported": 0}  # fmt: skip
    counts |= {name.replace("_", "-"): count for name, count in not_run.items()}
    return counts


def v3(kind="file", flagged=(), counts=None, **attributes):
    """A v3 object; ``flagged`` engines say malicious in ``last_analysis_results``."""
    counts = counts or stats(len(flagged))
    results = {engine: {"category": "malicious", "engine_name": engine} for engine in flagged}
    results |= {"Quiet": {"category": "undetected"}, "Idle": {"category": "timeout"}}
    attributes = {"last_analysis_stats": counts, "last_analysis_results": results, **attributes}
    return {"data": {"type": kind, "id": "x", "attributes": attributes}}


def read(raw, kind="file"):
    return Report.from_dict(kind, raw)


def ranks(**by_name):
    """``popularity_ranks`` from name=(rank, age in days)."""
    return {name.replace("_", " "): {"rank": rank, "timestamp": NOW - age * DAY}
            for name, (rank, age) in by_name.items()}  # fmt: skip


def fire(rule, raw, rules, kind="file", p=None):
    report = read(raw, kind)
    return rule(report, rules, report.positives if p is None else p, NOW)


V2_FILE = {
    "response_code": 1,
    "positives": 2,
    "total": 70,
    "scans": {engine: {"detected": True} for engine in ("CrowdStrike", "Microsoft")},
}
V2_DOMAIN = {"response_code": 1, "detected_urls": [{}] * 3}
ALL_ON = Rules(count_suspicious=True, malicious_ratio=0.01, preferred_engines=("CrowdStrike",),
               popular_rank=1_000_000, trust_known_distributor=True, suspicious_positives=1,
               yara_min=1, sigma_min=1, ids_min=1, gti_verdict=True)  # fmt: skip


# -- the v3 total (rule 4) -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("counts", "verdict", "total", "reason"),
    [
        (stats(3, undetected=40, harmless=5, timeout=10, type_unsupported=7), "no_match", 48, None),
        (stats(5, undetected=40, harmless=5, failure=20), "malicious", 50, None),
        (stats(0, suspicious=1, undetected=0, harmless=0, timeout=9), "trusted", 1, None),
        (stats(0, undetected=0, harmless=0, timeout=3, type_unsupported=67), "no_match", 0,
         "no engine verdicts"),
        (stats(0, undetected=0, harmless=0, confirmed_timeout=70), "no_match", 0,
         "no engine verdicts"),
    ],
)  # fmt: skip
def test_v3_total_counts_engines_with_an_opinion(counts, verdict, total, reason):
    result = assess("file", v3(counts=counts), SEED)
    assert (result.verdict, result.total) == (verdict, total)
    if reason:
        assert result.reason == reason and result.confidence is None
    else:
        assert result.confidence == round(result.positives / total, 3)


def test_v2_total_zero_is_no_engine_verdicts():
    result = assess("url", {"response_code": 1, "positives": 0, "total": 0}, SEED)
    assert (result.verdict, result.reason) == ("no_match", "no engine verdicts")


# -- one table per rule: fires, does not fire, boundary, off --------------------------------

TWO = ("CrowdStrike", "Microsoft")


@pytest.mark.parametrize(
    ("raw", "rules", "signal"),
    [
        (v3(flagged=TWO), Rules(preferred_engines=TWO, preferred_malicious=2), "preferred:2/2"),
        (v3(flagged=("CrowdStrike",)), Rules(preferred_engines=TWO, preferred_malicious=2), None),
        (v3(flagged=("CrowdStrike",)), Rules(preferred_engines=TWO), "preferred:1/2"),  # min 1
        (v3(flagged=TWO), Rules(preferred_engines=(*TWO, "ESET-NOD32"), preferred_malicious=3),
         None),  # boundary: 2 of 3 asked
        (v3(flagged=TWO), Rules(preferred_engines=("crowdstrike", "MICROSOFT"),
                                preferred_malicious=2), "preferred:2/2"),  # names, any case
        (v3(flagged=("Avast",)), Rules(preferred_engines=TWO), None),
        (v3(flagged=TWO), SEED, None),  # off
    ],
)  # fmt: skip
def test_preferred_engines(raw, rules, signal):
    finding = fire(verdicts.preferred_engines, raw, rules)
    assert (finding.signal if finding else None) == signal


def test_preferred_engines_reason_names_them_and_reads_every_result():
    # Engines beyond the first 20 count too: results are read whole.
    many = [f"Engine{i}" for i in range(40)]
    raw = v3(flagged=(*many, *TWO), counts=stats(42))
    rules = Rules(preferred_engines=TWO, preferred_malicious=2)
    assert fire(verdicts.preferred_engines, raw, rules).reason.startswith(
        "preferred engines CrowdStrike, Microsoft say malicious"
    )


@pytest.mark.parametrize(
    ("counts", "ratio", "signal"),
    [
        (stats(20, undetected=65, harmless=5), 0.15, "ratio:20/90"),
        (stats(13, undetected=72, harmless=5), 0.15, None),  # 0.144
        (stats(9, undetected=46, harmless=5), 0.15, "ratio:9/60"),  # exactly 0.15
        (stats(60, undetected=0, harmless=0), 1, "ratio:60/60"),
        (stats(20, undetected=65, harmless=5), None, None),  # off
    ],
)
def test_malicious_ratio(counts, ratio, signal):
    finding = fire(verdicts.malicious_ratio, v3(counts=counts), Rules(malicious_ratio=ratio))
    assert (finding.signal if finding else None) == signal


@pytest.mark.parametrize(
    ("gti", "on", "malicious", "benign"),
    [
        ("VERDICT_MALICIOUS", True, "gti:VERDICT_MALICIOUS", None),
        ("VERDICT_BENIGN", True, None, "gti:VERDICT_BENIGN"),
        ("VERDICT_UNDETECTED", True, None, None),
        ("VERDICT_MALICIOUS", False, None, None),  # off
    ],
)
def test_gti_verdict(gti, on, malicious, benign):
    raw = v3(gti_assessment={"verdict": {"value": gti}})
    rules = Rules(gti_verdict=on)
    for rule, expected in ((verdicts.gti_malicious, malicious), (verdicts.gti_benign, benign)):
        finding = fire(rule, raw, rules)
        assert (finding.signal if finding else None) == expected


@pytest.mark.parametrize(
    ("popularity", "rules", "signal"),
    [
        (ranks(Cisco_Umbrella=(5, 1), Tranco=(9, 1)), Rules(popular_rank=1000),
         "popular:Cisco Umbrella#5"),
        (ranks(Tranco=(1000, 1)), Rules(popular_rank=1000), "popular:Tranco#1000"),  # boundary
        (ranks(Tranco=(1001, 1)), Rules(popular_rank=1000), None),
        (ranks(Alexa=(1, 500), Tranco=(50, 2)), Rules(popular_rank=10), None),  # stale rank 1
        (ranks(Alexa=(1, 400)), Rules(popular_rank=10), "popular:Alexa#1"),  # exactly 400 days
        (ranks(Alexa=(1, 401)), Rules(popular_rank=10), None),
        (ranks(Alexa=(1, 30)), Rules(popular_rank=10, popular_max_age_days=7), None),
        ({}, Rules(popular_rank=1000), None),
        (ranks(Tranco=(5, 1)), SEED, None),  # off
    ],
)  # fmt: skip
def test_popular_rank(popularity, rules, signal):
    raw = v3("domain", popularity_ranks=popularity)
    finding = fire(verdicts.popular, raw, rules, kind="domain")
    assert (finding.signal if finding else None) == signal


@pytest.mark.parametrize(
    ("attributes", "on", "signal"),
    [
        ({"known_distributors": {"distributors": ["Microsoft", "Citrix"]}}, True,
         "distributor:Microsoft"),
        ({"trusted_verdict": {"verdict": "goodware", "organization": "Google"}}, True,
         "goodware:Google"),
        ({"trusted_verdict": {"verdict": "badware", "organization": "Google"}}, False, None),
        ({"known_distributors": {"distributors": []}}, True, None),
        ({"known_distributors": {"distributors": ["Microsoft"]}}, False, None),  # off
    ],
)  # fmt: skip
def test_known_distributor(attributes, on, signal):
    finding = fire(verdicts.known_distributor, v3(**attributes), Rules(trust_known_distributor=on))
    assert (finding.signal if finding else None) == signal


@pytest.mark.parametrize(
    ("rule", "attributes", "counts", "rules", "signal"),
    [
        (verdicts.suspicious_flag, {}, stats(3, suspicious=2), Rules(suspicious_positives=5),
         "suspicious:5"),
        (verdicts.suspicious_flag, {}, stats(3, suspicious=1), Rules(suspicious_positives=5), None),
        (verdicts.yara_flag, {"crowdsourced_yara_results": [{}, {}]}, None, Rules(yara_min=2),
         "yara:2"),
        (verdicts.yara_flag, {"crowdsourced_yara_results": [{}]}, None, Rules(yara_min=2), None),
        (verdicts.sigma_flag, {"sigma_analysis_stats": {"critical": 1, "high": 2, "low": 9}},
         None, Rules(sigma_min=3), "sigma:3"),
        (verdicts.sigma_flag, {"sigma_analysis_stats": {"high": 2, "medium": 9}}, None,
         Rules(sigma_min=3), None),
        (verdicts.ids_flag, {"crowdsourced_ids_stats": {"high": 2, "info": 9}}, None,
         Rules(ids_min=2), "ids:2"),
        (verdicts.ids_flag, {"crowdsourced_ids_stats": {"high": 1, "medium": 9}}, None,
         Rules(ids_min=2), None),
        (verdicts.yara_flag, {"crowdsourced_yara_results": [{}, {}]}, None, SEED, None),  # off
    ],
)  # fmt: skip
def test_flags(rule, attributes, counts, rules, signal):
    finding = fire(rule, v3(counts=counts, **attributes), rules)
    assert (finding.signal if finding else None) == signal


def test_count_suspicious_adds_suspicious_engines_to_p():
    raw = v3(counts=stats(3, suspicious=2))
    assert assess("file", raw, SEED).verdict == "no_match"
    counted = assess("file", raw, Rules(count_suspicious=True))
    assert (counted.verdict, counted.positives) == ("malicious", 5)
    assert counted.reason == "5 positives >= malicious threshold 5"


# -- v2 reports: the v3 rules do not apply ----------------------------------------------------


@pytest.mark.parametrize(("type_", "raw"), [("file", V2_FILE), ("domain", V2_DOMAIN)])
def test_v2_reports_are_judged_by_rules_1_to_7_only(type_, raw):
    plain = assess(type_, raw, SEED)
    everything = assess(type_, raw, ALL_ON)
    assert everything == plain
    assert (everything.suspicious, everything.signals) == (False, ())


@pytest.mark.parametrize(
    "raw", [None, {"error": {"code": "NotFoundError"}}, {"error": {"code": 502}}]
)
def test_missing_and_error_results_carry_no_signals(raw):
    result = assess("file", raw, ALL_ON)
    assert (result.suspicious, result.signals) == (False, ())


def test_type_bound_rules_skip_other_types():
    popular_file = v3(popularity_ranks=ranks(Tranco=(1, 1)))
    assert assess("file", popular_file, Rules(popular_rank=10), now=NOW).signals == ()
    distributed_domain = v3("domain", known_distributors={"distributors": ["Microsoft"]})
    assert assess("domain", distributed_domain, Rules(trust_known_distributor=True)).signals == ()


# -- the order: malicious evidence before benign evidence ------------------------------------


@pytest.mark.parametrize(
    ("type_", "raw", "rules", "verdict", "reason_start", "signals"),
    [
        # A compromised popular domain: P >= M beats popularity.
        ("domain", v3("domain", counts=stats(9), popularity_ranks=ranks(Tranco=(620, 1))),
         Rules(popular_rank=1000), "malicious", "9 positives >= malicious threshold 5",
         ("popular:Tranco#620",)),
        # A known distributor's file that many engines flag.
        ("file", v3(counts=stats(6), known_distributors={"distributors": ["Microsoft"]}),
         Rules(trust_known_distributor=True), "malicious", "6 positives >=",
         ("distributor:Microsoft",)),
        # Preferred engines before the ratio; both signal.
        ("file", v3(flagged=TWO, counts=stats(2, undetected=8, harmless=0)),
         Rules(preferred_engines=TWO, malicious_ratio=0.1), "malicious", "preferred engines",
         ("preferred:2/2", "ratio:2/10")),
        # GTI malicious beats popularity; GTI benign is benign evidence after popularity.
        ("domain", v3("domain", gti_assessment={"verdict": {"value": "VERDICT_MALICIOUS"}},
                      popularity_ranks=ranks(Tranco=(3, 1))),
         Rules(gti_verdict=True, popular_rank=10), "malicious", "Google Threat Intelligence",
         ("gti:VERDICT_MALICIOUS", "popular:Tranco#3")),
        ("file", v3(counts=stats(2), gti_assessment={"verdict": {"value": "VERDICT_BENIGN"}},
                    known_distributors={"distributors": ["Microsoft"]}),
         Rules(gti_verdict=True, trust_known_distributor=True), "trusted", "known distributor",
         ("distributor:Microsoft", "gti:VERDICT_BENIGN")),
        # P < T last among benign evidence.
        ("domain", v3("domain", counts=stats(0), popularity_ranks=ranks(Tranco=(3, 1))),
         Rules(popular_rank=10), "trusted", "popular: Tranco rank 3 <= 10",
         ("popular:Tranco#3",)),
        # Flags only: the verdict is that of rules 1-7.
        ("file", v3(counts=stats(1), crowdsourced_yara_results=[{}, {}]), Rules(yara_min=1),
         "no_match", "1 positives < malicious threshold 5", ("yara:2",)),
    ],
)  # fmt: skip
def test_order(type_, raw, rules, verdict, reason_start, signals):
    result = assess(type_, raw, rules, now=NOW)
    assert result.verdict == verdict
    assert result.reason.startswith(reason_start)
    assert result.signals == signals
    assert result.suspicious == any(s.split(":")[0] in ("suspicious", "yara", "sigma", "ids")
                                    for s in signals)  # fmt: skip


# -- suspicious and signals never change the verdict; all off is rules 1-7 -------------------

v3_reports = st.builds(
    lambda m, s, u, h, t, ts, yara, sigma, ids: v3(
        counts=stats(m, suspicious=s, undetected=u, harmless=h, timeout=t, type_unsupported=ts),
        crowdsourced_yara_results=[{}] * yara,
        sigma_analysis_stats={"high": sigma}, crowdsourced_ids_stats={"high": ids},
    ),
    *[st.integers(0, 30)] * 6, *[st.integers(0, 5)] * 3,
)  # fmt: skip
thresholds = st.none() | st.integers(1, 6)


@given(v3_reports, thresholds, thresholds, thresholds, thresholds, st.integers(1, 8))
def test_flags_never_change_the_verdict(raw, suspicious, yara, sigma, ids, m):
    base = Rules(malicious_positives=m)
    flagged = Rules(malicious_positives=m, suspicious_positives=suspicious, yara_min=yara,
                    sigma_min=sigma, ids_min=ids)  # fmt: skip
    plain, hinted = assess("file", raw, base), assess("file", raw, flagged)
    assert (hinted.verdict, hinted.reason) == (plain.verdict, plain.reason)
    assert plain.signals == () and not plain.suspicious


@given(v3_reports, st.integers(1, 8), st.none() | st.integers(1, 8))
def test_with_the_v3_rules_off_the_verdict_is_that_of_rules_1_to_7(raw, m, t):
    counts = raw["data"]["attributes"]["last_analysis_stats"]
    p = counts["malicious"]
    total = sum(counts[c] for c in ("harmless", "undetected", "malicious", "suspicious"))
    expected = ("no_match" if total == 0 else "malicious" if p >= m
                else "trusted" if t is not None and p < t else "no_match")  # fmt: skip
    assert assess("domain", raw, Rules(m, t)).verdict == expected


# -- validation: request rules (400) and configuration keys ----------------------------------


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("count_suspicious", 1), ("count_suspicious", "yes"),
        ("malicious_ratio", 0), ("malicious_ratio", 1.5), ("malicious_ratio", -0.1),
        ("malicious_ratio", "0.2"), ("malicious_ratio", True),
        ("preferred_engines", []), ("preferred_engines", "CrowdStrike"),
        ("preferred_engines", ["CrowdStrike", ""]), ("preferred_engines", [3]),
        ("preferred_malicious", 0), ("preferred_malicious", None),
        ("popular_rank", 0), ("popular_rank", 1.5), ("popular_max_age_days", 0),
        ("popular_max_age_days", None),
        ("trust_known_distributor", "true"), ("suspicious_positives", 0), ("yara_min", -1),
        ("sigma_min", "2"), ("ids_min", 0.5), ("gti_verdict", None),
    ],
)  # fmt: skip
def test_invalid_rules_are_400_naming_the_key(name, value):
    with pytest.raises(ServiceError) as caught:
        SEED.merged({name: value})
    assert caught.value.code == BAD_REQUEST
    assert caught.value.message.startswith(f"{name} must be")


def test_valid_rules_merge():
    overrides = {"preferred_engines": [" CrowdStrike", "Microsoft"], "malicious_ratio": 1,
                 "popular_rank": None, "gti_verdict": True}  # fmt: skip
    merged = SEED.merged(overrides)
    assert merged.preferred_engines == ("CrowdStrike", "Microsoft")
    assert (merged.malicious_ratio, merged.gti_verdict, merged.malicious_positives) == (1, True, 5)


def settings_from(classification: str):
    parser = configparser.ConfigParser(interpolation=None)
    parser.read_string(f"[General]\napiKey = {'k' * 64}\n[Classification]\n{classification}\n")
    return parse(parser, Path("."), {})


def test_configuration_keys_give_the_default_rules():
    rules = settings_from(
        "countSuspicious = yes\nmaliciousRatio = 0.15\npreferredEngines = CrowdStrike, Microsoft\n"
        "preferredMalicious = 2\npopularRank = 1000\npopularMaxAgeDays = 30\n"
        "trustKnownDistributor = yes\nsuspiciousPositives = 3\nyaraMin = 1\nsigmaMin = 2\n"
        "idsMin = off\ngtiVerdict = yes\n"
    ).rules
    assert rules == Rules(5, 1, None, None, True, 0.15, ("CrowdStrike", "Microsoft"), 2, 1000, 30,
                          True, 3, 1, 2, None, True)  # fmt: skip
    assert settings_from("").rules == SEED


@pytest.mark.parametrize(
    ("key", "value"),
    [("countSuspicious", "maybe"), ("maliciousRatio", "0"), ("maliciousRatio", "1.01"),
     ("maliciousRatio", "lots"), ("preferredEngines", ", ,"), ("preferredMalicious", "0"),
     ("popularRank", "0"), ("popularRank", "top"), ("popularMaxAgeDays", "off"),
     ("trustKnownDistributor", "2"), ("suspiciousPositives", "-1"), ("yaraMin", "x"),
     ("sigmaMin", "0"), ("idsMin", "1.5"), ("gtiVerdict", "sure")],
)  # fmt: skip
def test_bad_configuration_keys_are_named(key, value):
    with pytest.raises(ConfigError) as error:
        settings_from(f"{key} = {value}")
    assert str(error.value).startswith(f"[Classification] {key}:")


def test_check_config_names_a_bad_v3_key(tmp_path):
    write_dxlclient_config(tmp_path)
    (tmp_path / "dxlvtservice.config").write_text(
        f"[General]\napiKey = {'k' * 64}\n[Classification]\nmaliciousRatio = 1.5\n"
    )
    result = check(tmp_path)
    assert result.returncode != 0
    assert "[Classification] maliciousRatio" in result.stderr
