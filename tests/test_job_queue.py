"""The job queue, driven by the fake engine: lifecycle, capacity, cancel/retry/move, limits,
signals and many threads at once. The stateful model lives in ``test_job_queue_stateful.py``."""

from __future__ import annotations

import random
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from desktop_app.core.jobs import Job, JobState
from desktop_app.job_queue import Capacity, JobQueue, RefusalCode
from tests.fakes import FakeEngine

QueueFactory = Callable[..., JobQueue]


def audio(name: str) -> Path:
    return Path("/audio") / f"{name}.wav"


@pytest.fixture
def make_queue(qapp) -> Iterator[QueueFactory]:
    """Builds queues and, whatever the test did, leaves every one of them idle afterwards."""
    made: list[JobQueue] = []

    def factory(engine: FakeEngine, *, workers: int, queue_size: int) -> JobQueue:
        queue = JobQueue(engine, max_workers=workers, max_queue_size=queue_size)
        made.append(queue)
        return queue

    yield factory
    for queue in made:
        assert queue.shutdown(10_000), "the pool did not go idle after shutdown"
        assert queue.is_idle()
        assert all(job.state.finished for job in queue.jobs())


def wait_finished(qtbot, jobs: list[Job], timeout: int = 5000) -> None:
    qtbot.waitUntil(lambda: all(job.state.finished for job in jobs), timeout=timeout)


def wait_running(qtbot, engine: FakeEngine, count: int) -> None:
    """Until ``count`` jobs are inside the engine (parked at its gate)."""
    qtbot.waitUntil(lambda: engine.running == count, timeout=5000)


def submit_ok(queue: JobQueue, name: str) -> Job:
    result = queue.submit(audio(name))
    assert result.job is not None, result.reason
    return result.job


# ----------------------------------------------------------------------------- lifecycle
def test_job_goes_queued_running_done_with_segments_and_progress(qtbot, make_queue) -> None:
    gate = threading.Event()
    engine = FakeEngine(segments=4, gate=gate)
    queue = make_queue(engine, workers=1, queue_size=2)
    states: list[tuple[str, JobState]] = []
    progress: list[tuple[str, float]] = []
    segments: list[tuple[str, int, object]] = []
    queue.job_state_changed.connect(lambda job_id, state: states.append((job_id, state)))
    queue.job_progress.connect(lambda job_id, fraction: progress.append((job_id, fraction)))
    queue.segment_added.connect(
        lambda job_id, index, segment: segments.append((job_id, index, segment))
    )

    first = submit_ok(queue, "first")
    second = submit_ok(queue, "second")
    assert first.state is JobState.RUNNING
    assert second.state is JobState.QUEUED
    assert queue.pending_ids() == [second.id]
    assert first.attempts == 1 and second.attempts == 0
    wait_running(qtbot, engine, 1)
    assert first.segments == [] and first.transcript is None

    gate.set()
    wait_finished(qtbot, [first, second])
    qtbot.waitUntil(lambda: len(segments) == 8)
    qtbot.waitUntil(lambda: (second.id, JobState.DONE) in states)
    assert all(type(state) is JobState for _, state in states)  # the enum, not its text

    for job in (first, second):
        assert job.state is JobState.DONE
        assert job.error == ""
        assert job.progress == 1.0
        assert job.duration == 4.0
        assert job.transcript is not None
        assert [s.text for s in job.transcript.segments] == [
            f"segment {i} of {job.path.name}" for i in range(4)
        ]
        assert job.segments == job.transcript.segments
        assert [s for jid, _, s in segments if jid == job.id] == job.segments
        assert [i for jid, i, _ in segments if jid == job.id] == list(range(len(job.segments)))
        assert [f for jid, f in progress if jid == job.id] == [0.25, 0.5, 0.75, 1.0]
        assert job.started_at is not None and job.finished_at is not None
        assert job.finished_at >= job.started_at
    # Running is announced before done, and the second job only ran once the first finished.
    first_states = [s for jid, s in states if jid == first.id]
    assert first_states.index(JobState.RUNNING) < first_states.index(JobState.DONE)
    assert [s for jid, s in states if jid == second.id][-1] is JobState.DONE
    assert engine.calls == [first.path, second.path]
    assert engine.max_running == 1
    assert queue.is_idle()
    assert queue.capacity() == Capacity(0, 0, 1, 2)


