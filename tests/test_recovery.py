"""A real crash: the queue runs the real engine in a child process, which is killed with SIGKILL
mid-transcription; the jobs are then restored in this process and must all complete with nothing
lost and nothing duplicated."""

from __future__ import annotations

import itertools
import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from desktop_app.core.audio import load_audio
from desktop_app.core.job_store import JobStore
from desktop_app.core.jobs import JobState
from desktop_app.job_queue import JobQueue
from tests.media import write_wav

REPO = Path(__file__).resolve().parent.parent
DRILL = REPO / "benchmarks" / "recovery_drill.py"


def stored(store: Path) -> dict[str, tuple[str, int]]:
    """Job id -> (state, stored segments), read as another process would."""
    connection = sqlite3.connect(f"file:{store}?mode=ro", uri=True, timeout=5)
    try:
        states = dict(connection.execute("SELECT id, state FROM jobs"))
        counts = dict(connection.execute("SELECT job_id, COUNT(*) FROM segments GROUP BY job_id"))
    except sqlite3.OperationalError:  # the child has not created the tables yet
        return {}
    finally:
        connection.close()
    return {job_id: (state, counts.get(job_id, 0)) for job_id, state in states.items()}


def transcript_bytes(transcript) -> bytes:
    return json.dumps(transcript.to_dict(), ensure_ascii=False, indent=1).encode()


@pytest.mark.slow
def test_sigkill_mid_run_then_restore_loses_and_duplicates_nothing(
    qtbot, tmp_path, corpus, whisper_engine
):
    jfk = load_audio(corpus / "jfk.flac")
    gap = np.zeros(4000, dtype=np.float32)
    long = write_wav(tmp_path / "long.wav", np.concatenate([np.concatenate([jfk, gap])] * 3))
    short = write_wav(tmp_path / "short.wav", jfk)
    files = [short, long, corpus / "LJ050-0131.wav", corpus / "jfk.flac"]
    store_path, finished = tmp_path / "jobs.sqlite3", tmp_path / "finished"

    child = subprocess.Popen(
        [
            *(sys.executable, str(DRILL), "child", "--store", str(store_path)),
            *("--finished", str(finished), "--workers", "1", *map(str, files)),
        ],
        stdout=subprocess.DEVNULL,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    try:
        deadline = time.monotonic() + 240
        while True:  # until the short job is done and the long one has a few segments stored
            assert child.poll() is None, "the child ended before it could be killed"
            assert time.monotonic() < deadline, "no segments stored in time"
            jobs = list(stored(store_path).values()) if store_path.exists() else []
            if len(jobs) == 4 and jobs[0][0] == "done" and jobs[1][1] >= 2:
                break
            time.sleep(0.05)
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()

    before = JobStore(store_path).load_jobs()
    assert [j.path for j in before] == files
    states = [j.state for j in before]
    assert states == [JobState.DONE, JobState.RUNNING, JobState.QUEUED, JobState.QUEUED]
    kept = list(before[1].segments)
    assert len(kept) >= 2

    queue = JobQueue(whisper_engine, max_workers=1, max_queue_size=1, store=JobStore(store_path))
    try:
        restored = queue.restore()
        assert [j.id for j in restored] == [j.id for j in before], "every job is back, in order"
        done, resumed, *queued = restored
        assert transcript_bytes(done.transcript) == (finished / f"{done.id}.json").read_bytes()
        assert resumed.resumed and resumed.options.start_at == kept[-1].end
        assert queue.pending_ids() == [j.id for j in queued], "queued again in their order"
        qtbot.waitUntil(lambda: all(j.state.finished for j in queue.jobs()), timeout=240_000)
        qtbot.waitUntil(queue.is_idle, timeout=10_000)
    finally:
        queue.shutdown()

    assert [j.state for j in queue.jobs()] == [JobState.DONE] * 4
    segments = resumed.transcript.segments
    assert segments[: len(kept)] == kept, "stored segments kept as they were"
    for previous, following in itertools.pairwise(segments):
        assert following.start >= previous.end, f"overlap or repeat: {previous} / {following}"
    assert segments[-1].end > resumed.duration - 12, "decoded to the end after resuming"
    assert resumed.transcript.text.lower().count("country") >= 2
    after = {j.id: j for j in JobStore(store_path).load_jobs()}
    assert len(after) == 4
    for job in queue.jobs():  # what the window shows is what the next start will show
        assert transcript_bytes(after[job.id].transcript) == transcript_bytes(job.transcript)
    assert transcript_bytes(after[done.id].transcript) == transcript_bytes(done.transcript)


# A window with auto-export (JSON into a folder) that stalls inside the export's atomic write,
# after the temp file is written and before it is renamed: the moment the SIGKILL comes.
AUTO_EXPORT_CHILD = """
import os, sys, threading
from pathlib import Path
store_path, export_folder, source = map(Path, sys.argv[1:4])
os.fsync = lambda descriptor: threading.Event().wait()  # the export never gets past its write
from PySide6.QtWidgets import QApplication
from desktop_app.core.job_store import JobStore
from desktop_app.core.settings import load_settings
from desktop_app.gui.main_window import MainWindow
from desktop_app.gui.preferences import Preferences
from tests.fakes import FakeEngine
app = QApplication([])
window = MainWindow(
    settings=load_settings(environ={}, saved={}), engine=FakeEngine(segments=2), environ={},
    store=JobStore(store_path),
)
window.preferences = Preferences(
    auto_export=True, auto_export_folder=str(export_folder), auto_export_formats=["json"]
)
window.add_paths([source])
app.exec()
"""


def owed(store: Path) -> int:
    """How many exports the store says are owed, read as another process would."""
    connection = sqlite3.connect(f"file:{store}?mode=ro", uri=True, timeout=5)
    try:
        return int(connection.execute("SELECT COUNT(*) FROM owed_exports").fetchone()[0])
    finally:
        connection.close()


def test_an_auto_export_killed_mid_write_is_written_at_the_next_start(qtbot, tmp_path, monkeypatch):
    from desktop_app.core.settings import load_settings
    from desktop_app.gui.main_window import MainWindow
    from tests.fakes import FakeEngine

    store_path, exports = tmp_path / "jobs.sqlite3", tmp_path / "exports"
    source = tmp_path / "a.wav"
    exports.mkdir()
    source.write_bytes(b"x")
    child = subprocess.Popen(
        [sys.executable, "-c", AUTO_EXPORT_CHILD, str(store_path), str(exports), str(source)],
        stdout=subprocess.DEVNULL,
        env={**os.environ, "PYTHONPATH": str(REPO), "QT_QPA_PLATFORM": "offscreen"},
    )
    try:
        deadline = time.monotonic() + 120
        while True:  # until the job is stored as done and the export's temp file is on disk
            assert child.poll() is None, "the child ended before it could be killed"
            assert time.monotonic() < deadline, "the child never reached its export"
            jobs = list(stored(store_path).values()) if store_path.exists() else []
            if [state for state, _count in jobs] == ["done"] and list(exports.glob(".a.*.tmp")):
                break
            time.sleep(0.05)
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    assert not (exports / "a.json").exists()
    assert owed(store_path) == 1, "the export owed is stored with the job's end"

    # The next start, with auto-export now switched off: what was owed is still written.
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))  # default preferences
    window = MainWindow(
        settings=load_settings(environ={}, saved={}),
        engine=FakeEngine(),
        environ={},
        store=JobStore(store_path),
    )
    qtbot.addWidget(window)
    try:
        assert not window.preferences.auto_export
        with qtbot.waitSignal(window.export_finished, timeout=20_000) as blocker:
            pass
        assert blocker.args[0].written == [exports / "a.json"]
        [job] = window.queue.jobs()
        written = json.loads((exports / "a.json").read_text(encoding="utf-8"))
        assert written == json.loads(json.dumps(job.transcript.to_dict()))
        assert sorted(path.name for path in exports.iterdir()) == ["a.json"], "no leftovers"
        assert window.queue.owed_exports() == []
    finally:
        window.shutdown()
    assert owed(store_path) == 0, "settled in the store: not written twice"


