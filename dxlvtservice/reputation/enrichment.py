"""Files TIE announces for the first time, classified in the background (docs/tie.md).

TIE publishes a first-instance event when an endpoint in the enterprise first
meets a file. Classifying it then, through the normal cache and quota, puts a
verdict on the fabric (verdict events, and TIE export when on) before anyone
asks. Enrichment is bounded: past a number of lookups in flight, announcements
are dropped (counted), so that a flood of new files cannot pile up work.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from dxlclient.callbacks import EventCallback

from ..core.indicators import Indicator, IndicatorType
from ..core.lanes import BACKGROUND
from ..topics.requests import ClassifyRequest, Named

FIRST_INSTANCE_TOPIC = "/mcafee/event/tie/file/firstinstance"
IN_FLIGHT = 100
"""Enrichment lookups at once; past this, announcements are dropped (counted)."""
DIGEST_BYTES = {"sha256": 32, "sha1": 20, "md5": 16}
"""Hash types in order of preference, with their digest sizes."""

logger = logging.getLogger(__name__)


def announced_hash(payload: bytes | str | None) -> str | None:
    """The hex digest of the announced file (sha256 preferred), or None if there is none.

    The event carries ``{"agentGuid", "hashes": [{"type", "value"}], "name"}``
    with each value the digest's bytes in base64.
    """
    try:
        document = json.loads(payload or b"")
        hashes = {h["type"]: base64.b64decode(h["value"], validate=True)
                  for h in document["hashes"]}  # fmt: skip
    except (ValueError, TypeError, KeyError, binascii.Error):
        return None
    for kind, size in DIGEST_BYTES.items():
        digest = hashes.get(kind)
        if digest is not None and len(digest) == size:
            return digest.hex()
    return None


class FirstInstanceEnricher(EventCallback):
    """Classifies each announced file; never blocks the incoming-message thread."""

    def __init__(
        self, classify: Callable[[ClassifyRequest], Future], *, limit: int = IN_FLIGHT
    ) -> None:
        super().__init__()
        self._classify = classify
        self._limit = limit
        self._lock = threading.Lock()
        self._in_flight = 0
        self.enriched = 0
        self.ignored = 0
        self.dropped = 0

    def on_event(self, event: Any) -> None:
        digest = announced_hash(event.payload)
        with self._lock:
            if digest is None:
                self.ignored += 1
                return
            if self._in_flight >= self._limit:
                self.dropped += 1
                return
            self._in_flight += 1
        try:
            file = Indicator(IndicatorType.FILE, digest)
            request = ClassifyRequest(sources=(Named((file,)),), lane=BACKGROUND)
            future = self._classify(request)
        except Exception:
            logger.exception("Could not classify a file announced by TIE")
            self._finished(None)
            return
        future.add_done_callback(self._finished)

    def _finished(self, done: Future | None) -> None:
        with self._lock:
            self._in_flight -= 1
            if done is not None and done.exception() is None:
                self.enriched += 1

    def stats(self) -> dict[str, Any]:
        with self._lock:
            return {
                "status": "on",
                "enriched": self.enriched,
                "ignored": self.ignored,
                "dropped": self.dropped,
                "in_flight": self._in_flight,
            }
