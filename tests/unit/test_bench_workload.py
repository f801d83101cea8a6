"""The benchmark's workload: deterministic for a seed, and Zipf-shaped."""

from __future__ import annotations

import re
from collections import Counter

import pytest

from bench.workload import (
    domain_stream,
    file_hashes,
    hash_stream,
    indicator_text,
    zipf_weights,
    zipf_workload,
)
from dxlvtservice.topics.discovery import find_indicators
from dxlvtservice.topics.requests import Text


def test_the_same_seed_gives_the_same_requests_and_another_seed_others():
    first = zipf_workload(300, 50, seed=7)
    assert first == zipf_workload(300, 50, seed=7)
    assert first != zipf_workload(300, 50, seed=8)
    assert len(first.requests) == 300


def test_requests_are_sha256_hashes_drawn_from_the_distinct_ones():
    workload = zipf_workload(500, 30, seed=1)
    universe = set(file_hashes(30, "zipf"))
    assert set(workload.requests) <= universe
    assert workload.distinct == len(set(workload.requests)) <= 30
    assert all(re.fullmatch(r"[0-9a-f]{64}", resource) for resource in workload.requests)


def test_labels_give_hashes_no_other_label_has():
    assert len(set(file_hashes(100, "zipf")) | set(file_hashes(100, "burst"))) == 200


def test_weights_fall_as_one_over_rank_to_the_exponent():
    weights = zipf_weights(10, 1.5)
    assert sum(weights) == pytest.approx(1.0)
    assert weights[0] / weights[3] == pytest.approx(4**1.5)
    assert weights == sorted(weights, reverse=True)


def test_drawn_frequencies_follow_the_zipf_law():
    workload = zipf_workload(40_000, 100, exponent=1.0, seed=3)
    counts = Counter(workload.requests)
    ranked = [counts[resource] for resource in file_hashes(100, "zipf")]
    weights = zipf_weights(100, 1.0)
    assert ranked[0] / len(workload.requests) == pytest.approx(weights[0], rel=0.05)
    assert ranked[0] / ranked[1] == pytest.approx(2.0, rel=0.1)
    assert ranked[0] / ranked[9] == pytest.approx(10.0, rel=0.2)
    assert workload.most_common(1) == [file_hashes(1, "zipf")[0]]


def test_split_deals_every_request_round_robin_in_order():
    workload = zipf_workload(10, 5, seed=2)
    parts = workload.split(3)
    assert [len(part) for part in parts] == [4, 3, 3]
    assert parts[1] == [workload.requests[1], workload.requests[4], workload.requests[7]]
    assert sorted(r for part in parts for r in part) == sorted(workload.requests)


def test_nonsense_sizes_are_refused():
    with pytest.raises(ValueError):
        zipf_workload(10, 0)
    with pytest.raises(ValueError):
        zipf_workload(-1, 10)


def test_streams_give_fresh_names_without_end_and_other_labels_give_others():
    from itertools import islice

    hashes = list(islice(hash_stream("backlog"), 500))
    domains = list(islice(domain_stream("backlog"), 500))
    assert len(set(hashes)) == len(set(domains)) == 500
    assert hashes[:10] == file_hashes(10, "backlog")
    assert not set(domains) & set(islice(domain_stream("other"), 500))
    assert all(re.fullmatch(r"[a-z0-9-]+(\.[a-z0-9-]+)+", name) for name in domains)


TEXT_INDICATORS = [
    "ec4f15f2ab986db001d08fe62073d3ae68378941529e392733092bd840998970",
    "http://malware.example.com/payload.exe",
    "adware.example.net",
    "192.0.43.66",
    "8b3e14610d38de0300d7500a5d87247c111232c31a4dba40c6ffa7e8c8c480a2",
]


@pytest.mark.parametrize("size", [300, 4096, 4097])
def test_indicator_text_has_the_size_asked_and_names_each_indicator_once(size):
    text = indicator_text(TEXT_INDICATORS, size)
    assert len(text.encode()) == size
    assert all(text.count(indicator) == 1 for indicator in TEXT_INDICATORS)
    assert text == indicator_text(TEXT_INDICATORS, size)


def test_classify_finds_exactly_the_indicators_a_text_names():
    found = find_indicators([Text(indicator_text(TEXT_INDICATORS, 4096))], max_indicators=100)
    assert [indicator.value for indicator in found] == TEXT_INDICATORS


def test_indicators_that_do_not_fit_are_refused():
    with pytest.raises(ValueError):
        indicator_text(TEXT_INDICATORS, 100)