class _Crash(BaseException):
    """The process dies here: not an ``Exception``, so nothing on the way may swallow it."""


class _DyingConnection:
    """The store's connection, which dies before its ``fatal``-th statement (a ROLLBACK, as
    SQLite does for a dead process's open transaction, still runs)."""

    def __init__(self, connection: sqlite3.Connection, fatal: int) -> None:
        self._connection = connection
        self.fatal = fatal
        self.statements = 0

    def _count(self, sql: str) -> None:
        if sql != "ROLLBACK":
            self.statements += 1
            if self.statements == self.fatal:
                raise _Crash()

    def execute(self, sql: str, *args):
        self._count(sql)
        return self._connection.execute(sql, *args)

    def executemany(self, sql: str, rows):
        self._count(sql)
        return self._connection.executemany(sql, rows)

    def __getattr__(self, name: str):
        return getattr(self._connection, name)


def test_a_kill_at_any_statement_of_a_restore_keeps_the_queue_order(qapp, tmp_path):
    """Restoring requeued job by job: a kill part-way stored the requeued jobs behind the rest,
    a rotated order kept for good. Die before each statement of a restore in turn: the stored
    queue must always hold every job once, in the original order."""
    from desktop_app.core.jobs import Job
    from desktop_app.core.transcriber import TranscriptionOptions
    from desktop_app.core.transcript import Segment
    from tests.fakes import FakeEngine

    pristine = tmp_path / "pristine.sqlite3"
    store = JobStore(pristine)
    running = Job(tmp_path / "running.wav", TranscriptionOptions(), state=JobState.RUNNING)
    running.started_at = 5.0
    queued = [Job(tmp_path / f"q{i}.wav", TranscriptionOptions()) for i in range(6)]
    store.add_jobs([running, *queued])
    store.append_segment(running.id, 0, Segment(0.0, 1.5, "kept"))
    store.move_to_top(queued[3].id, [running.id, queued[3].id, *(j.id for j in queued[:3])])
    expected = store.load().pending_ids
    assert expected == [running.id, queued[3].id, *(j.id for j in queued if j is not queued[3])]
    store.close()

    fatal, completed = 0, False
    while not completed:
        fatal += 1
        trial = tmp_path / f"trial-{fatal}.sqlite3"
        trial.write_bytes(pristine.read_bytes())
        store = JobStore(trial)
        dying = _DyingConnection(store._connection, fatal)
        store._connection = dying  # type: ignore[assignment]
        gate = threading.Event()
        queue = JobQueue(FakeEngine(segments=1, gate=gate), max_workers=1, max_queue_size=2)
        queue._store = store
        try:  # it dies in a read here, or in a write on the queue's store-writer thread
            queue.restore()
            completed = True
        except _Crash:
            completed = False
        assert queue.flush(10)
        completed = completed and queue._writer.died is None
        queue._store = None
        with queue._lock:  # the "dead" queue starts nothing more
            queue._pending.clear()
        gate.set()
        assert queue.wait_for_done(10_000)
        assert queue._writer.close(10)
        store.close()
        after = JobStore(trial)
        try:
            assert after.load().pending_ids == expected, f"died before statement {fatal}"
        finally:
            after.close()
    assert fatal > 3, "the restore was interrupted at each of its statements"
