"""One queue for every upstream call: coalescing, batching, quota units, deadlines.

Callers :meth:`Scheduler.submit` a :class:`~dxlvtservice.lookups.upstream.Call` and get
a ``Future`` at once; they never block. A single dispatcher thread takes quota
units from :class:`~dxlvtservice.lookups.ledger.SharedQuota` and hands calls to a small
worker pool. Identical lookups share one job; queued v2 report lookups with
the same options are merged into one call of up to ``batch_size`` resources,
and never more than the units free at that moment (batching saves round
trips, never quota). Each waiter has a deadline: as soon as the projected
start of its job lies past it, the waiter is failed with 429 and the seconds
to wait; a waiter whose call is still in flight at its deadline gets 504.

The queue is kept in fair order (:mod:`~dxlvtservice.core.fairness`): slots go
round robin between the requesting clients that have lookups waiting, and the
deadline projection reads the queue in that same order. Background lookups
(first-instance enrichment) wait behind every interactive one, in a lane of
their own that spends at most its share of each quota window
(:mod:`~dxlvtservice.core.lanes`); an interactive request for the same
indicator takes a background lookup into its own lane.
"""

from __future__ import annotations

import bisect
import contextlib
import logging
import threading
import time
from collections.abc import Callable, Hashable, Sequence
from concurrent.futures import Future, InvalidStateError, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from ..core.fairness import Place, RoundRobin
from ..core.lanes import BACKGROUND, INTERACTIVE, LANES, rank
from ..core.quota import late_reason
from ..errors import BAD_GATEWAY, GATEWAY_TIMEOUT, TOO_MANY_REQUESTS, UNAVAILABLE, ServiceError
from .ledger import Grant, SharedQuota
from .upstream import BATCHABLE, Call, UpstreamError, match_answers

# How long a batchable call waits for company when the key is rate limited.
BATCH_LINGER = 0.25
# Transient upstream failures: attempts in all, and the first back-off.
MAX_ATTEMPTS = 4
FIRST_BACKOFF = 1.0
# The dispatcher looks again at least this often (other processes use the quota too).
MAX_IDLE = 1.0

logger = logging.getLogger(__name__)


@dataclass
class _Waiter:
    future: Future
    deadline: float


@dataclass(eq=False)
class _Job:
    call: Call
    key: Hashable | None
    enqueued: float
    waiters: list[_Waiter] = field(default_factory=list)
    # The job's place in the fair order, and the client charged for it.
    place: Place = (0, 0)
    client: str | None = None
    lane: str = INTERACTIVE
    attempts: int = 0
    not_before: float = 0.0
    last_error: ServiceError | None = None
    # Set when the call is over; late identical submissions take it directly
    # until the job's callbacks (which fill the cache) have all run.
    outcome: tuple[list[Any] | None, ServiceError | None] | None = None

    @property
    def batchable(self) -> bool:
        return self.call.endpoint in BATCHABLE and len(self.call.resources) == 1


def plan_calls(jobs: Sequence[_Job], batch_size: int) -> list[list[int]]:
    """Group queued jobs (by index) into the calls the dispatcher will make, in order."""
    calls: list[list[int]] = []
    taken = [False] * len(jobs)
    for i, job in enumerate(jobs):
        if taken[i]:
            continue
        taken[i] = True
        group = [i]
        if job.batchable:
            for j in range(i + 1, len(jobs)):
                if len(group) >= batch_size:
                    break
                other = jobs[j]
                if (
                    not taken[j]
                    and other.batchable
                    and other.lane == job.lane
                    and other.call.batch_key == job.call.batch_key
                ):
                    taken[j] = True
                    group.append(j)
        calls.append(group)
    return calls


def backoff(attempt: int) -> float:
    """Exponential back-off after the ``attempt``-th transient failure."""
    return FIRST_BACKOFF * 2 ** (attempt - 1)


