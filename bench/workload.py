"""The benchmark's requests: file hashes drawn from a Zipf distribution, and
endless streams of fresh file hashes and domains (misses no cache has seen).

Pure and deterministic for a seed, so that every system under test gets the
very same requests in the very same order, and a run can be repeated.
"""

from __future__ import annotations

import hashlib
import itertools
import random
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass


def hash_stream(label: str) -> Iterator[str]:
    """Distinct sha256 hex digests without end; another ``label`` gives other hashes.

    The simulator synthesises a report for any well-formed hash, so these are
    as good as real ones, and a fresh label means hashes no cache has seen.
    """
    for rank in itertools.count():
        yield hashlib.sha256(f"bench:{label}:{rank}".encode()).hexdigest()


def domain_stream(label: str) -> Iterator[str]:
    """Distinct public domain names without end; another ``label`` gives other names."""
    tag = hashlib.sha256(f"bench:{label}".encode()).hexdigest()[:8]
    for rank in itertools.count():
        yield f"d{rank}-{tag}.bench-misses.com"


def file_hashes(count: int, label: str) -> list[str]:
    """The first ``count`` hashes of :func:`hash_stream`."""
    return list(itertools.islice(hash_stream(label), count))


def zipf_weights(distinct: int, exponent: float) -> list[float]:
    """The probability of each rank 1..``distinct``: proportional to 1 / rank**exponent."""
    raw = [1.0 / rank**exponent for rank in range(1, distinct + 1)]
    total = sum(raw)
    return [weight / total for weight in raw]


@dataclass(frozen=True)
class Workload:
    """The requests, in the order they are sent, as file hashes."""

    requests: tuple[str, ...]

    @property
    def distinct(self) -> int:
        """How many different hashes were drawn: the fewest upstream lookups possible."""
        return len(set(self.requests))

    def most_common(self, count: int) -> list[str]:
        """The ``count`` hashes asked for most often, most often first."""
        return [resource for resource, _ in Counter(self.requests).most_common(count)]

    def split(self, clients: int) -> list[list[str]]:
        """Deal the requests round robin to ``clients`` senders, keeping their order."""
        return [list(self.requests[start::clients]) for start in range(clients)]


def zipf_workload(
    requests: int, distinct: int, *, exponent: float = 1.0, seed: int = 0, label: str = "zipf"
) -> Workload:
    """``requests`` draws over ``distinct`` hashes, rank r with weight 1 / r**exponent."""
    if requests < 0 or distinct < 1:
        raise ValueError("need requests >= 0 and distinct >= 1")
    hashes: Sequence[str] = file_hashes(distinct, label)
    cumulative = list(itertools.accumulate(zipf_weights(distinct, exponent)))
    drawn = random.Random(seed).choices(hashes, cum_weights=cumulative, k=requests)
    return Workload(tuple(drawn))


FILLER = "the analyst notes nothing of interest in this part of the report "


def indicator_text(indicators: Sequence[str], size: int) -> str:
    """``size`` bytes of plain prose naming each of ``indicators`` once, spread evenly.

    The prose holds no dots, digits or slashes, so an indicator finder finds
    the indicators named and nothing else.
    """
    named = [f" {indicator} " for indicator in indicators]
    prose = size - sum(len(part.encode()) for part in named)
    if prose < 0:
        raise ValueError(f"{len(indicators)} indicators do not fit in {size} bytes")
    gaps = len(named) + 1
    filler = FILLER * (prose // len(FILLER) + 1)
    lengths = [prose // gaps + (1 if gap < prose % gaps else 0) for gap in range(gaps)]
    parts = [filler[: lengths[0]]]
    for part, length in zip(named, lengths[1:], strict=True):
        parts += [part, filler[:length]]
    return "".join(parts)
