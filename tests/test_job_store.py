"""The job store on its own and behind the queue (fake engine): round trips, migrations, damaged
or locked files, segment-by-segment persistence, restore order and clean-up."""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from desktop_app.core import job_store as job_store_module
from desktop_app.core.job_store import JobStore, JobStoreError
from desktop_app.core.jobs import Job, JobState
from desktop_app.core.transcriber import TranscriptionOptions
from desktop_app.core.transcript import Segment, Transcript, Word
from desktop_app.job_queue import JobQueue
from tests.fakes import FakeEngine


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
    assert upgraded.schema_version == 2
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
    assert store.load().jobs[0].state is JobState.RUNNING
    seen: list[int] = []
    queue.segment_added.connect(
        lambda job_id, _index, _segment: seen.append(len(store.load().jobs[0].segments))
    )
    gate.set()
    qtbot.waitUntil(lambda: job.state is JobState.DONE)
    qtbot.waitUntil(lambda: len(seen) == 3)
    assert seen == [1, 2, 3], "each segment is stored before the window hears of it"
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
    store.append_segment(running.id, 0, segment(0))  # as if the engine had decoded two
    store.append_segment(running.id, 1, segment(1))
    first._store = None  # "crash": from here on, the first queue writes nothing
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
    assert len(store.load_jobs()[0].segments) == 1


def test_cleanup_leaves_list_and_store(qtbot, make_queue, store, tmp_path):
    queue = make_queue(FakeEngine(segments=1), store)
    old = queue.add_finished(tmp_path / "old.wav", Transcript(), TranscriptionOptions())
    old.finished_at = time.time() - 7200
    store.update_job(old)
    new = queue.add_finished(tmp_path / "new.wav", Transcript(), TranscriptionOptions())
    removed: list[str] = []
    queue.job_removed.connect(removed.append)
    assert queue.cleanup(0) == []
    assert queue.cleanup(1) == [old.id] == removed
    assert [j.id for j in queue.jobs()] == [new.id]
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