class Scheduler:
    """Runs upstream calls within the shared quota; see the module docstring."""

    def __init__(
        self,
        execute: Callable[[Call], list[Any]],
        quota: SharedQuota,
        *,
        batch_size: int,
        max_wait: float,
        workers: int = 4,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._execute = execute
        self._quota = quota
        self._batch_size = batch_size
        self.max_wait = max_wait
        self._clock = clock
        self._workers = workers
        self._free_workers = workers
        self._linger = BATCH_LINGER if quota.limits.limited else 0.0
        self._queue: list[_Job] = []  # interactive lane first, each in fair order: by place
        self._turns = {lane: RoundRobin() for lane in LANES}
        self._by_key: dict[Hashable, _Job] = {}
        self._cond = threading.Condition()
        self._stopping = False
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="upstream")
        self._thread = threading.Thread(target=self._run, name="scheduler", daemon=True)
        self._in_flight: list[_Job] = []
        self.calls_made = 0
        self.resources_requested = 0
        self.units_spent = 0
        self.background_units_spent = 0

    def start(self) -> None:
        self._thread.start()

    def submit(
        self,
        call: Call,
        *,
        coalesce: bool = True,
        deadline: float | None = None,
        client: str | None = None,
        lane: str = INTERACTIVE,
    ) -> Future:
        """Queue ``call`` for ``client`` (the requester whose turn it takes) in ``lane``;
        the future gets one answer per resource, or a ServiceError."""
        future: Future = Future()
        now = self._clock()
        waiter = _Waiter(future, now + self.max_wait if deadline is None else deadline)
        with self._cond:
            if self._stopping:
                future.set_exception(ServiceError(UNAVAILABLE, "the service is shutting down"))
                return future
            key = (call.endpoint, call.options, call.resources) if coalesce else None
            job = self._by_key.get(key) if key is not None else None
            outcome = job.outcome if job is not None else None
            if outcome is None:
                if job is None:
                    place = self._turns[lane].place(client)
                    job = _Job(call, key, now, place=place, client=client, lane=lane)
                    self._enqueue(job)
                    if key is not None:
                        self._by_key[key] = job
                elif job in self._queue:
                    self._share(job, client, lane)
                job.waiters.append(waiter)
                self._cond.notify()
        if outcome is not None:
            _settle([waiter], *outcome)
        return future

    def stats(self) -> dict:
        with self._cond:
            background = [job for job in self._queue if job.lane == BACKGROUND]
            return {
                "waiting": sum(len(job.waiters) for job in self._queue),
                "queued_calls": len(plan_calls(self._queue, self._batch_limit())),
                "in_flight": self._workers - self._free_workers,
                "calls_made": self.calls_made,
                "resources_requested": self.resources_requested,
                "units_spent": self.units_spent,
                "background": {
                    "waiting": sum(len(job.waiters) for job in background),
                    "queued_lookups": len(background),
                    "units_spent": self.background_units_spent,
                },
            }

    def stop(self, timeout: float) -> None:
        """Fail what is queued with 503, let calls in flight finish (up to ``timeout``)."""
        with self._cond:
            self._stopping = True
            dropped, self._queue = self._queue, []
            for job in dropped:
                self._forget(job)
            self._cond.notify_all()
        error = ServiceError(UNAVAILABLE, "the service is shutting down")
        for job in dropped:
            _fail_all(job.waiters, error)
        self._thread.join(timeout)
        self._pool.shutdown(wait=False, cancel_futures=True)
        deadline = self._clock() + timeout
        with self._cond:
            while self._free_workers < self._workers and self._clock() < deadline:
                self._cond.wait(max(0.0, deadline - self._clock()))

    # -- dispatcher -------------------------------------------------------

    def _run(self) -> None:
        while True:
            failures: list[tuple[list[_Waiter], ServiceError]] = []
            with self._cond:
                if self._stopping:
                    return
                wait = self._step(failures)
                if wait and not failures:
                    self._cond.wait(min(wait, MAX_IDLE))
            for waiters, error in failures:
                _fail_all(waiters, error)

    def _step(self, failures: list[tuple[list[_Waiter], ServiceError]]) -> float:
        """One dispatcher decision; returns how long to sleep (0 to go on at once)."""
        now = self._clock()
        self._expire(now, failures)
        ready = [job for job in self._queue if job.not_before <= now]
        if not ready:
            pending = [job.not_before - now for job in self._queue]
            return min(pending, default=MAX_IDLE)
        if self._free_workers == 0:
            return MAX_IDLE
        head = ready[0]
        group = plan_calls(ready, self._batch_limit())[0]
        if (
            self._linger
            and head.batchable
            and len(group) < self._batch_limit()
            and now < head.enqueued + self._linger
        ):
            return head.enqueued + self._linger - now
        # A batch of lookups shrinks to the units free now; any other call needs all of its own.
        minimum = 1 if head.batchable else head.call.units
        wanted = len(group) if head.batchable else minimum
        grant = self._quota.acquire(wanted, minimum, head.lane)
        if grant.units == 0:
            if grant.wait is None:
                self._drop([head])
                failures.append((head.waiters, _too_large(head.call, head.lane)))
                return 0.0
            return grant.wait
        jobs = [ready[i] for i in group][: grant.units] if head.batchable else [head]
        for job in jobs:
            self._queue.remove(job)
        self._turns[head.lane].served(head.place)
        self._in_flight.extend(jobs)
        self._free_workers -= 1
        call = Call(
            head.call.endpoint,
            tuple(r for job in jobs for r in job.call.resources),
            head.call.options,
        )
        self.calls_made += 1
        self.resources_requested += len(call.resources)
        self.units_spent += grant.units
        if head.lane == BACKGROUND:
            self.background_units_spent += grant.units
        self._pool.submit(self._perform, call, jobs, grant)
        return 0.0

    def _expire(self, now: float, failures: list[tuple[list[_Waiter], ServiceError]]) -> None:
        """Fail every waiter whose job cannot start (or, in flight, end) before its deadline."""
        for job in self._in_flight:
            late = [w for w in job.waiters if w.deadline < now]
            if late:
                job.waiters = [w for w in job.waiters if w.deadline >= now]
                failures.append((late, _in_flight_too_long()))
        if not self._queue:
            return
        calls = plan_calls(self._queue, self._batch_limit())
        units = [sum(self._queue[i].call.units for i in group) for group in calls]
        slots = self._quota.projection(units, [self._queue[group[0]].lane for group in calls])
        for slot, group in zip(slots, calls, strict=True):
            for index in group:
                job = self._queue[index]
                start = float("inf") if slot is None else max(slot, job.not_before)
                late = [w for w in job.waiters if w.deadline < start]
                if not late:
                    continue
                job.waiters = [w for w in job.waiters if w.deadline >= start]
                if slot is None:
                    failures.append((late, _too_large(job.call, job.lane)))
                elif job.last_error is not None and job.not_before >= slot:
                    failures.append((late, job.last_error))
                else:
                    reason = late_reason(self._quota.limits, now, start)
                    failures.append((late, _quota_error(reason, start - now)))
        self._drop([job for job in self._queue if not job.waiters])

    def _batch_limit(self) -> int:
        """Resources per batch: ``batch_size``, and never more than a window ever allows."""
        largest = self._quota.limits.largest_call
        return self._batch_size if largest is None else max(1, min(self._batch_size, largest))

    def _enqueue(self, job: _Job) -> None:
        bisect.insort(self._queue, job, key=_order)

    def _share(self, job: _Job, client: str | None, lane: str) -> None:
        """``client`` waits on queued ``job`` too, from ``lane``: it moves up to ``client``'s
        turn if that comes first, so a lookup shared between clients is never behind any of
        theirs; an interactive request takes a background lookup into its own lane."""
        if rank(lane) > rank(job.lane):
            return
        if lane != job.lane:
            self._queue.remove(job)
            job.lane, job.place, job.client = lane, self._turns[lane].place(client), client
            self._enqueue(job)
            self._recount()
            return
        better = self._turns[lane].join(client, job.place)
        if better is not None:
            self._queue.remove(job)
            job.place, job.client = better, client
            self._enqueue(job)

    def _drop(self, jobs: list[_Job]) -> None:
        """Take unserved ``jobs`` out of the queue; they hold no client's turns back."""
        if not jobs:
            return
        for job in jobs:
            self._queue.remove(job)
            self._forget(job)
        self._recount()

    def _recount(self) -> None:
        """Each lane's turns count only the lookups it still holds."""
        for lane, turns in self._turns.items():
            turns.recount((job.client, job.place) for job in self._queue if job.lane == lane)

    def _forget(self, job: _Job) -> None:
        if job.key is not None and self._by_key.get(job.key) is job:
            del self._by_key[job.key]

    # -- workers ----------------------------------------------------------

    def _perform(self, call: Call, jobs: list[_Job], grant: Grant) -> None:
        try:
            try:
                answers = self._execute(call)
            except UpstreamError as error:
                self._landed(jobs)
                refused = error.retry == "quota"
                self._quota.settle(grant, refused=refused, retry_after=error.retry_after)
                self._retry_or_fail(jobs, error)
            else:
                self._landed(jobs)
                self._quota.settle(grant, refused=False)
                self._deliver(call, jobs, answers)
        except Exception:
            logger.exception("Upstream call %s failed unexpectedly", call.endpoint)
            self._finish(jobs, ServiceError(BAD_GATEWAY, "the upstream call failed unexpectedly"))
        finally:
            with self._cond:
                self._free_workers += 1
                self._cond.notify_all()

    def _landed(self, jobs: list[_Job]) -> None:
        """The call of ``jobs`` is back: their deadlines are the queue's business again."""
        with self._cond:
            self._in_flight = [job for job in self._in_flight if job not in jobs]

    def _deliver(self, call: Call, jobs: list[_Job], answers: list[Any]) -> None:
        """Hand each job the answers that echo its resources; ask again for what
        VirusTotal left out; 502 for a job whose answers cannot be told apart."""
        if not call.resources:  # a call about the key itself: one answer, one job
            self._finish(jobs, None, [answers])
            return
        matched = match_answers(call.resources, answers)
        if matched.missing and len(answers) < self._batch_size:
            logger.warning(
                "VirusTotal answered %d of %d resources in one call: batchSize lowered to %d",
                len(answers), len(call.resources), len(answers),
            )  # fmt: skip
            self._batch_size = len(answers)
        done, again, failed = [], [], []
        offset = 0
        for job in jobs:
            indexes = range(offset, offset + len(job.call.resources))
            offset += len(job.call.resources)
            if all(i in matched.answers for i in indexes):
                done.append((job, [matched.answers[i] for i in indexes]))
            elif job.batchable and not any(i in matched.unmatched for i in indexes):
                again.append(job)
            else:
                failed.append(job)
        if done:
            self._finish([job for job, _ in done], None, [result for _, result in done])
        if failed:
            error = ServiceError(BAD_GATEWAY, "VirusTotal answered a batch that cannot be matched")
            self._finish(failed, error)
        if again:
            with self._cond:
                for job in again:
                    self._enqueue(job)
                self._cond.notify_all()

    def _retry_or_fail(self, jobs: list[_Job], error: UpstreamError) -> None:
        if error.retry == "quota":
            logger.warning("VirusTotal refused a call for quota; every process backs off")
        retry = error.retry == "quota" or (
            error.retry == "transient" and jobs[0].attempts + 1 < MAX_ATTEMPTS
        )
        if not retry:
            self._finish(jobs, error)
            return
        with self._cond:
            if self._stopping:
                retry = False
            else:
                now = self._clock()
                for job in jobs:
                    job.attempts += 1
                    job.last_error = error
                    if error.retry == "transient":
                        job.not_before = now + backoff(job.attempts)
                for job in jobs:
                    self._enqueue(job)
                self._cond.notify_all()
        if not retry:
            self._finish(jobs, error)

    def _finish(
        self, jobs: list[_Job], error: ServiceError | None, results: list[list[Any]] | None = None
    ) -> None:
        with self._cond:
            for index, job in enumerate(jobs):
                job.outcome = (results[index] if results else None, error)
            waiters = [list(job.waiters) for job in jobs]
        for job, job_waiters in zip(jobs, waiters, strict=True):
            assert job.outcome is not None
            _settle(job_waiters, *job.outcome)
        with self._cond:
            for job in jobs:
                self._forget(job)


