"""The service assembled from Settings without a fabric: the store the configuration names."""

from __future__ import annotations

import pytest

from devfabric.redis import RedisServer
from devfabric.vtsim.server import Simulator
from devfabric.vtsim.state import Settings as SimulatorSettings
from dxlvtservice.build import build
from dxlvtservice.config import Fleet, Settings
from dxlvtservice.core.indicators import Indicator, IndicatorType

KEY = "de70" * 16
DOMAIN = Indicator(IndicatorType.DOMAIN, "malware.example.com")
FAST = {"rate_limit_requests": False, "discover_quota": False}


@pytest.fixture
def simulator():
    running = Simulator(SimulatorSettings(api_key=KEY)).start()
    yield running
    running.stop()


@pytest.fixture
def assemble(simulator):
    """Build (and start) parts from settings; each is stopped and closed at the end."""
    built = []

    def make(**settings):
        settings = Settings(api_key=KEY, base_url=simulator.url, **FAST, **settings)
        parts = build(settings, lambda verdict: None, lambda: None)
        parts.start()
        built.append(parts)
        return parts

    yield make
    for parts in built:
        parts.stop_background()
        parts.scheduler.stop(1)
        parts.close()


def test_without_a_fleet_the_store_is_the_cache_directory(assemble, tmp_path):
    parts = assemble(cache_directory=tmp_path / "cache")
    assert parts.stores.status.to_dict() == {"kind": "local", "status": "ok", "last_error": None}
    assert parts.lookups.claims is None
    assert parts.lookups.report(2, DOMAIN).result(10).report["response_code"] == 1
    assert (tmp_path / "cache" / "reports").is_dir() and (tmp_path / "cache" / "quota").is_dir()


def test_two_hosts_on_one_redis_share_reports(assemble, simulator, tmp_path):
    with RedisServer(tmp_path / "redis") as server:
        fleet = Fleet(store_url=server.url, key_prefix="build", instances=2)
        first = assemble(cache_directory=tmp_path / "first", fleet=fleet)
        second = assemble(cache_directory=tmp_path / "second", fleet=fleet)
        assert first.stores.status.kind == "redis" and first.lookups.claims is not None
        report = first.lookups.report(2, DOMAIN).result(10)
        again = second.lookups.report(2, DOMAIN).result(10)
        assert again.cached and again.report == report.report
        assert simulator.state.stats()["calls"] == 1
        assert not (tmp_path / "first" / "reports").exists()  # nothing on the host's disk
