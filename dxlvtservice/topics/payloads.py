"""Decoding request payloads within bounds: size, nesting, numbers, text.

A payload comes from any client on the fabric. Everything the decoder lets
through is plain JSON that the rest of the service can handle without
surprises: an object, nested at most :data:`MAX_DEPTH` deep, integers that
fit in 64 bits, finite floats and valid Unicode text. Anything else is a
400 with one sentence saying what is wrong, never an exception from the
depths (``RecursionError``, ``OverflowError``, ``UnicodeEncodeError``).
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from ..errors import bad_request

MAX_DEPTH = 100
"""Nesting levels of arrays and objects; real alerts and reports use a dozen."""

INT_RANGE = (-(2**63), 2**64 - 1)
"""Integers outside this range are refused: they are no count, size or time."""

_LONGEST_INT = len(str(INT_RANGE[0]))
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")  # the decoder joins valid pairs


def _integer(text: str) -> int:
    value = int(text) if len(text) <= _LONGEST_INT else None
    if value is None or not INT_RANGE[0] <= value <= INT_RANGE[1]:
        raise bad_request(f"the number {text[:24]}{'...' if len(text) > 24 else ''} "
                          "is out of range: integers must fit in 64 bits")  # fmt: skip
    return value


def _float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise bad_request(f"the number {text[:24]} is out of range")
    return value


def _constant(name: str) -> Any:
    raise bad_request(f"{name} is not a JSON value")


_DECODER = json.JSONDecoder(parse_int=_integer, parse_float=_float, parse_constant=_constant)


def _check_tree(document: Any) -> None:
    """Nesting depth and text of a decoded document; iterative, so any depth is safe."""
    stack = [(document, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, str):
            if _LONE_SURROGATE.search(value):
                raise bad_request("the payload holds a string that is not valid Unicode")
            continue
        if isinstance(value, dict):
            children = [*value.keys(), *value.values()]
        elif isinstance(value, list):
            children = value
        else:
            continue
        if depth > MAX_DEPTH:
            raise bad_request(f"the payload nests deeper than {MAX_DEPTH} levels")
        stack.extend((child, depth + 1) for child in children)


def decode_object(payload: bytes, *, max_bytes: int) -> dict:
    """The JSON object in ``payload``; 400 with a reason for anything else."""
    if len(payload) > max_bytes:
        raise bad_request(
            f"the payload of {len(payload)} bytes is over the limit of {max_bytes}"
        )
    try:
        text = payload.decode("utf-8").rstrip("\0")  # some clients end with a NUL
    except UnicodeDecodeError:
        raise bad_request("the payload is not UTF-8 JSON") from None
    try:
        document = _DECODER.decode(text)
    except RecursionError:
        raise bad_request(f"the payload nests deeper than {MAX_DEPTH} levels") from None
    except ValueError:
        raise bad_request("the payload is not JSON") from None
    if not isinstance(document, dict):
        raise bad_request("the payload must be a JSON object")
    _check_tree(document)
    return document
