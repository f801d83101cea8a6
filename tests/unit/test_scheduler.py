"""Scheduler logic with a recording executor and an in-process quota ledger."""

import threading
import time
from types import SimpleNamespace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dxlvtservice.core.quota import Limits
from dxlvtservice.errors import ServiceError
from dxlvtservice.lookups.ledger import SharedQuota
from dxlvtservice.lookups.scheduler import Scheduler, _Job, plan_calls
from dxlvtservice.lookups.upstream import Call, UpstreamError


def job(endpoint, resource, options=()):
    return _Job(Call(endpoint, (resource,), options), None, 0.0)


def test_plan_batches_same_endpoint_and_options():
    jobs = [
        job("v2/file/report", "a"),
        job("v2/domain/report", "d"),
        job("v2/file/report", "b"),
        job("v2/file/report", "c", (("allinfo", "1"),)),
        job("v2/file/report", "e"),
    ]
    assert plan_calls(jobs, 2) == [[0, 2], [1], [3], [4]]


def test_plan_never_batches_single_resource_endpoints():
    jobs = [job("v2/domain/report", "a"), job("v2/domain/report", "b")]
    assert plan_calls(jobs, 4) == [[0], [1]]


class Recorder:
    """An upstream stand-in that records calls and answers each resource by name."""

    def __init__(self, failures=()):
        self.calls = []
        self.failures = list(failures)
        self.release = threading.Event()
        self.release.set()

    def __call__(self, call):
        self.release.wait(10)
        self.calls.append(call)
        if self.failures:
            raise self.failures.pop(0)
        return [{"resource": r} for r in call.resources]


def make(tmp_path, recorder, limits=None, max_wait=60):
    quota = SharedQuota(tmp_path, limits or Limits())
    scheduler = Scheduler(recorder, quota, batch_size=4, max_wait=max_wait)
    scheduler.start()
    return scheduler


def test_identical_lookups_make_one_call(tmp_path):
    recorder = Recorder()
    recorder.release.clear()
    scheduler = make(tmp_path, recorder)
    first = scheduler.submit(Call("v2/ip-address/report", ("1.2.3.4",)))
    second = scheduler.submit(Call("v2/ip-address/report", ("1.2.3.4",)))
    recorder.release.set()
    assert first.result(5) == second.result(5) == [{"resource": "1.2.3.4"}]
    assert len(recorder.calls) == 1
    scheduler.stop(1)


def test_queued_reports_are_batched(tmp_path):
    recorder = Recorder()
    # Spaced units: the first call goes, the rest queue and must be batched.
    scheduler = make(tmp_path, recorder, Limits(unit_gap=0.1))
    futures = [scheduler.submit(Call("v2/file/report", (f"{i:032x}",))) for i in range(6)]
    results = [f.result(10) for f in futures]
    assert results == [[{"resource": f"{i:032x}"}] for i in range(6)]
    assert sum(len(c.resources) for c in recorder.calls) == 6
    assert max(len(c.resources) for c in recorder.calls) == 4
    scheduler.stop(1)


def test_waiter_that_cannot_make_it_is_refused_at_once(tmp_path):
    recorder = Recorder()
    scheduler = make(tmp_path, recorder, Limits(unit_gap=3600))
    first = scheduler.submit(Call("v2/domain/report", ("a.example",)))
    assert first.result(5) == [{"resource": "a.example"}]
    late = scheduler.submit(Call("v2/domain/report", ("b.example",)), deadline=0)
    with pytest.raises(ServiceError) as refused:
        late.result(5)
    assert refused.value.code == 429
    assert 3000 < refused.value.retry_after <= 3600
    scheduler.stop(1)


def test_transient_failure_is_retried(tmp_path, monkeypatch):
    monkeypatch.setattr("dxlvtservice.lookups.scheduler.FIRST_BACKOFF", 0.01)
    recorder = Recorder([UpstreamError(502, "boom", retry="transient")])
    scheduler = make(tmp_path, recorder)
    assert scheduler.submit(Call("v2/domain/report", ("x.example",))).result(5)
    assert len(recorder.calls) == 2
    scheduler.stop(1)


def test_rejected_key_is_not_retried(tmp_path):
    recorder = Recorder([UpstreamError(401, "VirusTotal rejected the API key")])
    scheduler = make(tmp_path, recorder)
    with pytest.raises(ServiceError) as failed:
        scheduler.submit(Call("v2/domain/report", ("x.example",))).result(5)
    assert failed.value.code == 401
    assert len(recorder.calls) == 1
    scheduler.stop(1)


