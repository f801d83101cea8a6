"""The HTTP edge against real sockets on loopback: what each failure becomes."""

import socket

import pytest

from dxlvtservice.lookups.upstream import Call, UpstreamError, VirusTotalClient, match_answers


@pytest.fixture
def unaccepting_port():
    """A loopback port whose accept backlog is full, so a new connect never completes."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    for _ in range(8):  # fill the backlog: later SYNs are dropped, connect() times out
        filler = socket.socket()
        filler.setblocking(False)
        filler.connect_ex(("127.0.0.1", port))
        fillers.append(filler)
    yield port
    for sock in [*fillers, listener]:
        sock.close()


def test_a_connect_timeout_is_retried_like_other_connection_errors(unaccepting_port):
    client = VirusTotalClient(f"http://127.0.0.1:{unaccepting_port}", "k" * 64, timeout=0.5)
    with pytest.raises(UpstreamError) as failed:
        client.execute(Call("v2/domain/report", ("example.com",)))
    assert failed.value.retry == "transient"
    assert failed.value.code == 504
    assert "k" * 64 not in failed.value.message


def test_batch_answers_pair_by_echo_not_position():
    matched = match_answers(["a", "b", "c"], [{"resource": "c"}, {"resource": "A"}])
    assert matched.answers == {2: {"resource": "c"}, 0: {"resource": "A"}}
    assert matched.missing == (1,) and matched.unmatched == ()


def test_an_answer_that_echoes_nothing_asked_fails_the_unmatched():
    matched = match_answers(["a", "b"], [{"resource": "a"}, {"resource": "zzz"}])
    assert matched.answers == {0: {"resource": "a"}}
    assert matched.unmatched == (1,) and matched.missing == ()
