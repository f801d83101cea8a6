"""Each example under sample/basic runs against a service on the development fabric."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from devfabric.services import ServiceProcess

from .conftest import FAST

ROOT = Path(__file__).resolve().parents[2]
BASIC = ROOT / "sample" / "basic"
VERDICTS = {"malicious", "trusted", "no_match", "report_missing", "report_error"}


@pytest.fixture(scope="module")
def client_config(fabric, dxl, tmp_path_factory):
    """A running service (the only one during this module) and a config for the examples."""
    fabric.simulator.reset(settings=True)
    fabric.simulator.configure(premium=True)  # file/rescan is premium API upstream
    directory = tmp_path_factory.mktemp("samples")
    service = ServiceProcess(fabric, directory / "service", "vt-samples", FAST)
    service.start(dxl)
    yield fabric.write_client_config(directory / "client", "sample-client")
    service.stop()
    fabric.simulator.reset(settings=True)


def run_example(name: str, client_config: Path) -> str:
    env = {**os.environ, "DXLVT_CLIENT_CONFIG": str(client_config),
           "PYTHONPATH": str(ROOT)}  # this checkout's dxlvtservice  # fmt: skip
    done = subprocess.run([sys.executable, str(BASIC / f"basic_{name}_example.py")],
                          capture_output=True, text=True, env=env, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout


def json_of(output: str):
    """The JSON an example prints first (the classify example adds a line after it)."""
    return json.JSONDecoder().raw_decode(output)[0]


CHECKS = {
    "classify": lambda answer: (
        {r["indicator"] for r in answer["results"]}
        == {"10.1.2.3", "http://malware.example.com/gate", "44d88612fea8a8f36de82e1278abb02f"}
        and answer["verdict"] in VERDICTS
    ),
    "analyze": lambda result: result["verdict"] == "malicious",
    "health": lambda health: health["instance"] == "vt-samples",
    "file_report": lambda report: report["resource"] == "44d88612fea8a8f36de82e1278abb02f",
    "file_rescan": lambda answer: answer["response_code"] == 1,
    "url_report": lambda report: report["positives"] > 0,
    "url_scan": lambda answer: answer["url"].startswith("http://new.example.com/"),
    "ip_report": lambda report: report["response_code"] == 1,
    "domain_report": lambda report: report["response_code"] == 1,
    "verdict_event": lambda event: (event["verdict"] == "malicious"
                                    and event["indicator"].startswith("http://malware.")),
}  # fmt: skip


def test_every_example_is_tested():
    examples = {path.stem.removeprefix("basic_").removesuffix("_example")
                for path in BASIC.glob("basic_*_example.py")}  # fmt: skip
    assert examples == set(CHECKS)


@pytest.mark.parametrize("name", sorted(CHECKS))
def test_example(name, client_config):
    output = run_example(name, client_config)
    assert CHECKS[name](json_of(output)), output
