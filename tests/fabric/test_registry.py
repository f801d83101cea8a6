"""The service registry's rules, on a clock the tests move by hand."""

from __future__ import annotations

import pytest

from devfabric.registry import InvalidRegistration, Registry, channel_candidates

BROKER = "{broker}"
OWNER = "sha1-of-the-owner-certificate"
GRACE = 300


class FakeClock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def registry(clock) -> Registry:
    return Registry(BROKER, grace_sec=GRACE, clock=clock, wall_clock=clock)


def register(registry: Registry, guid: str, channels: list[str], **fields):
    payload = {"serviceGuid": guid, "serviceType": "/svc", "requestChannels": channels, **fields}
    payload.setdefault("ttlMins", 1)
    return registry.register(
        payload, client_guid=OWNER, client_instance_guid="{instance}", certificates=(OWNER,)
    )


def chosen(registry: Registry, topic: str, times: int) -> list[str | None]:
    return [getattr(registry.choose(topic), "service_guid", None) for _ in range(times)]


def test_record_carries_what_the_broker_adds(registry, clock):
    service = register(registry, "a", ["/svc/ping"], metaData={"k": "v"})
    assert service.record() == {
        "serviceType": "/svc",
        "serviceGuid": "a",
        "requestChannels": ["/svc/ping"],
        "metaData": {"k": "v"},
        "ttlMins": 1,
        "brokerGuid": BROKER,
        "clientGuid": OWNER,
        "clientInstanceGuid": "{instance}",
        "registrationTime": int(clock.now),
        "certificates": [OWNER],
        "managed": False,
    }


def test_same_registration_again_refreshes_ttl_and_time_and_keeps_its_turn(registry, clock):
    register(registry, "a", ["/svc/ping"])
    register(registry, "b", ["/svc/ping"])
    clock.now += 60 + GRACE - 1
    refreshed = register(registry, "a", ["/svc/ping"], ttlMins=2)
    register(registry, "b", ["/svc/ping"])
    clock.now += 60
    assert refreshed.registration_time == int(clock.now - 60)
    assert registry.query(service_guid="a")["a"]["ttlMins"] == 2
    assert chosen(registry, "/svc/ping", 2) == ["a", "b"]


def test_different_fields_replace_the_registration(registry):
    register(registry, "a", ["/svc/old"])
    register(registry, "b", ["/svc/new"])
    replaced = register(registry, "a", ["/svc/new"])
    assert registry.choose("/svc/old") is None
    assert chosen(registry, "/svc/new", 2) == ["b", "a"]  # a new registration queues last
    assert registry.query(service_guid="a")["a"] == replaced.record()


def test_expired_registration_is_skipped_at_once_and_swept_once(registry, clock):
    register(registry, "a", ["/svc/ping"])
    clock.now += 60 + GRACE - 1
    assert registry.choose("/svc/ping") is not None
    clock.now += 1
    assert registry.choose("/svc/ping") is None
    assert registry.find("a", "/svc/ping") is None
    assert registry.query() == {}
    assert registry.sweep() == ["a"]
    assert registry.sweep() == []


def test_grace_is_configurable(clock):
    registry = Registry(BROKER, grace_sec=0, clock=clock, wall_clock=clock)
    register(registry, "a", ["/svc/ping"], ttlMins=0)
    assert registry.choose("/svc/ping") is None
    assert registry.sweep() == ["a"]


def test_only_the_registering_certificate_or_the_fabric_unregisters(registry):
    register(registry, "a", ["/svc/ping"])
    assert not registry.unregister("a", client_guid="sha1-of-another-certificate")
    assert "a" in registry.query()
    assert registry.unregister("a", client_guid=OWNER)
    assert not registry.unregister("a", client_guid=OWNER)
    register(registry, "b", ["/svc/ping"])
    assert registry.unregister("b")  # the fabric itself
    assert registry.choose("/svc/ping") is None


def test_query_filters_by_guid_and_type(registry):
    register(registry, "a", ["/svc/1"])
    register(registry, "b", ["/svc/2"])
    register(registry, "c", ["/other/1"], serviceType="/other")
    assert set(registry.query()) == {"a", "b", "c"}
    assert set(registry.query(service_type="/svc")) == {"a", "b"}
    assert set(registry.query(service_guid="c")) == {"c"}
    assert registry.query(service_guid="a", service_type="/other") == {}


def test_instances_serve_in_turn(registry):
    for guid in "abc":
        register(registry, guid, ["/svc/ping"])
    assert chosen(registry, "/svc/ping", 6) == ["a", "b", "c", "a", "b", "c"]


def test_turns_skip_an_expired_instance(registry, clock):
    register(registry, "old", ["/svc/ping"])
    clock.now += GRACE
    register(registry, "new", ["/svc/ping"])
    clock.now += 60
    assert chosen(registry, "/svc/ping", 3) == ["new", "new", "new"]


def test_exact_registrations_come_before_wildcards_most_specific_first(registry):
    register(registry, "everything", ["#"])
    register(registry, "root", ["/#"])
    register(registry, "under-a", ["/a/#"])
    register(registry, "under-a-b", ["/a/b/#"])
    register(registry, "exact", ["/a/b/c"])
    assert registry.choose("/a/b/c").service_guid == "exact"
    assert registry.choose("/a/b/d").service_guid == "under-a-b"
    assert registry.choose("/a/x").service_guid == "under-a"
    assert registry.choose("/x").service_guid == "root"
    assert registry.choose("x").service_guid == "everything"


def test_channel_candidates_follow_dxl_wildcards():
    assert list(channel_candidates("/a/b/c")) == ["/a/b/c", "/a/b/#", "/a/#", "/#", "#"]


def test_find_checks_the_service_serves_the_topic(registry):
    register(registry, "a", ["/svc/ping", "/wild/#"])
    assert registry.find("a", "/svc/ping").service_guid == "a"
    assert registry.find("a", "/wild/card").service_guid == "a"
    assert registry.find("a", "/svc/other") is None
    assert registry.find("unknown", "/svc/ping") is None


@pytest.mark.parametrize(
    "payload",
    [
        {},
        {"serviceGuid": ""},
        {"serviceGuid": "a", "requestChannels": "/svc/ping"},
        {"serviceGuid": "a", "requestChannels": [1]},
        {"serviceGuid": "a", "metaData": []},
        {"serviceGuid": "a", "ttlMins": -1},
        {"serviceGuid": "a", "ttlMins": "60"},
        {"serviceGuid": "a", "serviceType": None},
    ],
)
def test_malformed_registrations_are_rejected(registry, payload):
    with pytest.raises(InvalidRegistration):
        registry.register(payload, client_guid="x", client_instance_guid="y")