def test_quota_refusal_backs_off_and_retries(tmp_path):
    recorder = Recorder([UpstreamError(429, "quota", retry="quota", retry_after=0.05)])
    scheduler = make(tmp_path, recorder)
    assert scheduler.submit(Call("v2/domain/report", ("x.example",))).result(5)
    assert len(recorder.calls) == 2
    scheduler.stop(1)


def test_stop_fails_queued_requests_with_503(tmp_path):
    recorder = Recorder()
    scheduler = make(tmp_path, recorder, Limits(unit_gap=3600), max_wait=7200)
    scheduler.submit(Call("v2/domain/report", ("a.example",))).result(5)
    queued = scheduler.submit(Call("v2/domain/report", ("b.example",)))
    scheduler.stop(1)
    with pytest.raises(ServiceError) as stopped:
        queued.result(5)
    assert stopped.value.code == 503


def test_lookup_arriving_while_results_are_delivered_makes_no_new_call(tmp_path):
    recorder = Recorder()
    scheduler = make(tmp_path, recorder)
    call = Call("v2/domain/report", ("late.example",))
    late = []
    first = scheduler.submit(call)
    # Runs while the first result is being delivered (before any cache could be filled).
    first.add_done_callback(lambda _: late.append(scheduler.submit(call)))
    assert first.result(5) == [{"resource": "late.example"}]
    assert late[0].result(5) == first.result()
    assert len(recorder.calls) == 1
    scheduler.stop(1)


class Echoing(Recorder):
    """Answers like VirusTotal: each answer echoes its resource; ``limit`` truncates."""

    def __init__(self, limit=None, shuffle=False, stray=False):
        super().__init__()
        self.limit, self.shuffle, self.stray = limit, shuffle, stray

    def __call__(self, call):
        self.calls.append(call)
        answers = [{"resource": r, "response_code": 1} for r in call.resources][: self.limit]
        if self.shuffle:
            answers.reverse()
        if self.stray and len(answers) > 1:
            answers[0] = {"resource": "something else"}
        return answers


def test_batch_takes_only_the_units_free_now(tmp_path):
    recorder = Echoing()
    scheduler = make(tmp_path, recorder, Limits(per_minute=3), max_wait=5)
    futures = [scheduler.submit(Call("v2/file/report", (f"{i:032x}",))) for i in range(5)]
    answered = [f for f in futures if not f.exception(10)]
    assert len(answered) == 3
    assert sum(len(c.resources) for c in recorder.calls) == 3
    assert all(f.exception(10).code == 429 for f in futures if f not in answered)
    scheduler.stop(1)


def test_batch_answers_are_matched_by_the_resource_they_echo(tmp_path):
    recorder = Echoing(shuffle=True)
    recorder_limits = Limits(unit_gap=0.2)
    scheduler = make(tmp_path, recorder, recorder_limits)
    resources = [f"{i:032x}" for i in range(5)]
    futures = [scheduler.submit(Call("v2/file/report", (r,))) for r in resources]
    for resource, future in zip(resources, futures, strict=True):
        assert future.result(10)[0]["resource"] == resource
    scheduler.stop(1)


def test_resources_left_out_of_a_truncated_batch_are_asked_again(tmp_path):
    recorder = Echoing(limit=2)
    scheduler = make(tmp_path, recorder, Limits(unit_gap=0.05))
    resources = [f"{i:032x}" for i in range(6)]
    futures = [scheduler.submit(Call("v2/file/report", (r,))) for r in resources]
    for resource, future in zip(resources, futures, strict=True):
        assert future.result(10)[0]["resource"] == resource
    assert max(len(c.resources) for c in recorder.calls[1:]) <= 2  # batchSize learnt
    scheduler.stop(1)


def test_answers_that_cannot_be_matched_fail_only_their_lookups(tmp_path):
    recorder = Echoing(stray=True)
    recorder.release.clear()
    scheduler = make(tmp_path, recorder, Limits(unit_gap=0.05))
    resources = [f"{i:032x}" for i in range(3)]
    futures = [scheduler.submit(Call("v2/file/report", (r,))) for r in resources]
    outcomes = [f.exception(10) for f in futures]
    failed = [error for error in outcomes if error is not None]
    assert failed and all(error.code == 502 for error in failed)
    assert any(error is None for error in outcomes)
    scheduler.stop(1)


