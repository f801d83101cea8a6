"""MQTT 3.1.1, the subset ``dxlclient`` speaks, as pure functions over bytes.

A broker feeds a :class:`PacketReader` with what a client sends and gets
packets back; it answers with the ``encode_*`` functions. Wills, retained
messages and QoS 2 are not part of the subset: ``dxlclient`` uses none of them.
:class:`Subscriptions` is the topic-filter index a broker fans messages out with.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from dataclasses import dataclass
from typing import Generic, TypeVar

CONNECT = 1
CONNACK = 2
PUBLISH = 3
PUBACK = 4
SUBSCRIBE = 8
SUBACK = 9
UNSUBSCRIBE = 10
UNSUBACK = 11
PINGREQ = 12
PINGRESP = 13
DISCONNECT = 14

CONNACK_ACCEPTED = 0
CONNACK_BAD_PROTOCOL_VERSION = 1
SUBACK_FAILURE = 0x80

PROTOCOL_LEVEL = 4  # MQTT 3.1.1
MAX_REMAINING_LENGTH = 268_435_455  # the largest the four-byte length field can say

PINGRESP_PACKET = bytes((PINGRESP << 4, 0))


class ProtocolError(Exception):
    """The peer broke the protocol; its connection must be closed."""


@dataclass(frozen=True, slots=True)
class Connect:
    client_id: str
    keep_alive: int
    clean_session: bool
    protocol_level: int


@dataclass(frozen=True, slots=True)
class Publish:
    topic: str
    payload: bytes
    qos: int = 0
    packet_id: int | None = None


@dataclass(frozen=True, slots=True)
class Subscribe:
    packet_id: int
    requests: tuple[tuple[str, int], ...]  # (topic filter, requested QoS)


@dataclass(frozen=True, slots=True)
class Unsubscribe:
    packet_id: int
    filters: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class PingReq:
    pass


@dataclass(frozen=True, slots=True)
class Disconnect:
    pass


Packet = Connect | Publish | Subscribe | Unsubscribe | PingReq | Disconnect


class _Fields:
    """Reads the variable header and payload of one packet, front to back."""

    __slots__ = ("_data", "_position")

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._position = 0

    def byte(self) -> int:
        if self._position >= len(self._data):
            raise ProtocolError("packet ends early")
        self._position += 1
        return self._data[self._position - 1]

    def uint16(self) -> int:
        return self.byte() << 8 | self.byte()

    def binary(self) -> bytes:
        length = self.uint16()
        end = self._position + length
        if end > len(self._data):
            raise ProtocolError("packet ends early")
        value = self._data[self._position : end]
        self._position = end
        return value

    def string(self) -> str:
        try:
            value = self.binary().decode("utf-8")
        except UnicodeDecodeError as error:
            raise ProtocolError("string is not UTF-8") from error
        if "\x00" in value:
            raise ProtocolError("string contains U+0000")
        return value

    def rest(self) -> bytes:
        value = self._data[self._position :]
        self._position = len(self._data)
        return value

    @property
    def exhausted(self) -> bool:
        return self._position >= len(self._data)


def _decode_connect(flags: int, fields: _Fields) -> Connect:
    protocol = fields.string()
    level = fields.byte()
    connect_flags = fields.byte()
    keep_alive = fields.uint16()
    if flags or protocol != "MQTT" or connect_flags & 0x01:
        raise ProtocolError("malformed CONNECT")
    client_id = fields.string()
    if connect_flags & 0x04:  # a will: read past it, it is not supported
        fields.string()
        fields.binary()
    if connect_flags & 0x80:
        fields.string()  # user name
    if connect_flags & 0x40:
        fields.binary()  # password
    return Connect(client_id, keep_alive, bool(connect_flags & 0x02), level)


def _decode_publish(flags: int, fields: _Fields) -> Publish:
    qos = (flags >> 1) & 0x03
    if qos > 1:
        raise ProtocolError(f"PUBLISH with QoS {qos} is not supported")
    topic = fields.string()
    if not valid_topic(topic):
        raise ProtocolError(f"invalid topic name {topic!r}")
    packet_id = fields.uint16() if qos else None
    return Publish(topic, fields.rest(), qos, packet_id)


def _decode_subscribe(flags: int, fields: _Fields) -> Subscribe:
    if flags != 0b0010:
        raise ProtocolError("malformed SUBSCRIBE")
    packet_id = fields.uint16()
    requests = []
    while not fields.exhausted:
        requests.append((fields.string(), fields.byte()))
    if not requests:
        raise ProtocolError("SUBSCRIBE without topic filters")
    return Subscribe(packet_id, tuple(requests))


def _decode_unsubscribe(flags: int, fields: _Fields) -> Unsubscribe:
    if flags != 0b0010:
        raise ProtocolError("malformed UNSUBSCRIBE")
    packet_id = fields.uint16()
    filters = []
    while not fields.exhausted:
        filters.append(fields.string())
    if not filters:
        raise ProtocolError("UNSUBSCRIBE without topic filters")
    return Unsubscribe(packet_id, tuple(filters))


def _decode_empty(packet: PingReq | Disconnect):
    def decode(flags: int, fields: _Fields) -> PingReq | Disconnect:
        if flags or not fields.exhausted:
            raise ProtocolError(f"malformed {type(packet).__name__}")
        return packet

    return decode


_DECODERS = {
    CONNECT: _decode_connect,
    PUBLISH: _decode_publish,
    SUBSCRIBE: _decode_subscribe,
    UNSUBSCRIBE: _decode_unsubscribe,
    PINGREQ: _decode_empty(PingReq()),
    DISCONNECT: _decode_empty(Disconnect()),
}


class PacketReader:
    """Cuts the byte stream a client sends into packets."""

    def __init__(self, max_packet_size: int = MAX_REMAINING_LENGTH) -> None:
        self._buffer = bytearray()
        self._max_packet_size = max_packet_size

    def feed(self, data: bytes) -> list[Packet]:
        """Add received bytes; return the packets they complete, in order."""
        self._buffer += data
        packets = []
        start = 0
        while (header := self._header(start)) is not None:
            first, body_start, length = header
            end = body_start + length
            if end > len(self._buffer):
                break
            decode = _DECODERS.get(first >> 4)
            if decode is None:
                raise ProtocolError(f"unexpected packet type {first >> 4}")
            packets.append(decode(first & 0x0F, _Fields(bytes(self._buffer[body_start:end]))))
            start = end
        del self._buffer[:start]
        return packets

    def _header(self, start: int) -> tuple[int, int, int] | None:
        """(first byte, body offset, body length) of the packet at ``start``, if all there."""
        buffer = self._buffer
        length, shift, position = 0, 0, start + 1
        while True:
            if position >= len(buffer):
                return None
            digit = buffer[position]
            length |= (digit & 0x7F) << shift
            position += 1
            if not digit & 0x80:
                break
            shift += 7
            if shift > 21:
                raise ProtocolError("remaining length longer than four bytes")
        if length > self._max_packet_size:
            raise ProtocolError(f"packet of {length} bytes is over the limit")
        return buffer[start], position, length


def _remaining_length(length: int) -> bytes:
    encoded = bytearray()
    while True:
        length, digit = divmod(length, 128)
        encoded.append(digit | (0x80 if length else 0))
        if not length:
            return bytes(encoded)


def encode_connack(return_code: int) -> bytes:
    """CONNACK without a stored session: this broker keeps none."""
    return bytes((CONNACK << 4, 2, 0, return_code))


def encode_suback(packet_id: int, return_codes: Iterable[int]) -> bytes:
    body = packet_id.to_bytes(2, "big") + bytes(return_codes)
    return bytes((SUBACK << 4,)) + _remaining_length(len(body)) + body


def encode_unsuback(packet_id: int) -> bytes:
    return bytes((UNSUBACK << 4, 2)) + packet_id.to_bytes(2, "big")


def encode_puback(packet_id: int) -> bytes:
    return bytes((PUBACK << 4, 2)) + packet_id.to_bytes(2, "big")


def encode_publish(topic: str, payload: bytes) -> bytes:
    """A QoS 0 PUBLISH, the only kind this broker sends."""
    name = topic.encode("utf-8")
    header = bytes((PUBLISH << 4,)) + _remaining_length(2 + len(name) + len(payload))
    return b"".join((header, len(name).to_bytes(2, "big"), name, payload))


def valid_topic(topic: str) -> bool:
    """Whether ``topic`` may be published to (no wildcards)."""
    return bool(topic) and "+" not in topic and "#" not in topic


def valid_filter(topic_filter: str) -> bool:
    """Whether ``topic_filter`` is a well-formed subscription."""
    if not topic_filter or "\x00" in topic_filter:
        return False
    levels = topic_filter.split("/")
    for index, level in enumerate(levels):
        if "#" in level and (level != "#" or index != len(levels) - 1):
            return False
        if "+" in level and level != "+":
            return False
    return True


def topic_matches(topic_filter: str, topic: str) -> bool:
    """Whether a message on ``topic`` reaches a subscription to ``topic_filter``."""
    if topic.startswith("$") and topic_filter[:1] in ("+", "#"):
        return False
    filter_levels = topic_filter.split("/")
    topic_levels = topic.split("/")
    for index, level in enumerate(filter_levels):
        if level == "#":
            return True
        if index >= len(topic_levels) or level not in ("+", topic_levels[index]):
            return False
    return len(filter_levels) == len(topic_levels)


def is_wildcard(topic_filter: str) -> bool:
    return "+" in topic_filter or "#" in topic_filter


S = TypeVar("S", bound=Hashable)


class Subscriptions(Generic[S]):
    """Which subscribers hold a filter matching a topic.

    Exact filters are a dictionary lookup; wildcard filters, which are few on
    a DXL fabric, are matched one by one.
    """

    def __init__(self) -> None:
        self._exact: dict[str, set[S]] = {}
        self._wildcards: dict[str, set[S]] = {}

    def add(self, topic_filter: str, subscriber: S) -> None:
        self._index(topic_filter).setdefault(topic_filter, set()).add(subscriber)

    def discard(self, topic_filter: str, subscriber: S) -> None:
        index = self._index(topic_filter)
        subscribers = index.get(topic_filter)
        if subscribers is not None:
            subscribers.discard(subscriber)
            if not subscribers:
                del index[topic_filter]

    def matching(self, topic: str) -> set[S]:
        """Every subscriber with at least one filter that matches ``topic``."""
        found = set(self._exact.get(topic, ()))
        for topic_filter, subscribers in self._wildcards.items():
            if topic_matches(topic_filter, topic):
                found |= subscribers
        return found

    def _index(self, topic_filter: str) -> dict[str, set[S]]:
        return self._wildcards if is_wildcard(topic_filter) else self._exact
