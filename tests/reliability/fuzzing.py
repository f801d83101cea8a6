"""Property-based fuzzing of all nine topics with ``hypothesis``.

Payloads are drawn per topic: valid shapes (the fields the topic takes,
with plausible and implausible values), wrong JSON types, huge, deep and
odd values (lone surrogates, 400-digit numbers, ``NaN``, over 1 MiB), and
bytes that are not JSON at all. The property: each request gets an answer,
a success or one of the error codes the service promises, never a bug
answered as 503. Counts of answers per request are checked afterwards, with
a barrier (see :mod:`tests.reliability.answers`).

The number of cases comes from the ``dxlvt-fuzz`` settings profile: 1,000,
or ``DXLVT_FUZZ_CASES`` (the soak sets 10,000).
"""

from __future__ import annotations

import json
import os
import string
from collections import Counter

from dxlclient.client import DxlClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from devfabric.vtsim.dataset import EXAMPLES

from .answers import Answers, Outcome
from .workload import ANSWER_TIMEOUT_SEC, TOPICS

PROFILE = "dxlvt-fuzz"
settings.register_profile(
    PROFILE,
    max_examples=int(os.environ.get("DXLVT_FUZZ_CASES", "1000")),
    deadline=None,  # a case is a round trip over the fabric
    database=None,  # no example files in the repository
    print_blob=True,  # a failure prints how to reproduce it
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

MIB = 1 << 20

# Indicators: examples the simulator knows, well-formed strangers, and near misses.
_hex = st.text("0123456789abcdefABCDEF", min_size=1, max_size=70)
hashes = st.one_of(
    st.sampled_from(list(EXAMPLES["file"].values())),
    st.binary(min_size=16, max_size=16).map(bytes.hex),
    st.binary(min_size=20, max_size=20).map(bytes.hex),
    st.binary(min_size=32, max_size=32).map(bytes.hex),
    _hex,
)
_label = st.text(string.ascii_lowercase + string.digits + "-", min_size=1, max_size=20)
domains = st.one_of(
    st.sampled_from(list(EXAMPLES["domain"].values())),
    st.builds("{}.{}".format, _label, st.sampled_from(["com", "org", "internal", "xn--p1ai"])),
    st.text(string.printable, max_size=40),
)
ips = st.one_of(
    st.sampled_from(list(EXAMPLES["ip"].values())),
    st.ip_addresses().map(str),
    st.text("0123456789.:abcdef%", max_size=40),
)
urls = st.one_of(
    st.sampled_from(list(EXAMPLES["url"].values())),
    st.builds("{}://{}/{}".format, st.sampled_from(["http", "https", "ftp", "hxxp", "javascript"]),
              domains, st.text(max_size=20)),
    st.text(string.printable, max_size=60),
)  # fmt: skip
flags = st.one_of(st.booleans(), st.sampled_from([0, 1, "1", "true", None]))

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda children: st.lists(children, max_size=5)
    | st.dictionaries(st.text(max_size=10), children, max_size=5),
    max_leaves=20,
)


def _one_or_list(strategy: st.SearchStrategy) -> st.SearchStrategy:
    return strategy | st.lists(strategy, max_size=5)


def _optional(**fields: st.SearchStrategy) -> st.SearchStrategy:
    return st.fixed_dictionaries({}, optional=fields)


rules = _optional(
    malicious_positives=st.integers(-5, 100),
    trusted_positives=st.none() | st.integers(-5, 100),
    domain_detections=st.integers(-5, 100),
    ip_detections=st.integers(-5, 100),
)
v2_report = _optional(
    response_code=st.sampled_from([-2, 0, 1, 2, "1"]),
    positives=st.one_of(st.integers(-1, 100), json_values),
    total=st.integers(0, 100),
    scans=st.dictionaries(st.text(max_size=8), _optional(detected=st.booleans()), max_size=3),
    detected_urls=st.lists(_optional(positives=st.integers(0, 10)), max_size=3),
)
expressions = st.sampled_from(["ioc", "$.a", "**.domain", "$string(x)", "[1..3]", "$$", "(",
                               "$count(*)", "a.b.c[0]"]) | st.text(max_size=20)  # fmt: skip

