"""Editing a job's options before it runs again, re-transcribing a finished job, and Help."""

from __future__ import annotations

import threading

import pytest
from PySide6.QtWidgets import QDialogButtonBox

from desktop_app.core.errors import ConfigError
from desktop_app.core.jobs import JobState
from desktop_app.core.paths import log_dir
from desktop_app.core.settings import load_settings
from desktop_app.core.transcriber import TranscriptionOptions
from desktop_app.gui.about_dialog import AboutDialog
from desktop_app.gui.job_model import Column
from desktop_app.gui.job_options_dialog import JobOptionsDialog
from desktop_app.gui.main_window import MainWindow
from desktop_app.gui.window_actions import Command
from tests.fakes import FakeEngine


def _ok(dialog: JobOptionsDialog):
    return dialog.buttons.button(QDialogButtonBox.StandardButton.Ok)


def test_the_dialog_refuses_what_the_settings_refuse_with_the_same_sentence(qtbot):
    dialog = JobOptionsDialog(TranscriptionOptions(model="small", language="de"))
    qtbot.addWidget(dialog)
    assert _ok(dialog).isEnabled()
    with pytest.raises(ConfigError) as refused:
        load_settings(environ={}, saved={"whisper_model_size": "tiny.en", "language": "de"})

    dialog.set_value("whisper_model_size", "tiny.en")

    assert dialog.validate() == str(refused.value)
    assert dialog.problem.text() == str(refused.value) and not _ok(dialog).isEnabled()
    dialog.set_value("language", "en")
    assert dialog.validate() == "" and _ok(dialog).isEnabled()
    original = TranscriptionOptions(vad_filter=False, initial_prompt="names", start_at=0.0)
    changed = dialog.options_for(original)
    assert (changed.model, changed.language, changed.vad_filter) == ("tiny.en", "en", False)
    assert changed.initial_prompt == "names"


def _choose(window: MainWindow, model: str, language: str, beam: int) -> None:
    dialog = window.job_options_dialog
    assert dialog is not None and dialog.isVisible()
    dialog.set_value("whisper_model_size", model)
    dialog.set_value("language", language)
    dialog.set_value("beam_size", beam)
    _ok(dialog).click()


def test_a_queued_or_failed_job_gets_new_options_a_running_one_cannot(
    make_window, drop, qtbot, tmp_path
):
    gate = threading.Event()
    window = make_window(FakeEngine(gate=gate), workers=1, queue_size=3)
    files = [tmp_path / "running.wav", tmp_path / "waiting.wav", tmp_path / "bad.wav"]
    for path in files:
        path.write_bytes(b"x")
    drop(window, files)
    running_id, waiting_id, bad_id = (job.id for job in window.queue.jobs())

    window.select_job(running_id)
    assert not window.commands[Command.JOB_OPTIONS].isEnabled()
    window.select_job(waiting_id)
    assert window.commands[Command.JOB_OPTIONS].isEnabled()
    assert not window.commands[Command.RETRANSCRIBE].isEnabled()
    window.commands[Command.JOB_OPTIONS].trigger()
    _choose(window, "small", "de", 2)

    options = window.queue.job(waiting_id).options  # type: ignore[union-attr]
    assert (options.model, options.language, options.beam_size) == ("small", "de", 2)
    assert window.model.index(1, Column.MODEL).data() == "small / de"
    assert window.queue.job(running_id).options.model == "tiny.en"  # type: ignore[union-attr]

    gate.set()
    qtbot.waitUntil(lambda: window.queue.job(bad_id).state is JobState.FAILED)  # type: ignore
    window.select_job(bad_id)
    window.commands[Command.JOB_OPTIONS].trigger()
    _choose(window, "base", "fr", 3)
    assert window.queue.job(bad_id).options.model == "base"  # type: ignore[union-attr]
    assert "Retry (Ctrl+R)" in window.statusBar().currentMessage()
    qtbot.waitUntil(window.queue.is_idle)


def test_a_finished_job_is_transcribed_again_with_other_options(make_window, drop, qtbot, tmp_path):
    engine = FakeEngine(segments=2)
    window = make_window(engine, workers=1, queue_size=3)
    path = tmp_path / "interview.wav"
    path.write_bytes(b"x")
    # The first batch's end is heard before the re-run starts: it is announced after its
    # store write, and heard later it would pass for the re-run's.
    with qtbot.waitSignal(window.batch_finished, timeout=10_000):
        drop(window, [path])
    qtbot.waitUntil(lambda: window.queue.jobs()[0].state is JobState.DONE)
    job_id = window.queue.jobs()[0].id
    window.select_job(job_id)
    # The window hears "done" once the queue has stored (here: announced) the job's end.
    qtbot.waitUntil(window.commands[Command.RETRANSCRIBE].isEnabled)
    assert not window.commands[Command.JOB_OPTIONS].isEnabled()

    with qtbot.waitSignal(window.batch_finished, timeout=10_000):
        window.commands[Command.RETRANSCRIBE].trigger()
        _choose(window, "small", "en", 5)

    job = window.queue.job(job_id)
    assert job is not None and job.state is JobState.DONE and job.options.model == "small"
    assert engine.calls == [path, path]
    assert len(window.queue.jobs()) == 1  # the same job, not a copy


def test_help_menu_opens_about_without_blocking_and_the_log_folder(make_window, qtbot):
    window = make_window(FakeEngine(), workers=1, queue_size=1)
    titles = [action.text() for action in window.menuBar().actions()]
    assert titles[-1] == "&Help"
    opened = []
    window.open_location = opened.append  # type: ignore[method-assign]

    window.commands[Command.ABOUT].trigger()  # returns at once: the dialog is not modal to the app

    dialogs = window.findChildren(AboutDialog)
    assert len(dialogs) == 1 and dialogs[0].isVisible()
    assert "tiny.en" in dialogs[0].model_label.text()
    dialogs[0].close()
    window.commands[Command.LOG_FOLDER].trigger()
    assert opened == [log_dir()] and log_dir().is_dir()
