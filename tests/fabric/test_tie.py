"""The TIE double, driven by the real ``dxltieclient`` (the behaviours of docs/tie.md)."""

from __future__ import annotations

import json
import threading

import pytest
from dxlclient.callbacks import EventCallback
from dxltieclient import TieClient
from dxltieclient.constants import FileProvider, HashType, TrustLevel

from devfabric.tie import TieDouble, to_hex

from .conftest import Inbox

FILE = {
    HashType.MD5: "f2c7bb8acc97f92e987a2d4087d021b1",
    HashType.SHA1: "7eb0139d2175739b3ccb0d1110067820be6abd29",
    HashType.SHA256: "142e1d688ef0568370c37187fd9f2351d7ddeda574f8bfa9b0fa4ef42db85aa2",
}


@pytest.fixture
def tie(broker):
    double = TieDouble(broker.connect("tie")).start()
    yield double
    double.stop()


@pytest.fixture
def tie_client(broker) -> TieClient:
    return TieClient(broker.connect("tie-user"))


def levels(reputations: dict) -> dict[int, int]:
    return {provider: rep["trustLevel"] for provider, rep in reputations.items()}


def test_an_unknown_file_has_no_enterprise_and_an_unknown_gti_reputation(tie, tie_client):
    reputations = tie_client.get_file_reputation(FILE)
    assert levels(reputations) == {FileProvider.GTI: TrustLevel.UNKNOWN,
                                   FileProvider.ENTERPRISE: TrustLevel.NOT_SET}  # fmt: skip
    assert tie.queries == [FILE]  # the hashes arrived (as base64) and were read back


def test_reputations_set_per_hash_answer_queries_by_any_hash(tie, tie_client):
    tie.set_reputation(FILE[HashType.MD5], FileProvider.GTI, TrustLevel.KNOWN_TRUSTED)
    by_md5 = tie_client.get_file_reputation({HashType.MD5: FILE[HashType.MD5]})
    assert levels(by_md5)[FileProvider.GTI] == TrustLevel.KNOWN_TRUSTED
    other = {HashType.SHA256: "00" * 32}
    assert levels(tie_client.get_file_reputation(other))[FileProvider.GTI] == TrustLevel.UNKNOWN


def test_external_reports_are_recorded_and_become_the_external_reputation(tie, tie_client):
    tie_client.set_external_file_reputation(
        TrustLevel.MOST_LIKELY_MALICIOUS, FILE, filename="evil.exe", comment="5/70"
    )
    (report,) = tie.wait_for_reports(1)
    assert (report.provider, report.trust_level) == (FileProvider.EXTERNAL, 15)
    assert (report.hashes, report.filename, report.comment) == (FILE, "evil.exe", "5/70")
    reputations = tie_client.get_file_reputation({HashType.SHA1: FILE[HashType.SHA1]})
    assert levels(reputations)[FileProvider.EXTERNAL] == TrustLevel.MOST_LIKELY_MALICIOUS


def test_an_external_report_without_a_filename_is_recorded_but_not_kept(tie, tie_client):
    tie_client.set_external_file_reputation(TrustLevel.KNOWN_MALICIOUS, FILE)
    tie.wait_for_reports(1)
    assert FileProvider.EXTERNAL not in tie_client.get_file_reputation(FILE)


def test_a_hanging_tie_does_not_answer(tie, tie_client):
    tie.hanging = True
    answers: list[dict] = []
    waiting = threading.Thread(
        target=lambda: answers.append(tie_client.get_file_reputation(FILE)), daemon=True
    )
    waiting.start()
    tie.wait_for_queries(1)
    tie.hanging = False
    # Answered after the held query, so the held one was never answered.
    assert tie_client.get_file_reputation(FILE)
    assert waiting.is_alive() and answers == []


def test_an_absent_tie_is_an_immediate_unable_to_locate_service(tie, tie_client):
    tie.stop()
    with pytest.raises(Exception, match="unable to locate service"):
        tie_client.get_file_reputation(FILE)
    tie.start()  # back for the fixture's stop
    assert tie_client.get_file_reputation(FILE)


class _Raw(EventCallback):
    def __init__(self) -> None:
        super().__init__()
        self.inbox = Inbox()

    def on_event(self, event) -> None:
        self.inbox.on_event(event)


def test_first_instance_events_carry_agent_base64_hashes_and_name(broker, tie, tie_client):
    listener = _Raw()
    tie_client.add_file_first_instance_callback(listener)
    tie.publish_first_instance(FILE, "new.exe", agent_guid="{agent-1}")
    event = listener.inbox.wait_for(lambda message: True)
    payload = json.loads(event.payload)
    assert (payload["agentGuid"], payload["name"]) == ("{agent-1}", "new.exe")
    assert {h["type"]: to_hex(h["value"]) for h in payload["hashes"]} == FILE
    tie_client.remove_file_first_instance_callback(listener)
