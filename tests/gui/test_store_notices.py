"""What the window tells the user when the job store is in trouble, or a re-run failed: at once,
once, with what to do, and the window keeps working."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from desktop_app.core.job_store import JobStore
from desktop_app.core.jobs import JobState
from desktop_app.core.settings import load_settings
from desktop_app.gui.main_window import MainWindow
from tests.fakes import FakeEngine


def _window(qtbot, engine: FakeEngine, store: JobStore | None = None) -> MainWindow:
    window = MainWindow(
        settings=load_settings(environ={}, saved={}), engine=engine, environ={}, store=store
    )
    qtbot.addWidget(window)
    qtbot.waitUntil(lambda: not window.restoring, timeout=10_000)
    return window


def _file(folder: Path, name: str) -> Path:
    path = folder / name
    path.write_bytes(b"x")
    return path


def test_a_file_where_the_data_folder_should_be_is_a_dialog_not_a_crash(
    qtbot, drop, tmp_path, _own_data_folder
):
    (_own_data_folder / "verbatim").write_bytes(b"in the way")
    window = _window(qtbot, FakeEngine(segments=1))
    try:
        assert window.queue.store is None
        dialog = window.store_dialog
        assert dialog is not None and dialog.isVisible()
        assert str(_own_data_folder / "verbatim") in dialog.text()
        assert "a file is in the way" in dialog.text()
        assert "will not be kept" in dialog.text()
        drop(window, [_file(tmp_path, "still.wav")])
        qtbot.waitUntil(lambda: window.queue.jobs()[0].state is JobState.DONE)
    finally:
        dialog.close()
        window.shutdown()


def test_a_damaged_store_moved_aside_is_a_notice_saying_where(qtbot, _own_data_folder):
    folder = _own_data_folder / "verbatim"
    folder.mkdir()
    (folder / "jobs.sqlite3").write_bytes(b"this is not a database" * 100)
    window = _window(qtbot, FakeEngine())
    try:
        [aside] = folder.glob("jobs.sqlite3.corrupt-*")
        assert window.notice.isVisibleTo(window)
        assert f"moved it to {aside}" in window.notice.text()
        assert window.store_dialog is None
    finally:
        window.shutdown()


@pytest.fixture
def full_disk(monkeypatch) -> None:
    """Every store write fails as on a full disk."""

    @contextmanager
    def transaction(self: JobStore, *, durable: bool = False) -> Iterator[sqlite3.Connection]:
        raise sqlite3.OperationalError("database or disk is full")
        yield self._connection  # never reached: makes this a generator

    monkeypatch.setattr(JobStore, "_transaction", transaction)


def test_a_store_that_cannot_be_written_is_one_notice_and_the_work_goes_on(
    qtbot, drop, tmp_path, full_disk
):
    store = JobStore(tmp_path / "jobs.sqlite3")
    window = _window(qtbot, FakeEngine(segments=2), store)
    notices: list[str] = []
    window.notice_shown.connect(notices.append)
    try:
        with qtbot.waitSignal(window.batch_finished, timeout=20_000):
            drop(window, [_file(tmp_path, f"{name}.wav") for name in ("a", "b", "c")])
        assert [job.state for job in window.queue.jobs()] == [JobState.DONE] * 3
        about_store = [text for text in notices if "cannot save its jobs" in text]
        assert len(about_store) == 1, notices
        assert str(store.path) in about_store[0] and "free some disk space" in about_store[0]
        assert window.notice.text() == about_store[0]
    finally:
        window.shutdown()
        store.close()


def test_a_failed_re_transcription_says_so_and_keeps_the_transcript(qtbot, drop, tmp_path):
    window = _window(qtbot, FakeEngine(segments=2, check_exists=True))
    try:
        source = _file(tmp_path, "talk.wav")
        with qtbot.waitSignal(window.batch_finished, timeout=20_000):
            drop(window, [source])
        [job] = window.queue.jobs()
        text = job.transcript.text
        source.unlink()
        with qtbot.waitSignal(window.notice_shown, timeout=20_000) as blocker:
            assert window.queue.retry(job.id, allow_done=True).accepted
        assert blocker.args[0].startswith("talk.wav: Re-transcribing failed")
        assert job.state is JobState.DONE and job.transcript.text == text
    finally:
        window.shutdown()


def test_an_owed_export_found_already_written_is_settled_without_a_conflict(
    qtbot, tmp_path, monkeypatch
):
    """A crash between writing an owed export and settling it: the next start finds the file
    in place, counts it as written and says nothing about keeping an existing file."""
    from desktop_app.core.exporters import export, output_path
    from desktop_app.core.job_store import OwedExport
    from desktop_app.core.jobs import Job
    from desktop_app.core.transcriber import TranscriptionOptions
    from desktop_app.core.transcript import Segment, Transcript

    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))  # auto-export off now
    exports = tmp_path / "exports"
    exports.mkdir()
    store = JobStore(tmp_path / "jobs.sqlite3")
    job = Job(path=tmp_path / "talk.wav", options=TranscriptionOptions(), state=JobState.DONE)
    job.transcript = Transcript([Segment(0.0, 1.5, " Hello there.")], language="en", model="m")
    job.segments = list(job.transcript.segments)
    store.add_job(job)
    store.finish_job(job, OwedExport(job.id, ("srt", "txt"), exports))
    written = export(job.transcript, "srt", output_path(job.path, "srt", exports))
    window = _window(qtbot, FakeEngine(), store)
    try:
        qtbot.waitUntil(lambda: not window.queue.owed_exports(), timeout=20_000)
        assert sorted(p.name for p in exports.iterdir()) == ["talk.srt", "talk.txt"]
        assert written.read_text(encoding="utf-8").count("Hello there.") == 1
        assert window.notice.isHidden(), window.notice.text()
        window.queue.flush()  # the settlement is stored by the queue's writer thread
        assert store.owed_exports() == []
    finally:
        window.shutdown()
        store.close()
