"""Start and stop the development fabric: the broker double and the VirusTotal simulator.

Given a ``dxlclient.config`` for another broker (a real fabric), only the
simulator starts, and every client of the fabric connects to that broker.

Both run as child processes (``python -m ...``) that announce themselves by
writing a *ready file*, ``{"port": N, "pid": P, ...}``, once they listen, and
that exit on SIGTERM. :class:`Fabric` is the one entry point of tests,
benchmarks and the demo.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from configobj import ConfigObj

from .certs import Pki, write_private
from .process import LoggedProcess

if TYPE_CHECKING:
    from .vtsim.control import SimulatorControl

# The simulator's API key: not a VirusTotal key, and never to be one.
DEMO_API_KEY = "de70" * 16

HOST = "127.0.0.1"
BROKER_ID = "{devfabric-broker}"


def write_client_config(directory: Path, name: str, *, pki: Pki, broker_port: int) -> Path:
    """Issue a certificate for client ``name`` and write a ``dxlclient.config`` beside it."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    cert, key = pki.issue_client(name, directory)
    chain = directory / "brokercerts.crt"
    write_private(chain, pki.broker_ca_cert.read_bytes())
    config = directory / "dxlclient.config"
    write_private(
        config,
        (
            "[Certs]\n"
            f"BrokerCertChain = {chain.resolve()}\n"
            f"CertFile = {cert.resolve()}\n"
            f"PrivateKey = {key.resolve()}\n"
            "\n"
            "[Brokers]\n"
            f"{BROKER_ID} = {BROKER_ID};{broker_port};{HOST};{HOST}\n"
            "\n"
            "[BrokersWebSockets]\n"
        ).encode(),
    )
    return config


def copy_client_config(source: Path, directory: Path) -> Path:
    """``source`` as ``directory/dxlclient.config``: its certificate paths made absolute
    (dxlclient reads relative ones from the config's folder), its ``ClientId`` left
    out (each client that reads the copy must be a client of its own)."""
    source = Path(source).resolve()
    config = ConfigObj(str(source), raise_errors=True, file_error=True)
    certs = config.get("Certs", {})
    for key, value in certs.items():
        certs[key] = str(source.parent / value)  # an absolute value stays as it is
    config.get("General", {}).pop("ClientId", None)
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "dxlclient.config"
    config.filename = None  # so that write() returns the lines instead of writing them
    write_private(path, ("\n".join(config.write()) + "\n").encode())
    return path


class ChildProcess(LoggedProcess):
    """A ``python -m MODULE`` child that writes a ready file, and is stopped by its pid."""

    def __init__(self, name: str, module: str, args: Sequence[str], workdir: Path) -> None:
        super().__init__(Path(workdir) / f"{name}.log")
        self.name = name
        self.ready_file = Path(workdir) / f"{name}.ready.json"
        self._command = [sys.executable, "-m", module, *args, "--ready-file", str(self.ready_file)]

    def start(self) -> None:  # type: ignore[override]
        self.ready_file.parent.mkdir(parents=True, exist_ok=True)
        self.ready_file.unlink(missing_ok=True)
        super().start(self._command)

    def wait_ready(self, timeout: float = 30.0) -> dict[str, Any]:
        """The ready file's content, once written; raises with the log's tail if it never is."""
        deadline = time.monotonic() + timeout
        while not self.ready_file.exists():
            if not self.running:
                raise RuntimeError(f"{self.name} exited before it was ready:\n{self.log_tail()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.name} not ready after {timeout:g} s:\n{self.log_tail()}")
            time.sleep(0.02)
        return json.loads(self.ready_file.read_text(encoding="utf-8"))


class Fabric:
    """The broker double and the VirusTotal simulator, with their PKI, under ``workdir``.

    With ``client_config`` (a ``dxlclient.config``), no broker double starts: the
    fabric's clients connect to that config's broker with its certificate.
    """

    def __init__(
        self,
        workdir: Path,
        *,
        api_key: str = DEMO_API_KEY,
        simulator_args: Sequence[str] = (),
        start_timeout_sec: float = 30.0,
        client_config: Path | None = None,
    ) -> None:
        self.client_config = client_config
        self.workdir = Path(workdir)
        self.api_key = api_key
        self.pki = Pki(self.workdir / "pki")
        self.broker_port = 0
        self.simulator_url = ""
        self.simulator: SimulatorControl | None = None
        self._start_timeout_sec = start_timeout_sec
        self._broker: ChildProcess | None = None
        self._simulator = ChildProcess(
            "vtsim",
            "devfabric.vtsim",
            ["--host", HOST, "--port", "0", "--api-key", api_key, *simulator_args],
            self.workdir,
        )

    def start(self) -> Fabric:
        """Make the PKI, start both children and wait until both listen."""
        # Imported here, not at the top: the broker child imports this package, simulator or not.
        from .vtsim.control import SimulatorControl

        self.pki = Pki.ensure(self.pki.directory)
        try:
            self._simulator.start()  # boots while the broker does
            if self.client_config is None:
                self._start_broker(port=0)
            simulator = self._simulator.wait_ready(self._start_timeout_sec)
        except BaseException:
            self.stop()
            raise
        self.simulator_url = f"http://{HOST}:{simulator['port']}"
        self.simulator = SimulatorControl(self.simulator_url)
        return self

    def restart_broker(self) -> None:
        """Stop the broker and start a fresh one on the same port (its registry starts empty).

        Clients reconnect by themselves, as they would to a real broker coming back.
        """
        if self._broker is not None:
            self._broker.stop()
        self._start_broker(port=self.broker_port)

    def stop(self) -> None:
        """Stop both children by pid. Idempotent."""
        self._simulator.stop()
        if self._broker is not None:
            self._broker.stop()

    @property
    def running(self) -> bool:
        broker = self.client_config is not None or (
            self._broker is not None and self._broker.running
        )
        return broker and self._simulator.running

    def write_client_config(self, directory: Path, name: str) -> Path:
        """A ``dxlclient.config`` (with a new certificate for ``name``) in ``directory``;
        a copy of ``client_config``, when given."""
        if self.client_config is not None:
            return copy_client_config(self.client_config, directory)
        return write_client_config(directory, name, pki=self.pki, broker_port=self.broker_port)

    def _start_broker(self, port: int) -> None:
        self._broker = ChildProcess(
            "broker",
            "devfabric.broker",
            ["--host", HOST, "--port", str(port), "--pki-dir", str(self.pki.directory)],
            self.workdir,
        )
        self._broker.start()
        self.broker_port = self._broker.wait_ready(self._start_timeout_sec)["port"]

    def __enter__(self) -> Fabric:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
