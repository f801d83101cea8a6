"""JSONata in bounded worker processes: hostile expressions are refused, others still answered."""

import threading

import pytest

from dxlvtservice.errors import BAD_REQUEST, ServiceError
from dxlvtservice.topics.sandbox import ExpressionPool

BUDGET = 2.0
HOSTILE = ['$pad("x", 1000000000, "y")', "$sum([1..10000000])", "$distinct([1..1000000])"]


@pytest.fixture(scope="module")
def pool():
    expressions = ExpressionPool(workers=2)
    expressions.start()
    yield expressions
    expressions.close()


def test_a_normal_expression_works(pool):
    assert pool.evaluate("alert.ioc", {"alert": {"ioc": ["a", "b"]}}, BUDGET) == ["a", "b"]
    assert pool.evaluate("missing", {"a": 1}, BUDGET) is None


@pytest.mark.parametrize("expression", HOSTILE)
def test_hostile_built_ins_are_refused_with_a_reason(pool, expression):
    with pytest.raises(ServiceError) as caught:
        pool.evaluate(expression, {}, BUDGET)
    assert caught.value.code == BAD_REQUEST
    assert "budget" in caught.value.message
    # The worker was replaced: the pool still answers.
    assert pool.evaluate("$sum([1, 2])", {}, 10) == 3


def test_a_failing_expression_is_a_bad_request(pool):
    with pytest.raises(ServiceError, match="could not be evaluated"):
        pool.evaluate("$nosuchfunction(1)", {}, BUDGET)
    with pytest.raises(ServiceError, match="could not be evaluated"):
        pool.evaluate('$match("a", /a+/)', {}, BUDGET)


def test_concurrent_requests_are_all_answered(pool):
    results: list = []

    def run(n: int) -> None:
        results.append(pool.evaluate("n * 2", {"n": n}, 10))

    threads = [threading.Thread(target=run, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [n * 2 for n in range(8)]
