"""Count every answer a client receives, per request, to prove "exactly one answer".

dxlclient hands a response to the one callback waiting for it and drops any
later copy; :class:`Answers` listens to *every* response the client receives
(a response callback on all topics), so a duplicate is counted, not hidden.
A request is *lost* when its answer never comes; a *duplicate* when a second
one does. A closing barrier (:meth:`Answers.barrier`) makes sure nothing is
still on its way before the counts are read: the service answers the barrier
after everything sent before it, and dxlclient delivers a connection's
messages in order.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass

from dxlclient.callbacks import ResponseCallback
from dxlclient.client import DxlClient
from dxlclient.message import ErrorResponse, Message, Request

from devfabric.services import SERVICE_TYPE

SPEC_CODES = frozenset({400, 401, 403, 429, 502, 503, 504})
"""The error codes a client may see (docs/errors.md)."""

OK = "ok"
INTERNAL_ERROR = "the service failed to process the request"
"""The 503 the service answers when a request raised something unexpected (a bug)."""

Outcome = str | int
"""``"ok"`` for a response, the error code for an error response."""


def outcome(response: Message) -> Outcome:
    return response.error_code if isinstance(response, ErrorResponse) else OK


def acceptable(response: Message) -> bool:
    """A success, or an error the service promises, that is not a bug answered as 503."""
    if not isinstance(response, ErrorResponse):
        return True
    return response.error_code in SPEC_CODES and response.error_message != INTERNAL_ERROR


@dataclass
class _Sent:
    """A request's answers: how many, how the first one went and how long it took.

    Only counts are kept (a soak sends tens of thousands of requests), and the
    first answer's error as ``"code: message"``, to show in a failure.
    """

    at: float
    answers: int = 0
    first: Outcome | None = None
    latency: float | None = None
    error: str | None = None
    acceptable: bool = True


class Answers(ResponseCallback):
    """Requests sent through :meth:`send` and every answer they got, by request id."""

    def __init__(self) -> None:
        super().__init__()
        self._sent: dict[str, _Sent] = {}
        self._changed = threading.Condition()
        self._clients: list[DxlClient] = []

    def watch(self, client: DxlClient) -> DxlClient:
        """Count what ``client`` receives (until :meth:`unwatch`)."""
        client.add_response_callback(None, self)
        self._clients.append(client)
        return client

    def unwatch(self) -> None:
        for client in self._clients:
            client.remove_response_callback(None, self)
        self._clients.clear()

    def on_response(self, response: Message) -> None:
        now = time.monotonic()
        with self._changed:
            sent = self._sent.get(response.request_message_id)
            if sent is None:  # an answer to a request sent otherwise
                return
            sent.answers += 1
            if sent.answers == 1:
                sent.latency = now - sent.at
                sent.first = outcome(response)
                sent.acceptable = acceptable(response)
                if isinstance(response, ErrorResponse):
                    sent.error = f"{response.error_code}: {response.error_message}"
            self._changed.notify_all()

    def send(self, client: DxlClient, suffix: str, payload: bytes, service_id: str = "") -> str:
        """Send a request on a service topic (to one instance if ``service_id`` is set);
        returns its message id."""
        request = Request(SERVICE_TYPE + suffix)
        request.payload = payload
        request.service_id = service_id
        with self._changed:
            self._sent[request.message_id] = _Sent(time.monotonic())
        client.async_request(request)
        return request.message_id

    def wait(self, message_id: str, timeout: float) -> Outcome | None:
        """How the first answer to ``message_id`` went; None if none came in ``timeout``."""
        sent = self._sent[message_id]
        with self._changed:
            self._changed.wait_for(lambda: sent.answers, timeout)
            return sent.first

    def error(self, message_id: str) -> str | None:
        """The first answer's error as ``"code: message"``; None for a success."""
        with self._changed:
            return self._sent[message_id].error

    def wait_answered(self, count: int, timeout: float) -> bool:
        """Wait until ``count`` requests have an answer."""
        with self._changed:
            return self._changed.wait_for(
                lambda: sum(1 for s in self._sent.values() if s.answers) >= count, timeout
            )

    def acceptable(self, message_id: str) -> bool:
        """Whether the first answer is a success or an error the service promises."""
        with self._changed:
            return self._sent[message_id].acceptable

    def ask(self, client: DxlClient, suffix: str, payload: bytes, timeout: float) -> Outcome | None:
        return self.wait(self.send(client, suffix, payload), timeout)

    def barrier(self, client: DxlClient, timeout: float = 60) -> None:
        """Return once the service has answered a health request sent after all the others."""
        assert self.ask(client, "/health", b"{}", timeout) == OK, "the barrier was not answered"

    def tally(self) -> Tally:
        with self._changed:
            sent = list(self._sent.values())
        return Tally(
            requests=len(sent),
            answers=sum(s.answers for s in sent),
            lost=sum(1 for s in sent if not s.answers),
            duplicates=sum(s.answers - 1 for s in sent if s.answers > 1),
            outcomes=Counter(s.first for s in sent if s.answers),
            problems=[s.error or "" for s in sent if not s.acceptable],
            slowest=max((s.latency for s in sent if s.latency is not None), default=0.0),
        )


@dataclass(frozen=True)
class Tally:
    requests: int
    answers: int
    lost: int
    duplicates: int
    outcomes: Counter  # outcome of each request's first answer -> requests
    problems: list[str]  # answers that are not acceptable, "code: message"
    slowest: float  # seconds from sending to the first answer
