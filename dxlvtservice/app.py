"""The DXL edge: a dxlbootstrap ``Application`` that wires the parts and answers requests.

Request callbacks run on dxlclient's incoming-message threads and never block:
they parse the payload once into the topic's typed request
(:mod:`dxlvtservice.topics.requests`) and hand only that value to the handler, which
answers at once (cache hit, bad request) or through a ``Future`` that the
scheduler completes. Every request gets exactly one response through
:meth:`VirusTotalService._reply`.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future
from pathlib import Path
from typing import Any

from dxlbootstrap.app import Application
from dxlclient.callbacks import RequestCallback
from dxlclient.message import ErrorResponse, Event, Request, Response
from dxlclient.service import ServiceRegistrationInfo

from . import SERVICE_TYPE, VERDICT_EVENT_TOPIC, __version__
from .build import build
from .config import CONFIG_FILE_NAME, ConfigError, Settings, load
from .errors import UNAVAILABLE, ServiceError
from .ops.health import RequestCounters, verdicts_in
from .ops.logs import log_request
from .ops.metrics import Metrics
from .reputation.enrichment import FIRST_INSTANCE_TOPIC
from .reputation.tie import OFF
from .topics.requests import TOPIC_REQUESTS, RequestPolicy, ServiceRequest
from .topics.sandbox import EXPRESSIONS
from .topics.transport import accept_large_requests

logger = logging.getLogger(__name__)


Handler = Callable[[Any], Future]
"""A topic's handler: a typed request in (docs/topics.md), a future answer out."""


def _completed(value: Any) -> Future:
    future: Future = Future()
    future.set_result(value)
    return future


class _TopicCallback(RequestCallback):
    """Routes one topic's requests into the service."""

    def __init__(
        self, service: VirusTotalService, topic: str, kind: type[ServiceRequest], handler: Handler
    ) -> None:
        super().__init__()
        self._service = service
        self._topic = topic
        self._kind = kind
        self._handler = handler

    def on_request(self, request: Request) -> None:
        self._service.dispatch(request, self._topic, self._kind, self._handler)


