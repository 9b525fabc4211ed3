"""The job store's integrity check is off the opening path: a damaged store is still found, the
user is told, and the next opening moves it aside (issue 15, item 10: opening 100,000 jobs read
the whole file first)."""

from __future__ import annotations

import argparse
import io
import sqlite3
import threading
from pathlib import Path

import pytest

from desktop_app.cli.jobs import run_jobs
from desktop_app.core import job_store as job_store_module
from desktop_app.core.job_store import DamagedStoreError, JobStore
from desktop_app.core.jobs import Job, JobState
from desktop_app.core.transcriber import TranscriptionOptions
from desktop_app.core.transcript import Segment, Transcript

#: Root pages of the tables written first (``_V1``): jobs, then segments after two indexes.
JOBS_ROOT_PAGE, SEGMENTS_ROOT_PAGE = 2, 5


def stored_jobs(path: Path, count: int = 60) -> None:
    """A store of finished jobs spread over many pages, checkpointed into the main file."""
    store = JobStore(path)
    jobs = []
    for index in range(count):
        job = Job(path=path.parent / f"{index}.wav", options=TranscriptionOptions())
        job.state = JobState.DONE
        job.segments = [Segment(k, k + 1.0, f" segment {k} of job {index}" * 4) for k in range(5)]
        job.transcript = Transcript(list(job.segments), language="en", model="tiny.en")
        jobs.append(job)
    store.add_jobs(jobs)
    store.close()
    connection = sqlite3.connect(path)
    connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    connection.close()


def damage_page(path: Path, page: int) -> bytes:
    """Give one b-tree page an invalid type: the header is sound, that table is not."""
    connection = sqlite3.connect(path)
    names = dict(connection.execute("SELECT name, rootpage FROM sqlite_master"))
    page_size = connection.execute("PRAGMA page_size").fetchone()[0]
    connection.close()
    assert (names["jobs"], names["segments"]) == (JOBS_ROOT_PAGE, SEGMENTS_ROOT_PAGE)
    data = bytearray(path.read_bytes())
    data[(page - 1) * page_size] = 0
    path.write_bytes(bytes(data))
    return bytes(data)


@pytest.fixture
def statements(monkeypatch) -> list[str]:
    """Every SQL statement the store's connections run."""
    ran: list[str] = []
    real_connect = sqlite3.connect

    def connect(*args, **kwargs):
        connection = real_connect(*args, **kwargs)
        connection.set_trace_callback(ran.append)
        return connection

    monkeypatch.setattr(job_store_module.sqlite3, "connect", connect)
    return ran


def test_opening_and_listing_never_check_the_whole_store(tmp_path, statements):
    path = tmp_path / "jobs.sqlite3"
    stored_jobs(path)
    statements.clear()
    for read_only in (False, True):
        store = JobStore(path, read_only=read_only)
        try:
            assert len(store.load_jobs()) == 60
        finally:
            store.close()
    assert not [s for s in statements if "quick_check" in s or "integrity_check" in s]


def test_a_sound_store_checks_sound_and_stays(tmp_path):
    path = tmp_path / "jobs.sqlite3"
    stored_jobs(path)
    store = JobStore(path)
    try:
        assert store.check_integrity() is None
        assert not store.damage_mark.exists()
    finally:
        store.close()
    again = JobStore(path)
    assert again.moved_aside is None
    again.close()


def test_damage_the_check_finds_is_said_and_the_next_opening_moves_the_store_aside(tmp_path):
    path = tmp_path / "jobs.sqlite3"
    stored_jobs(path)
    damaged = damage_page(path, SEGMENTS_ROOT_PAGE)
    store = JobStore(path)
    try:
        assert store.moved_aside is None
        jobs = store.load_jobs()
        assert len(jobs) == 60  # the list still loads: it reads no segment
        # A job whose text is in the damaged part shows none, never a traceback where it is shown.
        assert jobs[0].segments == [] and jobs[0].transcript is None
        problem = store.check_integrity()
        assert problem is not None
        assert f"The job store {path} is damaged" in problem
        assert "export the transcripts you need" in problem and "next start" in problem
        assert store.damage_mark.exists()
        assert path.exists(), "a store in use is not moved"
    finally:
        store.close()
    again = JobStore(path)
    try:
        assert again.moved_aside is not None
        assert again.moved_aside.read_bytes() == damaged
        assert not again.damage_mark.exists()
        assert again.load_jobs() == [] and again.check_integrity() is None
    finally:
        again.close()
    JobStore(path).close()  # and the next start is quiet: one store moved aside, once
    assert len(list(tmp_path.glob("jobs.sqlite3.corrupt-*"))) == 1


def test_a_read_that_meets_damage_says_so_and_marks_the_store(tmp_path):
    path = tmp_path / "jobs.sqlite3"
    stored_jobs(path)
    damage_page(path, JOBS_ROOT_PAGE)
    store = JobStore(path)
    try:
        with pytest.raises(DamagedStoreError, match="is damaged") as error:
            store.load_jobs()
        assert str(path) in str(error.value)
        assert store.damage_mark.exists()
    finally:
        store.close()
    again = JobStore(path)
    assert again.moved_aside is not None
    again.close()


def test_cli_jobs_says_a_damaged_store_is_damaged_in_one_line_and_moves_nothing(tmp_path, capsys):
    path = tmp_path / "jobs.sqlite3"
    stored_jobs(path)
    damaged = damage_page(path, JOBS_ROOT_PAGE)
    code = run_jobs(argparse.Namespace(json=False), io.StringIO(), path)
    assert code != 0
    [line] = capsys.readouterr().err.splitlines()
    assert line.startswith(f"verbatim-cli: The job store {path} is damaged")
    assert path.read_bytes() == damaged
    beside = [p.name for p in tmp_path.iterdir() if p.name.endswith((".damaged", ".lock"))]
    assert beside == [] or beside == ["jobs.sqlite3.lock"], "reading marks nothing"
    assert not list(tmp_path.glob("*.corrupt-*")), "reading moves nothing"


def test_stopping_the_check_interrupts_it(tmp_path, monkeypatch):
    """The window stops the check when it closes: a check under way ends at once, unreported."""
    path = tmp_path / "jobs.sqlite3"
    stored_jobs(path)
    damage_page(path, SEGMENTS_ROOT_PAGE)  # a check run to the end would report this
    inside, stopped = threading.Event(), threading.Event()
    real_connect = sqlite3.connect

    def connect(*args, **kwargs):
        connection = real_connect(*args, **kwargs)

        def hold() -> int:  # SQLite calls this while the check runs
            inside.set()
            stopped.wait(timeout=30)
            return 0

        if "mode=ro" in str(args[0]):
            connection.set_progress_handler(hold, 1)
        return connection

    store = JobStore(path)
    monkeypatch.setattr(job_store_module.sqlite3, "connect", connect)
    outcome: list[str | None] = []
    checker = threading.Thread(target=lambda: outcome.append(store.check_integrity()))
    checker.start()
    try:
        assert inside.wait(timeout=30)
        store.stop_check()
    finally:
        stopped.set()
        checker.join(timeout=30)
    assert outcome == [None]
    assert not store.damage_mark.exists()
    assert store.check_integrity() is None, "once stopped, a check never starts again"
    store.close()
