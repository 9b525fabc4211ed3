"""The job store on its own and behind the queue (fake engine): round trips, migrations, damaged
or locked files, segment-by-segment persistence, restore order and clean-up."""

from __future__ import annotations

import os
import sqlite3
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from desktop_app import job_queue as job_queue_module
from desktop_app.core import job_store as job_store_module
from desktop_app.core.job_store import JobStore, JobStoreError
from desktop_app.core.jobs import Job, JobState
from desktop_app.core.transcriber import TranscriptionOptions
from desktop_app.core.transcript import Segment, Transcript, Word
from desktop_app.job_queue import JobQueue
from tests.fakes import FakeEngine
from tests.read_only import read_only


def segment(index: int, text: str = "") -> Segment:
    return Segment(
        index * 1.5 + 0.1,
        index * 1.5 + 1.234,
        text or f"words number {index}, «quoted» ünïcode",
        (Word(index * 1.5 + 0.1, index * 1.5 + 0.6, " words", 0.9871),),
    )


@pytest.fixture
def store(tmp_path) -> Iterator[JobStore]:
    opened = JobStore(tmp_path / "jobs.sqlite3")
    yield opened
    opened.close()


@pytest.fixture
def make_queue(qapp, tmp_path) -> Iterator:
    made: list[JobQueue] = []

    def factory(engine, store: JobStore | None, workers: int = 1, queue_size: int = 10):
        queue = JobQueue(engine, max_workers=workers, max_queue_size=queue_size, store=store)
        made.append(queue)
        return queue

    yield factory
    for queue in made:
        assert queue.shutdown(10_000)


# ----------------------------------------------------------------------------- the store alone
def test_round_trip_keeps_every_field_and_the_transcript(store, tmp_path):
    options = TranscriptionOptions(model="tiny.en", language="en", initial_prompt="Names: Zoë")
    done = Job(path=tmp_path / "talk.flac", options=options)
    done.state, done.progress, done.duration, done.language = JobState.DONE, 1.0, 9.5, "en"
    done.started_at, done.finished_at, done.attempts = 10.0, 20.0, 2
    done.segments = [segment(0), segment(1)]
    done.transcript = Transcript(list(done.segments), "en", 0.97, 9.5, "tiny.en", str(done.path))
    failed = Job(path=tmp_path / "bad.mp3", options=options, state=JobState.FAILED)
    failed.error = "bad.mp3: cannot be decoded."
    store.add_job(done)
    store.add_job(failed)

    loaded = JobStore(store.path).load_jobs()
    assert [j.id for j in loaded] == [done.id, failed.id]
    back = loaded[0]
    for name in ("path", "options", "state", "progress", "duration", "language", "created_at"):
        assert getattr(back, name) == getattr(done, name), name
    assert (back.started_at, back.finished_at, back.attempts) == (10.0, 20.0, 2)
    assert back.segments == done.segments
    assert back.transcript is not None
    assert back.transcript.to_dict() == done.transcript.to_dict()
    assert loaded[1].error == failed.error and loaded[1].transcript is None


def test_non_utf8_file_name_survives(store, tmp_path):
    path = Path(os.fsdecode(tmp_path.as_posix().encode() + b"/caf\xe9.wav"))
    job = Job(path=path, options=TranscriptionOptions(), state=JobState.FAILED)
    job.error = f"{path.name}: the file does not exist (moved or deleted?)."
    store.add_job(job)
    [back] = store.load_jobs()
    assert os.fsencode(back.path) == os.fsencode(path)
    assert back.error.startswith("caf\\udce9.wav:")


def test_sql_is_parameterised(store, tmp_path):
    hostile = "x'); DROP TABLE jobs; --"
    job = Job(
        path=tmp_path / f"{hostile}.wav", options=TranscriptionOptions(initial_prompt=hostile)
    )
    store.add_job(job)
    store.append_segment(job.id, 0, segment(0, hostile))
    [back] = store.load_jobs()
    assert back.path.name == f"{hostile}.wav" and back.segments[0].text == hostile


def test_fresh_file_migrates_from_version_0(tmp_path):
    path = tmp_path / "jobs.sqlite3"
    sqlite3.connect(path).close()  # an empty database: schema version 0
    store = JobStore(path)
    assert store.schema_version == len(job_store_module.MIGRATIONS)
    tables = {r[0] for r in sqlite3.connect(path).execute("SELECT name FROM sqlite_master")}
    assert {"jobs", "segments"} <= tables
    assert sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    store.close()


def test_a_later_migration_keeps_existing_jobs(tmp_path, monkeypatch):
    path = tmp_path / "jobs.sqlite3"
    first = JobStore(path)
    job = Job(path=tmp_path / "a.wav", options=TranscriptionOptions())
    first.add_job(job)
    first.close()

    def add_column(connection: sqlite3.Connection) -> None:
        connection.execute("ALTER TABLE jobs ADD COLUMN note TEXT NOT NULL DEFAULT ''")

    monkeypatch.setattr(job_store_module, "MIGRATIONS", [*job_store_module.MIGRATIONS, add_column])
    upgraded = JobStore(path)
    assert upgraded.schema_version == len(job_store_module.MIGRATIONS)
    assert [j.id for j in upgraded.load_jobs()] == [job.id]
    upgraded.close()


