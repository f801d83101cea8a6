"""Requests over dxlclient's 1 MiB decoding limit still reach the service's callbacks."""

import pytest
from dxlclient.message import Event, Message, Request

from dxlvtservice.topics.transport import LIBRARY_LIMIT, accept_large_requests, decode_request

TOPIC = "/opendxl-virustotal/service/vtapi/classify"


def large_request() -> Request:
    request = Request(TOPIC)
    request.payload = b"a" * (LIBRARY_LIMIT + 10)
    request.reply_to_topic = "/mcafee/client/{reply}"
    request.service_id = "{service}"
    request.other_fields = {"k": "v"}
    return request


def test_dxlclients_own_decoder_drops_it():
    with pytest.raises(ValueError, match="exceeds max"):
        Message._from_bytes(large_request()._to_bytes())


def test_decoded_with_every_field_a_reply_needs():
    sent = large_request()
    got = decode_request(sent._to_bytes())
    assert got is not None and got.payload == sent.payload
    for name in ("message_id", "reply_to_topic", "service_id", "other_fields"):
        assert getattr(got, name) == getattr(sent, name)


def test_other_messages_are_not_requests():
    event = Event("/x")
    event.payload = b"a" * (LIBRARY_LIMIT + 10)
    assert decode_request(event._to_bytes()) is None


class FakeClient:
    """The two members of DxlClient that accept_large_requests uses."""

    def __init__(self) -> None:
        self.library: list[bytes] = []
        self.fired: list[Request] = []

    def _handle_message(self, channel: str, payload: bytes) -> None:
        self.library.append(payload)

    def _fire_request(self, request: Request) -> None:
        self.fired.append(request)


def test_large_requests_are_fired_small_ones_take_the_library_path():
    client = FakeClient()
    accept_large_requests(client)
    small = Request(TOPIC)
    small.payload = b"{}"
    client._handle_message(TOPIC, small._to_bytes())
    client._handle_message(TOPIC, large_request()._to_bytes())
    assert client.library == [small._to_bytes()]
    assert [(r.destination_topic, len(r.payload)) for r in client.fired] == [
        (TOPIC, LIBRARY_LIMIT + 10)
    ]
