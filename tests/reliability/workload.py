"""A mixed load over all nine topics, sent by many requesters at once, answers counted.

Each requester is a thread with a closed loop (send, wait for the answer,
send the next) on one of a few shared ``DxlClient`` connections. Requests
mix the simulator's example indicators (cache hits after their first
lookup), indicators nobody asked for before (misses), lists, free text,
analyses, health and bad input. Every request knows what it expects: a
success, a 400, or any answer the service promises (submissions, which a
public key may not make).
"""

from __future__ import annotations

import hashlib
import json
import random
import threading
from collections.abc import Sequence
from dataclasses import dataclass

from dxlclient.client import DxlClient

from devfabric.vtsim.dataset import EXAMPLES

from .answers import OK, Answers, Tally

ANSWER_TIMEOUT_SEC = 60.0
ANY = "any"  # any acceptable answer (see answers.acceptable)

TOPICS = ("/file/report", "/file/rescan", "/url/report", "/url/scan", "/ip-address/report",
          "/domain/report", "/classify", "/analyze", "/health")  # fmt: skip


@dataclass(frozen=True)
class Planned:
    suffix: str
    payload: bytes
    expect: str | int  # OK, 400 or ANY


def _json(suffix: str, body: object, expect: str | int = OK) -> Planned:
    return Planned(suffix, json.dumps(body).encode(), expect)


def fresh_indicator(rng: random.Random, kind: str) -> str:
    """An indicator nobody asked for before: a cache miss, answered by the simulator."""
    token = hashlib.sha256(rng.randbytes(16)).hexdigest()
    return {
        "file": token,
        "domain": f"host-{token[:12]}.example.net",
        "url": f"http://host-{token[:12]}.example.com/{token[12:20]}",
        "ip": f"{rng.choice((23, 45, 62, 81, 93))}.{int(token[:2], 16)}.{int(token[2:4], 16)}.7",
    }[kind]


def _known(rng: random.Random, kind: str) -> str:
    """One of the simulator's examples: after its first lookup, a cache hit."""
    return rng.choice(list(EXAMPLES[kind].values()))


def _indicator(rng: random.Random, kind: str) -> str:
    return (_known if rng.random() < 0.75 else fresh_indicator)(rng, kind)


_REPORT = {"response_code": 1, "positives": 7, "total": 70, "scans": {}}


def plan(rng: random.Random) -> Planned:
    """One request of the mix, drawn with ``rng``."""
    pick = rng.randrange(16)
    if pick == 0:
        hashes = [_indicator(rng, "file") for _ in range(rng.randint(2, 6))]
        return _json("/file/report", {"resource": ",".join(hashes)})
    if pick == 1:
        return _json("/file/report", {"resource": _indicator(rng, "file")})
    if pick == 2:
        return _json("/file/rescan", {"resource": _indicator(rng, "file")}, ANY)
    if pick == 3:
        return _json("/url/report", {"resource": _indicator(rng, "url")})
    if pick == 4:
        return _json("/url/scan", {"url": fresh_indicator(rng, "url")}, ANY)
    if pick == 5:
        return _json("/ip-address/report", {"ip": _indicator(rng, "ip")})
    if pick in (6, 7):
        return _json("/domain/report", {"domain": _indicator(rng, "domain")})
    if pick in (8, 9):
        kind = rng.choice(("domain", "url", "ip", "hash"))
        return _json("/classify", {kind: _indicator(rng, "file" if kind == "hash" else kind)})
    if pick == 10:
        text = f"seen {_indicator(rng, 'url')} and {_indicator(rng, 'ip')} from 10.0.0.1"
        return _json("/classify", {"text": text.replace(".", "[.]", 1)})
    if pick == 11:
        report = dict(_REPORT, positives=rng.randint(0, 70))
        return _json("/analyze", {"type": "file", "report": report})
    if pick == 12:
        return _json("/health", {})
    if pick == 13:
        return Planned(rng.choice(TOPICS[:-1]), b"\xff not json", 400)
    if pick == 14:
        return _json("/domain/report", {"domain": rng.randint(0, 9)}, 400)
    return _json("/ip-address/report", {"ip": "300.1.2.3"}, 400)


@dataclass(frozen=True)
class LoadResult:
    tally: Tally
    unexpected: list[str]  # "topic: expected X, got Y" for answers other than planned


def run_load(
    clients: Sequence[DxlClient],
    *,
    requesters: int,
    requests_each: int,
    seed: int = 1,
) -> LoadResult:
    """``requesters`` threads spread over ``clients`` send ``requests_each`` requests each.

    Returns after a barrier on every client, when every answer that will come
    has come.
    """
    answers = Answers()
    for client in clients:
        answers.watch(client)
    unexpected: list[str] = []
    lock = threading.Lock()

    def requester(index: int) -> None:
        rng = random.Random(seed * 1000 + index)
        client = clients[index % len(clients)]
        for _ in range(requests_each):
            planned = plan(rng)
            message_id = answers.send(client, planned.suffix, planned.payload)
            got = answers.wait(message_id, ANSWER_TIMEOUT_SEC)
            if got is not None and planned.expect not in (ANY, got):
                with lock:
                    unexpected.append(f"{planned.suffix}: expected {planned.expect}, "
                                      f"got {answers.error(message_id) or got}")  # fmt: skip

    threads = [threading.Thread(target=requester, args=(i,)) for i in range(requesters)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for client in clients:
        answers.barrier(client)
    answers.unwatch()
    return LoadResult(answers.tally(), unexpected)