def test_a_spent_day_answers_waiters_at_once_with_the_seconds_to_midnight(tmp_path):
    recorder = Echoing()
    scheduler = make(tmp_path, recorder, Limits(per_day=1))
    assert scheduler.submit(Call("v2/domain/report", ("a.example",))).result(5)
    late = scheduler.submit(Call("v2/domain/report", ("b.example",)))
    with pytest.raises(ServiceError) as refused:
        late.result(5)
    assert refused.value.code == 429
    assert "daily quota is spent until 00:00 UTC" in refused.value.message
    assert f"retry in {refused.value.retry_after} seconds" in refused.value.message
    assert 0 < refused.value.retry_after <= 86400
    assert len(recorder.calls) == 1
    scheduler.stop(1)


def test_a_call_in_flight_past_the_deadline_answers_the_waiter(tmp_path):
    recorder = Recorder()
    recorder.release.clear()
    scheduler = make(tmp_path, recorder)
    deadline = time.time() + 2.0  # long enough to be dispatched, too short for the call
    future = scheduler.submit(Call("v2/domain/report", ("slow.example",)), deadline=deadline)
    with pytest.raises(ServiceError) as late:
        future.result(5)
    assert late.value.code == 504
    recorder.release.set()
    scheduler.stop(1)


# -- fairness between clients ------------------------------------------------


class Gate(Recorder):
    """Holds every call until released; ``started`` is set once a call is being made."""

    def __init__(self):
        super().__init__()
        self.release.clear()
        self.started = threading.Event()

    def __call__(self, call):
        self.started.set()
        return super().__call__(call)


def hold_the_only_worker(tmp_path):
    """A one-worker scheduler busy with a first call, so what follows queues."""
    gate = Gate()
    scheduler = Scheduler(gate, SharedQuota(tmp_path, Limits()), batch_size=4, max_wait=60,
                          workers=1)  # fmt: skip
    scheduler.start()
    scheduler.submit(Call("v2/domain/report", ("first.example",)), client="Z")
    assert gate.started.wait(5)
    return scheduler, gate


def domains(client, count):
    return [Call("v2/domain/report", (f"{client.lower()}{i}.example",)) for i in range(count)]


def test_one_clients_flood_does_not_push_another_clients_lookup_back(tmp_path):
    scheduler, gate = hold_the_only_worker(tmp_path)
    flood = [scheduler.submit(call, client="A") for call in domains("A", 30)]
    lone = scheduler.submit(Call("v2/domain/report", ("b0.example",)), client="B")
    gate.release.set()
    assert all(f.result(10) for f in [lone, *flood])
    made = [call.resources[0] for call in gate.calls]
    assert made[:4] == ["first.example", "a0.example", "b0.example", "a1.example"]
    scheduler.stop(1)


def test_clients_take_turns(tmp_path):
    scheduler, gate = hold_the_only_worker(tmp_path)
    futures = [scheduler.submit(call, client="A") for call in domains("A", 3)]
    futures += [scheduler.submit(call, client="B") for call in domains("B", 3)]
    futures += [scheduler.submit(call, client=None) for call in domains("N", 1)]
    gate.release.set()
    assert all(f.result(10) for f in futures)
    made = [call.resources[0][0] for call in gate.calls[1:]]
    assert "".join(made) == "abnabab"
    scheduler.stop(1)


def test_a_lookup_shared_by_clients_goes_at_the_earliest_of_their_turns(tmp_path):
    scheduler, gate = hold_the_only_worker(tmp_path)
    calls = domains("A", 10)
    flood = [scheduler.submit(call, client="A") for call in calls]
    other = scheduler.submit(Call("v2/domain/report", ("b0.example",)), client="B")
    shared = scheduler.submit(calls[-1], client="C")  # the same lookup as A's last
    gate.release.set()
    assert all(f.result(10) for f in [*flood, other])
    assert shared.result(10) == flood[-1].result()
    made = [call.resources[0] for call in gate.calls]
    assert made[:4] == ["first.example", "a0.example", "b0.example", "a9.example"]
    assert len(made) == 12  # one call for the shared lookup
    scheduler.stop(1)