def test_store_from_a_newer_version_is_refused_not_overwritten(tmp_path):
    path = tmp_path / "jobs.sqlite3"
    connection = sqlite3.connect(path)
    connection.execute("PRAGMA user_version = 99")
    connection.close()
    with pytest.raises(JobStoreError, match="newer Verbatim"):
        JobStore(path)
    assert sqlite3.connect(path).execute("PRAGMA user_version").fetchone()[0] == 99


def test_damaged_file_is_moved_aside_and_a_fresh_store_starts(tmp_path, caplog):
    path = tmp_path / "jobs.sqlite3"
    path.write_bytes(b"this is not a database" * 100)
    store = JobStore(path)
    assert store.load_jobs() == []
    aside = list(tmp_path.glob("jobs.sqlite3.corrupt-*"))
    assert len(aside) == 1 and aside[0].read_bytes().startswith(b"this is not")
    assert "damaged" in caplog.text
    store.close()
    JobStore(path).close()  # and the next start is quiet: no loop of moving files aside
    assert len(list(tmp_path.glob("jobs.sqlite3.corrupt-*"))) == 1


def test_locked_store_gives_a_clear_error(tmp_path, monkeypatch):
    path = tmp_path / "jobs.sqlite3"
    JobStore(path).close()
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("PRAGMA locking_mode = EXCLUSIVE")
    holder.execute("BEGIN EXCLUSIVE")
    monkeypatch.setattr(job_store_module, "BUSY_TIMEOUT_S", 0.1)
    try:
        with pytest.raises(JobStoreError, match="locked by another program"):
            JobStore(path)
    finally:
        holder.execute("ROLLBACK")
        holder.close()


def test_cleanup_removes_only_old_finished_jobs(store, tmp_path):
    now = time.time()
    old = Job(path=tmp_path / "old.wav", options=TranscriptionOptions(), state=JobState.DONE)
    old.finished_at = now - 3 * 3600
    fresh = Job(path=tmp_path / "new.wav", options=TranscriptionOptions(), state=JobState.DONE)
    fresh.finished_at = now - 600
    queued = Job(path=tmp_path / "q.wav", options=TranscriptionOptions())
    for job in (old, fresh, queued):
        store.add_job(job)
    store.append_segment(old.id, 0, segment(0))
    assert store.cleanup(0) == []
    assert store.cleanup(2, now=now) == [old.id]
    assert [j.id for j in store.load_jobs()] == [fresh.id, queued.id]
    orphans = store._connection.execute("SELECT COUNT(*) FROM segments").fetchone()[0]
    assert orphans == 0