def test_bad_file_fails_with_its_message_and_the_queue_goes_on(qtbot, make_queue) -> None:
    engine = FakeEngine(segments=2)
    queue = make_queue(engine, workers=1, queue_size=5)
    bad = submit_ok(queue, "bad-recording")
    good = submit_ok(queue, "good")
    wait_finished(qtbot, [bad, good])

    assert bad.state is JobState.FAILED
    assert bad.error == "bad-recording.wav: is not an audio or video file that can be decoded."
    assert bad.transcript is None
    assert bad.segments == []
    assert bad.progress == 0.0
    assert good.state is JobState.DONE
    assert good.transcript is not None and len(good.transcript.segments) == 2


def test_unexpected_engine_error_becomes_a_job_error(qtbot, make_queue) -> None:
    class BrokenEngine(FakeEngine):
        def transcribe(self, path, options, **kwargs):
            raise RuntimeError("decoder exploded")

    queue = make_queue(BrokenEngine(), workers=1, queue_size=1)
    job = submit_ok(queue, "clip")
    wait_finished(qtbot, [job])
    assert job.state is JobState.FAILED
    assert "clip.wav" in job.error
    assert "RuntimeError: decoder exploded" in job.error
    qtbot.waitUntil(queue.is_idle)  # and its end is stored and announced


def test_limits_below_one_are_refused(qapp) -> None:
    with pytest.raises(ValueError):
        JobQueue(FakeEngine(), max_workers=0, max_queue_size=1)
    with pytest.raises(ValueError):
        JobQueue(FakeEngine(), max_workers=1, max_queue_size=0)
    queue = JobQueue(FakeEngine(), max_workers=1, max_queue_size=1)
    with pytest.raises(ValueError):
        queue.set_limits(max_workers=0)
    with pytest.raises(ValueError):
        queue.set_limits(max_queue_size=0)
    assert queue.capacity() == Capacity(0, 0, 1, 1)


# ----------------------------------------------------------------------------- capacity
def test_two_workers_and_three_places_take_exactly_five_of_ten(qtbot, make_queue) -> None:
    engine = FakeEngine(gate=threading.Event())
    queue = make_queue(engine, workers=2, queue_size=3)

    results = [queue.submit(audio(f"clip{i}")) for i in range(10)]
    accepted = [r for r in results if r.accepted]
    refused = [r for r in results if not r.accepted]

    assert [r.accepted for r in results] == [True] * 5 + [False] * 5
    assert [r.job.state for r in accepted if r.job] == [JobState.RUNNING] * 2 + [
        JobState.QUEUED
    ] * 3
    for result in refused:
        assert result.job is None
        assert result.code == RefusalCode.AT_CAPACITY
        assert "3 of 3 places taken" in result.reason
        assert "2 of 2 workers busy" in result.reason
        assert "MAX_QUEUE_SIZE" in result.reason
    assert len(queue.jobs()) == 5

    capacity = queue.capacity()
    assert (capacity.active, capacity.queued) == (2, 3)
    assert capacity.available == 0
    assert capacity.free_workers == 0
    assert capacity.at_capacity is True
    assert capacity.as_dict() == {
        "active_jobs": 2,
        "queued_jobs": 3,
        "max_workers": 2,
        "max_queue_size": 3,
        "available_capacity": 0,
        "at_capacity": True,
    }
    wait_running(qtbot, engine, 2)
    assert engine.max_running == 2


def test_capacity_as_dict_when_there_is_room(make_queue) -> None:
    queue = make_queue(FakeEngine(gate=threading.Event()), workers=2, queue_size=3)
    submit_ok(queue, "one")
    assert queue.capacity().as_dict() == {
        "active_jobs": 1,
        "queued_jobs": 0,
        "max_workers": 2,
        "max_queue_size": 3,
        "available_capacity": 3,
        "at_capacity": False,
    }
    assert queue.capacity().accepts == 4


