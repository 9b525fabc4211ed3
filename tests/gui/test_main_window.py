"""The window over a real queue: drops, capacity, job actions, transcripts, export, settings."""

from __future__ import annotations

import re
import shutil
import threading
from pathlib import Path

import jiwer
import srt

from desktop_app.core.jobs import JobState
from desktop_app.core.model import ModelState
from desktop_app.core.transcriber import TranscriptionOptions
from desktop_app.core.transcript import Segment, Transcript
from desktop_app.gui.job_model import JobRole
from desktop_app.gui.main_window import MainWindow
from desktop_app.gui.preferences import Preferences
from desktop_app.gui.window_actions import Command
from desktop_app.saved_settings import load_saved
from tests.fakes import FakeEngine


def _words(text: str) -> str:
    return " ".join(re.sub(r"[^a-z' ]+", " ", text.lower()).split())


def _states(window: MainWindow) -> list[str]:
    model = window.model
    return [model.index(row, 0).data(JobRole.STATE) for row in range(model.rowCount())]


def _select_row(window: MainWindow, row: int) -> str:
    job_id = window.model.job_id(row)
    window.select_job(job_id)
    return job_id


def test_dropped_corpus_files_are_transcribed_and_exported_as_srt(
    make_window, drop, qtbot, whisper_engine, corpus, references, tmp_path
):
    window = make_window(whisper_engine, workers=2, queue_size=3)
    files = [corpus / "jfk.flac", corpus / "LJ050-0131.wav"]

    outcome = drop(window, files)

    assert len(outcome.accepted) == 2 and not outcome.refused
    assert window.model.rowCount() == 2
    qtbot.waitUntil(lambda: _states(window) == ["done", "done"], timeout=240_000)
    jfk_id = _select_row(window, 0)
    qtbot.waitUntil(
        lambda: "ask not what your country" in window.transcript.text.toPlainText().lower()
    )
    assert window.transcript.text.toPlainText().startswith("[0:")

    with qtbot.waitSignal(window.export_finished, timeout=10_000) as blocker:
        window.export_jobs([job.id for job in window.queue.jobs()], ["srt"], tmp_path)
    assert not blocker.args[0].errors
    for source in files:
        subtitles = list(srt.parse((tmp_path / f"{source.stem}.srt").read_text("utf-8")))
        assert subtitles and all(s.end > s.start for s in subtitles)
        spoken = " ".join(s.content for s in subtitles)
        error_rate = jiwer.wer(_words(references[source.name]), _words(spoken))
        assert error_rate < 0.25, (source.name, spoken, error_rate)
    assert window.queue.job(jfk_id) is not None


def test_a_drop_larger_than_the_free_places_adds_what_fits_with_one_message(
    make_window, drop, qtbot, tmp_path
):
    gate = threading.Event()
    window = make_window(FakeEngine(segments=2, segment_seconds=0.01, gate=gate), 2, 3)
    label = window.capacity_label
    assert label.text() == "Workers 0/2 busy · Queue 0/3 · 5 free places"
    files = []
    for index in range(10):
        path = tmp_path / f"talk{index}.wav"
        path.write_bytes(b"RIFF")
        files.append(path)
    notices: list[str] = []
    window.notice_shown.connect(notices.append)

    outcome = drop(window, files)

    assert (len(outcome.accepted), len(outcome.refused)) == (5, 5)
    assert len(notices) == 1
    assert "Added 5 of 10 files; 5 refused" in notices[0]
    assert "Queue size in Settings" in notices[0]
    assert window.notice.isVisibleTo(window) and window.notice.text() == notices[0]
    assert _states(window) == ["running"] * 2 + ["queued"] * 3
    assert label.text() == "Workers 2/2 busy · Queue 3/3 · 0 free places · AT CAPACITY"
    assert "b3261e" in label.styleSheet()

    # Cancel the last queued job: one place frees up.
    cancelled = _select_row(window, 4)
    window.commands[Command.CANCEL].trigger()
    assert window.queue.job(cancelled).state is JobState.CANCELLED
    assert label.text() == "Workers 2/2 busy · Queue 2/3 · 1 free place"
    assert "b3261e" not in label.styleSheet()

    # Move the second queued job to the top: it is listed, and will run, first of the queued.
    moved = _select_row(window, 3)
    window.commands[Command.MOVE_TO_TOP].trigger()
    assert window.model.row_of(moved) == 2
    assert window.queue.pending_ids()[0] == moved
    assert label.text() == "Workers 2/2 busy · Queue 2/3 · 1 free place"

    # Retry the cancelled job: it queues again and the queue is full again.
    window.select_job(cancelled)
    window.commands[Command.RETRY].trigger()
    assert window.queue.job(cancelled).state is JobState.QUEUED
    assert label.text() == "Workers 2/2 busy · Queue 3/3 · 0 free places · AT CAPACITY"

    with qtbot.waitSignal(window.batch_finished, timeout=20_000):
        gate.set()
    assert _states(window) == ["done"] * 5
    assert label.text() == "Workers 0/2 busy · Queue 0/3 · 5 free places"
    assert "All jobs finished: 5 done." in window.statusBar().currentMessage()


