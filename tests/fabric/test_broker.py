"""The broker double behaves as docs/broker.md records the real one, with real dxlclients."""

from __future__ import annotations

import json
import socket
import ssl
import uuid
from pathlib import Path

import pytest
import trustme
from dxlclient.message import ErrorResponse, Event, Message, Request, Response

from devfabric.broker import (
    QUERY_TOPIC,
    REGISTER_EVENT,
    REGISTER_TOPIC,
    UNREGISTER_EVENT,
    UNREGISTER_TOPIC,
    decode_message,
)
from devfabric.certs import certificate_file_sha1
from devfabric.mqtt import topic_matches
from dxlvtservice.topics.transport import accept_large_requests

from .conftest import EchoService, Inbox, flush, request, watch_events

NOT_FOUND_CODE = -2147483647  # 0x80000001 as dxlclient reads it
NOT_FOUND_MESSAGE = "unable to locate service for request"


def query(client, payload=None) -> dict:
    response = request(client, QUERY_TOPIC, payload or {})
    assert isinstance(response, Response) and not isinstance(response, ErrorResponse)
    return json.loads(response.payload)["services"]


def register(client, service_type: str, channels: list[str], ttl_mins=60, **fields) -> str:
    """Register a service by hand, as dxlclient does, but behind the back of the client's
    service manager: that client will neither re-register nor unregister it."""
    guid = f"{{{uuid.uuid4()}}}"
    payload = {
        "serviceType": service_type,
        "serviceGuid": guid,
        "requestChannels": channels,
        "metaData": {},
        "ttlMins": ttl_mins,
        **fields,
    }
    assert type(request(client, REGISTER_TOPIC, payload)) is Response
    return guid


def assert_not_found(response) -> None:
    assert isinstance(response, ErrorResponse)
    assert (response.error_code, response.error_message) == (NOT_FOUND_CODE, NOT_FOUND_MESSAGE)
    assert response.payload == b""


def client_sha1(client) -> str:
    """The id the broker gives a client: the SHA-1 of its certificate."""
    return certificate_file_sha1(Path(client.config.cert_file))


# Transport