def test_submit_many_lists_every_file_as_accepted_or_refused(make_queue) -> None:
    queue = make_queue(FakeEngine(gate=threading.Event()), workers=2, queue_size=3)
    paths = [audio(f"batch{i}") for i in range(10)]

    batch = queue.submit_many(paths)

    assert [job.path for job in batch.accepted] == paths[:5]
    assert [path for path, _ in batch.refused] == paths[5:]
    assert len(batch.accepted) + len(batch.refused) == len(paths)
    assert all("3 of 3 places taken" in reason for _, reason in batch.refused)
    assert [job.id for job in queue.jobs()] == [job.id for job in batch.accepted]
    assert queue.capacity().at_capacity


# ----------------------------------------------------------------------------- cancel
def test_cancel_queued_is_immediate_and_frees_a_place(make_queue) -> None:
    queue = make_queue(FakeEngine(gate=threading.Event()), workers=1, queue_size=1)
    running = submit_ok(queue, "running")
    queued = submit_ok(queue, "queued")
    refused = queue.submit(audio("waiting"))
    assert refused.code == RefusalCode.AT_CAPACITY

    assert queue.cancel(queued.id) is True
    assert queued.state is JobState.CANCELLED
    assert queued.finished_at is not None
    assert queue.pending_ids() == []
    assert queue.capacity().queued == 0
    assert queue.capacity().available == 1

    late = submit_ok(queue, "waiting")
    assert late.state is JobState.QUEUED
    assert queue.pending_ids() == [late.id]
    assert running.state is JobState.RUNNING
    assert queue.cancel(queued.id) is False, "a finished job cannot be cancelled again"
    assert queue.cancel("no-such-job") is False


def test_cancel_running_stops_within_about_one_segment(qtbot, make_queue) -> None:
    engine = FakeEngine(segments=400, segment_seconds=0.005)
    queue = make_queue(engine, workers=1, queue_size=1)
    job = submit_ok(queue, "long")
    qtbot.waitUntil(lambda: len(job.segments) >= 3, timeout=5000)

    seen_at_cancel = len(job.segments)
    with qtbot.waitSignal(
        queue.job_state_changed,
        check_params_cb=lambda job_id, state: job_id == job.id and state is JobState.CANCELLED,
        timeout=5000,
    ):
        assert queue.cancel(job.id) is True

    assert job.state is JobState.CANCELLED
    assert seen_at_cancel <= len(job.segments) <= seen_at_cancel + 2
    assert len(job.segments) < 400 // 10
    assert job.transcript is None
    assert job.progress < 1.0
    assert job.error == ""
    assert queue.wait_for_done(5000)
    assert queue.is_idle()
    assert engine.running == 0


def test_cancel_running_job_starts_the_next_queued(qtbot, make_queue) -> None:
    engine = FakeEngine(gate=threading.Event())
    queue = make_queue(engine, workers=1, queue_size=2)
    first = submit_ok(queue, "first")
    second = submit_ok(queue, "second")
    wait_running(qtbot, engine, 1)
    queue.cancel(first.id)
    # Read through a snapshot, taken under the queue's lock: the job's own field changes
    # mid-dispatch, a moment before the capacity the dispatch publishes.
    qtbot.waitUntil(lambda: queue.snapshot(second.id).state is JobState.RUNNING, timeout=5000)
    assert first.state is JobState.CANCELLED
    assert queue.capacity() == Capacity(1, 0, 1, 2)
    wait_running(qtbot, engine, 1)
    assert engine.calls == [first.path, second.path]


