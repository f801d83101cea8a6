"""The DXL service registry as pure logic: no sockets, and a clock you can inject.

It answers what a broker needs: which services exist (query), which one
instance should take a request on a topic (round robin, exact topic before
wildcard registrations), and which registrations have outlived their TTL.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Any

DEFAULT_TTL_MINS = 60
DEFAULT_GRACE_SEC = 5 * 60


class InvalidRegistration(ValueError):
    """A register request whose payload is not a service registration."""


@dataclass(frozen=True)
class Service:
    """One registered service instance, as the broker records it."""

    service_guid: str
    service_type: str
    request_channels: tuple[str, ...]
    metadata: Mapping[str, Any]
    ttl_mins: float
    broker_guid: str
    client_guid: str  # the SHA-1 of the registering client's certificate
    client_instance_guid: str  # the MQTT client id of the registering connection
    certificates: tuple[str, ...]  # SHA-1s of the certificates the client presented
    registration_time: int  # seconds since the epoch, of the last (re-)registration

    def record(self) -> dict[str, Any]:
        """The JSON record of query answers and register events."""
        return {
            "serviceType": self.service_type,
            "serviceGuid": self.service_guid,
            "requestChannels": list(self.request_channels),
            "metaData": dict(self.metadata),
            "ttlMins": self.ttl_mins,
            "brokerGuid": self.broker_guid,
            "clientGuid": self.client_guid,
            "clientInstanceGuid": self.client_instance_guid,
            "registrationTime": self.registration_time,
            "certificates": list(self.certificates),
            "managed": False,  # no ePO here: every client is a certificate client
        }

    def serves(self, topic: str) -> bool:
        """Whether this service registered ``topic`` itself or a wildcard that covers it."""
        return any(channel in self.request_channels for channel in channel_candidates(topic))


@dataclass
class _Entry:
    service: Service
    expires_at: float  # on the registry's clock


def channel_candidates(topic: str) -> Iterator[str]:
    """The registrations that may serve ``topic``, most specific first.

    ``/a/b/c`` yields ``/a/b/c``, ``/a/b/#``, ``/a/#``, ``/#`` and ``#``: DXL
    wildcards are a trailing ``#`` only.
    """
    yield topic
    levels = topic.split("/")
    for end in range(len(levels) - 1, 0, -1):
        yield "/".join(levels[:end]) + "/#"
    yield "#"


def _service(payload: Mapping[str, Any], **recorded: Any) -> Service:
    """The service a register request describes, plus what the broker records."""
    guid = payload.get("serviceGuid")
    service_type = payload.get("serviceType", "")
    channels = payload.get("requestChannels", [])
    metadata = payload.get("metaData", {})
    ttl = payload.get("ttlMins", DEFAULT_TTL_MINS)
    if not isinstance(guid, str) or not guid:
        raise InvalidRegistration("serviceGuid must be a non-empty string")
    if not isinstance(service_type, str):
        raise InvalidRegistration("serviceType must be a string")
    if not isinstance(channels, list) or not all(isinstance(c, str) and c for c in channels):
        raise InvalidRegistration("requestChannels must be a list of topics")
    if not isinstance(metadata, dict):
        raise InvalidRegistration("metaData must be an object")
    if isinstance(ttl, bool) or not isinstance(ttl, int | float) or ttl < 0:
        raise InvalidRegistration("ttlMins must be a number >= 0")
    return Service(
        service_guid=guid,
        service_type=service_type,
        request_channels=tuple(dict.fromkeys(channels)),
        metadata=dict(metadata),
        ttl_mins=ttl,
        **recorded,
    )


class Registry:
    """The services of one broker.

    ``clock`` measures TTLs (monotonic seconds); ``wall_clock`` stamps
    ``registrationTime``. A registration expires ``ttlMins`` + ``grace_sec``
    after its last refresh: routing and queries skip it at once, and
    :meth:`sweep` removes it.
    """

    def __init__(
        self,
        broker_guid: str,
        *,
        grace_sec: float = DEFAULT_GRACE_SEC,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.broker_guid = broker_guid
        self.grace_sec = grace_sec
        self._clock = clock
        self._wall_clock = wall_clock
        self._entries: dict[str, _Entry] = {}
        # channel -> guids of the services registered for it, the next to serve first
        self._rings: dict[str, dict[str, None]] = {}

    def register(
        self,
        payload: Mapping[str, Any],
        *,
        client_guid: str,
        client_instance_guid: str,
        certificates: tuple[str, ...] = (),
    ) -> Service:
        """Add, refresh or replace the service a register request's payload describes.

        The same service again (TTL and time aside) is a refresh: it keeps its
        turn in the round robin. Anything else replaces the old registration.
        """
        service = _service(
            payload,
            broker_guid=self.broker_guid,
            client_guid=client_guid,
            client_instance_guid=client_instance_guid,
            certificates=certificates,
            registration_time=int(self._wall_clock()),
        )
        guid = service.service_guid
        known = self._live(guid)
        refresh = known is not None and service == replace(
            known, ttl_mins=service.ttl_mins, registration_time=service.registration_time
        )
        if not refresh:
            self._remove(guid)
            for channel in service.request_channels:
                self._rings.setdefault(channel, {})[guid] = None
        expires_at = self._clock() + service.ttl_mins * 60 + self.grace_sec
        self._entries[guid] = _Entry(service, expires_at)
        return service

    def unregister(self, service_guid: str, *, client_guid: str | None = None) -> bool:
        """Remove a service; return whether it was there.

        With ``client_guid`` only a client with the certificate that registered
        the service may remove it (others change nothing); without, the fabric
        itself removes it.
        """
        entry = self._entries.get(service_guid)
        if entry is None:
            return False
        if client_guid not in (None, entry.service.client_guid):
            return False
        self._remove(service_guid)
        return True

    def query(
        self, *, service_guid: str | None = None, service_type: str | None = None
    ) -> dict[str, dict[str, Any]]:
        """Records of the live services, filtered by guid and/or type when given."""
        now = self._clock()
        return {
            guid: entry.service.record()
            for guid, entry in self._entries.items()
            if entry.expires_at > now
            and service_guid in (None, guid)
            and service_type in (None, entry.service.service_type)
        }

    def find(self, service_guid: str, topic: str) -> Service | None:
        """The live service ``service_guid`` if it serves ``topic``."""
        service = self._live(service_guid)
        return service if service is not None and service.serves(topic) else None

    def choose(self, topic: str) -> Service | None:
        """The next live instance, round robin, among the most specific registrations."""
        now = self._clock()
        for channel in channel_candidates(topic):
            ring = self._rings.get(channel)
            if not ring:
                continue
            guid = next((g for g in ring if self._entries[g].expires_at > now), None)
            if guid is not None:
                del ring[guid]
                ring[guid] = None  # to the back of the line
                return self._entries[guid].service
        return None

    def sweep(self) -> list[str]:
        """Remove the expired services; return their guids (to announce)."""
        now = self._clock()
        expired = [guid for guid, entry in self._entries.items() if entry.expires_at <= now]
        for guid in expired:
            self._remove(guid)
        return expired

    def _live(self, guid: str) -> Service | None:
        entry = self._entries.get(guid)
        return entry.service if entry is not None and entry.expires_at > self._clock() else None

    def _remove(self, guid: str) -> None:
        entry = self._entries.pop(guid, None)
        if entry is None:
            return
        for channel in entry.service.request_channels:
            ring = self._rings[channel]
            del ring[guid]
            if not ring:
                del self._rings[channel]