def tls_client(broker, cert_and_key: tuple[Path, Path] | None = None) -> ssl.SSLSocket:
    """A TLS connection to the broker as dxlclient opens it: TLS 1.2, AES128-SHA256."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.load_verify_locations(broker.pki.broker_ca_cert)
    context.set_ciphers("AES128-SHA256")
    if cert_and_key is not None:
        context.load_cert_chain(*cert_and_key)
    raw = socket.create_connection(("127.0.0.1", broker.port), timeout=10)
    return context.wrap_socket(raw, server_hostname="127.0.0.1")


def closed_by_broker(tls: ssl.SSLSocket) -> bool:
    try:
        return tls.recv(1) == b""
    except (ssl.SSLError, ConnectionError):
        return True


def refused(broker, cert_and_key: tuple[Path, Path] | None = None) -> bool:
    """Whether the broker refuses the TLS session, in the handshake or right after it."""
    try:
        tls = tls_client(broker, cert_and_key)
    except (ssl.SSLError, ConnectionError):
        return True
    with tls:
        return closed_by_broker(tls)


def test_tls_without_client_certificate_is_refused(broker):
    assert refused(broker)


def test_client_certificate_of_another_ca_is_refused(broker, tmp_path):
    stranger = trustme.CA(key_type=trustme.KeyType.RSA).issue_cert(
        "stranger@clients.dxl.invalid", common_name="stranger"
    )
    cert, key = tmp_path / "stranger.crt", tmp_path / "stranger.key"
    stranger.cert_chain_pems[0].write_to_path(cert)
    stranger.private_key_pem.write_to_path(key)
    assert refused(broker, (cert, key))


def test_tls_1_2_with_the_cipher_dxlclient_insists_on(broker, tmp_path):
    with tls_client(broker, broker.pki.issue_client("cipher", tmp_path)) as tls:
        assert tls.version() == "TLSv1.2"
        assert tls.cipher()[0] == "AES128-SHA256"


def test_bad_packets_close_that_connection_only(broker, tmp_path):
    client = broker.connect()
    with tls_client(broker, broker.pki.issue_client("garbage", tmp_path)) as tls:
        tls.sendall(b"\xff\x00not mqtt")
        assert closed_by_broker(tls)
    connect = b"\x10\x10\x00\x04MQTT\x04\x02\x00\x3c\x00\x04evil"
    publish_not_dxl = b"\x30\x0c\x00\x03/ev" + b"garbage"
    with tls_client(broker, broker.pki.issue_client("not-dxl", tmp_path)) as tls:
        tls.sendall(connect)
        assert tls.recv(4) == b"\x20\x02\x00\x00"  # CONNACK, accepted
        tls.sendall(publish_not_dxl)
        assert closed_by_broker(tls)
    assert isinstance(query(client), dict)  # the broker and its other clients carry on


def test_a_second_connection_with_the_same_client_id_takes_over(broker, tmp_path):
    connect = b"\x10\x12\x00\x04MQTT\x04\x02\x00\x3c\x00\x06twin-1"
    with tls_client(broker, broker.pki.issue_client("twin", tmp_path)) as first:
        first.sendall(connect)
        assert first.recv(4) == b"\x20\x02\x00\x00"
        with tls_client(broker, broker.pki.issue_client("twin", tmp_path)) as second:
            second.sendall(connect)
            assert second.recv(4) == b"\x20\x02\x00\x00"
            assert closed_by_broker(first)
            second.sendall(b"\xc0\x00")  # PINGREQ
            assert second.recv(2) == b"\xd0\x00"  # PINGRESP: the new one lives on


@pytest.mark.parametrize(
    ("topic_filter", "topic", "matches"),
    [
        ("/a/b", "/a/b", True),
        ("/a/+", "/a/b", True),
        ("/a/+", "/a/b/c", False),
        ("/a/#", "/a", True),
        ("/a/#", "/a/b/c", True),
        ("#", "/a", True),
        ("/a/b", "/a/c", False),
        ("#", "$SYS/x", False),
    ],
)
def test_topic_filters_match_as_mqtt_says(topic_filter, topic, matches):
    assert topic_matches(topic_filter, topic) is matches


# Service registry


def test_register_is_queryable_and_announced(broker, topic):
    watcher = broker.connect("watcher")
    events = watch_events(watcher, REGISTER_EVENT)
    client = broker.connect("service")
    service = EchoService(client, "a", topic, [f"{topic}/ping"])

    announced = events.wait_for(
        lambda e: json.loads(e.payload)["serviceGuid"] == service.service_id
    )
    record = query(watcher, {"serviceGuid": service.service_id})[service.service_id]
    assert json.loads(announced.payload) == record
    assert record["serviceType"] == topic
    assert record["requestChannels"] == [f"{topic}/ping"]
    assert record["metaData"] == {"name": "a"}
    assert record["ttlMins"] == 60
    assert record["brokerGuid"] == broker.guid
    assert record["clientGuid"] == client_sha1(client)
    assert record["clientInstanceGuid"] == client.config._client_id  # its MQTT client id
    assert isinstance(record["registrationTime"], int)
    assert record["certificates"] == [client_sha1(client)]
    assert record["managed"] is False


def test_register_again_with_other_fields_replaces(broker, topic):
    client = broker.connect()
    guid = register(client, topic, [f"{topic}/a"], metaData={"version": 1})
    changed = {"serviceGuid": guid, "requestChannels": [f"{topic}/b"], "metaData": {"version": 2}}
    assert type(request(client, REGISTER_TOPIC, changed)) is Response
    record = query(client, {"serviceGuid": guid})[guid]
    assert (record["requestChannels"], record["metaData"]) == ([f"{topic}/b"], {"version": 2})
    assert_not_found(request(client, f"{topic}/a"))


def test_unregister_removes_and_announces(broker, topic):
    client = broker.connect()
    events = watch_events(client, UNREGISTER_EVENT)
    guid = register(client, topic, [f"{topic}/ping"])

    response = request(client, UNREGISTER_TOPIC, {"serviceGuid": guid})

    assert type(response) is Response and response.payload == b""
    assert json.loads(events.wait_for(lambda e: True).payload) == {"serviceGuid": guid}
    assert query(client, {"serviceGuid": guid}) == {}


def test_unregister_by_another_client_changes_nothing(broker, topic):
    owner, stranger = broker.connect("owner"), broker.connect("stranger")
    events = watch_events(owner, UNREGISTER_EVENT)
    guid = register(owner, topic, [f"{topic}/ping"])

    response = request(stranger, UNREGISTER_TOPIC, {"serviceGuid": guid})

    assert type(response) is Response and response.payload == b""
    assert guid in query(stranger, {"serviceGuid": guid})
    request(owner, UNREGISTER_TOPIC, {"serviceGuid": guid})
    events.wait_for(lambda e: True)
    flush(stranger, owner)
    assert events.payloads() == [{"serviceGuid": guid}]  # the owner's unregister only


def test_query_by_type_by_guid_and_all(broker, topic):
    client = broker.connect()
    first = register(client, f"{topic}/one", [f"{topic}/1"])
    second = register(client, f"{topic}/one", [f"{topic}/2"])
    other = register(client, f"{topic}/other", [f"{topic}/3"])

    assert set(query(client, {"serviceType": f"{topic}/one"})) == {first, second}
    assert set(query(client, {"serviceGuid": other})) == {other}
    assert {first, second, other} <= set(query(client))
    assert query(client, {"serviceType": f"{topic}/none"}) == {}


def test_bad_registry_request_is_answered_with_an_error(broker):
    client = broker.connect()
    response = request(client, REGISTER_TOPIC, b"not json")
    assert isinstance(response, ErrorResponse) and response.error_message


def test_disconnect_does_not_unregister(broker, topic):
    client = broker.connect()
    guid = register(client, topic, [f"{topic}/ping"])
    client.destroy()
    assert guid in query(broker.connect())


def test_registration_expires_after_ttl_and_grace(start_broker, topic):
    broker = start_broker("--ttl-grace-sec", "0", "--sweep-interval-sec", "0.05")
    client = broker.connect()
    events = watch_events(client, UNREGISTER_EVENT)

    guid = register(client, topic, [f"{topic}/ping"], ttl_mins=0)

    assert json.loads(events.wait_for(lambda e: True).payload) == {"serviceGuid": guid}
    assert query(client) == {}


# Request routing


def test_unserved_topic_is_answered_with_an_error_at_once(broker, topic):
    client = broker.connect()
    response = request(client, f"{topic}/nobody")
    assert_not_found(response)
    assert response.request_message_id


def test_instances_take_requests_in_turn(broker, topic):
    first = EchoService(broker.connect(), "first", topic, [f"{topic}/ping"])
    second = EchoService(broker.connect(), "second", topic, [f"{topic}/ping"])
    client = broker.connect()

    answers = [request(client, f"{topic}/ping").payload.decode() for _ in range(4)]

    assert sorted(answers[:2]) == ["first", "second"]
    assert answers[2:] == answers[:2]
    flush(client, first.client)
    flush(client, second.client)
    assert len(first.requests.messages) == len(second.requests.messages) == 2


def test_delivered_request_names_its_service_and_sender(broker, topic):
    service = EchoService(broker.connect(), "only", topic, [f"{topic}/ping"])
    client = broker.connect()

    response = request(client, f"{topic}/ping")

    delivered = service.requests.messages[0]
    assert delivered.service_id == service.service_id
    assert delivered.source_client_id == client_sha1(client)
    assert delivered.source_broker_id == broker.guid
    assert response.service_id == service.service_id
    assert response.source_client_id == client_sha1(service.client)


def test_a_mere_subscriber_gets_no_requests(broker, topic):
    eavesdropper = broker.connect("eavesdropper")
    inbox = Inbox()
    eavesdropper.add_request_callback(f"{topic}/ping", inbox)
    eavesdropper.subscribe(f"{topic}/ping")
    client = broker.connect()

    assert_not_found(request(client, f"{topic}/ping"))
    EchoService(broker.connect(), "registered", topic, [f"{topic}/ping"])
    assert request(client, f"{topic}/ping").payload == b"registered"

    flush(client, eavesdropper)
    assert inbox.messages == []


def test_request_with_service_id_goes_to_that_instance(broker, topic):
    EchoService(broker.connect(), "first", topic, [f"{topic}/ping"])
    second = EchoService(broker.connect(), "second", topic, [f"{topic}/ping"])
    client = broker.connect()

    answers = {
        request(client, f"{topic}/ping", service_id=second.service_id).payload for _ in range(3)
    }

    assert answers == {b"second"}
    assert_not_found(request(client, f"{topic}/ping", service_id="{unknown}"))


def test_dead_instance_fails_one_request_then_is_unregistered(broker, topic):
    client = broker.connect()
    events = watch_events(client, UNREGISTER_EVENT)
    dying = broker.connect("dying")
    dying.subscribe(f"{topic}/ping")
    dead = register(dying, topic, [f"{topic}/ping"])
    live = EchoService(broker.connect(), "live", topic, [f"{topic}/ping"])
    dying.destroy()

    answers = [request(client, f"{topic}/ping") for _ in range(4)]

    failed = [i for i, answer in enumerate(answers) if isinstance(answer, ErrorResponse)]
    assert len(failed) == 1 and failed[0] < 2  # the dead one's turn comes once, then never
    assert_not_found(answers[failed[0]])
    assert all(a.payload == b"live" for i, a in enumerate(answers) if i != failed[0])
    assert json.loads(events.wait_for(lambda e: True).payload) == {"serviceGuid": dead}
    assert set(query(client, {"serviceType": topic})) == {live.service_id}


def test_a_client_saying_it_lacks_the_service_gets_it_unregistered(broker, topic):
    client = broker.connect()
    events = watch_events(client, UNREGISTER_EVENT)
    owner = broker.connect("owner")
    EchoService(owner, "known", topic, [f"{topic}/ping"])
    unknown_to_owner = register(owner, topic, [f"{topic}/ping"])  # its service manager lacks it

    response = request(client, f"{topic}/ping", service_id=unknown_to_owner)

    assert isinstance(response, ErrorResponse)  # sent by dxlclient itself, unsigned code
    assert response.error_message == NOT_FOUND_MESSAGE
    assert json.loads(events.wait_for(lambda e: True).payload) == {"serviceGuid": unknown_to_owner}
    assert query(client, {"serviceGuid": unknown_to_owner}) == {}


def test_wildcard_registrations_serve_what_no_exact_one_does(broker, topic):
    EchoService(broker.connect(), "exact", topic, [f"{topic}/a/b"])
    EchoService(broker.connect(), "under-a", topic, [f"{topic}/a/#"])
    EchoService(broker.connect(), "everything", topic, [f"{topic}/#"])
    client = broker.connect()

    def answer(suffix: str) -> bytes:
        return request(client, topic + suffix).payload

    assert [answer("/a/b"), answer("/a/b")] == [b"exact", b"exact"]
    assert answer("/a/c") == b"under-a"
    assert answer("/a/b/c") == b"under-a"
    assert answer("/x/y") == b"everything"


OVER_ONE_MIB = b"x" * ((1 << 20) + 1)  # msgpack's default cap, which dxlclient decodes with


@pytest.mark.parametrize("message", [Request("/t"), Response(Request("/t")), Event("/t"),
                                     ErrorResponse(Request("/t"), 7, "no")],
                         ids=lambda message: type(message).__name__)  # fmt: skip
def test_messages_over_one_mib_are_read_whole(message):
    """dxlclient's own decoder refuses them; the broker reads them as it reads the rest."""
    message.payload = OVER_ONE_MIB
    raw = message._to_bytes()
    with pytest.raises(ValueError):
        Message._from_bytes(raw)

    decoded = decode_message(raw)

    assert type(decoded) is type(message)
    assert (decoded.message_id, decoded.payload) == (message.message_id, OVER_ONE_MIB)