# ----------------------------------------------------------------------------- retry
def test_retry_requeues_failed_and_cancelled_jobs_and_respects_capacity(qtbot, make_queue) -> None:
    gate = threading.Event()
    gate.set()
    engine = FakeEngine(segments=400, segment_seconds=0.005, gate=gate)
    queue = make_queue(engine, workers=1, queue_size=1)

    failed = submit_ok(queue, "bad-take")
    wait_finished(qtbot, [failed])
    assert failed.state is JobState.FAILED

    cancelled = submit_ok(queue, "take-two")
    qtbot.waitUntil(lambda: len(cancelled.segments) >= 2, timeout=5000)
    queue.cancel(cancelled.id)
    wait_finished(qtbot, [cancelled])
    assert cancelled.state is JobState.CANCELLED
    assert cancelled.segments and cancelled.progress > 0

    # Hold the only worker, so that a retried job has to wait in the queue.
    gate.clear()
    engine.segments = 3
    blocker = submit_ok(queue, "blocker")
    wait_running(qtbot, engine, 1)

    retried = queue.retry(cancelled.id)
    assert retried.accepted and retried.job is cancelled
    assert cancelled.state is JobState.QUEUED
    assert cancelled.segments == []
    assert cancelled.progress == 0.0
    assert cancelled.transcript is None
    assert cancelled.started_at is None and cancelled.finished_at is None
    assert not cancelled.cancel_requested.is_set()
    assert queue.pending_ids() == [cancelled.id]

    # Worker busy and the one place taken: the failed job must wait its turn.
    refused = queue.retry(failed.id)
    assert not refused.accepted
    assert refused.code == RefusalCode.AT_CAPACITY
    assert failed.state is JobState.FAILED
    assert failed.error.startswith("bad-take.wav")

    gate.set()
    wait_finished(qtbot, [blocker, cancelled])
    assert blocker.state is JobState.DONE
    assert cancelled.state is JobState.DONE
    assert cancelled.attempts == 2
    assert len(cancelled.segments) == 3, "segments of the cancelled attempt were kept"
    assert cancelled.transcript is not None
    assert cancelled.segments == cancelled.transcript.segments

    again = queue.retry(failed.id)
    assert again.accepted
    wait_finished(qtbot, [failed])
    assert failed.state is JobState.FAILED
    assert failed.attempts == 2
    assert failed.error.startswith("bad-take.wav")


def test_retry_is_refused_for_done_queued_running_and_unknown_jobs(qtbot, make_queue) -> None:
    gate = threading.Event()
    engine = FakeEngine(gate=gate)
    queue = make_queue(engine, workers=1, queue_size=2)
    done = submit_ok(queue, "done")
    gate.set()
    wait_finished(qtbot, [done])
    gate.clear()
    running = submit_ok(queue, "running")
    queued = submit_ok(queue, "queued")

    for job in (done, running, queued):
        state = job.state
        result = queue.retry(job.id)
        assert not result.accepted
        assert result.code == RefusalCode.NOT_RETRYABLE
        assert job.state is state
    assert done.transcript is not None
    assert queue.retry("no-such-job").code == RefusalCode.NOT_RETRYABLE
    assert queue.pending_ids() == [queued.id]


def test_retry_with_new_options_uses_them(qtbot, make_queue) -> None:
    from desktop_app.core.transcriber import TranscriptionOptions

    queue = make_queue(FakeEngine(), workers=1, queue_size=1)
    job = submit_ok(queue, "bad-options")
    wait_finished(qtbot, [job])
    options = TranscriptionOptions()
    assert queue.retry(job.id, options).accepted
    assert job.options is options
    wait_finished(qtbot, [job])


# ----------------------------------------------------------------------------- order
def test_move_to_top_changes_run_order_and_list_order(qtbot, make_queue) -> None:
    gate = threading.Event()
    engine = FakeEngine(segments=1, gate=gate)
    queue = make_queue(engine, workers=1, queue_size=3)
    a, b, c, d = (submit_ok(queue, name) for name in "abcd")
    assert queue.pending_ids() == [b.id, c.id, d.id]

    with qtbot.waitSignal(queue.job_moved, timeout=1000) as moved:
        assert queue.move_to_top(d.id) is True
    assert moved.args == [d.id, 1]
    assert [job.id for job in queue.jobs()] == [a.id, d.id, b.id, c.id]
    assert queue.index_of(d.id) == 1
    assert queue.pending_ids() == [d.id, b.id, c.id]

    with qtbot.waitSignal(queue.job_moved, timeout=1000) as moved:
        assert queue.move_to_top(c.id) is True
    assert moved.args == [c.id, 1]
    assert [job.id for job in queue.jobs()] == [a.id, c.id, d.id, b.id]

    with qtbot.assertNotEmitted(queue.job_moved):
        assert queue.move_to_top(a.id) is False, "a running job is not in the queue"
        assert queue.move_to_top("no-such-job") is False

    gate.set()
    wait_finished(qtbot, [a, b, c, d])
    assert engine.calls == [a.path, c.path, d.path, b.path]
    with qtbot.assertNotEmitted(queue.job_moved):
        assert queue.move_to_top(b.id) is False, "a finished job is not in the queue"


