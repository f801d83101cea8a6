"""First-instance enrichment: which file an announcement names, and bounded background lookups."""

from __future__ import annotations

import base64
import json
from concurrent.futures import Future
from types import SimpleNamespace

import pytest

from dxlvtservice.core.indicators import Indicator, IndicatorType
from dxlvtservice.reputation.enrichment import FirstInstanceEnricher, announced_hash
from dxlvtservice.topics.requests import ClassifyRequest, Named

MD5, SHA1, SHA256 = "a1" * 16, "b2" * 20, "c3" * 32


def announcement(**hashes: str) -> bytes:
    values = [{"type": kind, "value": base64.b64encode(bytes.fromhex(hex_)).decode()}
              for kind, hex_ in hashes.items()]  # fmt: skip
    return json.dumps({"agentGuid": "{a}", "hashes": values, "name": "x.exe"}).encode()


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        (announcement(md5=MD5, sha1=SHA1, sha256=SHA256), SHA256),
        (announcement(md5=MD5, sha1=SHA1), SHA1),
        (announcement(md5=MD5), MD5),
        (announcement(sha256=MD5), None),  # a digest of the wrong size
        (b'{"hashes": [{"type": "md5", "value": "%%%"}]}', None),
        (b'{"hashes": "md5"}', None),
        (b"{}", None),
        (b"not json", None),
        (None, None),
    ],
)
def test_the_announced_file_is_its_strongest_hash(payload, expected):
    assert announced_hash(payload) == expected


def test_lookups_in_flight_are_bounded_and_counted():
    pending: list[Future] = []

    asked: list[ClassifyRequest] = []

    def classify(request: ClassifyRequest) -> Future:
        asked.append(request)
        pending.append(Future())
        return pending[-1]

    enricher = FirstInstanceEnricher(classify, limit=2)
    for _ in range(3):
        enricher.on_event(SimpleNamespace(payload=announcement(sha256=SHA256)))
    enricher.on_event(SimpleNamespace(payload=b"{}"))
    assert enricher.stats() == {"status": "on", "enriched": 0, "ignored": 1,
                                     "dropped": 1, "in_flight": 2}  # fmt: skip
    for future in pending:
        future.set_result({})
    enricher.on_event(SimpleNamespace(payload=announcement(md5=MD5)))
    assert (enricher.stats()["enriched"], enricher.stats()["in_flight"]) == (2, 1)
    file = Indicator(IndicatorType.FILE, MD5)
    assert asked[-1] == ClassifyRequest(sources=(Named((file,)),), lane="background")
