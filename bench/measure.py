"""Real dxlclient requesters on the fabric, and what their requests saw.

Each requester is its own ``DxlClient`` (its own connection and threads), as
separate consumers on a fabric would be. A latency runs from just before a
request is sent to its answer in hand (``time.perf_counter``); an answer
counts as good only if it is a response, not an error, about the resource
asked for.
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from dxlclient.callbacks import ResponseCallback
from dxlclient.client import DxlClient
from dxlclient.client_config import DxlClientConfig
from dxlclient.message import ErrorResponse, Message, Request

from devfabric import Fabric


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100), interpolated between the closest ranks."""
    ordered = sorted(values)
    if not ordered:
        return math.nan
    position = (len(ordered) - 1) * q / 100
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


@dataclass(frozen=True)
class LoadResult:
    """One run of requests: latencies of the good answers, the failures, the wall time."""

    latencies: tuple[float, ...]  # seconds
    errors: int  # error responses, timeouts and wrong answers
    wall: float  # seconds from the first request sent to the last answer

    @property
    def requests(self) -> int:
        return len(self.latencies) + self.errors

    @property
    def error_rate(self) -> float:
        return self.errors / self.requests if self.requests else 0.0

    @property
    def throughput(self) -> float:
        """Good answers per second."""
        return len(self.latencies) / self.wall if self.wall > 0 else 0.0

    def percentile(self, q: float) -> float:
        return percentile(self.latencies, q)


def _request(topic: str, resource: str) -> Request:
    request = Request(topic)
    request.payload = json.dumps({"resource": resource}).encode()
    return request


def _good(response: Message, resource: str) -> bool:
    if isinstance(response, ErrorResponse):
        return False
    try:
        return json.loads(response.payload).get("resource") == resource
    except (ValueError, AttributeError):
        return False


class _Collector:
    """Gathers the answers of a burst of asynchronous requests."""

    def __init__(self, expected: int) -> None:
        self.latencies: list[float] = []
        self.errors = 0
        self.last_answer = 0.0
        self._expected = expected
        self._done = threading.Condition()

    def add(self, good: bool, latency: float) -> None:
        with self._done:
            if good:
                self.latencies.append(latency)
            else:
                self.errors += 1
            self.last_answer = time.perf_counter()
            self._done.notify_all()

    def answered(self) -> int:
        return len(self.latencies) + self.errors

    def wait(self, timeout: float) -> bool:
        with self._done:
            return self._done.wait_for(lambda: self.answered() >= self._expected, timeout)

    def result(self, started: float) -> LoadResult:
        """What was answered so far; a request still unanswered counts as an error."""
        with self._done:
            missing = self._expected - self.answered()
            wall = (self.last_answer or time.perf_counter()) - started
            return LoadResult(tuple(self.latencies), self.errors + missing, wall)


class _Answer(ResponseCallback):
    def __init__(self, collector: _Collector, resource: str) -> None:
        super().__init__()
        self._collector = collector
        self._resource = resource
        self.sent = time.perf_counter()

    def on_response(self, response: Message) -> None:
        latency = time.perf_counter() - self.sent
        self._collector.add(_good(response, self._resource), latency)


class Requesters:
    """``count`` connected clients, one per requester; a context manager that closes them."""

    def __init__(self, fabric: Fabric, directory: Path, count: int) -> None:
        self.clients: list[DxlClient] = []
        try:
            for index in range(count):
                name = f"bench-requester-{index}"
                path = fabric.write_client_config(Path(directory) / name, name)
                client = DxlClient(DxlClientConfig.create_dxl_config_from_file(str(path)))
                self.clients.append(client)
                client.connect()
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        for client in self.clients:
            client.destroy()
        self.clients = []

    def __enter__(self) -> Requesters:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def closed_loop(
        self, topic: str, per_requester: Sequence[Sequence[str]], timeout: float
    ) -> LoadResult:
        """Requester ``i`` asks for ``per_requester[i]`` one after the other (each waits
        for its answer), all requesters at once."""
        if len(per_requester) > len(self.clients):
            raise ValueError(f"{len(per_requester)} requesters asked for, {len(self.clients)} here")
        latencies: list[list[float]] = [[] for _ in per_requester]
        errors = [0] * len(per_requester)
        start_line = threading.Barrier(len(per_requester) + 1)

        def requester(index: int) -> None:
            client = self.clients[index]
            start_line.wait()
            for resource in per_requester[index]:
                sent = time.perf_counter()
                try:
                    good = _good(client.sync_request(_request(topic, resource), timeout), resource)
                except Exception:  # a timeout, or the fabric failing: the client sees an error
                    good = False
                if good:
                    latencies[index].append(time.perf_counter() - sent)
                else:
                    errors[index] += 1

        threads = [
            threading.Thread(
                target=requester, args=(index,), name=f"requester-{index}", daemon=True
            )
            for index in range(len(per_requester))
        ]
        for thread in threads:
            thread.start()
        start_line.wait()
        started = time.perf_counter()
        for thread in threads:
            thread.join()
        wall = time.perf_counter() - started
        return LoadResult(tuple(t for each in latencies for t in each), sum(errors), wall)

    def burst(self, topic: str, resources: Sequence[str], timeout: float) -> LoadResult:
        """Send every request at once (asynchronously, dealt over the clients), then
        wait for all answers; one missing after ``timeout`` counts as an error."""
        collector = _Collector(len(resources))
        started = time.perf_counter()
        for index, resource in enumerate(resources):
            client = self.clients[index % len(self.clients)]
            client.async_request(_request(topic, resource), _Answer(collector, resource))
        collector.wait(timeout)
        return collector.result(started)
