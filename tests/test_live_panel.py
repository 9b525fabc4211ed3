"""The Live panel with a recording replayed as the microphone (pytest-qt, real model)."""

from __future__ import annotations

from pathlib import Path

from desktop_app.core import audio_sources
from desktop_app.core.audio_sources import ReplaySource
from desktop_app.core.settings import load_settings
from desktop_app.gui.job_model import Column, JobTableModel
from desktop_app.gui.live_panel import LivePanel
from desktop_app.job_queue import JobQueue
from tests.fakes import FakeEngine
from tests.test_input_devices import LINUX

#: How long a step may take on a very busy computer before the test gives up.
BOUND_MS = 300_000


def test_dictation_in_the_panel_becomes_a_finished_job(qtbot, corpus: Path) -> None:
    queue = JobQueue(FakeEngine(), max_workers=1, max_queue_size=2)
    panel = LivePanel(queue, load_settings(environ={}))
    qtbot.addWidget(panel)
    speed = 4.0
    panel.source_factory = lambda device: ReplaySource(corpus / "LJ050-0131.wav", speed=speed)
    panel.record_button.click()
    # Generous bounds, not speed goals: on a busy computer the words come later, never others.
    qtbot.waitUntil(lambda: panel.recording, timeout=BOUND_MS)
    assert panel.record_button.text() == "Stop"
    qtbot.waitUntil(
        lambda: bool(panel.tentative_text() or panel.confirmed_text()), timeout=BOUND_MS
    )
    qtbot.waitUntil(lambda: bool(queue.jobs()), timeout=BOUND_MS)  # the replay ended: stopped
    assert not panel.recording and panel.record_button.text() == "Record"
    job = queue.jobs()[0]
    assert job.state.value == "done" and job.path.suffix == ".wav" and job.path.is_file()
    assert "formal review" in (job.transcript.text if job.transcript else "")
    assert "formal review" in panel.confirmed_text()
    assert panel.tentative_text() == ""
    # The job says what really happened: the model and the language read (tiny.en reads
    # English only; "auto" was the request), and how long the dictation took: at least the
    # replay's own pace, however fast the machine.
    row = JobTableModel(queue)
    assert row.data(row.index(0, Column.MODEL)) == "tiny.en / en"
    assert job.language == "en" and job.transcript is not None
    assert job.transcript.language == "en"
    elapsed = job.elapsed()
    assert elapsed is not None and elapsed >= job.duration / speed - 0.05
    panel.clear_button.click()
    assert panel.confirmed_text() == ""


def test_showing_the_panel_loads_the_live_model_in_the_background(qtbot) -> None:
    from desktop_app.core import live

    settings = load_settings(environ={})
    live._live_models.clear()  # what earlier tests loaded
    panel = LivePanel(JobQueue(FakeEngine(), max_workers=1, max_queue_size=2), settings)
    qtbot.addWidget(panel)
    assert not live._live_models, "nothing loads before the panel is seen"
    panel.show()
    qtbot.waitUntil(
        lambda: any(p.loaded(settings.whisper_model_size) for p in live._live_models.values()),
        timeout=30_000,
    )


def test_export_writes_the_dictation_off_the_gui_thread(qtbot, tmp_path, monkeypatch) -> None:
    from PySide6.QtWidgets import QFileDialog

    from desktop_app.core.transcript import Word

    panel = LivePanel(JobQueue(FakeEngine(), max_workers=1, max_queue_size=2), load_settings({}))
    qtbot.addWidget(panel)
    panel._confirmed = [Word(0.0, 0.4, "Ask"), Word(0.5, 0.9, "not.")]
    target = tmp_path / "dictation.srt"
    monkeypatch.setattr(
        QFileDialog, "getSaveFileName", lambda *args: (str(target), "Subtitles (*.srt)")
    )
    threads: list[str] = []
    import desktop_app.core.exporters as exporters

    original = exporters.export

    def spy(*args, **kwargs):
        import threading

        threads.append(threading.current_thread().name)
        return original(*args, **kwargs)

    monkeypatch.setattr(exporters, "export", spy)
    panel.export_button.click()
    qtbot.waitUntil(lambda: "Exported" in panel.status_label.text(), timeout=10_000)
    assert threads and threads[0] != "MainThread"
    assert "00:00:00,000 --> 00:00:01,000" in target.read_text(encoding="utf-8")  # 1 s at least
    assert "Ask not." in target.read_text(encoding="utf-8")