def test_a_request_over_one_mib_reaches_its_service_and_the_sender_stays(broker, topic):
    """The real broker routes a request of any size. The receiving client reads it with the
    service's large-request decoder (dxlclient's own would drop it)."""
    receiver = broker.connect("large-receiver")
    accept_large_requests(receiver)
    service = EchoService(receiver, "large", topic, [f"{topic}/big"])
    client = broker.connect("large-sender")

    assert request(client, f"{topic}/big", OVER_ONE_MIB).payload == b"large"

    assert service.requests.messages[0].payload == OVER_ONE_MIB
    assert request(client, f"{topic}/big", b"small").payload == b"large"  # still connected


# Events


def test_events_fan_out_to_every_matching_subscriber(broker, topic):
    exact, wildcard, elsewhere = (broker.connect(name) for name in ("exact", "wild", "elsewhere"))
    subscriptions = {exact: f"{topic}/news", wildcard: f"{topic}/#", elsewhere: f"{topic}/other"}
    inboxes = [watch_events(client, topic_filter) for client, topic_filter in subscriptions.items()]
    publisher = broker.connect("publisher")
    publisher.send_event(Event(f"{topic}-nobody-listens"))
    event = Event(f"{topic}/news")
    event.payload = b"hello"

    publisher.send_event(event)

    for inbox in inboxes[:2]:
        received = inbox.wait_for(lambda e: True)
        assert received.payload == b"hello"
        assert received.source_client_id == client_sha1(publisher)
    flush(publisher, elsewhere)
    assert inboxes[2].messages == []


# Broker restarts


def test_clients_reconnect_to_a_restarted_broker_and_register_again(start_broker, topic):
    broker = start_broker()
    service = EchoService(broker.connect(), "survivor", topic, [f"{topic}/ping"])

    broker.restart()

    client = broker.connect()
    events = watch_events(client, REGISTER_EVENT)
    if service.service_id not in query(client):
        events.wait_for(lambda e: json.loads(e.payload)["serviceGuid"] == service.service_id)
    assert request(client, f"{topic}/ping").payload == b"survivor"