def test_concurrent_writers_lose_nothing(store, tmp_path):
    jobs = [Job(path=tmp_path / f"{i}.wav", options=TranscriptionOptions()) for i in range(8)]
    for job in jobs:
        store.add_job(job)

    def write(job: Job) -> None:
        for index in range(40):
            store.append_segment(job.id, index, segment(index))
            store.update_progress(job.id, index / 40, force=True)

    threads = [threading.Thread(target=write, args=(job,)) for job in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(len(job.segments) == 40 for job in store.load_jobs())


# ----------------------------------------------------------------------------- behind the queue
def test_queue_persists_segments_as_they_are_decoded(qtbot, make_queue, store, tmp_path):
    gate = threading.Event()
    engine = FakeEngine(segments=3, gate=gate)
    queue = make_queue(engine, store)
    job = queue.submit(tmp_path / "a.wav").job
    assert job is not None
    queue.flush()  # changes are stored by the queue's writer thread, in order
    assert store.load().jobs[0].state is JobState.RUNNING
    seen: list[tuple[int, int]] = []  # (index heard of, segments stored when heard)
    queue.segment_added.connect(
        lambda job_id, index, _segment: seen.append((index, len(store.load().jobs[0].segments)))
    )
    gate.set()
    qtbot.waitUntil(lambda: job.state is JobState.DONE)
    qtbot.waitUntil(lambda: len(seen) == 3)
    assert [index for index, _stored in seen] == [0, 1, 2]
    assert all(stored > index for index, stored in seen), (
        "each segment is stored before the window hears of it"
    )
    queue.flush()
    [back] = store.load_jobs()
    assert back.state is JobState.DONE and back.transcript is not None
    assert back.transcript.to_dict() == job.transcript.to_dict()


def test_every_change_is_persisted(qtbot, make_queue, store, tmp_path):
    gate = threading.Event()
    queue = make_queue(FakeEngine(segments=2, gate=gate), store)
    ids = [queue.submit(tmp_path / f"{name}.wav").job.id for name in ("a", "b", "c", "bad")]
    assert queue.move_to_top(ids[2])
    assert queue.cancel(ids[1])
    assert queue.set_options(ids[3], TranscriptionOptions(language="en"))
    queue.flush()
    stored = store.load()
    assert [j.id for j in stored.jobs] == [queue.jobs()[i].id for i in range(4)]
    assert stored.pending_ids == [ids[0], ids[2], ids[3]]  # the running one, then in order
    assert stored.jobs[-1].options.language == "en"
    gate.set()
    qtbot.waitUntil(queue.is_idle)
    qtbot.waitUntil(lambda: all(j.state.finished for j in queue.jobs()))
    states = {j.id: j.state for j in store.load_jobs()}
    assert states == {j.id: j.state for j in queue.jobs()}
    assert queue.job(ids[3]).state is JobState.FAILED
    assert queue.retry(ids[3]).accepted
    qtbot.waitUntil(lambda: queue.job(ids[3]).state.finished)
    assert queue.remove(ids[0])
    queue.flush()
    assert ids[0] not in {j.id for j in store.load_jobs()}


def test_restore_resumes_running_then_queued_in_order_beyond_the_cap(
    qtbot, make_queue, store, tmp_path
):
    gate = threading.Event()
    first = make_queue(FakeEngine(segments=5, gate=gate), store, queue_size=10)
    done = first.add_finished(tmp_path / "dictation.wav", Transcript([segment(0)]), first_options())
    running = first.submit(tmp_path / "running.wav").job
    queued = [first.submit(tmp_path / f"q{i}.wav").job for i in range(4)]
    first.move_to_top(queued[2].id)
    first.flush()
    store.append_segment(running.id, 0, segment(0))  # as if the engine had decoded two
    store.append_segment(running.id, 1, segment(1))
    first._store = None  # "crash": from here on, the first queue writes nothing
    first.flush()  # and what it made before is written before the next start reads the store
    gate.set()
    # A new queue over the same file, with a smaller cap than the stored queue.
    gate2 = threading.Event()
    again = make_queue(FakeEngine(segments=1, gate=gate2), JobStore(store.path), queue_size=2)
    restored = again.restore()
    assert [j.id for j in restored] == [j.id for j in first.jobs()]
    resumed = again.job(running.id)
    assert resumed.resumed and resumed.state is JobState.RUNNING
    assert resumed.options.start_at == segment(1).end
    assert resumed.segments == [segment(0), segment(1)]
    expected = [queued[2].id, queued[0].id, queued[1].id, queued[3].id]
    assert again.pending_ids() == expected, "queued again in their order, none refused"
    assert again.job(done.id).transcript.segments == [segment(0)]
    gate2.set()
    qtbot.waitUntil(again.is_idle, timeout=5000)
    qtbot.waitUntil(lambda: all(j.state is JobState.DONE for j in again.jobs()))
    assert [s.text for s in again.job(running.id).transcript.segments][:2] == [
        segment(0).text,
        segment(1).text,
    ]


def first_options() -> TranscriptionOptions:
    return TranscriptionOptions(language="en")


def test_retry_of_a_resumed_job_starts_from_the_beginning(qtbot, make_queue, store, tmp_path):
    job = Job(path=tmp_path / "x.wav", options=TranscriptionOptions(), state=JobState.RUNNING)
    store.add_job(job)
    store.append_segment(job.id, 0, segment(0))
    queue = make_queue(FakeEngine(segments=1), store)
    queue.restore()
    qtbot.waitUntil(lambda: queue.job(job.id).state.finished)
    assert queue.job(job.id).resumed
    assert queue.retry(job.id, allow_done=True).accepted
    qtbot.waitUntil(lambda: queue.job(job.id).state.finished)
    back = queue.job(job.id)
    assert not back.resumed and back.options.start_at == 0.0
    assert queue.flush(10)  # the writer thread stores a moment after the queue changes
    assert len(store.load_jobs()[0].segments) == 1


def test_cleanup_leaves_list_and_store(qtbot, make_queue, store, tmp_path):
    queue = make_queue(FakeEngine(segments=1), store)
    old = queue.add_finished(tmp_path / "old.wav", Transcript(), TranscriptionOptions())
    queue.flush()
    old.finished_at = time.time() - 7200
    store.update_job(old)
    new = queue.add_finished(tmp_path / "new.wav", Transcript(), TranscriptionOptions())
    removed: list[list[str]] = []
    queue.jobs_removed.connect(removed.append)
    assert queue.cleanup(0) == []
    assert queue.cleanup(1) == [old.id] and removed == [[old.id]], "one signal for the batch"
    assert [j.id for j in queue.jobs()] == [new.id]
    queue.flush()
    assert [j.id for j in store.load_jobs()] == [new.id]
    # and at start: restore cleans up before listing
    again = make_queue(FakeEngine(), JobStore(store.path))
    assert [j.id for j in again.restore(max_age_hours=1e-9)] == []


def test_a_failing_store_never_stops_the_queue(qtbot, make_queue, store, tmp_path, caplog):
    queue = make_queue(FakeEngine(segments=2), store)
    store.close()  # every write now raises sqlite3.ProgrammingError
    job = queue.submit(tmp_path / "a.wav").job
    qtbot.waitUntil(lambda: job.state is JobState.DONE)
    assert "Could not save to the job store" in caplog.text


# ----------------------------------------------------------------------------- re-transcribing
def _transcribed(qtbot, queue: JobQueue, path: Path) -> tuple[Job, dict, list[Segment]]:
    """A job done once; returns it with its transcript and segments as they were."""
    path.write_bytes(b"x")
    job = queue.submit(path).job
    assert job is not None
    qtbot.waitUntil(lambda: job.state is JobState.DONE)
    assert job.transcript is not None and job.segments
    return job, job.transcript.to_dict(), list(job.segments)


def _until_stored(qtbot, queue: JobQueue, job: Job) -> None:
    """Until the job's end is stored too: the queue shows it first, then its writer thread
    stores it, which ``is_idle`` waits for."""
    qtbot.waitUntil(lambda: job.state.finished)
    qtbot.waitUntil(queue.is_idle)


def _assert_kept(job: Job, transcript: dict, segments: list[Segment], store: JobStore) -> None:
    """The previous result is back, in the queue and in the store, and the job says why."""
    assert job.state is JobState.DONE
    assert job.transcript is not None and job.transcript.to_dict() == transcript
    assert job.segments == segments and job.kept is None
    assert job.error.startswith("Re-transcribing")
    assert "previous transcript is kept" in job.error
    reopened = JobStore(store.path)  # what the next start will see
    try:  # a stored job reads its segments when first used, so read them before closing
        back = next(j for j in reopened.load_jobs() if j.id == job.id)
        assert reopened.kept_results() == {}
        assert back.state is JobState.DONE and back.error == job.error
        assert back.segments == segments
        assert back.transcript is not None and back.transcript.to_dict() == transcript
    finally:
        reopened.close()


def test_a_failed_re_run_keeps_the_previous_transcript(qtbot, make_queue, store, tmp_path):
    queue = make_queue(FakeEngine(segments=3, check_exists=True), store)
    source = tmp_path / "talk.wav"
    job, transcript, segments = _transcribed(qtbot, queue, source)
    source.rename(tmp_path / "moved.wav")  # the source moved away since
    assert queue.retry(job.id, TranscriptionOptions(model="small"), allow_done=True).accepted
    _until_stored(qtbot, queue, job)
    _assert_kept(job, transcript, segments, store)
    assert "does not exist" in job.error
    assert job.options.model == TranscriptionOptions().model, "the options that made it"


def test_a_cancelled_re_run_keeps_the_previous_transcript(qtbot, make_queue, store, tmp_path):
    gate = threading.Event()
    gate.set()
    engine = FakeEngine(segments=3, gate=gate)
    queue = make_queue(engine, store)
    job, transcript, segments = _transcribed(qtbot, queue, tmp_path / "talk.wav")
    gate.clear()
    assert queue.retry(job.id, allow_done=True).accepted
    qtbot.waitUntil(lambda: engine.running == 1)
    assert job.transcript is None and job.kept is not None  # the new run is under way
    queue.flush()
    assert store.kept_results()[job.id].transcript.to_dict() == transcript
    assert queue.cancel(job.id)
    _until_stored(qtbot, queue, job)
    _assert_kept(job, transcript, segments, store)
    assert "cancelled" in job.error


def test_a_re_run_cancelled_before_it_starts_keeps_the_previous_transcript(
    qtbot, make_queue, store, tmp_path
):
    gate = threading.Event()
    gate.set()
    engine = FakeEngine(segments=2, gate=gate)
    queue = make_queue(engine, store)
    job, transcript, segments = _transcribed(qtbot, queue, tmp_path / "talk.wav")
    gate.clear()
    blocker = queue.submit(tmp_path / "first.wav").job  # holds the only worker
    assert blocker is not None
    assert queue.retry(job.id, allow_done=True).accepted
    assert job.state is JobState.QUEUED
    states: list[JobState] = []
    queue.job_state_changed.connect(lambda job_id, state: states.append(state))
    assert queue.cancel(job.id)
    assert states == [JobState.DONE]
    queue.flush()
    _assert_kept(job, transcript, segments, store)
    gate.set()
    qtbot.waitUntil(queue.is_idle)


def test_a_re_run_that_succeeds_replaces_the_transcript(qtbot, make_queue, store, tmp_path):
    queue = make_queue(FakeEngine(segments=2), store)
    job, _transcript, _segments = _transcribed(qtbot, queue, tmp_path / "talk.wav")
    assert queue.retry(job.id, TranscriptionOptions(model="small"), allow_done=True).accepted
    _until_stored(qtbot, queue, job)
    assert job.state is JobState.DONE and not job.error and job.kept is None
    assert len(job.segments) == 2 and job.options.model == "small"
    [back] = store.load_jobs()
    assert len(back.segments) == 2 and back.options.model == "small"
    assert store.kept_results() == {}


def test_a_re_run_interrupted_by_a_crash_still_keeps_the_previous_transcript(
    qtbot, make_queue, store, tmp_path
):
    gate = threading.Event()
    gate.set()
    queue = make_queue(FakeEngine(segments=3, gate=gate), store)
    source = tmp_path / "talk.wav"
    job, transcript, segments = _transcribed(qtbot, queue, source)
    gate.clear()
    assert queue.retry(job.id, allow_done=True).accepted
    queue.flush()
    store.append_segment(job.id, 0, segment(0))  # as if the re-run had decoded one
    queue._store = None  # "crash": from here on, the first queue writes nothing
    queue.flush()  # and what it made before is written before the next start reads the store
    source.unlink()  # and the source is gone by the next start
    # What the next start finds (read before it runs: the re-run fails at once, the source
    # being gone, and brings the kept result back, which clears ``kept``).
    assert store.kept_results()[job.id].transcript.to_dict() == transcript
    again = make_queue(FakeEngine(segments=3, check_exists=True), JobStore(store.path))
    [restored] = again.restore()
    _until_stored(qtbot, again, restored)
    _assert_kept(restored, transcript, segments, store)
    gate.set()


# ----------------------------------------------------------------------------- unwritable store
@pytest.fixture
def disk_full(monkeypatch) -> Callable[[bool], None]:
    """Switch on and off a store whose every write fails as on a full disk."""
    full = threading.Event()
    real = JobStore._transaction

    @contextmanager
    def transaction(self: JobStore, *, durable: bool = False) -> Iterator[sqlite3.Connection]:
        if full.is_set():
            raise sqlite3.OperationalError("database or disk is full")
        with real(self, durable=durable) as db:
            yield db

    monkeypatch.setattr(JobStore, "_transaction", transaction)
    return lambda on: full.set() if on else full.clear()


def _matches(store: JobStore, queue: JobQueue) -> None:
    """What the next start would load is what the queue holds now."""
    stored = store.load()
    assert [j.id for j in stored.jobs] == [j.id for j in queue.jobs()]
    for back, job in zip(stored.jobs, queue.jobs(), strict=True):
        assert (back.state, back.segments, back.error) == (job.state, job.segments, job.error)
    assert [i for i in stored.pending_ids if queue.job(i).state is JobState.QUEUED] == (
        queue.pending_ids()
    )


def test_a_full_disk_is_announced_once_and_the_store_is_rewritten_when_it_has_room(
    qtbot, make_queue, store, tmp_path, disk_full
):
    gate = threading.Event()
    queue = make_queue(FakeEngine(segments=2, gate=gate), store)
    failures: list[str] = []
    recoveries: list[str] = []
    queue.store_failed.connect(failures.append)
    queue.store_recovered.connect(recoveries.append)
    before = queue.submit(tmp_path / "before.wav").job
    queue.flush()
    disk_full(True)
    during = [queue.submit(tmp_path / f"{name}.wav").job for name in ("a", "b", "c")]
    gate.set()
    qtbot.waitUntil(lambda: all(j.state is JobState.DONE for j in queue.jobs()))
    queue.flush()
    assert [j.state for j in (before, *during)] == [JobState.DONE] * 4, "the work goes on"
    assert len(failures) == 1, "told once, not once per write"
    assert str(store.path) in failures[0] and "database or disk is full" in failures[0]
    assert "free some disk space" in failures[0]
    assert "will not survive a restart" in failures[0]
    assert queue.store_problem == failures[0]
    behind = [j.state for j in store.load_jobs()]
    assert behind == [JobState.RUNNING], "the store is behind: only what it took before"
    assert not queue.retry_store(), "still full"
    assert len(failures) == 1 and not recoveries

    disk_full(False)
    assert queue.retry_store()
    qtbot.waitUntil(lambda: len(recoveries) == 1)  # announced by the writer thread
    assert str(store.path) in recoveries[0]
    assert queue.store_problem == ""
    _matches(store, queue)


def test_after_a_full_disk_the_next_change_rewrites_the_store(
    qtbot, make_queue, store, tmp_path, disk_full, monkeypatch
):
    monkeypatch.setattr(job_queue_module, "STORE_RETRY_INTERVAL_S", 0.0)
    queue = make_queue(FakeEngine(segments=2), store)
    disk_full(True)
    first = queue.submit(tmp_path / "a.wav").job
    qtbot.waitUntil(lambda: first.state is JobState.DONE)
    assert store.load_jobs() == []
    disk_full(False)
    second = queue.submit(tmp_path / "b.wav").job  # any change tries the whole store again
    qtbot.waitUntil(lambda: second.state is JobState.DONE)
    qtbot.waitUntil(queue.is_idle)
    assert queue.store_problem == ""
    _matches(store, queue)


def test_a_read_only_store_is_announced_once_and_still_lists_its_jobs(
    qtbot, make_queue, store, tmp_path
):
    done = Job(path=tmp_path / "done.wav", options=TranscriptionOptions(), state=JobState.DONE)
    done.segments = [segment(0)]
    waiting = Job(path=tmp_path / "waiting.wav", options=TranscriptionOptions())
    store.add_jobs([done, waiting])
    store.close()
    with read_only(store.path):
        queue = make_queue(FakeEngine(segments=1), JobStore(store.path))
        failures: list[str] = []
        queue.store_failed.connect(failures.append)
        restored = queue.restore(max_age_hours=1.0)  # its clean-up cannot write either
        assert [j.id for j in restored] == [done.id, waiting.id], "the stored jobs come back"
        late = queue.submit(tmp_path / "late.wav").job
        qtbot.waitUntil(lambda: all(j.state is JobState.DONE for j in queue.jobs()))
        queue.shutdown()
    assert late is not None and len(failures) == 1
    assert "attempt to write a readonly database" in failures[0]
    assert f"make {store.path} and its folder writable" in failures[0]


def test_closing_after_a_full_disk_writes_the_session_if_the_store_has_room_again(
    qtbot, make_queue, store, tmp_path, disk_full
):
    gate = threading.Event()
    queue = make_queue(FakeEngine(segments=2, gate=gate), store)
    disk_full(True)
    running = queue.submit(tmp_path / "running.wav").job
    waiting = queue.submit(tmp_path / "waiting.wav").job
    qtbot.waitUntil(lambda: running.state is JobState.RUNNING)
    queue.flush()
    assert store.load_jobs() == [] and queue.store_problem
    disk_full(False)
    assert queue.shutdown(10_000, keep_unfinished=True)  # as closing the window does
    stored = store.load()
    assert [j.id for j in stored.jobs] == [running.id, waiting.id]
    assert [j.state for j in stored.jobs] == [JobState.RUNNING, JobState.QUEUED]
    assert stored.pending_ids == [running.id, waiting.id], "resumed, then queued, at next start"
    gate.set()


# ----------------------------------------------------------------------------- scale (issue 15 #10)
def traced(store: JobStore) -> list[str]:
    """Every statement the store's own connection runs from now on."""
    statements: list[str] = []
    store._connection.set_trace_callback(statements.append)
    return statements


def finished_jobs(tmp_path: Path, count: int, segments: int = 3) -> list[Job]:
    jobs = []
    for index in range(count):
        job = Job(path=tmp_path / f"talk-{index}.wav", options=first_options())
        job.state, job.progress, job.language = JobState.DONE, 1.0, "en"
        job.segments = [segment(i, f"job {index} segment {i}") for i in range(segments)]
        job.transcript = Transcript(list(job.segments), "en", 0.9, 9.0, "tiny.en", str(job.path))
        jobs.append(job)
    return jobs


def test_load_reads_job_rows_only_and_a_transcript_when_first_used(store, tmp_path, monkeypatch):
    written = finished_jobs(tmp_path, 40)
    store.add_jobs(written)
    statements = traced(store)
    loaded = store.load().jobs
    assert [j.id for j in loaded] == [j.id for j in written]
    assert not [s for s in statements if "segments" in s], "the list reads no segment"

    reads: list[str] = []
    read_segments = JobStore.read_segments
    monkeypatch.setattr(
        JobStore,
        "read_segments",
        lambda self, job_id: reads.append(job_id) or read_segments(self, job_id),
    )
    chosen = loaded[7]
    assert chosen.transcript is not None
    assert chosen.transcript.to_dict() == written[7].transcript.to_dict()
    assert chosen.segments == written[7].segments
    assert reads == [chosen.id], "one job's segments, read once"
    assert loaded[8].state is JobState.DONE and reads == [chosen.id], "a row's fields read nothing"


def test_assigning_a_stored_job_keeps_what_it_replaced_readable(store, tmp_path):
    """A retry replaces segments before the transcript: the old transcript must not be lost."""
    store.add_jobs(finished_jobs(tmp_path, 1))
    [job] = store.load().jobs
    job.segments = []
    assert job.transcript is not None and len(job.transcript.segments) == 3
    job.transcript = None
    assert job.segments == [] and job.transcript is None


class SilentEngine(FakeEngine):
    """A fake engine that never reports a file's duration (so it writes nothing of its own)."""

    def transcribe(self, path, options, *, on_duration=None, **kwargs):
        return super().transcribe(path, options, **kwargs)


def test_restore_costs_one_transaction_whatever_the_queue_length(qtbot, make_queue, tmp_path):
    """Requeueing job by job cost a commit and a ``MAX(queue_rank)`` scan per job (46 s for
    16,000 jobs); the restore's transactions must not grow with the queue."""
    begins = []
    for count in (20, 200):
        path = tmp_path / f"{count}.sqlite3"
        writer = JobStore(path)
        writer.add_jobs([Job(tmp_path / f"q{i}.wav", first_options()) for i in range(count)])
        writer.close()
        store = JobStore(path)
        statements: list[str] = []
        # The restore's own statements (made by the queue's store-writer thread); the job it
        # starts reports no duration, so it writes nothing until its gate opens.
        store._connection.set_trace_callback(statements.append)
        gate = threading.Event()
        queue = make_queue(SilentEngine(segments=1, gate=gate), store, queue_size=5)
        assert len(queue.restore()) == count
        queue.flush()
        begins.append(sum(1 for s in statements if s.startswith("BEGIN")))
        queue.shutdown(0, keep_unfinished=True)
        gate.set()
    assert begins[0] == begins[1] <= 2, begins  # the requeue, and the first job started


def test_the_next_queue_place_is_read_from_an_index(store):
    plans = [
        " ".join(str(row[-1]) for row in store._connection.execute(f"EXPLAIN QUERY PLAN {sql}"))
        for sql in ("SELECT MAX(queue_rank) FROM jobs", "SELECT MIN(queue_rank) FROM jobs")
    ]
    for plan in plans:
        assert "SCAN" not in plan and "INDEX" in plan, plan


def test_a_schema_1_store_opens_gains_the_index_and_keeps_its_jobs(tmp_path, monkeypatch):
    path = tmp_path / "jobs.sqlite3"
    monkeypatch.setattr(job_store_module, "MIGRATIONS", job_store_module.MIGRATIONS[:1])
    old = JobStore(path)
    written = [*finished_jobs(tmp_path, 2), Job(tmp_path / "q.wav", first_options())]
    old.add_jobs(written)
    old.close()
    monkeypatch.undo()
    store = JobStore(path)
    assert store.schema_version == len(job_store_module.MIGRATIONS) >= 2
    indexes = {r[0] for r in store._connection.execute("SELECT name FROM sqlite_master")}
    assert "jobs_queue_rank" in indexes
    stored = store.load()
    assert [j.id for j in stored.jobs] == [j.id for j in written]
    assert stored.pending_ids == [written[2].id]
    assert stored.jobs[1].transcript.to_dict() == written[1].transcript.to_dict()
    store.close()


def test_a_restored_list_arrives_as_one_block_and_reads_no_transcript(
    qtbot, qtmodeltester, make_queue, store, tmp_path, monkeypatch
):
    from desktop_app.gui.job_model import Column, JobTableModel

    store.add_jobs(finished_jobs(tmp_path, 150))
    queue = make_queue(FakeEngine(segments=1), store)
    model = JobTableModel(queue)
    inserted: list[tuple[int, int]] = []
    model.rowsInserted.connect(lambda _parent, first, last: inserted.append((first, last)))
    reads: list[str] = []
    monkeypatch.setattr(JobStore, "read_segments", lambda self, job_id: reads.append(job_id) or [])
    queue.restore()
    qtbot.waitUntil(lambda: model.rowCount() == 150)
    assert inserted == [(0, 149)], "one insertion for the whole restored list"
    for row in range(model.rowCount()):
        for column in Column:
            model.data(model.index(row, column))
    assert reads == [], "showing the list reads no transcript"
    qtmodeltester.check(model)


def test_listing_counts_segments_without_reading_them(store, tmp_path, monkeypatch):
    import argparse
    import io
    import json

    from desktop_app.cli.jobs import run_jobs

    written = finished_jobs(tmp_path, 5, segments=4)
    store.add_jobs(written)
    statements: list[str] = []
    connect = sqlite3.connect

    def tracing_connect(*args, **kwargs):
        connection = connect(*args, **kwargs)
        connection.set_trace_callback(statements.append)
        return connection

    monkeypatch.setattr(job_store_module.sqlite3, "connect", tracing_connect)
    out = io.StringIO()
    assert run_jobs(argparse.Namespace(json=True), out=out, store_path=store.path) == 0
    assert [r["segments"] for r in json.loads(out.getvalue())] == [4] * 5
    assert not [s for s in statements if "FROM segments" in s and "words" in s], statements


def test_stored_paths_come_back_exactly_whatever_their_form(tmp_path):
    """Restored paths are joined to a shared folder Path (opening 100,000 jobs parsed each
    whole path): the join must give the very path a full parse gives."""
    raws = [
        b"/a/b/c.wav",
        b"/a/b/d.wav",
        b"rel.wav",
        b"/x.wav",
        b"/a/b/..",
        b"/a/b/\xff.wav",
        b"a//b.wav",
        b"a//c.wav",
        b"/a/b/./e.wav",
        b"/a/b/./f.wav",
        b"//x/y.wav",
        b"/x/z.wav",
    ]
    store = JobStore(tmp_path / "jobs.sqlite3")
    store.add_jobs(
        [Job(path=Path(os.fsdecode(raw)), options=TranscriptionOptions()) for raw in raws]
    )
    for _ in range(2):  # the second time, the folders are known
        loaded = store.load_jobs()
        assert [str(job.path) for job in loaded] == [str(Path(os.fsdecode(raw))) for raw in raws]
    store.close()


def test_a_restored_job_makes_no_cancel_event_to_be_listed(tmp_path):
    store = JobStore(tmp_path / "jobs.sqlite3")
    store.add_job(Job(path=tmp_path / "a.wav", options=TranscriptionOptions()))
    [job] = store.load_jobs()
    assert not job.snapshot(with_text=False).cancelling
    assert job.__dict__["cancel_requested"] is None
    job.cancel_requested.set()
    assert job.snapshot(with_text=False).cancelling
    store.close()


# ----------------------------------------------------------------------------- work per job
@contextmanager
def python_calls() -> Iterator[Counter[str]]:
    """Python function calls made on this thread meanwhile, by the file of the function."""
    calls: Counter[str] = Counter()

    def profile(frame: Any, event: str, _arg: Any) -> None:
        if event == "call":
            calls[frame.f_code.co_filename] += 1

    sys.setprofile(profile)
    try:
        yield calls
    finally:
        sys.setprofile(None)


def pathlib_calls(calls: Counter[str]) -> int:
    return sum(count for name, count in calls.items() if "pathlib" in name)


def test_opening_finished_jobs_costs_a_small_constant_per_job(
    qtbot, make_queue, tmp_path, monkeypatch
):
    """Counted, not timed: opening 100,000 finished jobs into the list took 5 s of CPU, half of
    it parsing a ``Path`` per job and most of the rest in calls made per job and per field.
    Opening N more jobs must make no ``Path`` (no call into pathlib grows with N), read no
    segment, and cost at most a few Python calls per job (the list's fill included)."""
    from desktop_app.gui.job_model import JobTableModel

    statements: list[str] = []
    connect = sqlite3.connect

    def tracing_connect(*args: Any, **kwargs: Any) -> sqlite3.Connection:
        connection = connect(*args, **kwargs)
        connection.set_trace_callback(statements.append)
        return connection

    monkeypatch.setattr(job_store_module.sqlite3, "connect", tracing_connect)
    counted: dict[int, Counter[str]] = {}
    for count in (100, 400):
        store = JobStore(tmp_path / f"{count}.sqlite3")
        store.add_jobs(finished_jobs(tmp_path, count))
        queue = make_queue(FakeEngine(segments=1), store)
        model = JobTableModel(queue)
        statements.clear()
        with python_calls() as calls:
            assert len(queue.restore()) == count
        assert model.rowCount() == count  # the list's fill ran on this thread, in the count
        assert not [s for s in statements if "FROM segments" in s], "no segment is read"
        counted[count] = calls
        queue.shutdown(0, keep_unfinished=True)
        store.close()
    more = 300
    assert pathlib_calls(counted[400]) - pathlib_calls(counted[100]) < more / 30, "a Path a job"
    per_job = (sum(counted[400].values()) - sum(counted[100].values())) / more
    assert per_job <= 5, f"{per_job:.1f} Python calls a job: {counted[400].most_common(5)}"


def test_listing_streams_and_makes_no_job_object(store, tmp_path, monkeypatch):
    """``verbatim-cli jobs`` wrote 100,000 jobs only after making every job object (3 s, 2 GB);
    it now writes the store's rows a chunk at a time, with a small constant of work per job."""
    import argparse
    import io

    from desktop_app.cli.jobs import run_jobs

    def no_job_objects(*_args: Any) -> None:
        raise AssertionError("the listing made job objects")

    class Output(io.StringIO):
        writes = 0

        def write(self, text: str) -> int:
            self.writes += 1
            return super().write(text)

    store.add_jobs(finished_jobs(tmp_path, 400, segments=1))
    monkeypatch.setattr(JobStore, "load", no_job_objects)
    monkeypatch.setattr(job_store_module, "LISTING_CHUNK", 50, raising=False)
    for as_json in (False, True):
        out = Output()
        with python_calls() as calls:
            assert run_jobs(argparse.Namespace(json=as_json), out=out, store_path=store.path) == 0
        assert out.writes >= 400 // 50, "written a chunk at a time"
        assert pathlib_calls(calls) < 400 / 4, "a Path a job"  # opening the store makes a few
        per_job = sum(calls.values()) / 400
        assert per_job <= 5, f"{per_job:.1f} Python calls a job: {calls.most_common(5)}"


def test_a_restored_row_is_the_jobs_snapshot_and_never_changes_with_it(store, tmp_path):
    """A restored job's list row shares the job's fields as loaded (no second dictionary per
    job): it must show exactly what a snapshot shows, and the job copies its fields before any
    change (a field set, its text read, its cancel event handed out), so a row already in the
    list never changes under it."""
    import dataclasses

    from desktop_app.core.jobs import JobSnapshot

    store.add_jobs(finished_jobs(tmp_path, 3))
    jobs = store.load_jobs()
    rows = [job.snapshot(with_text=False) for job in jobs]
    made = Job.snapshot(jobs[0], with_text=False)  # the plain way, field by field
    names = [field.name for field in dataclasses.fields(JobSnapshot)]
    assert {n: getattr(rows[0], n) for n in names} == {n: getattr(made, n) for n in names}
    jobs[0].error = "again"  # each change first on its own job: each must copy the fields
    jobs[1].cancel_requested.set()
    assert len(jobs[2].segments) == 3
    jobs[2].segments.clear()
    for row in rows:
        assert (row.state, row.error, row.segments, row.cancelling) == (
            JobState.DONE,
            "",
            (),
            False,
        )
    later = [job.snapshot(with_text=True) for job in jobs]
    assert [(row.error, row.cancelling, len(row.segments)) for row in later] == [
        ("again", False, 3),
        ("", True, 3),
        ("", False, 0),
    ]