def test_inputs_are_listed_by_names_a_person_understands(qtbot, monkeypatch) -> None:
    monkeypatch.setattr(audio_sources, "list_input_devices", lambda rescan=False: LINUX)
    panel = LivePanel(JobQueue(FakeEngine(), max_workers=1, max_queue_size=2), load_settings({}))
    qtbot.addWidget(panel)
    shown = [panel.devices.itemText(i) for i in range(panel.devices.count())]
    assert shown == [
        "System default",
        "HDA Intel PCH: ALC3246 Analog",
        "USB PnP Sound Device: Audio",
        "PipeWire sound server",
        "PulseAudio sound server",
    ]
    assert panel.devices.currentIndex() == 0
    # Record opens the device PortAudio knows by that name, as before the friendlier labels.
    opened = [panel.devices.itemData(i) for i in range(panel.devices.count())]
    assert opened == [
        "default",
        "HDA Intel PCH: ALC3246 Analog (hw:0,0)",
        "USB PnP Sound Device: Audio (hw:2,0)",
        "pipewire",
        "pulse",
    ]
    panel.devices.setCurrentIndex(2)
    panel.refresh_button.click()
    assert panel.devices.currentText() == "USB PnP Sound Device: Audio"  # the choice is kept


def test_the_empty_text_area_says_what_to_do(qtbot) -> None:
    from desktop_app.core.transcript import Word

    panel = LivePanel(JobQueue(FakeEngine(), max_workers=1, max_queue_size=2), load_settings({}))
    qtbot.addWidget(panel)
    hint = panel.text.placeholderText()
    key = panel.record_button.shortcut().toString()
    assert "press Record" in hint and "speak" in hint
    assert f"Record ({key})" in hint if key else "Record and" in hint  # the key Record has now
    assert panel.text.document().isEmpty()  # so the hint is what shows
    panel._confirmed = [Word(0.0, 0.4, "Ask")]
    panel._render()
    assert not panel.text.document().isEmpty()
    panel.clear_button.click()
    assert panel.text.document().isEmpty()  # the hint is back after Clear


def test_a_panel_deleted_while_dictating_lets_the_session_end_without_errors(
    qtbot, monkeypatch, corpus: Path
) -> None:
    """The session's threads outlive the panel (a window closed mid-dictation): what they
    report must go nowhere quietly, not raise in them and spoil the recording's result."""
    import shiboken6

    from desktop_app.core.streaming import StreamingTranscriber
    from desktop_app.gui import live_panel

    monkeypatch.setattr(
        live_panel,
        "create_transcriber",
        lambda settings: StreamingTranscriber(lambda audio, prompt: [], speech_detector=None),
    )
    panel = LivePanel(JobQueue(FakeEngine(), max_workers=1, max_queue_size=2), load_settings({}))
    panel.source_factory = lambda device: ReplaySource(corpus / "jfk.flac", speed=4.0)
    panel.record_button.click()
    qtbot.waitUntil(lambda: panel.recording, timeout=BOUND_MS)
    session = panel.session
    assert session is not None
    shiboken6.delete(panel)
    assert session.wait(timeout=BOUND_MS / 1000)
    assert session.result is not None and session.result.error is None
    assert session.result.recording is not None
    session.result.recording.unlink()


def test_the_tail_shows_what_two_reads_agree_on_steadier_than_the_newest_words(qtbot) -> None:
    from desktop_app.core.streaming import StreamEvent
    from desktop_app.core.transcript import Word
    from desktop_app.gui.live_panel import FRESH_COLOR, STEADY_COLOR

    panel = LivePanel(JobQueue(FakeEngine(), max_workers=1, max_queue_size=2), load_settings({}))
    qtbot.addWidget(panel)

    def partial(text: str) -> None:
        panel._on_event(StreamEvent("partial", text, 0.0, 1.0, 0.0))

    partial("and so am")
    assert (panel._steady, panel._fresh) == ([], ["and", "so", "am"]), "one read: all fresh"
    partial("and so my fellow")
    assert (panel._steady, panel._fresh) == (["and", "so"], ["my", "fellow"])
    html = panel.text.toHtml()
    assert html.index(STEADY_COLOR[1:]) < html.index(FRESH_COLOR[1:])
    # "and so" is confirmed: the next read is compared with what is left of the tail.
    words = (Word(0.0, 0.4, "And"), Word(0.4, 0.8, "so"))
    panel._on_event(StreamEvent("final", "And so", 0.0, 0.8, 0.0, words))
    assert (panel._steady, panel._fresh) == ([], ["my", "fellow"])
    partial("my fellow Americans")
    assert (panel._steady, panel._fresh) == (["my", "fellow"], ["Americans"])
    assert panel.tentative_text() == "my fellow Americans"
    assert panel.confirmed_text() == "And so"
    partial("")
    assert (panel._steady, panel._fresh) == ([], [])
