"""Child processes of the development fabric: output to a log file, stopped by pid."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO, Any

_PROJECT_ROOT = Path(__file__).resolve().parent.parent


def write_ready_file(path: Path, info: Mapping[str, Any]) -> None:
    """Announce readiness atomically: a reader sees the whole file or none."""
    path = Path(path)
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(dict(info)), encoding="utf-8")
    partial.replace(path)


class LoggedProcess:
    """One child process whose output goes to ``log_file``."""

    def __init__(self, log_file: Path) -> None:
        self.log_file = Path(log_file)
        self._process: subprocess.Popen | None = None
        self._log: IO[bytes] | None = None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def start(self, command: Sequence[str], env: Mapping[str, str] | None = None) -> None:
        """Run ``command`` with the project root on PYTHONPATH (devfabric is not installed)."""
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        path = os.pathsep.join(filter(None, [str(_PROJECT_ROOT), os.environ.get("PYTHONPATH")]))
        self._log = open(self.log_file, "ab")  # noqa: SIM115 - closed by stop()
        self._process = subprocess.Popen(
            list(command),
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {}), "PYTHONPATH": path},
        )

    def stop(self, grace_sec: float = 5.0) -> int | None:
        """SIGTERM, then SIGKILL if it outlives ``grace_sec``; return its exit code. Idempotent."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(grace_sec)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self._log is not None:
            self._log.close()
            self._log = None
        return process.returncode if process is not None else None

    def kill(self) -> int | None:
        """SIGKILL by pid, as a crash would end it (nothing cleaned up); its exit code."""
        if self._process is not None and self._process.poll() is None:
            self._process.kill()
            self._process.wait()
        return self.stop()

    def log_text(self) -> str:
        if not self.log_file.exists():
            return ""
        return self.log_file.read_text(encoding="utf-8", errors="replace")

    def log_tail(self, size: int = 4000) -> str:
        return self.log_text()[-size:]
