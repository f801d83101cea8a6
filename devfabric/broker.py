"""The DXL broker double: MQTT 3.1.1 over TLS, DXL request routing, the service registry.

It behaves like the OpenDXL broker as recorded in ``docs/broker.md``:
client certificates are required, requests reach exactly one registered
instance (round robin) or are answered at once with "unable to locate service
for request", events and responses fan out to subscribers. DXL messages are
read and written with ``dxlclient.message`` only, of any size (like the real broker,
and unlike dxlclient's own decoder, which stops at 1 MiB).

Run: ``python -m devfabric.broker --host 127.0.0.1 --port 0 --pki-dir DIR --ready-file PATH``
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import logging
import os
import signal
import ssl
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import msgpack
from dxlclient.message import ErrorResponse, Event, Message, Request, Response

from . import mqtt
from .certs import Pki, certificate_sha1
from .process import write_ready_file
from .registry import DEFAULT_GRACE_SEC, Registry

log = logging.getLogger("devfabric.broker")  # also when run as __main__

REGISTER_TOPIC = "/mcafee/service/dxl/svcregistry/register"
UNREGISTER_TOPIC = "/mcafee/service/dxl/svcregistry/unregister"
QUERY_TOPIC = "/mcafee/service/dxl/svcregistry/query"
REGISTER_EVENT = "/mcafee/event/dxl/svcregistry/register"
UNREGISTER_EVENT = "/mcafee/event/dxl/svcregistry/unregister"

# 0x80000001, sent as a signed 32-bit int like the real broker: dxlclient reads -2147483647.
SERVICE_NOT_FOUND = 0x80000001 - (1 << 32)
SERVICE_NOT_FOUND_MESSAGE = "unable to locate service for request"
# The double's own answer to a registry request it cannot read (the product's "bad request" code).
INVALID_REGISTRY_REQUEST = 400

# dxlclient offers AES128-SHA256 only, under TLS 1.2; ECDHE suites serve other clients.
CIPHERS = "ECDHE+AESGCM:AES128-SHA256"
MAX_PACKET_BYTES = 64 * 1024 * 1024
# Above this much unsent data a client is a slow consumer: QoS 0 messages to it are dropped.
MAX_BUFFERED_BYTES = 32 * 1024 * 1024
CONNECT_TIMEOUT_SEC = 30
DEFAULT_SWEEP_INTERVAL_SEC = 60.0


def server_context(pki: Pki) -> ssl.SSLContext:
    """TLS 1.2 with a client certificate signed by the client CA, like the real broker."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.maximum_version = ssl.TLSVersion.TLSv1_2
    context.verify_mode = ssl.CERT_REQUIRED
    context.load_verify_locations(pki.client_ca_cert)
    context.load_cert_chain(pki.broker_cert, pki.broker_key)
    context.set_ciphers(CIPHERS)
    return context


_EMPTY_MESSAGES: dict[int, Callable[[], Message]] = {
    Message.MESSAGE_TYPE_REQUEST: lambda: Request(destination_topic=""),
    Message.MESSAGE_TYPE_RESPONSE: lambda: Response(request=""),
    Message.MESSAGE_TYPE_EVENT: lambda: Event(destination_topic=""),
    Message.MESSAGE_TYPE_ERROR: lambda: ErrorResponse(request=None),
}


def decode_message(raw: bytes) -> Message:
    """The DXL message in ``raw``, of any size the MQTT packet allowed.

    ``Message._from_bytes`` unpacks with msgpack's default limits, which cap a
    payload at 1 MiB; the real broker routes larger messages. This is the same
    reading, by dxlclient's own message classes, with the limits raised to the
    message's own length (its bytes are in memory already, bounded by
    ``MAX_PACKET_BYTES``).
    """
    unpacker = msgpack.Unpacker(io.BytesIO(raw), max_buffer_size=max(len(raw), 1))
    version = next(unpacker)
    message = _EMPTY_MESSAGES[next(unpacker)]()
    message._version = version
    message._unpack_message(unpacker)
    if version > 0:
        message._unpack_message_v1(unpacker)
    if version > 1:
        message._unpack_message_v2(unpacker)
    return message


def _stamp(message: Message, *, client_guid: str, broker_guid: str) -> None:
    # dxlclient has no setters for these: only a broker is meant to write them.
    message._source_client_id = client_guid
    message._source_broker_id = broker_guid


