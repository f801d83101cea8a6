"""The backlog's rate: answers per second between the answer instants that bound the window."""

from __future__ import annotations

import pytest

from bench.rates import sustained_rate


def test_a_steady_stream_of_batches_gives_its_exact_rate_whatever_the_window():
    # four answers every two seconds, as a batch of four hashes each 4 x 0.5 s
    instants = [2.0 * step + jitter for step in range(40) for jitter in (0, 0.001, 0.002, 0.003)]
    for since, until in [(10.0, 70.0), (9.0, 71.5), (10.9, 69.9)]:
        assert sustained_rate(instants, since, until) == pytest.approx(2.0, rel=0.01)


def test_answers_after_until_are_the_drain_and_do_not_count():
    steady = [0.5 * step for step in range(1, 121)]  # 2 a second up to 60 s
    drain = [60.01, 60.02, 60.03, 60.04]
    assert sustained_rate(steady + drain, 10.0, 60.0) == pytest.approx(2.0)


def test_a_pause_in_the_window_lowers_the_rate():
    instants = [float(t) for t in range(0, 20)] + [float(t) for t in range(40, 61)]
    # after t=10 up to t=60: 11..19 and 40..60, 30 answers over 50 s
    assert sustained_rate(instants, 10.0, 60.0) == pytest.approx(30 / 50)


def test_with_nothing_before_the_window_it_starts_at_the_first_answer_in_it():
    assert sustained_rate([12.0, 13.0, 14.0], 10.0, 60.0) == pytest.approx(1.0)


def test_fewer_than_two_instants_in_the_window_give_zero():
    assert sustained_rate([], 10.0, 60.0) == 0.0
    assert sustained_rate([1.0, 2.0], 10.0, 60.0) == 0.0
    assert sustained_rate([1.0, 2.0, 61.0], 10.0, 60.0) == 0.0


def test_a_burst_then_nothing_until_the_minute_turns_averages_over_the_window():
    # 120 answers in the first second, the next 120 when the sliding minute lets them
    burst = [0.5 + k / 240 for k in range(120)]
    again = [60.5 + k / 240 for k in range(120)]
    assert sustained_rate(burst + again, 10.0, 70.0) == pytest.approx(2.0, rel=0.01)


def test_a_window_that_is_no_window_is_refused():
    with pytest.raises(ValueError):
        sustained_rate([1.0], 10.0, 10.0)
    with pytest.raises(ValueError):
        sustained_rate([1.0], -1.0, 10.0)
