"""JSONata evaluated where it can be bounded: worker processes, capped and killed at the deadline.

jsonata's built-ins (``$pad``, ``$sum`` over a range, ``$distinct``) run in
one Python call that no timeout can interrupt and that may allocate
gigabytes. Each evaluation therefore runs in a worker process whose address
space is capped (``RLIMIT_AS``); a worker past its deadline is killed and
replaced in the background, so no other request, nor health, waits for it.
Data and results cross the pipe as JSON, never pickles.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import queue
import resource
import threading
import time
from multiprocessing.connection import Connection
from typing import Any

from ..errors import UNAVAILABLE, ServiceError, bad_request

logger = logging.getLogger(__name__)

WORKERS = 4  # about 20 MB each; more hostile expressions at once than this wait their turn
MEMORY_BYTES = 256 << 20
RESULT_BYTES = 4 << 20
MAX_DEPTH = 200
_READY = b"ready"


def _no_regex(pattern: str, flags: Any) -> Any:
    raise ValueError("regular expressions are not allowed")


def _serve(connection: Connection, memory_bytes: int) -> None:
    """The worker: evaluate requests until the pipe closes; exit after running out of memory."""
    resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    from jsonata import Jsonata

    connection.send_bytes(_READY)
    while True:
        try:
            expression, data = json.loads(connection.recv_bytes())
        except EOFError:
            return
        try:
            result = Jsonata(expression, regex_engine=_no_regex, stack=MAX_DEPTH).evaluate(data)
            reply = json.dumps({"result": result}, default=lambda _: None)
            if len(reply) > RESULT_BYTES:
                reply = json.dumps({"error": f"its result is over {RESULT_BYTES >> 20} MiB"})
        except MemoryError:
            return  # the parent sees the pipe close
        except Exception as error:  # a requester's expression: any failure is theirs
            reply = json.dumps({"error": str(error)[:200]})
        connection.send_bytes(reply.encode("utf-8"))


class _Worker:
    def __init__(self, context: Any, memory_bytes: int) -> None:
        self.connection, child = context.Pipe()
        self.process = context.Process(target=_serve, args=(child, memory_bytes), daemon=True)
        self.process.start()
        child.close()
        if self.connection.recv_bytes() != _READY:
            raise RuntimeError("an expression worker did not start")

    def stop(self) -> None:
        self.process.kill()
        self.process.join()
        self.connection.close()


class ExpressionPool:
    """A few JSONata workers; :meth:`evaluate` takes an idle one, or waits within its budget."""

    def __init__(self, workers: int = WORKERS, memory_bytes: int = MEMORY_BYTES) -> None:
        self._size = workers
        self._memory = memory_bytes
        self._context = multiprocessing.get_context("spawn")  # never fork a threaded process
        self._idle: queue.Queue[_Worker] = queue.Queue()
        self._lock = threading.Lock()
        self._workers: set[_Worker] = set()
        self._started = False
        self._closed = False

    def start(self) -> None:
        """Start the workers in the background (once); evaluate also starts them."""
        with self._lock:
            if self._started:
                return
            self._started = True
        for _ in range(self._size):
            self._spawn()

    def _spawn(self) -> None:
        def run() -> None:
            try:
                worker = _Worker(self._context, self._memory)
            except (EOFError, OSError, RuntimeError):  # e.g. killed as the process exits
                logger.warning("A JSONata worker could not be started", exc_info=True)
                return
            with self._lock:
                if self._closed:
                    worker.stop()
                    return
                self._workers.add(worker)
            self._idle.put(worker)

        threading.Thread(target=run, name="jsonata-worker-start", daemon=True).start()

    def _replace(self, worker: _Worker) -> None:
        with self._lock:
            self._workers.discard(worker)
        threading.Thread(target=worker.stop, name="jsonata-worker-stop", daemon=True).start()
        self._spawn()

    def evaluate(self, expression: str, data: Any, seconds: float) -> Any:
        """``expression`` on ``data`` within ``seconds`` and the memory budget; 400 if not."""
        deadline = time.monotonic() + seconds
        self.start()
        try:
            worker = self._idle.get(timeout=max(0.0, seconds))
        except queue.Empty:
            raise ServiceError(UNAVAILABLE, "every JSONata worker is busy; try again") from None
        try:
            worker.connection.send_bytes(json.dumps([expression, data]).encode("utf-8"))
            if not worker.connection.poll(max(0.0, deadline - time.monotonic())):
                self._replace(worker)
                raise bad_request(
                    f"the expression did not finish within its time budget of {seconds:.1f} s"
                )
            reply = json.loads(worker.connection.recv_bytes())
        except (EOFError, OSError):
            self._replace(worker)
            raise bad_request(
                f"the expression needed more than its memory budget of {self._memory >> 20} MiB"
            ) from None
        self._idle.put(worker)
        if "error" in reply:
            raise bad_request(f"the expression could not be evaluated: {reply['error']}")
        return reply["result"]

    def close(self) -> None:
        """Stop every worker."""
        with self._lock:
            self._closed = True
            workers, self._workers = self._workers, set()
        for worker in workers:
            worker.stop()


EXPRESSIONS = ExpressionPool()
"""The service's pool, started when it connects to the fabric."""
