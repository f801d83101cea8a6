"""The cache's capacity and its directory's safety, through the fabric."""

from __future__ import annotations

import hashlib
import stat

from .conftest import FAST, answer, request


def _files(count: int) -> list[str]:
    return [hashlib.sha256(f"capacity-{i}".encode()).hexdigest() for i in range(count)]


def test_cache_capacity_counts_reports_not_keys(dxl, start_service, simulator):
    """A file report is filed under md5, sha1 and sha256: one entry of
    responseCacheMaxSize, not three (once, 50 held only 16 file reports)."""
    start_service({**FAST, "Cache": {"responseCacheMaxSize": 50}})
    hashes = _files(40)
    found = [answer(request(dxl, "/file/report", {"resource": sha256})) for sha256 in hashes]
    assert sum(report["response_code"] == 1 for report in found) >= 30  # most file reports
    calls = simulator.stats()["calls"]
    for sha256 in hashes:
        answer(request(dxl, "/file/report", {"resource": sha256}))
    assert simulator.stats()["calls"] == calls
    health = answer(request(dxl, "/health", {}))
    assert health["cache"]["entries"] == 40


def test_a_world_writable_cache_directory_is_refused_with_a_reason(
    dxl, start_service, simulator, tmp_path
):
    """Anyone who can write to the cache directory could plant rows: the service
    runs without a cache and says why, and still answers."""
    cache = tmp_path / "shared-cache"
    cache.mkdir()
    cache.chmod(0o777)
    start_service({**FAST, "Cache": {"cacheDirectory": cache}})
    file = _files(1)[0]
    assert "response_code" in answer(request(dxl, "/file/report", {"resource": file}))
    health = answer(request(dxl, "/health", {}))
    assert health["cache"]["status"] == "degraded"
    assert "writable by group or others" in health["cache"]["last_error"]
    assert "response_code" in answer(request(dxl, "/file/report", {"resource": file}))
    assert simulator.stats()["calls"] == 2  # no cache: asked twice


def test_the_ledgers_directory_is_private_with_the_cache_off(
    dxl, start_service, simulator, tmp_path
):
    cache = tmp_path / "ledger-only"
    start_service({**FAST, "Cache": {"cacheDirectory": cache, "cacheApiResponses": "no"}})
    answer(request(dxl, "/health", {}))
    for directory in [cache, *[p for p in cache.rglob("*") if p.is_dir()]]:
        assert stat.S_IMODE(directory.stat().st_mode) == 0o700, directory
