"""TIE export rules and the exporter thread, with a small fake TIE."""

from __future__ import annotations

import threading

import pytest

from dxlvtservice.core.reports import Report
from dxlvtservice.reputation.tie import (
    Export,
    ExportPolicy,
    TieExporter,
    TieUnavailable,
    comment,
    file_name,
    held_by_another_provider,
)

MD5, SHA1, SHA256 = "a" * 32, "b" * 40, "c" * 64
HASHES = {"md5": MD5, "sha1": SHA1, "sha256": SHA256}
V2 = {"response_code": 1, "md5": MD5, "sha1": SHA1, "sha256": SHA256, "positives": 9}
V3 = {"data": {"type": "file", "attributes": {**HASHES, "meaningful_name": "setup.exe"}}}


def read(raw) -> Report:
    return Report.from_dict("file", raw)


def file_result(verdict: str = "malicious", indicator: str = SHA256) -> dict:
    link = f"https://www.virustotal.com/gui/file/{indicator}"
    return {"indicator": indicator, "type": "file", "verdict": verdict, "positives": 9,
            "total": 70, "permalink": link}  # fmt: skip


def test_the_filename_is_the_meaningful_name_else_the_sha256():
    assert file_name(read(V3), SHA256) == "setup.exe"
    assert file_name(read(V2), SHA256) == SHA256
    assert file_name(read({"data": {"attributes": {"meaningful_name": " "}}}), SHA256) == SHA256


def test_the_comment_gives_the_count_and_the_permalink():
    text = comment(file_result())
    assert "9/70" in text and f"https://www.virustotal.com/gui/file/{SHA256}" in text


@pytest.mark.parametrize(
    ("reputations", "held"),
    [
        ({}, False),
        ({1: {"trustLevel": 50}, 3: {"trustLevel": 0}}, False),
        ({15: {"trustLevel": 1}}, False),  # External's own reputation never blocks
        ({1: {"trustLevel": 99}}, True),  # GTI knows it
        ({5: {"trustLevel": 1}}, True),  # ATD
        ({3: {"trustLevel": 85}, 15: {"trustLevel": 70}}, True),  # an administrator
    ],
)
def test_another_providers_definitive_reputation_holds_the_file(reputations, held):
    assert held_by_another_provider(reputations) is held


def test_policy_exports_only_listed_file_verdicts_at_their_levels():
    policy = ExportPolicy(malicious_level=15, trusted_level=70)
    assert policy.export(file_result("malicious"), read(V3)) == Export(
        15, HASHES, "setup.exe", comment(file_result("malicious"))
    )
    assert policy.export(file_result("trusted"), read(V3)).trust_level == 70
    assert policy.export(file_result("no_match"), read(V3)) is None
    assert policy.export({**file_result(), "type": "url"}, read(V3)) is None
    assert ExportPolicy(trusted_level=None).export(file_result("trusted"), read(V3)) is None
    assert ExportPolicy(trusted_level=None).verdicts == {"malicious"}


class FakeTie:
    """Answers reputations from a table; fails while ``down``; records reports."""

    def __init__(self, reputations: dict | None = None, down: int = 0) -> None:
        self.table = reputations or {}
        self.down = down  # how many calls fail before TIE answers
        self.reports: list[Export] = []
        self.asked = 0
        self.settled = threading.Semaphore(0)

    def reputations(self, hashes: dict[str, str]) -> dict:
        self.asked += 1
        if self.down:
            self.down -= 1
            self.settled.release()
            raise TieUnavailable("unable to locate service for request")
        answer = self.table.get(hashes["sha256"], {})
        if answer:
            self.settled.release()
        return answer

    def report(self, export: Export) -> None:
        self.reports.append(export)
        self.settled.release()


def run(exporter: TieExporter, tie: FakeTie, offers: list, settled: int) -> None:
    exporter.start()
    for results, reports in offers:
        exporter.offer(results, reports)
    for _ in range(settled):
        assert tie.settled.acquire(timeout=10)
    exporter.stop()


def v3_file(sha256: str) -> dict:
    return {"data": {"attributes": {"md5": MD5, "sha1": SHA1, "sha256": sha256}}}


def test_one_export_per_verdict_change_keyed_on_the_sha256():
    tie = FakeTie()
    exporter = TieExporter(ExportPolicy(), tie)
    exporter.start()
    exporter.offer([file_result()] * 10, [V3] * 10)
    exporter.offer([file_result(indicator=MD5)], [V3])  # the same file, named by another hash
    assert tie.settled.acquire(timeout=10)
    exporter.offer([file_result("no_match"), file_result("malicious")], [V3, V3])
    assert tie.settled.acquire(timeout=10)
    exporter.stop()
    assert len(tie.reports) == 2
    assert exporter.stats()["sent"] == 2


def test_held_files_are_skipped_and_counted():
    tie = FakeTie({SHA256: {1: {"trustLevel": 99}}})
    exporter = TieExporter(ExportPolicy(), tie)
    run(exporter, tie, [([file_result("trusted")], [V3])], settled=1)
    assert tie.reports == []
    assert exporter.stats()["skipped"] == 1


def test_an_unavailable_tie_is_retried_and_shows_in_the_stats():
    tie = FakeTie(down=2)
    exporter = TieExporter(ExportPolicy(), tie, first_retry=0.01)
    run(exporter, tie, [([file_result()], [V3])], settled=3)
    assert len(tie.reports) == 1 and tie.asked == 3
    stats = exporter.stats()
    assert (stats["status"], stats["sent"], stats["pending"]) == ("ok", 1, 0)
    assert "unable to locate service" in stats["last_error"]


def test_pending_exports_are_bounded_and_the_latest_verdict_of_a_file_wins():
    exporter = TieExporter(ExportPolicy(), FakeTie(), pending=2)  # not started: nothing drains
    files = [v3_file(str(i) * 64) for i in range(4)]
    exporter.offer([file_result()] * 4, files)
    exporter.offer([file_result("trusted")], [files[0]])
    stats = exporter.stats()
    assert (stats["pending"], stats["dropped"]) == (2, 2)
    assert [e.trust_level for e in exporter._pending.values()] == [70, 1]


def test_results_without_a_file_report_are_ignored():
    exporter = TieExporter(ExportPolicy(), FakeTie())
    exporter.offer([file_result(), {**file_result(), "type": "url"}], [None, V3])
    assert exporter.stats()["pending"] == 0


def test_a_file_tie_keeps_refusing_does_not_block_the_others():
    refused = "d" * 64

    class Refusing(FakeTie):
        def reputations(self, hashes: dict[str, str]) -> dict:
            if hashes["sha256"] == refused:
                raise TieUnavailable("Error: internal error (500)")
            return {}

    tie = Refusing()
    exporter = TieExporter(ExportPolicy(), tie, first_retry=0.01)
    exporter.start()
    exporter.offer([file_result()] * 2, [v3_file(refused), V3])
    assert tie.settled.acquire(timeout=10)
    exporter.stop()
    assert [e.hashes["sha256"] for e in tie.reports] == [SHA256]
    assert exporter.stats()["pending"] == 1  # still waiting, behind no one