def _names_missing_service(message: Message) -> bool:
    """Whether ``message`` says "unable to locate service" about a particular service.

    dxlclient sends the code unsigned, the broker signed: both count.
    """
    return (
        isinstance(message, ErrorResponse)
        and isinstance(message.error_code, int)
        and message.error_code & 0xFFFFFFFF == SERVICE_NOT_FOUND & 0xFFFFFFFF
        and bool(message.service_id)
    )


def _json_object(payload: bytes) -> dict[str, Any]:
    """The JSON object a registry request carries; an empty payload is ``{}``."""
    value = json.loads(payload.decode("utf-8")) if payload.strip() else {}
    if not isinstance(value, dict):
        raise ValueError("payload must be a JSON object")
    return value


class Session(asyncio.Protocol):
    """One client connection: MQTT framing and session state; DXL is the broker's job."""

    def __init__(self, broker: Broker) -> None:
        self.broker = broker
        self.client_id = ""  # the MQTT client id, set by CONNECT
        self.client_guid = ""  # the SHA-1 of the client certificate
        self.filters: set[str] = set()
        self.keep_alive = 0
        self.last_seen = time.monotonic()
        self.closed = False
        self._paused = False
        self._reader = mqtt.PacketReader(MAX_PACKET_BYTES)
        self._transport: asyncio.Transport | None = None

    @property
    def connected(self) -> bool:
        return bool(self.client_id) and not self.closed

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport
        transport.set_write_buffer_limits(high=MAX_BUFFERED_BYTES)
        certificate = transport.get_extra_info("ssl_object").getpeercert(binary_form=True)
        self.client_guid = certificate_sha1(certificate)
        self.broker.accept(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.close()

    def pause_writing(self) -> None:
        log.warning("client %s reads too slowly: dropping messages to it", self.client_id)
        self._paused = True

    def resume_writing(self) -> None:
        self._paused = False

    def data_received(self, data: bytes) -> None:
        self.last_seen = time.monotonic()
        try:
            for packet in self._reader.feed(data):
                if self.closed:
                    return
                self._handle(packet)
        except mqtt.ProtocolError as error:
            log.warning("closing client %s: %s", self.client_id or self.client_guid, error)
            self.close()

    def send(self, data: bytes) -> None:
        if not self.closed and not self._paused:
            self._transport.write(data)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.broker.detach(self)
            self._transport.close()

    def subscribed_to(self, topic: str) -> bool:
        return topic in self.filters or any(mqtt.topic_matches(f, topic) for f in self.filters)

    def overdue(self, now: float) -> bool:
        """Whether the client failed to CONNECT in time or outlived its keep-alive."""
        if not self.client_id:
            return now - self.last_seen > CONNECT_TIMEOUT_SEC
        return bool(self.keep_alive) and now - self.last_seen > 1.5 * self.keep_alive

    def _handle(self, packet: mqtt.Packet) -> None:
        if isinstance(packet, mqtt.Connect) == self.connected:
            raise mqtt.ProtocolError("CONNECT must come first, and once")
        match packet:
            case mqtt.Connect():
                self._connect(packet)
            case mqtt.Publish():
                self.broker.publish(self, packet.topic, packet.payload)
                if packet.qos:
                    self.send(mqtt.encode_puback(packet.packet_id))
            case mqtt.Subscribe():
                codes = [self._subscribe(topic_filter) for topic_filter, _ in packet.requests]
                self.send(mqtt.encode_suback(packet.packet_id, codes))
            case mqtt.Unsubscribe():
                for topic_filter in packet.filters:
                    self.broker.unsubscribe(self, topic_filter)
                self.send(mqtt.encode_unsuback(packet.packet_id))
            case mqtt.PingReq():
                self.send(mqtt.PINGRESP_PACKET)
            case mqtt.Disconnect():
                self.close()

    def _connect(self, packet: mqtt.Connect) -> None:
        if packet.protocol_level != mqtt.PROTOCOL_LEVEL:
            self.send(mqtt.encode_connack(mqtt.CONNACK_BAD_PROTOCOL_VERSION))
            self.close()
            return
        self.client_id = packet.client_id or f"devfabric-{uuid.uuid4()}"
        self.keep_alive = packet.keep_alive
        self.broker.connect(self)
        self.send(mqtt.encode_connack(mqtt.CONNACK_ACCEPTED))

    def _subscribe(self, topic_filter: str) -> int:
        if not mqtt.valid_filter(topic_filter):
            return mqtt.SUBACK_FAILURE
        self.broker.subscribe(self, topic_filter)
        return 0  # granted QoS 0: everything is delivered at most once


class Broker:
    """Routes DXL messages between sessions and answers the service registry topics."""

    def __init__(
        self,
        *,
        grace_sec: float = DEFAULT_GRACE_SEC,
        sweep_interval_sec: float = DEFAULT_SWEEP_INTERVAL_SEC,
    ) -> None:
        self.guid = f"{{{uuid.uuid4()}}}"  # dxlclient's GUID format: braces
        self.registry = Registry(self.guid, grace_sec=grace_sec)
        self._sweep_interval_sec = sweep_interval_sec
        self._sessions: set[Session] = set()
        self._clients: dict[str, Session] = {}  # MQTT client id -> connected session
        self._subscriptions: mqtt.Subscriptions[Session] = mqtt.Subscriptions()
        self._registry_handlers: dict[str, Callable[[Session, Request, dict], None]] = {
            REGISTER_TOPIC: self._register,
            UNREGISTER_TOPIC: self._unregister,
            QUERY_TOPIC: self._query,
        }
        self._housekeeping_timer: asyncio.TimerHandle | None = None

    async def serve(self, host: str, port: int, context: ssl.SSLContext) -> asyncio.Server:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(lambda: Session(self), host, port, ssl=context)
        self._housekeeping_timer = loop.call_later(self._sweep_interval_sec, self._housekeeping)
        return server

    def close(self) -> None:
        if self._housekeeping_timer is not None:
            self._housekeeping_timer.cancel()
        for session in list(self._sessions):
            session.close()

    # Sessions

    def accept(self, session: Session) -> None:
        self._sessions.add(session)

    def connect(self, session: Session) -> None:
        """Make ``session`` the one for its client id; MQTT closes an older one."""
        previous = self._clients.get(session.client_id)
        if previous is not None:
            previous.close()
        self._clients[session.client_id] = session
        log.debug("client %s connected (certificate %s)", session.client_id, session.client_guid)

    def detach(self, session: Session) -> None:
        """Forget a closed session. Its services stay registered, as on a real broker."""
        self._sessions.discard(session)
        if self._clients.get(session.client_id) is session:
            del self._clients[session.client_id]
        for topic_filter in session.filters:
            self._subscriptions.discard(topic_filter, session)
        session.filters.clear()
        log.debug("client %s disconnected", session.client_id)

    def subscribe(self, session: Session, topic_filter: str) -> None:
        session.filters.add(topic_filter)
        self._subscriptions.add(topic_filter, session)

    def unsubscribe(self, session: Session, topic_filter: str) -> None:
        session.filters.discard(topic_filter)
        self._subscriptions.discard(topic_filter, session)

    # DXL

    def publish(self, session: Session, topic: str, payload: bytes) -> None:
        """Take a DXL message a client published: route a request, fan out anything else."""
        try:
            message = decode_message(payload)
        except Exception as error:  # the decoder of untrusted bytes raises all sorts
            raise mqtt.ProtocolError(f"not a DXL message on {topic}") from error
        _stamp(message, client_guid=session.client_guid, broker_guid=self.guid)
        if isinstance(message, Request):
            self._route(session, topic, message)
            return
        if _names_missing_service(message):  # e.g. from a client that no longer has it
            self._remove_service(message.service_id)
        self._deliver(topic, message)

    def _route(self, session: Session, topic: str, request: Request) -> None:
        handler = self._registry_handlers.get(topic)
        if handler is not None:
            try:
                handler(session, request, _json_object(request.payload))
            except ValueError as error:
                self._reply(ErrorResponse(request, INVALID_REGISTRY_REQUEST, str(error)))
            return
        if request.service_id:
            service = self.registry.find(request.service_id, topic)
        else:
            service = self.registry.choose(topic)
        if service is not None:
            request.service_id = service.service_guid
        target = self._clients.get(service.client_instance_guid) if service else None
        if target is None or not target.subscribed_to(topic):
            if service is not None:  # its client is gone: stop routing to it
                self._remove_service(service.service_guid)
            self._reply(ErrorResponse(request, SERVICE_NOT_FOUND, SERVICE_NOT_FOUND_MESSAGE))
            return
        target.send(mqtt.encode_publish(topic, request._to_bytes()))

    def _deliver(self, topic: str, message: Message) -> None:
        """Fan out to every subscriber the message is addressed to."""
        if message.broker_ids and self.guid not in message.broker_ids:
            return
        data = mqtt.encode_publish(topic, message._to_bytes())
        client_guids = message.client_ids
        for session in self._subscriptions.matching(topic):
            if not client_guids or session.client_guid in client_guids:
                session.send(data)

    def _reply(self, response: Response) -> None:
        _stamp(response, client_guid="", broker_guid=self.guid)
        if response.destination_topic:
            self._deliver(response.destination_topic, response)

    def _announce(self, topic: str, body: dict[str, Any]) -> None:
        event = Event(topic)
        event.payload = json.dumps(body).encode("utf-8")
        _stamp(event, client_guid="", broker_guid=self.guid)
        self._deliver(topic, event)

    def _remove_service(self, service_guid: str) -> None:
        if self.registry.unregister(service_guid):
            self._announce(UNREGISTER_EVENT, {"serviceGuid": service_guid})

    # The service registry topics

    def _register(self, session: Session, request: Request, payload: dict) -> None:
        service = self.registry.register(
            payload,
            client_guid=session.client_guid,
            client_instance_guid=session.client_id,
            certificates=(session.client_guid,),
        )
        self._reply(Response(request))
        self._announce(REGISTER_EVENT, service.record())

    def _unregister(self, session: Session, request: Request, payload: dict) -> None:
        guid = payload.get("serviceGuid")
        removed = isinstance(guid, str) and self.registry.unregister(
            guid, client_guid=session.client_guid
        )
        self._reply(Response(request))  # also when the sender does not own the service
        if removed:
            self._announce(UNREGISTER_EVENT, {"serviceGuid": guid})

    def _query(self, session: Session, request: Request, payload: dict) -> None:
        services = self.registry.query(
            service_guid=payload.get("serviceGuid"), service_type=payload.get("serviceType")
        )
        response = Response(request)
        response.payload = json.dumps({"services": services}).encode("utf-8")
        self._reply(response)

    def _housekeeping(self) -> None:
        """Remove expired services (announcing it) and clients that went silent."""
        for guid in self.registry.sweep():
            self._announce(UNREGISTER_EVENT, {"serviceGuid": guid})
        now = time.monotonic()
        for session in [s for s in self._sessions if s.overdue(now)]:
            log.info("closing client %s: no packet in time", session.client_id)
            session.close()
        loop = asyncio.get_running_loop()
        self._housekeeping_timer = loop.call_later(self._sweep_interval_sec, self._housekeeping)


def _arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m devfabric.broker", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--pki-dir", type=Path, required=True, help="made if missing")
    parser.add_argument(
        "--ready-file",
        type=Path,
        required=True,
        help='written once listening: {"port": N, "pid": P, "guid": G}',
    )
    parser.add_argument(
        "--ttl-grace-sec",
        type=float,
        default=DEFAULT_GRACE_SEC,
        help="how long past ttlMins a registration lives without a refresh",
    )
    parser.add_argument(
        "--sweep-interval-sec",
        type=float,
        default=DEFAULT_SWEEP_INTERVAL_SEC,
        help="how often expired registrations are removed and announced",
    )
    parser.add_argument("--log-level", default="WARNING")
    return parser.parse_args(argv)


async def _serve(args: argparse.Namespace) -> None:
    broker = Broker(grace_sec=args.ttl_grace_sec, sweep_interval_sec=args.sweep_interval_sec)
    context = server_context(Pki.ensure(args.pki_dir))
    server = await broker.serve(args.host, args.port, context)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    port = server.sockets[0].getsockname()[1]
    write_ready_file(args.ready_file, {"port": port, "pid": os.getpid(), "guid": broker.guid})
    log.info("broker %s listening on %s:%d", broker.guid, args.host, port)
    await stop.wait()
    server.close()
    broker.close()
    await server.wait_closed()


def main(argv: Sequence[str] | None = None) -> int:
    args = _arguments(argv)
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    asyncio.run(_serve(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
