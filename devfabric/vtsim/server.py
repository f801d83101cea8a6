"""The HTTP edge: VirusTotal under ``/vtapi/v2`` and ``/api/v3``, control under ``/_sim``.

Every API call passes the same gates in the same order: it is counted, waits
the configured latency, may suffer the injected fault, has its key checked, is
routed, is refused if private to premium keys, is metered against the quota in
units, and is answered. Control calls skip all of that: they need no key, add
no latency and are not counted.
"""

from __future__ import annotations

import io
import json
import socket
import struct
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from . import api
from .api import Call, Reply
from .catalogue import Catalogue
from .state import Settings, SimulatorState

HTML = "text/html; charset=utf-8"
# What a failing front end sends: an HTML page, never the API's JSON.
SERVER_ERROR_PAGE = (
    b"<html><head><title>500 Internal Server Error</title></head>\n"
    b"<body><h1>Server Error</h1><p>The server encountered an error.</p></body></html>\n"
)
GARBAGE_PAGE = b"<html><body><h1>Service temporarily overloaded</h1></body></html>\n"


class _Server(ThreadingHTTPServer):
    daemon_threads = True  # a hung call never keeps the process alive
    request_queue_size = 128  # benchmarks open many connections at once

    def __init__(self, address: tuple[str, int], state: SimulatorState) -> None:
        super().__init__(address, _Handler)
        self.state = state
        self.catalogue = Catalogue()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as clients with a session expect
    disable_nagle_algorithm = True  # headers and body go out as two writes: no 40 ms stall
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: a v2 request line carries the API key, and benchmarks send thousands."""

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def _dispatch(self, method: str) -> None:
        target = urlsplit(self.path)
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        path, catalogue = target.path, self.server.catalogue
        if path.startswith("/_sim/"):
            self._send(self._control(method, path.removeprefix("/_sim/"), body))
        elif path.startswith("/vtapi/v2/"):
            name, params = path.removeprefix("/vtapi/v2/"), self._v2_params(target.query, body)
            batch_limit = self.server.state.settings.batch_limit
            self._serve(api.v2_call(method, name, params, catalogue, batch_limit))
        elif path.startswith("/api/v3/"):
            key, usage = self.headers.get("x-apikey"), self.server.state.quota_usage
            self._serve(api.v3_call(method, path.removeprefix("/api/v3/"), key, catalogue, usage))
        else:
            self._send(Reply(404))

    def _v2_params(self, query: str, body: bytes) -> dict[str, str]:
        """Query parameters, overridden by a form body's (v2 takes either)."""
        params = dict(parse_qsl(query, keep_blank_values=True))
        if self.headers.get_content_type() == "application/x-www-form-urlencoded":
            params.update(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
        return params

    def _serve(self, call: Call) -> None:
        """Answer ``call``; it is counted as ended before its answer goes out, so a
        client holding the answer reads counters that include it."""
        state = self.server.state
        state.begin(call.endpoint, call.resources)
        try:
            state.pause()
            fault = state.take_fault()
            reply = self._gate(call, fault)
        except BaseException:
            state.end(None)
            raise
        if reply is None:
            state.end(None)
            self._drop(reset=fault == "reset")
        elif fault == "dribble":
            delivered = False
            try:
                delivered = self._dribble(reply)
            finally:
                state.end(reply.status if delivered else None)
        else:
            state.end(reply.status)
            self._send(reply)

    def _gate(self, call: Call, fault: str | None) -> Reply | None:
        """The answer, or None for none at all (a hang or a reset)."""
        state = self.server.state
        if fault == "hang":
            state.hang()
            return None
        if fault == "reset":
            return None
        if fault == "http500":
            return Reply(500, SERVER_ERROR_PAGE)
        if fault == "garbage":
            return Reply(200, GARBAGE_PAGE)
        if fault == "reject_key" or call.key != state.settings.api_key:
            return call.rejected()
        if call.premium_only and not state.settings.premium:
            return Reply(403)  # the private API, to a public key
        if call.metered and not state.admit(call.endpoint, call.units, call.resources):
            return call.refused()
        return call.reply()

    def _drop(self, *, reset: bool) -> None:
        """Close without an answer; ``reset`` makes it a TCP reset (SO_LINGER 0)."""
        self.close_connection = True
        if reset:  # closed before the server's orderly shutdown can send a FIN
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()

    def _dribble(self, reply: Reply) -> bool:
        """Send ``reply`` one byte every ``dribble_ms``; False if a reset or stop cut it off."""
        state, real = self.server.state, self.wfile
        self.wfile = io.BytesIO()
        try:
            self._send(reply)
            data = self.wfile.getvalue()
        finally:
            self.wfile = real
        pause, release = state.settings.dribble_ms / 1000, state.release
        try:
            for index in range(len(data)):
                if index and release.wait(pause):
                    self._drop(reset=False)
                    return False
                real.write(data[index : index + 1])
                real.flush()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
            return False
        return True

    def _control(self, method: str, action: str, body: bytes) -> Reply:
        state = self.server.state
        try:
            if (method, action) == ("GET", "stats"):
                return Reply(200, state.stats())
            if (method, action) == ("GET", "log"):
                return Reply(200, {"calls": state.log()})
            payload = json.loads(body or b"{}")
            if not isinstance(payload, dict):
                raise ValueError("the request body must be a JSON object")
            if (method, action) == ("POST", "configure"):
                return Reply(200, {"settings": state.configure(payload)})
            if (method, action) == ("POST", "consume"):
                state.consume(payload["units"])
                return Reply(200, {"quota": state.quota_usage()})
            if (method, action) == ("POST", "reset"):
                state.reset(settings=bool(payload.get("settings")))
                return Reply(200, {})
            if (method, action) == ("POST", "wait"):
                count, timeout = int(payload["in_progress"]), float(payload.get("timeout", 10))
                return Reply(200, {"reached": state.wait_in_progress(count, timeout)})
        except (ValueError, KeyError, TypeError) as error:
            return Reply(400, {"error": str(error)})
        return Reply(404, {"error": f"no control endpoint {method} /_sim/{action}"})

    def _send(self, reply: Reply) -> None:
        if reply.body is None:
            data, content_type = b"", None
        elif isinstance(reply.body, bytes):
            data, content_type = reply.body, HTML
        else:
            data, content_type = json.dumps(reply.body).encode("utf-8"), "application/json"
        try:
            self.send_response(reply.status)
            if content_type:
                self.send_header("Content-Type", content_type)
            if reply.status != 204:  # a 204 has no body, so no length either
                self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client gave up waiting (latency, hang)


class Simulator:
    """A simulator serving in this process; ``python -m devfabric.vtsim`` runs one."""

    def __init__(self, settings: Settings, host: str = "127.0.0.1", port: int = 0) -> None:
        self.state = SimulatorState(settings)
        self._server = _Server((host, port), self.state)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.1}, name="vtsim"
        )

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    @property
    def url(self) -> str:
        return f"http://{self._server.server_address[0]}:{self.port}"

    def start(self) -> Simulator:
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving at once: waiting calls are let go, none is waited for."""
        self.state.stop()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()