def test_lookups_of_different_clients_are_batched_together(tmp_path):
    scheduler, gate = hold_the_only_worker(tmp_path)
    hashes = [f"{i:032x}" for i in range(4)]
    futures = [
        scheduler.submit(Call("v2/file/report", (h,)), client=client)
        for h, client in zip(hashes, "AABB", strict=True)
    ]
    gate.release.set()
    assert [f.result(10) for f in futures] == [[{"resource": h}] for h in hashes]
    assert sorted(gate.calls[1].resources) == hashes
    scheduler.stop(1)


class Clock:
    def __init__(self, now=1_800_000_000.0):
        self.now = now

    def __call__(self):
        return self.now


def test_deadlines_are_projected_in_the_fair_order(tmp_path, monkeypatch):
    """One unit every 10 s and a 25 s deadline: of a 30-lookup flood only the first
    waits; the other client's lookup, second in line (at 20 s), is served, not refused."""
    monkeypatch.setattr("dxlvtservice.lookups.scheduler.MAX_IDLE", 0.05)
    clock = Clock()
    recorder = Recorder()
    quota = SharedQuota(tmp_path, Limits(unit_gap=10), clock=clock)
    scheduler = Scheduler(recorder, quota, batch_size=4, max_wait=25, clock=clock)
    scheduler.start()
    assert scheduler.submit(Call("v2/domain/report", ("first.example",)), client="Z").result(5)
    flood = [scheduler.submit(call, client="A") for call in domains("A", 30)]
    lone = scheduler.submit(Call("v2/domain/report", ("b0.example",)), client="B")
    for refused in flood[1:]:  # projected at 30 s and later: answered at once
        assert refused.exception(5).code == 429
    assert not lone.done() and not flood[0].done()
    clock.now += 10
    assert flood[0].result(5) == [{"resource": "a0.example"}]
    clock.now += 10
    assert lone.result(5) == [{"resource": "b0.example"}]
    assert [c.resources[0] for c in recorder.calls[1:]] == ["a0.example", "b0.example"]
    scheduler.stop(1)


@settings(deadline=None, max_examples=50)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["A", "B", "C", None]),
            st.sampled_from(["v2/file/report", "v2/url/report", "v2/domain/report"]),
            st.integers(0, 6),
            st.sampled_from(["interactive", "background"]),
        ),
        max_size=30,
    )
)
def test_the_dispatcher_makes_the_calls_the_projection_planned(submissions):
    """The deadline projection plans calls from the queue's order; the dispatcher,
    taking calls out one by one, must make exactly those calls in that order."""
    scheduler = Scheduler(lambda call: [], SharedQuota(None, Limits()), batch_size=3,
                          max_wait=60, workers=len(submissions) + 1)  # fmt: skip
    made = []
    scheduler._pool = SimpleNamespace(submit=lambda perform, call, jobs, grant: made.append(call))
    for client, endpoint, n, lane in submissions:
        scheduler.submit(Call(endpoint, (f"{n:032x}",)), client=client, lane=lane)
    queue = scheduler._queue
    planned = [
        Call(queue[group[0]].call.endpoint, tuple(queue[i].call.resources[0] for i in group))
        for group in plan_calls(queue, 3)
    ]
    with scheduler._cond:
        while scheduler._queue:
            scheduler._step([])
    assert made == planned


# -- the background lane -----------------------------------------------------


def test_background_lookups_wait_behind_every_interactive_one(tmp_path):
    scheduler, gate = hold_the_only_worker(tmp_path)
    background = [scheduler.submit(c, lane="background") for c in domains("Bg", 3)]
    interactive = [scheduler.submit(c, client="A") for c in domains("A", 2)]
    interactive += [scheduler.submit(c, client="B") for c in domains("B", 1)]
    assert scheduler.stats()["background"] == {"waiting": 3, "queued_lookups": 3,
                                               "units_spent": 0}  # fmt: skip
    gate.release.set()
    assert all(f.result(10) for f in [*background, *interactive])
    made = [call.resources[0] for call in gate.calls[1:]]
    assert made == ["a0.example", "b0.example", "a1.example",
                    "bg0.example", "bg1.example", "bg2.example"]  # fmt: skip
    assert scheduler.stats()["background"]["units_spent"] == 3
    scheduler.stop(1)


