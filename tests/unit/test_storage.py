"""Safe storage: no stored row is ever unpickled; directories nobody else can write to."""

import os
import pickle
import sqlite3
import stat
from pathlib import Path

import pytest
from diskcache.core import MODE_PICKLE

from dxlvtservice.core.reports import Report
from dxlvtservice.lookups.cache import ReportCache
from dxlvtservice.store.local import UnsafeDirectory, open_private_cache, private_directory

OTHER_UID = 4242
FILE = {"response_code": 1, "md5": "a" * 32, "positives": 3, "total": 70}


class _Touch:
    """Unpickling this creates ``path``: proof that a pickle ran."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self):
        return (Path.touch, (self.path,))


def read(raw) -> Report:
    """A file report as the lookups read it before filing it."""
    return Report.from_dict("file", raw)


def _plant(database: Path, sql: str, *params) -> None:
    connection = sqlite3.connect(database)
    with connection:
        connection.execute(sql, params)
    connection.close()


def test_a_planted_pickle_value_is_a_miss_and_never_runs(tmp_path):
    marker = tmp_path / "pwned"
    cache = ReportCache(tmp_path / "cache", max_entries=10, ttl=3600, negative_ttl=600)
    cache.put(["k"], read(FILE))
    cache.close()
    planted = pickle.dumps(_Touch(marker))
    _plant(tmp_path / "cache" / "reports" / "cache.db",
           "UPDATE Cache SET mode = ?, value = ?", MODE_PICKLE, planted)  # fmt: skip
    reopened = ReportCache(tmp_path / "cache", max_entries=10, ttl=3600, negative_ttl=600)
    assert reopened.get_fresh("k") is None
    assert not marker.exists()


def test_a_planted_pickle_key_is_refused_and_never_runs(tmp_path):
    marker = tmp_path / "pwned"
    cache = open_private_cache(tmp_path / "cache" / "reports")
    cache.set("k", 1)
    _plant(tmp_path / "cache" / "reports" / "cache.db",
           "UPDATE Cache SET raw = 0, key = ?", pickle.dumps(_Touch(marker)))  # fmt: skip
    with pytest.raises(OSError, match="not stored as JSON"):
        list(cache.iterkeys())
    cache.close()
    assert not marker.exists()


def test_json_rows_still_round_trip(tmp_path):
    with open_private_cache(tmp_path / "cache" / "reports") as cache:
        cache.set("k", {"big": "x" * 100_000, "n": [1, 2]})  # a file, not a row
        assert cache.get("k") == {"big": "x" * 100_000, "n": [1, 2]}
        assert list(cache.iterkeys()) == ["k"]


def test_directories_are_created_private(tmp_path):
    open_private_cache(tmp_path / "cache" / "quota").close()
    for path in (tmp_path / "cache", tmp_path / "cache" / "quota"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o700


def test_an_existing_directory_of_ours_is_tightened(tmp_path):
    directory = tmp_path / "cache"
    directory.mkdir(mode=0o755)
    directory.chmod(0o755)
    private_directory(directory)
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700


@pytest.mark.parametrize("mode", [0o777, 0o770, 0o702])
def test_a_directory_writable_by_others_is_refused(tmp_path, mode):
    directory = tmp_path / "cache"
    directory.mkdir()
    directory.chmod(mode)
    with pytest.raises(UnsafeDirectory, match="writable by group or others"):
        private_directory(directory)
    assert stat.S_IMODE(directory.stat().st_mode) == mode  # left as it was


@pytest.mark.skipif(os.geteuid() != 0, reason="giving a directory away needs root")
def test_a_directory_owned_by_another_user_is_refused(tmp_path):
    directory = tmp_path / "cache"
    directory.mkdir(mode=0o700)
    os.chown(directory, OTHER_UID, -1)
    with pytest.raises(UnsafeDirectory, match=f"owned by uid {OTHER_UID}"):
        open_private_cache(directory / "reports")


def test_an_unsafe_directory_degrades_the_cache_with_a_reason(tmp_path):
    directory = tmp_path / "cache"
    directory.mkdir()
    directory.chmod(0o777)
    cache = ReportCache(directory, max_entries=10, ttl=3600, negative_ttl=600)
    stats = cache.stats()
    assert stats["status"] == "degraded"
    assert "writable by group or others" in stats["last_error"]
    cache.put(["k"], read(FILE))
    assert cache.get_fresh("k") is None
    assert not (directory / "reports").exists()
