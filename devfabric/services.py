"""Run dxlvtservice (or another DXL service) as a real process on the development fabric.

Used by the integration tests, the benchmark and the demo. A service counts as
started when the fabric's registry announces its registration (an event, not
a sleep), and is stopped by its pid.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from dxlclient.callbacks import EventCallback
from dxlclient.client import DxlClient

from .fabric import Fabric
from .process import LoggedProcess

REGISTER_EVENT = "/mcafee/event/dxl/svcregistry/register"
SERVICE_TYPE = "/opendxl-virustotal/service/vtapi"


class RegistrationWatch(EventCallback):
    """Waits for a registry event that matches a predicate on the record."""

    def __init__(self, client: DxlClient, matches) -> None:
        super().__init__()
        self._client = client
        self._matches = matches
        self.seen = threading.Event()
        self.record: dict | None = None
        client.add_event_callback(REGISTER_EVENT, self)

    def on_event(self, event) -> None:
        record = json.loads(event.payload.decode("utf-8"))
        if self._matches(record):
            self.record = record
            self.seen.set()

    def wait(self, timeout: float, alive: Callable[[], bool] = lambda: True) -> bool:
        """Wait for the event; give up early once ``alive()`` says the process died."""
        deadline = time.monotonic() + timeout
        try:
            while not self.seen.wait(min(0.5, max(0.0, deadline - time.monotonic()))):
                if not alive() or time.monotonic() >= deadline:
                    return self.seen.is_set()
            return True
        finally:
            self._client.remove_event_callback(REGISTER_EVENT, self)


class ServiceProcess:
    """A service process with its own configuration folder under ``directory``."""

    def __init__(
        self,
        fabric: Fabric,
        directory: Path,
        name: str,
        settings: Mapping[str, Mapping[str, object]] | None = None,
        *,
        command: Sequence[str] | None = None,
        config_file: str = "dxlvtservice.config",
        env: Mapping[str, str] | None = None,
        ready: Callable[[dict], bool] | None = None,
    ) -> None:
        """``ready`` tells this service's registration record from others; by default
        the record whose ``metaData.instance`` is ``name`` (a service that names no
        instance, such as dxlvtapiservice, needs its own)."""
        self.fabric = fabric
        self.directory = Path(directory)
        self.name = name
        self.config_dir = self.directory / "config"
        self._settings = settings or {}
        self._command = command
        self._config_file = config_file
        self._env = env
        self._ready = ready or (lambda record: record.get("metaData", {}).get("instance") == name)
        self._process = LoggedProcess(self.directory / "service.log")
        self.registration: dict | None = None  # the registry's record, once started

    @property
    def pid(self) -> int | None:
        return self._process.pid

    @property
    def running(self) -> bool:
        return self._process.running

    @property
    def log_path(self) -> Path:
        return self._process.log_file

    def write_config(self) -> Path:
        """dxlclient.config from the fabric, and the service's file from ``settings``."""
        self.config_dir.mkdir(parents=True, exist_ok=True)
        self.fabric.write_client_config(self.config_dir, self.name)
        sections: dict[str, dict[str, object]] = {
            "General": {"instanceName": self.name, "apiKey": self.fabric.api_key},
            "VirusTotal": {"baseUrl": self.fabric.simulator_url},
            "Cache": {"cacheDirectory": self.directory / "cache"},
            # Tests count upstream calls; those about the key's allowance turn this on.
            "RateLimit": {"discoverQuota": "no"},
        }
        for section, values in self._settings.items():
            sections.setdefault(section, {}).update(values)
        lines = []
        for section, values in sections.items():
            lines.append(f"[{section}]")
            lines += [f"{key} = {value}" for key, value in values.items() if value is not None]
            lines.append("")
        path = self.config_dir / self._config_file
        path.write_text("\n".join(lines), encoding="utf-8")
        path.chmod(0o600)
        return path

    def start(self, observer: DxlClient, timeout: float = 60.0) -> ServiceProcess:
        """Start the process and wait until the fabric registers it."""
        self.write_config()
        watch = RegistrationWatch(observer, self._ready)
        command = self._command or [sys.executable, "-m", "dxlvtservice"]
        self._process.start([*command, str(self.config_dir)], self._env)
        if not watch.wait(timeout, lambda: self._process.running):
            code = self.stop()
            raise RuntimeError(
                f"{self.name} did not register within {timeout:g} s (exit {code}):\n"
                + self.log_text()[-3000:]
            )
        self.registration = watch.record
        return self

    def stop(self, timeout: float = 30.0) -> int | None:
        """SIGTERM by pid, SIGKILL if it does not exit in time; return the exit code."""
        return self._process.stop(timeout)

    def kill(self) -> int | None:
        """SIGKILL by pid: a host that dies, unregistering nothing and releasing nothing."""
        return self._process.kill()

    def log_text(self) -> str:
        return self._process.log_text()
