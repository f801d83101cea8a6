"""The v3 attributes the richer verdict rules read, shaped as VirusTotal documents them.

Each test names the documentation page its shape follows. ``trusted_verdict``
and ``gti_assessment`` are not described on docs.virustotal.com: their shapes
follow public client models and examples (noted on those tests).
"""

from __future__ import annotations

import time

import pytest

from devfabric.vtsim import dataset
from devfabric.vtsim.dataset import EXAMPLES, LABELS, OPINIONS, profile
from devfabric.vtsim.indicators import url_sha256

DAY = 86400


def v3_file(name: str) -> dict:
    identity = dataset.file_identity(EXAMPLES["file"][name])
    return dataset.v3_file(identity)["data"]["attributes"]


def v3_domain(name: str) -> dict:
    return dataset.v3_domain(EXAMPLES["domain"][name])["data"]["attributes"]


def test_popularity_ranks_shape():
    """https://docs.virustotal.com/reference/domains-object: ``popularity_ranks`` is a
    dictionary from a ranking's name to ``rank`` (integer) and ``timestamp`` (UTC)."""
    ranks = v3_domain("popular")["popularity_ranks"]
    assert set(ranks) == {"Cisco Umbrella", "Tranco", "Majestic", "Alexa"}
    for entry in ranks.values():
        assert set(entry) == {"rank", "timestamp"}
        assert isinstance(entry["rank"], int) and isinstance(entry["timestamp"], int)
    now = time.time()
    fresh = {name: e["rank"] for name, e in ranks.items() if now - e["timestamp"] < 400 * DAY}
    assert min(fresh.items(), key=lambda item: item[1]) == ("Cisco Umbrella", 5)
    assert now - ranks["Alexa"]["timestamp"] > 400 * DAY  # a stale list: rank 1, but old
    compromised = v3_domain("compromised")
    assert compromised["popularity_ranks"]["Cisco Umbrella"]["rank"] == 850
    assert compromised["last_analysis_stats"]["malicious"] == 9  # P >= the default M of 5
    assert "popularity_ranks" not in v3_domain("clean")


def test_known_distributors_shape():
    """https://docs.virustotal.com/reference/file-object-known-distributors: a dictionary of
    lists of strings: ``data_sources``, ``distributors``, ``filenames``, ``links``, ``products``."""
    attributes = v3_file("distributed")
    known = attributes["known_distributors"]
    assert set(known) == {"data_sources", "distributors", "filenames", "links", "products"}
    assert all(isinstance(v, list) and all(isinstance(x, str) for x in v) for v in known.values())
    assert known["distributors"] == ["Microsoft"]
    assert attributes["last_analysis_stats"]["malicious"] == 2  # flagged by two engines
    assert "known_distributors" not in v3_file("clean")


def test_trusted_verdict_shape():
    """Not on docs.virustotal.com; the shape follows public client material: a Python client's
    documented ``GET /files/{id}`` example and Rust client models (``trusted_verdict`` with
    ``filename``, ``link``, ``organization`` and ``verdict`` ``goodware``, all strings)."""
    verdict = v3_file("distributed")["trusted_verdict"]
    assert set(verdict) == {"filename", "link", "organization", "verdict"}
    assert verdict["verdict"] == "goodware" and verdict["organization"] == "Microsoft"


def test_crowdsourced_yara_results_shape():
    """https://docs.virustotal.com/reference/crowdsourced_yara_results: a list of matches with
    ``author``, ``description``, ``match_in_subfile`` (bool), ``rule_name``, ``ruleset_id``,
    ``ruleset_name`` and ``source``."""
    attributes = v3_file("crowdsourced")
    matches = attributes["crowdsourced_yara_results"]
    assert len(matches) == 2
    for match in matches:
        assert set(match) == {"author", "description", "match_in_subfile", "rule_name",
                              "ruleset_id", "ruleset_name", "source"}  # fmt: skip
        assert isinstance(match["match_in_subfile"], bool)
    assert attributes["last_analysis_stats"]["malicious"] == 1  # one detection


