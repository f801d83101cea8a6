"""The container and the systemd unit run the service unprivileged, checked and restartable."""

from __future__ import annotations

import configparser
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def unit() -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    parser.optionxform = str  # systemd keys are case-sensitive
    parser.read(ROOT / "config" / "dxlvtservice.service")
    return parser


def test_systemd_unit_is_unprivileged_and_sandboxed():
    service = unit()["Service"]
    assert service["User"] not in ("", "root") and service["Group"] not in ("", "root")
    assert service["Restart"] == "on-failure"
    assert service["NoNewPrivileges"] == "yes" and service["ProtectSystem"] == "strict"
    assert service["CapabilityBoundingSet"] == ""
    assert service["CacheDirectory"] == "dxlvtservice"  # /var/cache/dxlvtservice
    assert service["CacheDirectoryMode"] == "0700"
    assert service["Environment"] == "XDG_CACHE_HOME=/var/cache"
    assert service["ExecStart"].endswith("dxlvtservice /etc/dxlvtservice")
    assert "--check-config /etc/dxlvtservice" in service["ExecStartPre"]
    # SIGTERM drains within shutdownGraceSec (10 s by default): systemd must wait longer.
    assert int(service["TimeoutStopSec"]) > 10


def test_container_runs_unprivileged_with_a_healthcheck():
    dockerfile = (ROOT / "Dockerfile").read_text()
    users = re.findall(r"^USER (\S+)", dockerfile, re.MULTILINE)
    assert users and users[-1] not in ("root", "0")
    final_stage = dockerfile.rsplit("FROM ", 1)[1]
    assert "HEALTHCHECK" in final_stage
    assert final_stage.index("USER") < final_stage.index("ENTRYPOINT")
    assert re.search(r'HEALTHCHECK .*\n\s+CMD \["dxlvtservice-cli".*"health"', final_stage)
