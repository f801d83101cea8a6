"""The report cache: keys, freshness, JSON storage, degradation."""

import json
import os
import sqlite3
import stat
import zlib

import diskcache

from dxlvtservice.core.reports import Report
from dxlvtservice.lookups.cache import ReportCache, lookup_key, report_keys

FILE = {"response_code": 1, "md5": "A" * 32, "sha1": "b" * 40, "sha256": "c" * 64,
        "positives": 3, "total": 70}  # fmt: skip
NOT_FOUND = {"response_code": 0, "resource": "d" * 32, "verbose_msg": "not found"}


def read(raw) -> Report:
    """A file report as the lookups read it before filing it."""
    return Report.from_dict("file", raw)


def make(tmp_path, now, **kwargs):
    options = {"max_entries": 100, "ttl": 3600, "negative_ttl": 600, **kwargs}
    return ReportCache(tmp_path / "cache", clock=lambda: now[0], **options)


def test_file_report_is_filed_under_every_hash():
    keys = report_keys(2, "file", "c" * 64, read(FILE))
    assert keys == [f"v2:file:{'c' * 64}", f"v2:file:{'a' * 32}", f"v2:file:{'b' * 40}"]


def test_v3_file_report_is_filed_under_every_hash():
    report = {"data": {"attributes": {"md5": "1" * 32, "sha1": "2" * 40, "sha256": "3" * 64}}}
    assert len(report_keys(3, "file", "1" * 32, read(report))) == 3


def test_a_report_fetched_by_scan_id_is_filed_under_that_scan_id_only():
    scan_id = f"{'c' * 64}-1500000000"
    assert report_keys(2, "file", scan_id, read(FILE)) == [f"v2:file:{scan_id}"]


def test_fresh_then_stale(tmp_path):
    now = [1000.0]
    cache = make(tmp_path, now)
    key = lookup_key(2, "file", "c" * 64)
    report = read(FILE)
    cache.put(report_keys(2, "file", "c" * 64, report), report)
    assert cache.get_fresh(lookup_key(2, "file", "a" * 32)).report == FILE
    now[0] += 3600
    assert cache.get_fresh(key) is None
    assert cache.get(key).report == FILE  # kept for stale answers
    assert cache.stats()["hits"] == 1 and cache.stats()["misses"] == 1


def test_negative_answers_use_their_own_ttl(tmp_path):
    now = [0.0]
    cache = make(tmp_path, now)
    cache.put(["k"], read(NOT_FOUND))
    now[0] += 599
    assert cache.get_fresh("k").negative
    now[0] += 1
    assert cache.get_fresh("k") is None


def test_max_age_forces_a_fresh_lookup(tmp_path):
    now = [0.0]
    cache = make(tmp_path, now)
    cache.put(["k"], read(FILE))
    now[0] += 10
    assert cache.get_fresh("k", max_age=60) is not None
    assert cache.get_fresh("k", max_age=0) is None


def test_errors_are_never_kept(tmp_path):
    cache = make(tmp_path, [0.0])
    cache.put(["k"], read({"response_code": -2}))
    assert cache.get("k") is None


def test_stored_as_json_not_pickle(tmp_path):
    cache = make(tmp_path, [0.0])
    cache.put(["k"], read(FILE))
    cache.close()
    database = sqlite3.connect(tmp_path / "cache" / "reports" / "cache.db")
    modes = {row[0] for row in database.execute("SELECT mode FROM Cache")}
    raw = [row[0] for row in database.execute("SELECT value FROM Cache")]
    database.close()
    # JSONDisk stores zlib-compressed JSON as raw bytes; nothing may be a pickle.
    assert diskcache.core.MODE_PICKLE not in modes
    assert json.loads(zlib.decompress(raw[0]))["report"] == FILE


def test_directory_is_private(tmp_path):
    make(tmp_path, [0.0]).close()
    mode = stat.S_IMODE(os.stat(tmp_path / "cache").st_mode)
    assert mode == 0o700


def test_persists_across_instances(tmp_path):
    first = make(tmp_path, [0.0])
    first.put(["k"], read(FILE))
    first.close()
    assert make(tmp_path, [1.0]).get_fresh("k").report == FILE


def test_entry_limit_evicts_oldest(tmp_path):
    now = [0.0]
    cache = make(tmp_path, now, max_entries=10)
    for i in range(12):
        now[0] += 1
        cache.put([f"k{i}"], read(FILE))
    assert cache.entries() <= 10
    assert cache.get("k11") is not None
    assert cache.get("k0") is None


def test_corrupt_cache_degrades_to_no_cache(tmp_path):
    directory = tmp_path / "cache" / "reports"
    directory.mkdir(parents=True)
    (directory / "cache.db").write_bytes(b"this is not a database" * 100)
    cache = make(tmp_path, [0.0])
    assert cache.stats()["status"] == "degraded"
    cache.put(["k"], read(FILE))
    assert cache.get_fresh("k") is None


def test_disabled_cache_keeps_nothing(tmp_path):
    cache = make(tmp_path, [0.0], enabled=False)
    cache.put(["k"], read(FILE))
    assert cache.get("k") is None
    assert cache.stats()["status"] == "disabled"


def test_memory_front_defers_to_a_newer_report_from_another_process(tmp_path):
    now = [0.0]
    ours = make(tmp_path, now)
    theirs = make(tmp_path, now)
    ours.put(["k"], read(FILE))
    assert ours.get_fresh("k").report == FILE  # from memory
    now[0] += 3600
    newer = {**FILE, "positives": 9}
    theirs.put(["k"], read(newer))
    assert ours.get_fresh("k").report == newer