def test_bad_files_show_their_reason_in_the_list_and_the_transcript_pane(
    make_window, drop, qtbot, whisper_engine, tmp_path
):
    window = make_window(whisper_engine, workers=1, queue_size=3)
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"this is not audio at all" * 100)
    notes = tmp_path / "notes.txt"
    notes.write_text("hello")
    empty_folder = tmp_path / "nothing here"
    empty_folder.mkdir()

    outcome = drop(window, [broken, notes, empty_folder])

    assert len(outcome.accepted) == 1
    assert "1 not audio or video, so not added: notes.txt" in window.notice.text()
    assert "No audio or video files found in nothing here" in window.notice.text()
    qtbot.waitUntil(lambda: _states(window) == ["failed"], timeout=20_000)
    index = window.model.index(0, 0)
    tooltip = index.data(0x0003)  # Qt.ToolTipRole
    assert tooltip.startswith("broken.wav: ") and "decoded" in tooltip
    assert index.data(JobRole.ERROR) == tooltip
    _select_row(window, 0)
    # The model reads the job itself; the pane follows the (queued) state signal.
    qtbot.waitUntil(lambda: f"This job failed: {tooltip}" in window.transcript.text.toPlainText())


def test_folders_are_searched_recursively_off_the_gui_thread(make_window, drop, corpus, tmp_path):
    window = make_window(FakeEngine(segments=1), workers=2, queue_size=10)
    nested = tmp_path / "a" / "b"
    nested.mkdir(parents=True)
    shutil.copy(corpus / "jfk.flac", nested / "jfk.flac")
    (tmp_path / "a" / "readme.md").write_text("not audio")
    shutil.copy(corpus / "LJ050-0131.wav", tmp_path / "LJ.wav")

    outcome = drop(window, [tmp_path])

    assert sorted(job.name for job in outcome.accepted) == ["LJ.wav", "jfk.flac"]
    assert not window.notice.isVisibleTo(window)


def test_transcript_grows_live_and_finds_text(make_window, drop, qtbot, tmp_path):
    gate = threading.Event()
    window = make_window(FakeEngine(segments=3, segment_seconds=0.02, gate=gate), 1, 3)
    path = tmp_path / "memo.wav"
    path.write_bytes(b"x")
    drop(window, [path])
    _select_row(window, 0)
    gate.set()
    qtbot.waitUntil(lambda: "segment 2 of memo.wav" in window.transcript.text.toPlainText())
    window.transcript.find_box.setText("segment 1")
    assert window.transcript.find_next()
    assert window.transcript.text.textCursor().selectedText() == "segment 1"


def test_export_asks_before_overwriting(make_window, drop, qtbot, tmp_path, monkeypatch):
    window = make_window(FakeEngine(segments=2), workers=1, queue_size=3)
    source = tmp_path / "speech.wav"
    source.write_bytes(b"x")
    drop(window, [source])
    qtbot.waitUntil(lambda: _states(window) == ["done"])
    job_id = window.model.job_id(0)
    out = tmp_path / "out"
    with qtbot.waitSignal(window.export_finished) as first:
        window.export_jobs([job_id], ["txt", "vtt"], out)
    assert sorted(p.name for p in first.args[0].written) == ["speech.txt", "speech.vtt"]
    (out / "speech.txt").write_text("edited by hand")
    asked: list[list[Path]] = []

    def refuse(existing: list[Path]) -> bool:
        asked.append(existing)
        return False

    monkeypatch.setattr(window.export_flow, "confirm_overwrite", refuse)
    with qtbot.waitSignal(window.export_finished) as second:
        window.export_jobs([job_id], ["txt", "vtt"], out)
    assert asked and second.args[0].conflicts
    assert (out / "speech.txt").read_text() == "edited by hand"


