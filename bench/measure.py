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
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

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
    answered_at: tuple[float, ...] = ()  # when each good answer came, seconds after the start
    answered_resources: tuple[str, ...] = ()  # what each good answer was about

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


@dataclass(frozen=True)
class Lookup:
    """A kind of request: its topic, and the payload field that names the resource.

    A good answer is a response, not an error, about the resource asked: one
    that echoes it in ``resource`` when that is the field asked with (file
    reports, the echo service), else one that carries VirusTotal's
    ``response_code`` (v2 domain reports echo nothing).
    """

    topic: str
    field: str = "resource"

    def request(self, resource: str) -> Request:
        request = Request(self.topic)
        request.payload = json.dumps({self.field: resource}).encode()
        return request

    def good(self, response: Message, resource: str) -> bool:
        if isinstance(response, ErrorResponse):
            return False
        try:
            answer = json.loads(response.payload)
        except ValueError:
            return False
        return isinstance(answer, dict) and self.about(answer, resource)

    def about(self, answer: dict, resource: str) -> bool:
        """Whether a decoded answer is the one asked for."""
        if self.field == "resource":
            return answer.get("resource") == resource
        return "response_code" in answer


@dataclass(frozen=True)
class Echoed(Lookup):
    """A request to the echo service, whose answer is the request's own payload."""

    def about(self, answer: dict, resource: str) -> bool:
        return answer.get(self.field) == resource


@dataclass(frozen=True)
class Classification(Lookup):
    """A ``classify`` request (``hash``, ``text``, ...): good when it gives a verdict for
    at least one indicator and every result came from the cache."""

    field: str = "hash"

    def about(self, answer: dict, resource: str) -> bool:
        results = answer.get("results")
        return (
            isinstance(answer.get("verdict"), str)
            and isinstance(results, list)
            and bool(results)
            and all(isinstance(result, dict) and result.get("cached") for result in results)
        )


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
        self,
        lookup: Lookup,
        per_requester: Sequence[Iterable[str]],
        timeout: float,
        stop_after: float = math.inf,
    ) -> LoadResult:
        """Requester ``i`` asks for ``per_requester[i]`` one after the other (each waits
        for its answer), all requesters at once; none sends a request after
        ``stop_after`` seconds (one in flight then is still awaited)."""
        if len(per_requester) > len(self.clients):
            raise ValueError(f"{len(per_requester)} requesters asked for, {len(self.clients)} here")
        latencies: list[list[float]] = [[] for _ in per_requester]
        answered_at: list[list[float]] = [[] for _ in per_requester]
        answered: list[list[str]] = [[] for _ in per_requester]
        errors = [0] * len(per_requester)
        start_line = threading.Barrier(len(per_requester) + 1)
        started = math.inf  # set before the start line lets any requester go

        def requester(index: int) -> None:
            client = self.clients[index]
            start_line.wait()
            for resource in per_requester[index]:
                sent = time.perf_counter()
                if sent - started >= stop_after:
                    break
                try:
                    answer = client.sync_request(lookup.request(resource), timeout)
                    good = lookup.good(answer, resource)
                except Exception:  # a timeout, or the fabric failing: the client sees an error
                    good = False
                if good:
                    done = time.perf_counter()
                    latencies[index].append(done - sent)
                    answered_at[index].append(done - started)
                    answered[index].append(resource)
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
        started = time.perf_counter()
        start_line.wait()
        for thread in threads:
            thread.join()
        wall = time.perf_counter() - started
        return LoadResult(
            tuple(t for each in latencies for t in each),
            sum(errors),
            wall,
            tuple(sorted(t for each in answered_at for t in each)),
            tuple(resource for each in answered for resource in each),
        )