def _order(job: _Job) -> tuple[int, Place]:
    """Queue order: the interactive lane before the background one, each by place."""
    return rank(job.lane), job.place


def _quota_error(reason: str, wait: float) -> ServiceError:
    seconds = max(1, round(wait))
    return ServiceError(
        TOO_MANY_REQUESTS, f"{reason}; retry in {seconds} seconds", retry_after=seconds
    )


def _too_large(call: Call, lane: str) -> ServiceError:
    if lane == BACKGROUND:
        return ServiceError(
            TOO_MANY_REQUESTS,
            f"background lookups may never take {call.units} quota units: "
            "backgroundShare leaves fewer in some window",
        )
    return ServiceError(
        TOO_MANY_REQUESTS,
        f"this call needs {call.units} quota units, more than the key's limits ever allow at once",
    )


def _in_flight_too_long() -> ServiceError:
    return ServiceError(GATEWAY_TIMEOUT, "VirusTotal did not answer before the request's deadline")


def _settle(waiters: list[_Waiter], result: list[Any] | None, error: ServiceError | None) -> None:
    """Complete each waiter's future once (a waiter may already have been refused)."""
    for waiter in waiters:
        with contextlib.suppress(InvalidStateError):
            if error is not None:
                waiter.future.set_exception(error)
            else:
                waiter.future.set_result(result)


def _fail_all(waiters: list[_Waiter], error: ServiceError) -> None:
    _settle(waiters, None, error)
