"""The window over the job store: jobs survive a restart, interrupted ones are marked as resumed,
old ones are cleaned up, and a store that cannot be opened is a notice, not a crash."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from desktop_app.core.job_store import JobStore
from desktop_app.core.jobs import JobState
from desktop_app.core.settings import load_settings
from desktop_app.core.transcriber import TranscriptionOptions
from desktop_app.core.transcript import Segment, Transcript
from desktop_app.gui.job_model import Column, JobRole
from desktop_app.gui.main_window import CLEANUP_INTERVAL_MS, MainWindow
from tests.fakes import FakeEngine

WindowMaker = Callable[..., MainWindow]


@pytest.fixture
def stored_window(qtbot) -> Iterator[WindowMaker]:
    """Windows that make their own queue over a store; each waits until its stored jobs are in."""
    made: list[tuple[MainWindow, JobStore | None]] = []

    def make(
        engine: FakeEngine, store: JobStore | None = None, cleanup_hours: float = 0.0
    ) -> MainWindow:
        settings = load_settings(
            environ={},
            saved={
                "max_concurrent_workers": 2,
                "max_queue_size": 10,
                "job_cleanup_max_age_hours": cleanup_hours,
            },
        )
        window = MainWindow(settings=settings, engine=engine, environ={}, store=store)
        qtbot.addWidget(window)
        made.append((window, store))
        qtbot.waitUntil(lambda: not window.restoring, timeout=10_000)
        return window

    yield make
    for window, store in made:
        window.shutdown()
        if store is not None:
            store.close()


def _files(folder: Path, *names: str) -> list[Path]:
    paths = [folder / name for name in names]
    for path in paths:
        path.write_bytes(b"x")
    return paths


def _display(window: MainWindow, column: Column) -> list[str]:
    model = window.model
    return [model.index(row, column).data() for row in range(model.rowCount())]


def test_jobs_survive_a_restart_finished_intact_interrupted_resumed_queued_in_order(
    stored_window, drop, qtbot, tmp_path
):
    store_path = tmp_path / "jobs.sqlite3"
    gate = threading.Event()
    gate.set()
    first = stored_window(FakeEngine(segments=2, gate=gate), JobStore(store_path))
    assert first.model.rowCount() == 0
    drop(first, _files(tmp_path, "a.wav", "b.wav"))
    qtbot.waitUntil(lambda: all(j.state is JobState.DONE for j in first.queue.jobs()))
    transcripts = {job.name: job.transcript.text for job in first.queue.jobs()}
    gate.clear()
    drop(first, _files(tmp_path, "c.wav", "d.wav", "e.wav", "f.wav", "g.wav"))
    qtbot.waitUntil(lambda: first.queue.engine.running == 2)
    first.shutdown()  # as closing the window does, while c and d run and e, f, g wait

    second_gate = threading.Event()
    second = stored_window(FakeEngine(segments=2, gate=second_gate), JobStore(store_path))
    assert "2 interrupted jobs continue" in second.statusBar().currentMessage()
    # Files added later queue behind the restored ones.
    late = drop(second, _files(tmp_path, "h.wav"))

    names = _display(second, Column.FILE)
    assert names == ["a.wav", "b.wav", "c.wav", "d.wav", "e.wav", "f.wav", "g.wav", "h.wav"]
    assert late.accepted and late.accepted[0].name == "h.wav"
    states = _display(second, Column.STATE)
    assert states == ["Done"] * 2 + ["Running (resumed)"] * 2 + ["Queued"] * 4
    resumed_row = second.model.index(2, 0)
    assert resumed_row.data(JobRole.RESUMED) is True
    assert "Interrupted when Verbatim last closed" in resumed_row.data(0x0003)  # ToolTipRole
    pending = [
        second.model.data(second.model.index(second.model.row_of(job_id), 0))
        for job_id in second.queue.pending_ids()
    ]
    assert pending == ["e.wav", "f.wav", "g.wav", "h.wav"]
    for job in second.queue.jobs()[:2]:
        assert job.transcript is not None and job.transcript.text == transcripts[job.name]
    second.select_job(second.model.job_id(1))
    assert "segment 1 of b.wav" in second.transcript.text.toPlainText()

    with qtbot.waitSignal(second.batch_finished, timeout=20_000):
        second_gate.set()
    assert _display(second, Column.STATE) == ["Done"] * 8
    assert len(second.queue.jobs()) == 8  # nothing duplicated


def test_a_store_that_cannot_be_opened_is_a_notice_and_the_window_still_works(
    qtbot, drop, tmp_path, _own_data_folder
):
    # A folder where the database file should be: SQLite cannot open it.
    (_own_data_folder / "verbatim" / "jobs.sqlite3").mkdir(parents=True)
    settings = load_settings(environ={}, saved={})
    window = MainWindow(settings=settings, engine=FakeEngine(segments=1), environ={})
    qtbot.addWidget(window)
    try:
        assert window.queue.store is None
        assert "cannot be opened" in window.notice.text()
        assert "will not be kept" in window.notice.text()
        drop(window, _files(tmp_path, "still.wav"))
        qtbot.waitUntil(lambda: window.queue.jobs()[0].state is JobState.DONE)
    finally:
        window.shutdown()


def test_the_default_store_is_in_the_user_data_folder(qtbot, _own_data_folder):
    settings = load_settings(environ={}, saved={})
    window = MainWindow(settings=settings, engine=FakeEngine(), environ={})
    qtbot.addWidget(window)
    try:
        qtbot.waitUntil(lambda: not window.restoring)
        assert window.queue.store is not None
        assert window.queue.store.path == _own_data_folder / "verbatim" / "jobs.sqlite3"
    finally:
        window.shutdown()
    bare = MainWindow(settings=settings, engine=FakeEngine(), environ={}, persist=False)
    qtbot.addWidget(bare)
    try:
        assert bare.queue.store is None and not bare.cleanup_timer.isActive()
    finally:
        bare.shutdown()


def test_old_finished_jobs_are_cleaned_up_on_a_timer(stored_window, tmp_path):
    store = JobStore(tmp_path / "jobs.sqlite3")
    window = stored_window(FakeEngine(), store, cleanup_hours=1.0)
    assert window.cleanup_timer.isActive()
    assert window.cleanup_timer.interval() == CLEANUP_INTERVAL_MS
    transcript = Transcript(segments=[Segment(0.0, 1.0, "old")], duration=1.0)
    old = window.queue.add_finished(Path("old.wav"), transcript, TranscriptionOptions())
    new = window.queue.add_finished(Path("new.wav"), transcript, TranscriptionOptions())
    old.finished_at = time.time() - 2 * 3600

    window.cleanup_timer.timeout.emit()

    assert _display(window, Column.FILE) == ["new.wav"]
    window.queue.flush()  # the queue's writer thread stores the clean-up
    assert [job.id for job in store.load().jobs] == [new.id]
    window.settings = window.settings.replace(job_cleanup_max_age_hours=0.0)
    assert window.clean_up_old_jobs() == []  # 0 keeps them forever


def test_a_dropped_batch_is_stored_in_one_go_in_its_order(stored_window, drop, tmp_path):
    store = JobStore(tmp_path / "jobs.sqlite3")
    window = stored_window(FakeEngine(gate=threading.Event()), store)
    names = [f"batch{index:02d}.wav" for index in range(20)]

    outcome = drop(window, _files(tmp_path, *names))

    assert (len(outcome.accepted), len(outcome.refused)) == (12, 8)  # 2 workers + 10 places
    window.queue.flush()  # stored by the queue's writer thread, in one go
    stored = store.load()
    assert [job.name for job in stored.jobs] == names[:12]
    assert [job.state for job in stored.jobs] == [JobState.RUNNING] * 2 + [JobState.QUEUED] * 10
    assert stored.pending_ids == [job.id for job in outcome.accepted]


def test_exporting_restored_jobs_reads_their_transcripts_off_the_gui_thread(
    stored_window, qtbot, tmp_path, monkeypatch
):
    """A restored job's transcript is read from the store when first used (issue 15 #10):
    exporting must do that reading in the background, never on the GUI thread."""
    store = JobStore(tmp_path / "jobs.sqlite3")
    queue_options = TranscriptionOptions(language="en")
    from desktop_app.core.jobs import Job

    for name in ("a.wav", "b.wav"):
        job = Job(path=tmp_path / name, options=queue_options, state=JobState.DONE)
        job.segments = [Segment(0.0, 1.0, f" words of {name}")]
        job.transcript = Transcript(list(job.segments), "en", 1.0, 1.0, "tiny.en")
        store.add_job(job)
    readers: list[str] = []
    read_segments = JobStore.read_segments

    def spy(self: JobStore, job_id: str) -> list[Segment]:
        readers.append(threading.current_thread().name)
        return read_segments(self, job_id)

    monkeypatch.setattr(JobStore, "read_segments", spy)
    window = stored_window(FakeEngine(), JobStore(store.path))
    unread = [job for job in window.queue.jobs() if not job.is_read]  # the pane read the first
    assert unread
    readers.clear()
    with qtbot.waitSignal(window.export_finished, timeout=10_000):
        window.export_jobs([job.id for job in window.queue.jobs()], ["txt"], tmp_path / "out")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.txt", "b.txt"]
    assert len(readers) == len(unread), readers
    assert threading.current_thread().name not in readers, "read on the GUI thread"
    store.close()


def _dictate(window: MainWindow, qtbot, monkeypatch, corpus: Path, read_seconds: float):
    """Start a dictation of 66 s of speech whose reads each take ``read_seconds`` and hear
    "hello" (a stand-in model: the verdicts must not depend on the machine's speed)."""
    from desktop_app.core.audio import load_audio
    from desktop_app.core.audio_sources import ReplaySource
    from desktop_app.core.streaming import StreamingTranscriber
    from desktop_app.core.transcript import Word
    from desktop_app.gui import live_panel

    def read(audio: np.ndarray, prompt: str) -> list[Word]:
        time.sleep(read_seconds)
        return [Word(0.1, 0.5, "hello")]

    monkeypatch.setattr(
        live_panel,
        "create_transcriber",
        lambda settings: StreamingTranscriber(read, speech_detector=None),
    )
    speech = np.concatenate([load_audio(corpus / "jfk.flac")] * 6)  # still going at close
    panel = window.live_panel
    panel.source_factory = lambda device: ReplaySource(speech, speed=1.0)
    panel.record_button.click()
    qtbot.waitUntil(lambda: panel.recording, timeout=60_000)
    session = panel.session
    assert session is not None
    qtbot.waitUntil(
        lambda: bool(panel.confirmed_text() or session.lag_seconds > 1.0), timeout=60_000
    )
    assert not session.finished
    return session


def _complete_wav(path: Path) -> float:
    """The seconds a WAV holds; it opens and reads to the end only if its header was finished."""
    import wave

    with wave.open(str(path)) as recording:
        frames = recording.getnframes()
        assert len(recording.readframes(frames)) == 2 * frames
        return frames / recording.getframerate()


def test_closing_the_window_while_dictating_keeps_the_dictation_as_a_job(
    stored_window, qtbot, monkeypatch, tmp_path, corpus
):
    """Closing mid-dictation ends it as Stop does: the last words are read and the dictation
    is stored with a complete recording. Before, the session's threads were cut off at exit
    (a segfault when one was inside the model): no job, and an unfinished recording."""
    store_path = tmp_path / "jobs.sqlite3"
    first = stored_window(FakeEngine(), JobStore(store_path))
    session = _dictate(first, qtbot, monkeypatch, corpus, read_seconds=0.0)
    first.close()
    assert session.finished
    assert not [t.name for t in threading.enumerate() if t.name.startswith("live-")]

    second = stored_window(FakeEngine(), JobStore(store_path))
    (job,) = second.queue.jobs()
    assert job.state is JobState.DONE
    stored = second.queue.snapshot(job.id)
    assert stored is not None and "hello" in " ".join(s.text for s in stored.segments)
    assert 0 < _complete_wav(job.path) < 66


def test_closing_while_dictation_is_far_behind_queues_the_recording_to_transcribe(
    stored_window, qtbot, monkeypatch, tmp_path, corpus
):
    """With a backlog that would hold the window open, closing stops reading it and queues
    the complete recording as a file instead; it is transcribed at the next start."""
    from desktop_app.gui import live_panel

    monkeypatch.setattr(live_panel, "FINISH_ON_CLOSE_SECONDS", 0.2)
    store_path = tmp_path / "jobs.sqlite3"
    held = threading.Event()  # the first window's engine never finishes: it closes meanwhile
    first = stored_window(FakeEngine(gate=held), JobStore(store_path))
    session = _dictate(first, qtbot, monkeypatch, corpus, read_seconds=0.5)
    first.close()
    assert session.finished and session.result is not None and not session.result.complete
    assert not [t.name for t in threading.enumerate() if t.name.startswith("live-")]

    second = stored_window(FakeEngine(segments=2), JobStore(store_path))
    (job,) = second.queue.jobs()
    qtbot.waitUntil(lambda: second.queue.job(job.id).state is JobState.DONE, timeout=10_000)
    assert 0 < _complete_wav(job.path) < 66
    stored = second.queue.snapshot(job.id)
    assert stored is not None and "segment 0 of" in stored.segments[0].text
    held.set()
