"""The job queue against a model of itself, step by random step (hypothesis).

Every job waits at the fake engine's gate until a ``release`` step, so after each step the queue
settles into a state the model predicts exactly: which jobs run, which wait and in what order,
what ``capacity()`` says and where each job sits in ``jobs()``.
"""

from __future__ import annotations

import threading
from collections import deque
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    invariant,
    multiple,
    rule,
    run_state_machine_as_test,
)

from desktop_app.core.jobs import JobState
from desktop_app.job_queue import JobQueue, RefusalCode
from tests.fakes import FakeEngine

QUEUED, RUNNING = JobState.QUEUED, JobState.RUNNING
DONE, FAILED, CANCELLED = JobState.DONE, JobState.FAILED, JobState.CANCELLED


class QueueMachine(RuleBasedStateMachine):
    qtbot: Any = None  # set by the test that runs the machine

    jobs = Bundle("jobs")

    def __init__(self) -> None:
        super().__init__()
        self.gate = threading.Event()
        self.engine = FakeEngine(segments=2, segment_seconds=0.0005, gate=self.gate)
        self.workers, self.places = 2, 2
        self.queue = JobQueue(self.engine, max_workers=self.workers, max_queue_size=self.places)
        self.moved: list[tuple[str, int]] = []
        self.queue.job_moved.connect(lambda job_id, index: self.moved.append((job_id, index)))
        # The model.
        self.order: list[str] = []
        self.state: dict[str, JobState] = {}
        self.pending: deque[str] = deque()
        self.bad: set[str] = set()
        self.count = 0

    # ------------------------------------------------------------------ the model
    def running(self) -> int:
        return sum(1 for state in self.state.values() if state is RUNNING)

    def accepts(self) -> bool:
        free_workers = max(0, self.workers - self.running())
        free_places = max(0, self.places - len(self.pending))
        return free_workers + free_places > 0

    def dispatch(self) -> None:
        """A bad file fails as soon as it starts, which frees its worker for the next one."""
        while self.pending and self.running() < self.workers:
            job_id = self.pending.popleft()
            self.state[job_id] = FAILED if job_id in self.bad else RUNNING

    def settle(self) -> None:
        """Until every running job is a good one parked at the gate: then nothing moves."""

        def settled() -> bool:
            # The queue's own lock gives one consistent view of every job's state.
            with self.queue._lock:
                running = [job for job in self.queue.jobs() if job.state is RUNNING]
                if any(job.cancel_requested.is_set() or "bad" in job.name for job in running):
                    return False
                return self.engine.running == len(running)

        assert self.qtbot is not None
        self.qtbot.waitUntil(settled, timeout=5000)

    # ------------------------------------------------------------------ rules
    @rule(target=jobs, bad=st.booleans())
    def submit(self, bad: bool):
        self.count += 1
        name = f"{'bad-' if bad else ''}clip{self.count}.wav"
        expected = self.accepts()
        result = self.queue.submit(f"/audio/{name}")
        assert result.accepted == expected
        if result.job is None:
            assert result.code == RefusalCode.AT_CAPACITY
            assert f"{len(self.pending)} of {self.places} places" in result.reason
            return multiple()
        job_id = result.job.id
        self.order.append(job_id)
        self.state[job_id] = QUEUED
        self.pending.append(job_id)
        if bad:
            self.bad.add(job_id)
        self.dispatch()
        self.settle()
        return job_id

    @rule(job_id=jobs)
    def cancel(self, job_id: str) -> None:
        state = self.state.get(job_id)
        expected = state in (QUEUED, RUNNING)
        assert self.queue.cancel(job_id) == expected
        if state is QUEUED:
            self.pending.remove(job_id)
            self.state[job_id] = CANCELLED
        elif state is RUNNING:
            self.state[job_id] = CANCELLED
            self.dispatch()
        self.settle()

    @rule(job_id=jobs)
    def retry(self, job_id: str) -> None:
        state = self.state.get(job_id)
        retryable = state in (FAILED, CANCELLED)
        expected = retryable and self.accepts()
        result = self.queue.retry(job_id)
        assert result.accepted == expected
        if not retryable:
            assert result.code == RefusalCode.NOT_RETRYABLE
        elif not expected:
            assert result.code == RefusalCode.AT_CAPACITY
        else:
            self.state[job_id] = QUEUED
            self.pending.append(job_id)
            self.dispatch()
        self.settle()
        job = self.queue.job(job_id)
        if expected and job is not None and not job.state.finished:
            assert job.segments == [] and job.error == "" and job.transcript is None

    @rule(job_id=jobs)
    def move_to_top(self, job_id: str) -> None:
        expected = job_id in self.pending
        heard = len(self.moved)
        assert self.queue.move_to_top(job_id) == expected
        if not expected:
            assert len(self.moved) == heard
            return
        self.pending.remove(job_id)
        self.pending.appendleft(job_id)
        old_index = self.order.index(job_id)
        self.order.remove(job_id)
        queued_rows = [i for i, other in enumerate(self.order) if other in self.pending]
        new_index = min(queued_rows[0], old_index) if queued_rows else old_index
        self.order.insert(new_index, job_id)
        assert self.moved[heard:] == [(job_id, new_index)]

    @rule(job_id=jobs)
    def remove(self, job_id: str) -> None:
        state = self.state.get(job_id)
        expected = state is not None and state.finished
        assert self.queue.remove(job_id) == expected
        if expected:
            del self.state[job_id]
            self.order.remove(job_id)
            self.bad.discard(job_id)
            assert self.queue.job(job_id) is None

    @rule()
    def release(self) -> None:
        """Let everything run to its end, then close the gate again."""
        self.gate.set()
        self.qtbot.waitUntil(self.queue.is_idle, timeout=5000)
        self.gate.clear()
        for job_id, state in self.state.items():
            if state is RUNNING:
                self.state[job_id] = DONE
        while self.pending:
            job_id = self.pending.popleft()
            self.state[job_id] = FAILED if job_id in self.bad else DONE
        self.settle()

    @rule(
        workers=st.none() | st.integers(min_value=1, max_value=3),
        places=st.none() | st.integers(min_value=1, max_value=3),
    )
    def set_limits(self, workers: int | None, places: int | None) -> None:
        self.queue.set_limits(max_workers=workers, max_queue_size=places)
        self.workers = workers or self.workers
        self.places = places or self.places
        self.dispatch()
        self.settle()

    # ------------------------------------------------------------------ invariants
    @invariant()
    def queue_matches_model(self) -> None:
        jobs = self.queue.jobs()
        assert [job.id for job in jobs] == self.order
        assert {job.id: job.state for job in jobs} == self.state
        assert self.queue.pending_ids() == list(self.pending)
        for index, job in enumerate(jobs):
            assert self.queue.index_of(job.id) == index

    @invariant()
    def capacity_agrees_with_job_states(self) -> None:
        jobs = self.queue.jobs()
        capacity = self.queue.capacity()
        running = [job.id for job in jobs if job.state is RUNNING]
        queued = [job.id for job in jobs if job.state is QUEUED]
        pending = self.queue.pending_ids()
        # The pending queue is exactly the queued jobs, each once, and no running job waits.
        assert sorted(pending) == sorted(queued)
        assert len(set(pending)) == len(pending)
        assert not set(pending) & set(running)
        assert capacity.active == len(running)
        assert capacity.queued == len(queued)
        assert (capacity.max_workers, capacity.max_queue_size) == (self.workers, self.places)
        assert capacity.available == max(0, self.places - len(queued))
        assert capacity.at_capacity == (not self.accepts())
        figures = capacity.as_dict()
        assert figures["active_jobs"] == len(running)
        assert figures["queued_jobs"] == len(queued)
        assert figures["at_capacity"] == capacity.at_capacity
        # Work-conserving: nothing waits while a worker is free.
        if queued:
            assert capacity.active >= capacity.max_workers
        assert self.engine.running == len(running)
        assert self.queue.is_idle() == (not running and not queued)

    def teardown(self) -> None:
        assert self.queue.shutdown(10_000)
        assert self.queue.is_idle()
        assert all(job.state.finished for job in self.queue.jobs())
        self.queue.deleteLater()


def test_queue_follows_its_model(qtbot) -> None:
    QueueMachine.qtbot = qtbot
    try:
        run_state_machine_as_test(
            QueueMachine,
            settings=settings(
                max_examples=30,
                stateful_step_count=25,
                deadline=None,
                database=None,
                suppress_health_check=[HealthCheck.too_slow],
            ),
        )
    finally:
        QueueMachine.qtbot = None