def test_move_to_top_never_moves_a_row_down(qtbot, make_queue) -> None:
    """A retried job keeps its old row, which may sit above running ones; "top" is not lower."""
    gate = threading.Event()
    engine = FakeEngine(gate=gate)
    queue = make_queue(engine, workers=1, queue_size=2)
    early = submit_ok(queue, "early")
    wait_running(qtbot, engine, 1)
    queue.cancel(early.id)
    wait_finished(qtbot, [early])
    holder = submit_ok(queue, "holder")
    wait_running(qtbot, engine, 1)

    # The only queued job, above a running one.
    assert queue.retry(early.id).accepted
    with qtbot.waitSignal(queue.job_moved, timeout=1000) as moved:
        assert queue.move_to_top(early.id)
    assert moved.args == [early.id, 0]
    assert [job.id for job in queue.jobs()] == [early.id, holder.id]

    # Above a running one, with another queued job below that.
    fresh = submit_ok(queue, "fresh")
    assert queue.pending_ids() == [early.id, fresh.id]
    with qtbot.waitSignal(queue.job_moved, timeout=1000) as moved:
        assert queue.move_to_top(early.id)
    assert moved.args == [early.id, 0]
    assert [job.id for job in queue.jobs()] == [early.id, holder.id, fresh.id]

    with qtbot.waitSignal(queue.job_moved, timeout=1000) as moved:
        assert queue.move_to_top(fresh.id)
    assert moved.args == [fresh.id, 0]
    assert [job.id for job in queue.jobs()] == [fresh.id, early.id, holder.id]
    assert queue.pending_ids() == [fresh.id, early.id]


def test_remove_forgets_only_finished_jobs(qtbot, make_queue) -> None:
    gate = threading.Event()
    engine = FakeEngine(gate=gate)
    queue = make_queue(engine, workers=1, queue_size=2)
    running = submit_ok(queue, "running")
    queued = submit_ok(queue, "queued")
    cancelled = submit_ok(queue, "cancelled")
    queue.cancel(cancelled.id)

    assert queue.remove(running.id) is False
    assert queue.remove(queued.id) is False
    with qtbot.waitSignal(queue.job_removed, timeout=1000) as removed:
        assert queue.remove(cancelled.id) is True
    assert removed.args == [cancelled.id]
    assert queue.job(cancelled.id) is None
    assert queue.remove(cancelled.id) is False
    assert [job.id for job in queue.jobs()] == [running.id, queued.id]
    assert queue.retry(cancelled.id).code == RefusalCode.NOT_RETRYABLE

    gate.set()
    wait_finished(qtbot, [running, queued])
    assert queue.remove(running.id) is True
    assert [job.id for job in queue.jobs()] == [queued.id]
    assert queue.index_of(queued.id) == 0


# ----------------------------------------------------------------------------- limits
def test_raising_max_workers_starts_queued_jobs_at_once(qtbot, make_queue) -> None:
    gate = threading.Event()
    engine = FakeEngine(gate=gate)
    queue = make_queue(engine, workers=1, queue_size=5)
    jobs = [submit_ok(queue, f"clip{i}") for i in range(5)]
    assert queue.capacity() == Capacity(1, 4, 1, 5)

    with qtbot.waitSignal(queue.capacity_changed, timeout=1000) as changed:
        queue.set_limits(max_workers=3)
    assert changed.args == [Capacity(3, 2, 3, 5)]
    assert [job.state for job in jobs] == [JobState.RUNNING] * 3 + [JobState.QUEUED] * 2
    wait_running(qtbot, engine, 3)

    gate.set()
    wait_finished(qtbot, jobs)
    assert all(job.state is JobState.DONE for job in jobs)
    assert engine.max_running == 3


def test_lowering_queue_size_keeps_queued_jobs_but_refuses_new_ones(qtbot, make_queue) -> None:
    gate = threading.Event()
    engine = FakeEngine(gate=gate)
    queue = make_queue(engine, workers=1, queue_size=4)
    jobs = [submit_ok(queue, f"clip{i}") for i in range(5)]
    pending = queue.pending_ids()
    assert len(pending) == 4

    queue.set_limits(max_queue_size=2)
    assert queue.pending_ids() == pending
    capacity = queue.capacity()
    assert (capacity.queued, capacity.max_queue_size, capacity.available) == (4, 2, 0)
    assert capacity.at_capacity
    refused = queue.submit(audio("one-too-many"))
    assert refused.code == RefusalCode.AT_CAPACITY
    assert "4 of 2 places taken" in refused.reason

    gate.set()
    wait_finished(qtbot, jobs)
    assert [job.state for job in jobs] == [JobState.DONE] * 5
    assert engine.calls == [job.path for job in jobs]


