"""Requests that dxlclient's own decoder would drop without a word.

dxlclient decodes each incoming message with msgpack's default limits, which
cap a payload at 1 MiB: a larger request raises inside the client's
incoming-message thread and is never seen, so its sender waits for an answer
that never comes. :func:`accept_large_requests` decodes such requests with
limits as large as the message itself (the bytes are already in memory), so
that the service can answer them, with a 400 when they are over its limit.
"""

from __future__ import annotations

import io

import msgpack
from dxlclient.client import DxlClient
from dxlclient.message import Message, Request

LIBRARY_LIMIT = 1024 * 1024
"""msgpack's default cap on one string or binary, the payload included."""


def decode_request(raw: bytes) -> Request | None:
    """The request in ``raw``, a DXL message of any size; None for other messages.

    dxlclient's ``Message._from_bytes`` with the length limits raised to the
    message's own length; the fields are read by dxlclient's own methods.
    """
    unpacker = msgpack.Unpacker(io.BytesIO(raw), max_buffer_size=max(len(raw), 1))
    version = next(unpacker)
    if next(unpacker) != Message.MESSAGE_TYPE_REQUEST:
        return None
    request = Request(destination_topic="")
    request._version = version
    request._unpack_message(unpacker)
    if version > 0:
        request._unpack_message_v1(unpacker)
    if version > 1:
        request._unpack_message_v2(unpacker)
    return request


def accept_large_requests(client: DxlClient) -> None:
    """Let ``client`` pass requests over msgpack's default limits to its callbacks.

    Smaller messages, and anything that is not a request, take dxlclient's
    own path unchanged.
    """
    handle = client._handle_message

    def handle_message(channel: str, payload: bytes) -> None:
        request = decode_request(payload) if len(payload) > LIBRARY_LIMIT else None
        if request is None:
            handle(channel, payload)
            return
        request.destination_topic = channel
        client._fire_request(request)

    client._handle_message = handle_message