def test_auto_export_writes_every_finished_job(make_window, drop, qtbot, tmp_path):
    window = make_window(FakeEngine(segments=1), workers=1, queue_size=3)
    window.preferences = Preferences(
        auto_export=True, auto_export_folder=str(tmp_path / "auto"), auto_export_formats=["srt"]
    )
    source = tmp_path / "call.wav"
    source.write_bytes(b"x")
    with qtbot.waitSignal(window.export_finished, timeout=10_000) as blocker:
        drop(window, [source])
    assert blocker.args[0].written == [tmp_path / "auto" / "call.srt"]


def test_settings_round_trip_and_worker_count_applies_live(make_window, drop, tmp_path):
    gate = threading.Event()
    window = make_window(FakeEngine(gate=gate), workers=1, queue_size=5)
    files = [tmp_path / f"f{i}.wav" for i in range(4)]
    for path in files:
        path.write_bytes(b"x")
    drop(window, files)
    assert window.queue.capacity().active == 1

    applied = window.apply_settings(
        {"max_concurrent_workers": 3, "max_queue_size": 8, "beam_size": 2, "vad_filter": False},
        Preferences(
            auto_export=True, auto_export_folder=str(tmp_path), auto_export_formats=["vtt"]
        ),
    )

    assert applied
    capacity = window.queue.capacity()
    assert (capacity.active, capacity.queued, capacity.max_workers) == (3, 1, 3)
    assert window.capacity_label.text() == "Workers 3/3 busy · Queue 1/8 · 7 free places"
    saved = load_saved()
    assert int(saved["max_concurrent_workers"]) == 3 and int(saved["max_queue_size"]) == 8
    assert int(saved["beam_size"]) == 2 and str(saved["vad_filter"]).lower() == "false"
    assert window.settings.beam_size == 2 and window.options().vad_filter is False
    prefs = Preferences.load()
    assert (prefs.auto_export, prefs.auto_export_formats) == (True, ["vtt"])
    assert prefs.auto_export_folder == str(tmp_path)
    # A window built from nothing reads what was saved.
    fresh = MainWindow(engine=FakeEngine(), environ={})
    try:
        assert fresh.settings.max_queue_size == 8 and fresh.queue.capacity().max_workers == 3
    finally:
        fresh.shutdown()
        fresh.deleteLater()
    gate.set()


def test_environment_overrides_saved_settings(make_window):
    window = make_window(FakeEngine(), workers=1, queue_size=5)
    window.environ = {"MAX_QUEUE_SIZE": "4"}
    assert window.apply_settings({"max_queue_size": 9})
    assert window.queue.capacity().max_queue_size == 4


def test_dictations_added_elsewhere_appear_in_the_list(make_window, qtbot):
    window = make_window(FakeEngine(), workers=1, queue_size=3)
    transcript = Transcript(segments=[Segment(0.0, 1.0, "hello there")], duration=1.0)
    job = window.queue.add_finished(Path("Dictation 1.wav"), transcript, TranscriptionOptions())
    assert window.model.rowCount() == 1
    assert window.model.index(0, 2).data() == "Done"
    window.select_job(job.id)
    assert "hello there" in window.transcript.text.toPlainText()
    assert window.commands[Command.EXPORT_ALL].isEnabled()


class PreloadingEngine(FakeEngine):
    """An engine with a model to load, held until the test lets it finish."""

    def __init__(self) -> None:
        super().__init__()
        self.loaded = threading.Event()

    def preload(self, model: str) -> None:
        assert self.loaded.wait(10)


def test_model_states_are_announced_as_enums(make_window, qtbot):
    engine = PreloadingEngine()
    window = make_window(engine)  # its start-up preload is under way
    heard: list[object] = []
    window.model_state_changed.connect(heard.append)
    with qtbot.waitSignal(window.model_state_changed, timeout=10_000):
        engine.loaded.set()
    assert heard == [ModelState.READY]
    window.preload_model()  # loading is announced at once, ready when the load is done
    qtbot.waitUntil(lambda: len(heard) == 3, timeout=10_000)
    assert heard == [ModelState.READY, ModelState.LOADING, ModelState.READY]
    assert window.model_label.text() == f"Model {window.settings.whisper_model_size} ready"