def test_lowering_max_workers_runs_the_rest_one_at_a_time(qtbot, make_queue) -> None:
    gate = threading.Event()
    engine = FakeEngine(segments=2, gate=gate)
    queue = make_queue(engine, workers=3, queue_size=5)
    first_three = [submit_ok(queue, f"first{i}") for i in range(3)]
    wait_running(qtbot, engine, 3)

    queue.set_limits(max_workers=1)
    rest = [submit_ok(queue, f"rest{i}") for i in range(3)]
    assert queue.capacity() == Capacity(3, 3, 1, 5)
    assert all(job.state is JobState.QUEUED for job in rest)

    for job in first_three:
        queue.cancel(job.id)
    wait_finished(qtbot, first_three)
    wait_running(qtbot, engine, 1)
    assert queue.capacity().active == 1
    with engine.lock:
        engine.max_running = engine.running

    gate.set()
    wait_finished(qtbot, rest)
    assert [job.state for job in rest] == [JobState.DONE] * 3
    assert engine.max_running == 1


# ----------------------------------------------------------------------------- signals
def test_signals_added_state_capacity_idle(qtbot, make_queue) -> None:
    gate = threading.Event()
    engine = FakeEngine(segments=2, gate=gate)
    queue = make_queue(engine, workers=1, queue_size=2)

    heard: list[tuple[object, ...]] = []
    queue.job_added.connect(lambda job_id: heard.append(("added", job_id)))
    queue.job_state_changed.connect(lambda job_id, state: heard.append(("state", job_id, state)))
    queue.capacity_changed.connect(lambda capacity: heard.append(("capacity", capacity)))
    with qtbot.waitSignal(queue.capacity_changed, timeout=1000):
        first = submit_ok(queue, "first")
    # Emitted on the calling thread, in this order, before submit returns.
    assert heard[:3] == [
        ("added", first.id),
        ("state", first.id, JobState.RUNNING),
        ("capacity", Capacity(1, 0, 1, 2)),
    ]

    with qtbot.waitSignal(queue.job_added, timeout=1000) as blocker:
        second = submit_ok(queue, "second")
    assert blocker.args == [second.id]

    idles: list[None] = []
    queue.idle.connect(lambda: idles.append(None))
    with qtbot.waitSignal(queue.capacity_changed, timeout=1000) as blocker:
        queue.cancel(second.id)
    assert blocker.args == [Capacity(1, 0, 1, 2)]
    assert idles == [], "a job is still running"

    with qtbot.waitSignals(
        [queue.job_state_changed, queue.idle],
        check_params_cbs=[lambda job_id, state: (job_id, state) == (first.id, JobState.DONE), None],
        order="strict",
        timeout=5000,
    ):
        gate.set()
    assert first.state is JobState.DONE
    qtbot.waitUntil(lambda: len(idles) == 1)


def test_idle_after_cancelling_the_last_job_and_capacity_after_each_finish(
    qtbot, make_queue
) -> None:
    engine = FakeEngine(segments=1, gate=threading.Event())
    queue = make_queue(engine, workers=1, queue_size=3)
    first = submit_ok(queue, "first")
    second = submit_ok(queue, "second")
    seen: list[Capacity] = []
    queue.capacity_changed.connect(seen.append)

    queue.cancel(second.id)
    with qtbot.waitSignal(queue.idle, timeout=5000):
        queue.cancel(first.id)
    qtbot.waitUntil(lambda: len(seen) == 2)
    assert seen == [Capacity(1, 0, 1, 3), Capacity(0, 0, 1, 3)]
    assert queue.is_idle()