class VirusTotalService(Application):
    """VirusTotal for the fabric: compatible topics, classify, analyze and health."""

    def __init__(self, config_dir: str | Path) -> None:
        super().__init__(str(config_dir), CONFIG_FILE_NAME)
        self.settings: Settings | None = None
        self._started = time.monotonic()
        self._closing = False
        self._in_flight = 0
        self._idle = threading.Condition()
        self.counters = RequestCounters()
        self.metrics: Metrics | None = None

    # -- dxlbootstrap hooks -------------------------------------------------

    def on_load_configuration(self, config: Any) -> None:
        """Validate our own file in full (dxlbootstrap has read the pool sections)."""
        settings = load(Path(self._config_dir))
        for warning in (*settings.warnings, *settings.unknown):
            logger.warning("Configuration: %s", warning)
        self.settings = settings
        self._build(settings)

    def _build(self, settings: Settings) -> None:
        self.parts = build(settings, self.publish_verdict, lambda: self._dxl_client)
        parts = self.parts
        self.upstream_status, self.client = parts.upstream_status, parts.client
        self.quota, self.cache, self.scheduler = parts.quota, parts.cache, parts.scheduler
        self.lookups, self.compat, self.classifier = parts.lookups, parts.compat, parts.classifier
        self.allowance, self.events = parts.allowance, parts.events
        self.tie, self.enricher = parts.tie, parts.enricher
        if settings.metrics_port is not None:  # before any thread: a port in use stops here
            self._serve_metrics(settings.metrics_bind_address, settings.metrics_port)
        self.request_policy = RequestPolicy(
            settings.max_payload_bytes, settings.max_indicators, settings.internal_domains
        )
        parts.start()

    def _serve_metrics(self, address: str, port: int) -> None:
        self.metrics = Metrics(self.health)
        try:
            self.metrics.serve(address, port)
        except OSError as error:
            raise ConfigError(f"[Metrics] port: cannot listen on {address}:{port}: "
                              f"{error.strerror or error}") from None  # fmt: skip
        logger.info("Metrics at http://%s:%d/metrics", address, port)

    def on_register_event_handlers(self) -> None:
        """Called once connected, before any subscription: see every request that arrives."""
        accept_large_requests(self._dxl_client)
        EXPRESSIONS.start()
        if self.enricher is not None:
            self.add_event_callback(FIRST_INSTANCE_TOPIC, self.enricher, False)

    def on_register_services(self) -> None:
        service = ServiceRegistrationInfo(self._dxl_client, SERVICE_TYPE)
        assert self.settings is not None
        service.metadata = {"version": __version__, "instance": self.settings.instance_name}
        # (handler, on the callback pool): classify's text search may take CPU
        # time, so it runs off the incoming-message threads that answer cache hits.
        topics: dict[str, tuple[Handler, bool]] = {
            suffix: (handler, False) for suffix, handler in self.compat.handlers().items()
        }
        topics["/classify"] = (self.classifier.classify, True)
        topics["/analyze"] = (self.classifier.analyze, False)
        topics["/health"] = (lambda _: _completed(self.health()), False)
        for suffix, (handler, pooled) in topics.items():
            topic = SERVICE_TYPE + suffix
            callback = _TopicCallback(self, topic, TOPIC_REQUESTS[suffix], handler)
            self.add_request_callback(service, topic, callback, pooled)
        self.register_service(service)
        logger.info("Registered %s with %d topics", SERVICE_TYPE, len(topics))

    # -- requests -----------------------------------------------------------

    def dispatch(
        self, request: Request, topic: str, kind: type[ServiceRequest], handler: Handler
    ) -> None:
        """Answer ``request`` exactly once, now or when its future completes.

        The payload is parsed here, once, into ``kind``; the handler sees only that value.
        """
        started = time.monotonic()
        with self._idle:
            if self._closing:
                closing = ServiceError(UNAVAILABLE, "the service is shutting down")
                self._send_error(request, topic, closing, started)
                return
            self._in_flight += 1
        try:
            parsed = kind.from_payload(
                request.payload or b"",
                client=request.source_client_id or None,
                policy=self.request_policy,
            )
            future = handler(parsed)
        except Exception as error:  # validation failed, or a bug: still one answer
            future = Future()
            future.set_exception(error)
        future.add_done_callback(lambda done: self._reply(request, topic, done, started))

    def _reply(self, request: Request, topic: str, done: Future, started: float) -> None:
        try:
            error = done.exception()
            if error is None:
                response = Response(request)
                response.payload = json.dumps(done.result()).encode("utf-8")
                self._dxl_client.send_response(response)
                self._answered(request, topic, started, None, verdicts_in(done.result()))
            else:
                if not isinstance(error, ServiceError):
                    logger.error("Request on %s failed", topic, exc_info=error)
                    error = ServiceError(UNAVAILABLE, "the service failed to process the request")
                self._send_error(request, topic, error, started)
        except Exception:
            logger.exception("Could not send the answer to a request on %s", topic)
        finally:
            with self._idle:
                self._in_flight -= 1
                self._idle.notify_all()

    def _send_error(
        self, request: Request, topic: str, error: ServiceError, started: float
    ) -> None:
        self._answered(request, topic, started, error.code)
        self._dxl_client.send_response(
            ErrorResponse(request, error_code=error.code, error_message=error.message)
        )

    def _answered(
        self,
        request: Request,
        topic: str,
        started: float,
        error_code: int | None,
        verdicts: Iterable[str] = (),
    ) -> None:
        """Count and log an answer (sent, or about to be), for health, metrics and logs."""
        duration = time.monotonic() - started
        self.counters.count(topic, error_code, verdicts)
        if self.metrics is not None:
            self.metrics.observe(topic, duration)
        log_request(topic, request.message_id, request.source_client_id, error_code or 200,
                    duration)  # fmt: skip

    def publish_verdict(self, payload: dict) -> None:
        """Send one verdict event (from the events thread, never a request's)."""
        event = Event(VERDICT_EVENT_TOPIC)
        event.payload = json.dumps(payload).encode("utf-8")
        self._dxl_client.send_event(event)

    def health(self) -> dict:
        assert self.settings is not None
        quota = self.quota.usage()
        quota["allowance"] = self.allowance.to_dict() if self.allowance else {"status": "off"}
        return {
            "version": __version__,
            "instance": self.settings.instance_name,
            "uptime": round(time.monotonic() - self._started, 1),
            "upstream": self.upstream_status.to_dict(quota),
            "quota": quota,
            "cache": self.cache.stats(),
            "store": self.parts.stores.status.to_dict(),
            "queue": self.scheduler.stats(),
            "requests": self.counters.to_dict(),
            "events": self.events.stats(),
            "tie": {
                **(self.tie.stats() if self.tie is not None else OFF),
                "first_instance": self.enricher.stats() if self.enricher is not None else OFF,
            },
        }

    # -- lifecycle ----------------------------------------------------------

    @property
    def connected(self) -> bool:
        """Whether the DXL client is connected (registration may be under way)."""
        client = self._dxl_client
        return client is not None and client.connected

    def shutdown(self) -> None:
        """Stop taking requests, let those in flight finish, unregister, close."""
        assert self.settings is not None
        grace = self.settings.shutdown_grace
        deadline = time.monotonic() + grace
        with self._idle:
            self._closing = True
            while self._in_flight and time.monotonic() < deadline:
                self._idle.wait(deadline - time.monotonic())
        if self.enricher is not None and self._dxl_client is not None:  # no new lookups
            self._dxl_client.remove_event_callback(
                FIRST_INSTANCE_TOPIC, self.enricher, unsubscribe_from_topic=False
            )
        self.parts.stop_background()
        self.client.abort()  # the grace is over: what is still upstream ends now (504)
        self.scheduler.stop(timeout=max(0.5, deadline - time.monotonic()))
        with self._idle:
            self._idle.wait_for(lambda: self._in_flight == 0, timeout=2)
        self.destroy()
        if self.metrics is not None:
            self.metrics.close()
        EXPRESSIONS.close()
        self.parts.close()
        logger.info("Stopped")