def test_sigma_analysis_stats_shape():
    """https://docs.virustotal.com/reference/sigma_analysis_stats: counts of matched Sigma
    rules by severity: ``critical``, ``high``, ``medium``, ``low``."""
    stats = v3_file("crowdsourced")["sigma_analysis_stats"]
    assert stats == {"critical": 1, "high": 2, "medium": 0, "low": 3}


def test_crowdsourced_ids_stats_shape():
    """https://docs.virustotal.com/reference/crowdsourced_ids_stats: counts of matched IDS
    rules by severity: ``high``, ``info``, ``low``, ``medium``."""
    stats = v3_file("crowdsourced")["crowdsourced_ids_stats"]
    assert stats == {"high": 2, "info": 4, "low": 1, "medium": 0}


def test_gti_assessment_shape():
    """Not on docs.virustotal.com (Google Threat Intelligence); the shape follows public client
    models of GTI responses: verdict, severity and threat score each an object with a ``value``
    (``VERDICT_MALICIOUS`` / ``VERDICT_BENIGN``, ``SEVERITY_HIGH``, an integer score), as in the
    Cortex XSOAR GoogleThreatIntelligence integration's "GTI verdict" settings."""
    gti = v3_file("gti")["gti_assessment"]
    assert gti["verdict"] == {"value": "VERDICT_MALICIOUS"}
    assert gti["severity"] == {"value": "SEVERITY_HIGH"}
    assert isinstance(gti["threat_score"]["value"], int)
    assert v3_file("gti")["last_analysis_stats"]["malicious"] == 2


@pytest.mark.parametrize(
    ("name", "not_run", "opinions"),
    [("partial", {"timeout": 3, "confirmed-timeout": 2, "failure": 1, "type-unsupported": 10}, 54),
     ("unsupported", {"type-unsupported": 70}, 0)],
)  # fmt: skip
def test_engines_that_did_not_run(name, not_run, opinions):
    """https://docs.virustotal.com/reference/analyses-object: result categories
    ``confirmed-timeout``, ``timeout``, ``failure`` and ``type-unsupported`` (file analyses)
    besides the opinions ``harmless``, ``undetected``, ``suspicious``, ``malicious``; the v2
    report lists only the engines that ran."""
    attributes = v3_file(name)
    stats = attributes["last_analysis_stats"]
    assert {category: stats[category] for category in not_run} == not_run
    assert sum(stats[category] for category in OPINIONS) == opinions
    categories = [r["category"] for r in attributes["last_analysis_results"].values()]
    assert {c: categories.count(c) for c in not_run} == not_run
    identity = dataset.file_identity(EXAMPLES["file"][name])
    v2 = dataset.v2_file_report(identity, identity.sha256)
    assert v2["total"] == len(v2["scans"]) == opinions


def test_preferred_engines_are_among_the_detecting_ones():
    """https://docs.virustotal.com/reference/analyses-object: ``last_analysis_results`` keyed by
    engine name, each with its ``category``; Microsoft is past the first 20 engines."""
    results = v3_file("preferred")["last_analysis_results"]
    detecting = sorted(e for e, r in results.items() if r["category"] == "malicious")
    assert detecting == ["CrowdStrike", "Microsoft"]
    assert list(results).index("Microsoft") >= 20


def test_ratio_example_is_20_of_90():
    known = profile("url", url_sha256(EXAMPLES["url"]["ratio"]))
    assert (known.positives, known.total) == (20, 90)


def test_labels_name_existing_examples():
    for kind, name in LABELS:
        assert name in EXAMPLES[kind]
        assert profile(kind, _key(kind, EXAMPLES[kind][name])).found
    assert set(LABELS.values()) == {"malicious", "benign"}


def _key(kind: str, value: str) -> str:
    return url_sha256(value) if kind == "url" else value