# ----------------------------------------------------------------------------- threads
def test_many_threads_at_once_keep_the_books(qtbot, make_queue) -> None:
    workers, places = 3, 6
    engine = FakeEngine(segments=3, segment_seconds=0.001)
    queue = make_queue(engine, workers=workers, queue_size=places)
    books_lock = threading.Lock()
    accepted: dict[str, Job] = {}
    retried: list[str] = []
    errors: list[BaseException] = []
    violations: list[Capacity] = []
    added: list[str] = []
    last_state: dict[str, JobState] = {}
    queue.job_added.connect(added.append)
    queue.jobs_added.connect(lambda jobs: added.extend(job.id for job in jobs))  # submit_many
    queue.job_state_changed.connect(lambda job_id, state: last_state.__setitem__(job_id, state))
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            capacity = queue.capacity()
            if capacity.active > workers or capacity.queued > places:
                violations.append(capacity)
            stop.wait(0.0005)

    def client(seed: int) -> None:
        rng = random.Random(seed)
        try:
            for step in range(250):
                with books_lock:
                    known = list(accepted)
                roll = rng.random()
                if roll < 0.45 or not known:
                    name = f"{'bad-' if rng.random() < 0.15 else ''}c{seed}-{step}"
                    result = queue.submit(audio(name))
                    if result.job is not None:
                        with books_lock:
                            accepted[result.job.id] = result.job
                    else:
                        assert result.code == RefusalCode.AT_CAPACITY
                elif roll < 0.55:
                    paths = [audio(f"c{seed}-{step}-{i}") for i in range(3)]
                    batch = queue.submit_many(paths)
                    assert len(batch.accepted) + len(batch.refused) == 3
                    got = [job.path for job in batch.accepted] + [p for p, _ in batch.refused]
                    assert sorted(got) == sorted(paths)
                    with books_lock:
                        accepted.update((job.id, job) for job in batch.accepted)
                elif roll < 0.62:
                    queue.cancel(rng.choice(known))
                elif roll < 0.85:
                    job_id = rng.choice(known)
                    result = queue.retry(job_id)
                    if result.accepted:
                        assert result.job is not None and result.job.id == job_id
                        with books_lock:
                            retried.append(job_id)
                    else:
                        assert result.code in (RefusalCode.AT_CAPACITY, RefusalCode.NOT_RETRYABLE)
                else:
                    queue.move_to_top(rng.choice(known))
        except BaseException as exc:
            errors.append(exc)

    sampler = threading.Thread(target=sample, name="capacity-sampler")
    clients = [threading.Thread(target=client, args=(n,), name=f"client-{n}") for n in range(8)]
    sampler.start()
    for thread in clients:
        thread.start()
    for thread in clients:
        thread.join(timeout=30)
    assert not any(thread.is_alive() for thread in clients)
    qtbot.waitUntil(queue.is_idle, timeout=15_000)
    assert queue.wait_for_done(10_000)
    stop.set()
    sampler.join(timeout=5)

    assert errors == []
    assert violations == []
    assert engine.max_running <= workers
    assert len(accepted) >= workers + places
    jobs = queue.jobs()
    assert {job.id for job in jobs} == set(accepted), "a job was lost or invented"
    assert len(jobs) == len(accepted)
    assert queue.pending_ids() == []
    assert queue.capacity().active == 0
    counts = Counter(job.state for job in jobs)
    assert set(counts) <= {JobState.DONE, JobState.FAILED, JobState.CANCELLED}
    assert counts[JobState.DONE] + counts[JobState.FAILED] + counts[JobState.CANCELLED] == len(
        accepted
    )
    # One engine call per start, whether it was the first attempt or a retry.
    assert sum(job.attempts for job in jobs) == len(engine.calls)
    assert len(engine.calls) >= len(accepted) - counts[JobState.CANCELLED]
    for job in jobs:
        if job.state is JobState.DONE:
            assert job.transcript is not None
            assert job.segments == job.transcript.segments, "segments of an old attempt remain"
        elif job.state is JobState.FAILED:
            assert "bad-" in job.path.name and job.error
            assert job.segments == []
        else:
            assert len(job.segments) <= 3

    qtbot.waitUntil(lambda: len(added) == len(accepted), timeout=5000)
    assert sorted(added) == sorted(accepted)
    # The last state a listener heard is the state the job ended in.
    qtbot.waitUntil(lambda: all(last_state.get(job.id) is job.state for job in jobs))
