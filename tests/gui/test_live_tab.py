"""The Live tab inside the window: the Files tab's job actions stay out of its way."""

from __future__ import annotations

from pathlib import Path

from desktop_app.core.transcript import Segment, Transcript
from desktop_app.gui.window_actions import Command
from tests.fakes import FakeEngine


def test_the_files_job_actions_are_disabled_while_the_live_tab_is_shown(
    make_window, tmp_path: Path
) -> None:
    window = make_window(FakeEngine())
    recording = tmp_path / "dictation.wav"
    recording.touch()
    transcript = Transcript(segments=[Segment(0.0, 1.0, " Ask not.")], duration=1.0)
    job = window.queue.add_finished(recording, transcript, window.options())
    window.select_job(job.id)
    files_only = [
        window.commands[Command.REMOVE],
        window.commands[Command.EXPORT],
        window.commands[Command.EXPORT_ALL],
        window.commands[Command.RETRANSCRIBE],
        window.commands[Command.REVEAL],
    ]
    assert all(action.isEnabled() for action in files_only)

    window.tabs.setCurrentWidget(window.live_panel)
    enabled = [action.text() for action in window.commands.job_actions() if action.isEnabled()]
    assert enabled == []
    assert not window.commands[Command.EXPORT_ALL].isEnabled()
    # A job that finishes meanwhile must not bring Export All back on the Live tab.
    window._on_job_state(job.id, job.state)
    assert not window.commands[Command.EXPORT_ALL].isEnabled()
    # Adding files is not about the hidden selection.
    assert window.commands[Command.ADD_FILES].isEnabled()

    window.tabs.setCurrentWidget(window.files_tab)
    assert all(action.isEnabled() for action in files_only)


def test_settings_applied_in_the_window_reach_the_next_dictation(make_window) -> None:
    window = make_window(FakeEngine())
    assert window.apply_settings({"whisper_model_size": "base.en", "language": "en"})
    assert window.live_panel.settings.whisper_model_size == "base.en"
    assert window.live_panel.settings.language == "en"