def test_an_interactive_request_takes_a_background_lookup_into_its_lane(tmp_path):
    scheduler, gate = hold_the_only_worker(tmp_path)
    calls = domains("Bg", 3)
    background = [scheduler.submit(c, lane="background") for c in calls]
    scheduler.submit(Call("v2/domain/report", ("a0.example",)), client="A")
    shared = scheduler.submit(calls[2], client="B")
    gate.release.set()
    assert shared.result(10) == background[2].result(10)
    assert all(f.result(10) for f in background)
    made = [call.resources[0] for call in gate.calls[1:]]
    assert made == ["a0.example", "bg2.example", "bg0.example", "bg1.example"]
    scheduler.stop(1)


def test_background_and_interactive_lookups_are_never_batched_together(tmp_path):
    scheduler, gate = hold_the_only_worker(tmp_path)
    hashes = [f"{i:032x}" for i in range(4)]
    futures = [
        scheduler.submit(Call("v2/file/report", (h,)), lane=lane)
        for h, lane in zip(hashes, ["interactive", "background"] * 2, strict=True)
    ]
    gate.release.set()
    assert all(f.result(10) for f in futures)
    assert [c.resources for c in gate.calls[1:]] == [(hashes[0], hashes[2]),
                                                      (hashes[1], hashes[3])]  # fmt: skip
    scheduler.stop(1)


def test_background_calls_spend_only_their_share_of_the_minute(tmp_path, monkeypatch):
    """Eight units a minute, a quarter for background: two background calls go, the
    third waits for the minute to pass while an interactive one goes at once."""
    monkeypatch.setattr("dxlvtservice.lookups.scheduler.MAX_IDLE", 0.05)
    clock = Clock()
    recorder = Recorder()
    quota = SharedQuota(tmp_path, Limits(per_minute=8), clock=clock, background_share=0.25)
    scheduler = Scheduler(recorder, quota, batch_size=4, max_wait=120, clock=clock)
    scheduler.start()
    background = [scheduler.submit(c, lane="background") for c in domains("Bg", 3)]
    assert [f.result(5) for f in background[:2]]
    interactive = scheduler.submit(Call("v2/domain/report", ("a0.example",)), client="A")
    assert interactive.result(5) == [{"resource": "a0.example"}]
    assert not background[2].done()
    assert quota.usage()["background"]["per_minute"] == {"limit": 2, "used": 2}
    clock.now += 61
    assert background[2].result(5) == [{"resource": "bg2.example"}]
    scheduler.stop(1)


def test_interactive_deadlines_are_projected_without_the_background_lane(tmp_path, monkeypatch):
    """One unit every 10 s and a 25 s deadline: an interactive lookup queued after
    five background ones is projected at 10 s (they wait behind it), so it is served."""
    monkeypatch.setattr("dxlvtservice.lookups.scheduler.MAX_IDLE", 0.05)
    clock = Clock()
    recorder = Recorder()
    quota = SharedQuota(tmp_path, Limits(unit_gap=10), clock=clock, background_share=1.0)
    scheduler = Scheduler(recorder, quota, batch_size=4, max_wait=25, clock=clock)
    scheduler.start()
    assert scheduler.submit(Call("v2/domain/report", ("first.example",))).result(5)
    background = [scheduler.submit(c, lane="background") for c in domains("Bg", 5)]
    interactive = scheduler.submit(Call("v2/domain/report", ("a0.example",)), client="A")
    for refused in background[2:]:  # projected at 30 s and later: answered at once
        assert refused.exception(5).code == 429
    assert not interactive.done()
    clock.now += 10
    assert interactive.result(5) == [{"resource": "a0.example"}]
    clock.now += 10
    assert background[0].result(5) == [{"resource": "bg0.example"}]
    scheduler.stop(1)


def test_a_share_of_less_than_one_unit_turns_background_lookups_away(tmp_path):
    """Three units a minute, a quarter for the background: no background unit ever."""
    quota = SharedQuota(tmp_path, Limits(per_minute=3), background_share=0.25)
    scheduler = Scheduler(Recorder(), quota, batch_size=4, max_wait=60)
    scheduler.start()
    refused = scheduler.submit(Call("v2/domain/report", ("bg.example",)), lane="background")
    error = refused.exception(5)
    assert error.code == 429 and "backgroundShare" in error.message
    assert scheduler.submit(Call("v2/domain/report", ("a.example",))).result(5)
    scheduler.stop(1)
