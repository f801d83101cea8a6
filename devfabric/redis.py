"""A real ``redis-server`` on loopback, the store of a development fleet.

Used by the fleet tests and the demo: it listens on a free loopback port,
keeps nothing on disk (``save ''``, no append-only file), counts as started
once it answers ``PING``, and is stopped by its pid. Debian's ``redis-server``
package provides the binary (``./dev`` installs it when it is missing).
"""

from __future__ import annotations

import shutil
import socket
import time
from pathlib import Path

import redis

from .certs import write_private
from .process import LoggedProcess

HOST = "127.0.0.1"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


class RedisServer:
    """``redis-server`` under ``workdir``; ``url`` once started."""

    def __init__(self, workdir: Path, *, password: str | None = None) -> None:
        self.workdir = Path(workdir)
        self.password = password
        self.port = 0
        self._process = LoggedProcess(self.workdir / "redis.log")

    @property
    def url(self) -> str:
        return f"redis://{HOST}:{self.port}/0"

    @property
    def pid(self) -> int | None:
        return self._process.pid

    @property
    def running(self) -> bool:
        return self._process.running

    def client(self) -> redis.Redis:
        return redis.Redis(host=HOST, port=self.port, password=self.password)

    def start(self, timeout: float = 20.0) -> RedisServer:
        """Start on a free port (or the port it had: a restart) and wait until it answers PING."""
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed (apt-get install redis-server)")
        self.port = self.port or free_port()
        self.workdir.mkdir(parents=True, exist_ok=True)
        config = self.workdir / "redis.conf"
        lines = [f"bind {HOST}", f"port {self.port}", 'save ""', "appendonly no",
                 f"dir {self.workdir}", "protected-mode yes"]  # fmt: skip
        if self.password:
            lines.append(f"requirepass {self.password}")  # in a 0600 file, not on the command line
        write_private(config, ("\n".join(lines) + "\n").encode())
        self._process.start([binary, str(config)])
        self._wait_ready(timeout)
        return self

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        client = self.client()
        try:
            while True:
                try:
                    if client.ping():
                        return
                except redis.ConnectionError:
                    pass
                if not self._process.running:
                    raise RuntimeError(f"redis-server exited:\n{self._process.log_tail()}")
                if time.monotonic() > deadline:
                    raise RuntimeError(f"redis-server silent after {timeout:g} s")
                time.sleep(0.02)  # the server offers no readiness event but its answer
        finally:
            client.close()

    def stop(self) -> int | None:
        """Stop by pid (SIGTERM); the port stays this server's for :meth:`start`."""
        return self._process.stop()

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
