"""The client library and the command line against a running service on the fabric."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from devfabric.services import ServiceProcess
from devfabric.vtsim.dataset import EXAMPLES
from dxlvtservice.client import VirusTotalServiceClient, VirusTotalServiceError

from .conftest import FAST

ROOT = Path(__file__).resolve().parents[2]
MALICIOUS = EXAMPLES["file"]["malicious"]
CLEAN = EXAMPLES["file"]["clean"]


@pytest.fixture(scope="module")
def service(fabric, dxl, tmp_path_factory):
    """One service for the module: these tests only read from it."""
    fabric.simulator.reset(settings=True)
    directory = tmp_path_factory.mktemp("client-cli")
    running = ServiceProcess(fabric, directory, "vt-client-cli", {
        **FAST, "Classification": {"internalDomains": "corp.example.com"}})  # fmt: skip
    running.start(dxl)
    yield running
    running.stop()


@pytest.fixture(scope="module")
def vt(dxl, service) -> VirusTotalServiceClient:
    return VirusTotalServiceClient(dxl)


@pytest.fixture(scope="module")
def client_config(fabric, tmp_path_factory) -> Path:
    return fabric.write_client_config(tmp_path_factory.mktemp("cli"), "cli-client")


# -- the client library ----------------------------------------------------------


def test_classify_finds_and_classifies(vt):
    answer = vt.classify(hash=[MALICIOUS, CLEAN], text="and see 10.0.0[.]1")
    verdicts = {result["indicator"]: result["verdict"] for result in answer["results"]}
    assert verdicts == {MALICIOUS: "malicious", CLEAN: "trusted", "10.0.0.1": "report_missing"}
    assert answer["verdict"] == "malicious"


def test_analyze_and_health(vt):
    result = vt.analyze("file", {"response_code": 1, "positives": 3, "total": 70},
                        rules={"malicious_positives": 3})  # fmt: skip
    assert result["verdict"] == "malicious" and result["cached"] is False
    health = vt.health()
    assert health["instance"] == "vt-client-cli" and health["upstream"]["status"] == "ok"


def test_compatible_calls(vt):
    reports = vt.file_report([MALICIOUS, CLEAN])
    assert [report["response_code"] for report in reports] == [1, 1]
    assert vt.domain_report(EXAMPLES["domain"]["malicious"])["response_code"] == 1
    assert vt.ip_report(EXAMPLES["ip"]["clean"])["response_code"] == 1
    assert vt.url_report(EXAMPLES["url"]["malicious"])["positives"] > 0
    assert vt.url_scan("http://new.example.com/page")["response_code"] == 1


def test_service_errors_raise_with_their_code(vt):
    with pytest.raises(VirusTotalServiceError) as internal:
        vt.domain_report("wiki.corp.example.com")
    assert internal.value.code == 403 and internal.value.retry_after is None
    with pytest.raises(VirusTotalServiceError) as bad:
        vt.analyze("email", {})
    assert bad.value.code == 400 and "type" in bad.value.message


def test_requests_to_one_named_instance(dxl, service):
    vt = VirusTotalServiceClient(dxl)
    assert "vt-client-cli" in vt.instances()
    vt.use_instance("vt-client-cli")
    assert vt.service_id == service.registration["serviceGuid"]
    assert vt.health()["instance"] == "vt-client-cli"
    with pytest.raises(VirusTotalServiceError, match="no instance 'vt-absent'"):
        vt.use_instance("vt-absent")


def test_verdict_callback_receives_events(vt):
    received: list[dict] = []
    arrived = threading.Event()

    def on_verdict(result: dict) -> None:
        received.append(result)
        arrived.set()

    vt.add_verdict_callback(on_verdict)
    try:
        vt.classify(domain=EXAMPLES["domain"]["malicious"])
        assert arrived.wait(30)
    finally:
        vt.remove_verdict_callback(on_verdict)
    assert received[0]["indicator"] == EXAMPLES["domain"]["malicious"]
    assert received[0]["verdict"] == "malicious"


# -- the command line, as a script runs it ---------------------------------------


def cli(*args: str, config: Path | None, stdin: str = "") -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "dxlvtservice.cli"]
    command += ["-c", str(config)] if config else []
    return subprocess.run([*command, *args], input=stdin, capture_output=True, text=True,
                          cwd=ROOT, timeout=120)  # fmt: skip


def test_cli_classify_malicious_exits_1_with_a_table(service, client_config):
    done = cli("classify", MALICIOUS, "www.example.org", config=client_config)
    assert done.returncode == 1, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].split()[:3] == ["verdict", "type", "indicator"]
    rows = {line.split()[2]: line.split() for line in lines[1:]}
    assert rows[MALICIOUS][:2] == ["malicious", "file"]
    assert rows["www.example.org"][:2] == ["trusted", "domain"]
    assert "\x1b[" not in done.stdout  # not a terminal: no colour


def test_cli_classify_clean_text_from_stdin_exits_0_with_json(service, client_config):
    done = cli("classify", "--file", "-", "--json", config=client_config.parent,
               stdin=f"the installer {CLEAN} is signed")  # fmt: skip
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert answer["verdict"] == "trusted"
    assert [result["indicator"] for result in answer["results"]] == [CLEAN]


def test_cli_analyze_and_report(service, client_config, tmp_path):
    report = tmp_path / "report.json"
    report.write_text(json.dumps({"response_code": 1, "positives": 40, "total": 70}))
    assert cli("analyze", "file", str(report), config=client_config).returncode == 1
    done = cli("report", "domain", EXAMPLES["domain"]["clean"], "--json", config=client_config)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["response_code"] == 1
    done = cli("report", "file", MALICIOUS, CLEAN, config=client_config)
    assert done.returncode == 1, done.stderr
    assert {line.split()[0] for line in done.stdout.splitlines()[1:]} == {"malicious", "trusted"}


def test_cli_health(service, client_config):
    done = cli("health", config=client_config)
    assert done.returncode == 0, done.stderr
    assert "vt-client-cli" in done.stdout and "upstream   ok" in done.stdout


def test_cli_health_of_an_instance(service, client_config):
    named = cli("health", "--instance", "vt-client-cli", config=client_config)
    assert named.returncode == 0, named.stderr
    # Without a name: the instance that the -c folder's dxlvtservice.config runs,
    # as the container's HEALTHCHECK asks it.
    local = cli("health", "--instance", "--json", config=service.config_dir)
    assert local.returncode == 0, local.stderr
    assert json.loads(local.stdout)["instance"] == "vt-client-cli"
    absent = cli("health", "--instance", "vt-absent", config=client_config)
    assert absent.returncode == 2 and "vt-absent" in absent.stderr


def test_the_containers_healthcheck_command(service):
    """The Dockerfile's HEALTHCHECK, run as written with the service's config folder."""
    line = next(line for line in (ROOT / "Dockerfile").read_text().splitlines()
                if line.strip().startswith("CMD [\"dxlvtservice-cli\""))  # fmt: skip
    command = json.loads(line.strip().removeprefix("CMD "))
    done = subprocess.run(
        [sys.executable, "-m", "dxlvtservice.cli", *command[1:]], capture_output=True, text=True,
        cwd=ROOT, timeout=60, env={**os.environ, "DXLVT_CLIENT_CONFIG": str(service.config_dir)},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "vt-client-cli" in done.stdout


def test_cli_errors_exit_2(service, client_config, tmp_path):
    internal = cli("report", "ip", "10.1.2.3", config=client_config)
    assert internal.returncode == 2 and "error 403" in internal.stderr
    assert cli("classify", config=client_config).returncode == 2
    garbage = cli("classify", "not-an-indicator", config=client_config)
    assert garbage.returncode == 2 and "no hash, URL, domain or IP" in garbage.stderr
    nothing = cli("classify", "--text", "a quiet day", config=client_config)
    assert nothing.returncode == 0, nothing.stderr


def test_cli_without_a_broker_exits_2(client_config, tmp_path):
    with socket.socket() as probe:  # a loopback port nobody listens on
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    text = client_config.read_text()
    broker_line = next(line for line in text.splitlines() if line.startswith("{"))
    broker_id, rest = broker_line.split(" = ")
    parts = rest.split(";")
    parts[1] = str(closed)
    (tmp_path / "dxlclient.config").write_text(
        text.replace(broker_line, f"{broker_id} = {';'.join(parts)}")
    )
    done = cli("health", config=tmp_path)
    assert done.returncode == 2 and "cannot connect" in done.stderr
