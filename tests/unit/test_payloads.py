"""Bounded decoding of request payloads: every hostile payload is a 400 with a reason."""

import json

import pytest

from dxlvtservice.errors import BAD_REQUEST, ServiceError
from dxlvtservice.topics.payloads import MAX_DEPTH, decode_object

LIMIT = 1 << 20


def refused(payload: bytes) -> str:
    with pytest.raises(ServiceError) as caught:
        decode_object(payload, max_bytes=LIMIT)
    assert caught.value.code == BAD_REQUEST
    return caught.value.message


def test_a_plain_object_is_decoded():
    document = {"a": [1, -2, 3.5, "x", None, True], "b": {"c": 2**63 - 1}}
    assert decode_object(json.dumps(document).encode() + b"\0", max_bytes=LIMIT) == document


@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 5_000, 100_000])
def test_deep_nesting_is_refused(depth):
    assert "nests deeper than" in refused(b'{"a":' + b"[" * depth + b"]" * depth + b"}")


def test_nesting_up_to_the_limit_is_fine():
    depth = MAX_DEPTH - 1  # the object itself is one level
    decode_object(b'{"a":' + b"[" * depth + b"]" * depth + b"}", max_bytes=LIMIT)


@pytest.mark.parametrize("number", ["9" * 400, "-" + "9" * 30, str(2**64)])
def test_integers_outside_64_bits_are_refused(number):
    assert "out of range" in refused(f'{{"max_age": {number}}}'.encode())


@pytest.mark.parametrize("number", ["1e400", "-1e400", "NaN", "Infinity"])
def test_non_finite_numbers_are_refused(number):
    assert refused(f'{{"max_age": {number}}}'.encode())


def test_lone_surrogates_are_refused():
    assert "not valid Unicode" in refused(b'{"notify_url": "\\ud800"}')
    assert "not valid Unicode" in refused(b'{"\\udfff": 1}')
    assert decode_object(b'{"a": "\\ud83d\\ude00"}', max_bytes=LIMIT) == {"a": "\U0001f600"}


@pytest.mark.parametrize(
    ("payload", "reason"),
    [(b"x" * (LIMIT + 1), "over the limit"), (b"\xff{}", "not UTF-8"),
     (b"{", "not JSON"), (b"[1]", "must be a JSON object")],
)  # fmt: skip
def test_other_bad_payloads(payload, reason):
    assert reason in refused(payload)