VALID_SHAPES: dict[str, st.SearchStrategy] = {
    "/file/report": st.fixed_dictionaries(
        {"resource": hashes | st.lists(hashes, max_size=8).map(",".join)},
        optional={"allinfo": flags},
    ),
    "/file/rescan": st.fixed_dictionaries(
        {"resource": hashes},
        optional={"date": st.text(max_size=20), "period": st.integers(-1, 40),
                  "repeat": st.integers(-1, 40), "notify_url": urls, "notify_changes_only": flags},
    ),
    "/url/report": st.fixed_dictionaries(
        {"resource": urls | st.lists(urls, max_size=5).map("\n".join)},
        optional={"scan": flags, "allinfo": flags},
    ),
    "/url/scan": st.fixed_dictionaries({"url": urls}),
    "/ip-address/report": st.fixed_dictionaries({"ip": ips}),
    "/domain/report": st.fixed_dictionaries({"domain": domains}),
    "/classify": _optional(
        domain=_one_or_list(domains), url=_one_or_list(urls), ip=_one_or_list(ips),
        hash=_one_or_list(hashes), sha256=hashes, search_within=json_values,
        text=st.text(string.printable, max_size=200)
        | st.lists(domains | urls | ips, max_size=5).map(" ".join),
        expression=expressions, rules=rules, max_age=st.integers(-10, 10**6),
        include_report=flags,
    ),
    "/analyze": st.fixed_dictionaries(
        {"type": st.sampled_from(["file", "url", "domain", "ip", "other"]),
         "report": st.none() | v2_report | json_values},
        optional={"rules": rules},
    ),
    "/health": json_values,
}  # fmt: skip

_FIELDS = ["resource", "url", "ip", "domain", "hash", "type", "report", "text", "search_within",
           "expression", "rules", "max_age", "include_report", "allinfo", "scan"]  # fmt: skip
wrong_types = st.dictionaries(st.sampled_from(_FIELDS), json_values, min_size=1, max_size=4)


def _encoded(document: object) -> bytes:
    return json.dumps(document).encode()


odd_payloads = st.one_of(
    st.integers(1, 200_000).map(lambda n: b'{"search_within": ' + b"[" * n + b"]" * n + b"}"),
    st.integers(1, 200).map(lambda n: b'{"max_age": ' + b"9" * n + b"}"),
    st.sampled_from([b'{"domain": "\\ud800"}', b'{"max_age": NaN}', b'{"x": Infinity}',
                     b'{"domain": "a\\u0000b.com"}', b"[]", b"null", b'"text"', b"", b"{}",
                     b'{"a": 1, "a": 2}', b"\xef\xbb\xbf{}"]),
    st.integers(MIB - 64, 2 * MIB).map(lambda n: b'{"text": "' + b"a" * n + b'"}'),
    st.integers(101, 2000).map(lambda n: _encoded({"domain": [f"d{i}.example" for i in range(n)]})),
    st.text().map(lambda text: _encoded({"text": text})),
)  # fmt: skip
not_json = st.binary(max_size=200) | st.text(max_size=100).map(str.encode)


def payloads(suffix: str) -> st.SearchStrategy[bytes]:
    """What a client might send on ``suffix``; mostly valid shapes, some of everything else."""
    valid = VALID_SHAPES[suffix].map(_encoded)
    return st.one_of(
        valid,
        valid,
        valid,
        wrong_types.map(_encoded),
        odd_payloads,
        not_json,
    )


requests = st.sampled_from(TOPICS).flatmap(lambda topic: st.tuples(st.just(topic), payloads(topic)))


def fuzz(client: DxlClient, answers: Answers, cases: int | None = None) -> Counter[Outcome]:
    """Send ``cases`` generated requests (default: the profile's), one at a time; each must
    be answered acceptably. Returns how many got each outcome. ``answers`` watches ``client``."""
    outcomes: Counter[Outcome] = Counter()
    profile = settings.get_profile(PROFILE)

    @settings(profile, max_examples=cases or profile.max_examples)
    @given(requests)
    def one_request(request: tuple[str, bytes]) -> None:
        suffix, payload = request
        message_id = answers.send(client, suffix, payload)
        got = answers.wait(message_id, ANSWER_TIMEOUT_SEC)
        assert got is not None, f"no answer on {suffix} to {payload[:200]!r}"
        outcomes[got] += 1
        assert answers.acceptable(message_id), (
            f"{suffix}: {answers.error(message_id)} for {payload[:200]!r}"
        )

    one_request()
    return outcomes
