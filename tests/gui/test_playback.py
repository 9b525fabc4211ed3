"""Playback beside the editor, for real: Qt Multimedia plays the corpus into the session's
PulseAudio null sink (``virtual_mic``), and the position the player reports drives the editor.

Every check reads the player's own position and rate; none waits for a fixed time.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtMultimedia import QAudioOutput, QMediaDevices, QMediaPlayer
from PySide6.QtWidgets import QFileDialog, QToolButton

from desktop_app.core.edits import WordPlace
from desktop_app.core.job_store import JobStore
from desktop_app.core.transcriber import TranscriptionOptions
from desktop_app.core.transcript import Segment, Transcript, Word
from desktop_app.gui.playback import NO_OUTPUT_NOTE, PlaybackPanel
from desktop_app.gui.shortcuts import Shortcut
from desktop_app.gui.transcript_editor import TranscriptEditor
from desktop_app.gui.transcript_view import TranscriptView
from desktop_app.job_queue import JobQueue
from tests.fakes import FakeEngine
from tests.gui.test_gui_parts import _unnamed_controls

Playing = QMediaPlayer.PlaybackState.PlayingState


def _segment(start: float, words: list[str], step: float = 0.5) -> Segment:
    spoken = tuple(
        Word(start + i * step, start + (i + 1) * step, f" {w}", 0.9) for i, w in enumerate(words)
    )
    return Segment(spoken[0].start, spoken[-1].end, "".join(w.text for w in spoken), spoken)


#: jfk.flac is 11 s long; the words' times need not be the speaker's for these checks.
SEGMENTS = (
    _segment(0.0, ["And", "so", "my", "fellow", "Americans,"]),
    _segment(3.0, ["ask", "not", "what", "your", "country", "can", "do", "for", "you,"]),
    _segment(8.0, ["ask", "what", "you", "can", "do"]),
)


@contextmanager
def _open(qtbot, tmp_path: Path, source: Path | None) -> Iterator[tuple[TranscriptView, JobQueue]]:
    """The job of ``source`` added to the store of ``tmp_path`` and shown in a transcript pane;
    with None, the store's one job as a restarted app restores it."""
    store = JobStore(tmp_path / "jobs.sqlite3")
    queue = JobQueue(FakeEngine(), max_workers=1, max_queue_size=2, store=store)
    if source is None:
        queue.restore()
        (job,) = queue.jobs()
    else:
        job = queue.add_finished(
            source,
            Transcript(list(SEGMENTS), language="en", duration=11.0),
            TranscriptionOptions(),
        )
    view = TranscriptView(TranscriptEditor(queue, 0.5))
    qtbot.addWidget(view)
    view.show()
    view.show_job(queue.snapshot(job.id))
    assert view.editing and view.playback is not None
    yield view, queue
    view.playback.close_job()
    assert view.editor is not None and view.editor.saver.wait(10)
    assert queue.shutdown(10_000)
    store.close()


@pytest.fixture
def playing(qtbot, tmp_path, corpus, virtual_mic) -> Iterator[tuple[TranscriptView, JobQueue]]:
    with _open(qtbot, tmp_path, corpus / "jfk.flac") as opened:
        yield opened


def _panel(view: TranscriptView) -> PlaybackPanel:
    assert view.playback is not None
    return view.playback


def _streams_into_null_sink() -> bool:
    """Whether a stream plays into the session's null sink now: the sound really goes out
    (Qt's FFmpeg backend also "plays", on the system clock, when there is no output at all)."""
    listed = subprocess.run(
        ["pactl", "list", "short", "sink-inputs"], capture_output=True, text=True, check=True
    )
    return bool(listed.stdout.strip())


def _wait_loaded(qtbot, panel: PlaybackPanel) -> None:
    qtbot.waitUntil(lambda: panel.player.duration() > 0, timeout=10_000)


def test_a_clicked_row_plays_from_its_time_and_the_lit_word_follows(qtbot, playing):
    view, _queue = playing
    panel, editor = _panel(view), view.editor
    assert editor is not None
    _wait_loaded(qtbot, panel)
    assert panel.slider.maximum() == panel.player.duration()
    index = editor.model.index(1)
    rect = editor.view.visualRect(index)
    # The word "country" (the row's fifth, spoken from 5.0 s) where the row paints it.
    point = next(
        QPoint(x, rect.center().y())
        for x in range(rect.left(), rect.right())
        if editor.delegate.word_at(editor.view, index, QPoint(x, rect.center().y())) == 4
    )
    with qtbot.waitSignal(panel.player.playbackStateChanged, timeout=10_000):
        qtbot.mouseClick(editor.view.viewport(), Qt.MouseButton.LeftButton, pos=point)
    assert panel.player.playbackState() == Playing
    assert QMediaDevices.defaultAudioOutput().description() == "Null Output"
    qtbot.waitUntil(_streams_into_null_sink, timeout=10_000)
    # The first position the player reports once it plays: within 0.3 s of the row's start.
    first: list[int] = []
    panel.player.positionChanged.connect(first.append)
    qtbot.waitUntil(lambda: bool(first), timeout=10_000)
    assert abs(first[0] / 1000 - 5.0) <= 0.3
    # The lit word follows the real position as it moves on.
    qtbot.waitUntil(lambda: panel.player.position() >= 6100, timeout=15_000)
    place = editor.model.current_word
    assert place is not None and place.segment == 1 and place.word >= 6
    assert "background:" in editor.model.html(1)
    assert panel.time_label.text().startswith("0:0")


def test_keys_play_pause_skip_and_change_speed_while_typing(qtbot, playing):
    view, _queue = playing
    panel, editor = _panel(view), view.editor
    assert editor is not None
    _wait_loaded(qtbot, panel)
    editor.view.setCurrentIndex(editor.model.index(0))
    qtbot.keyClick(editor.view, Qt.Key.Key_F2)
    line = editor.view.focusWidget()
    assert line is not None and line is not editor.view
    qtbot.keyClick(line, Qt.Key.Key_P, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: panel.player.playbackState() == Playing, timeout=10_000)
    qtbot.keyClick(line, Qt.Key.Key_P, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: panel.player.playbackState() != Playing, timeout=10_000)
    before = panel.player.position()
    qtbot.keyClick(line, Qt.Key.Key_Period, Qt.KeyboardModifier.AltModifier)
    assert panel.player.position() == pytest.approx(before + 5000, abs=50)
    assert editor.model.current_word is not None  # a seek while paused moves the light too
    qtbot.keyClick(line, Qt.Key.Key_Comma, Qt.KeyboardModifier.AltModifier)
    assert panel.player.position() == pytest.approx(before, abs=50)
    qtbot.keyClick(line, Qt.Key.Key_Comma, Qt.KeyboardModifier.AltModifier)
    assert panel.player.position() == 0  # never before the start
    qtbot.keyClick(line, Qt.Key.Key_Up, Qt.KeyboardModifier.AltModifier)
    assert panel.player.playbackRate() == 1.25
    for _ in range(6):
        qtbot.keyClick(line, Qt.Key.Key_Down, Qt.KeyboardModifier.AltModifier)
    assert panel.player.playbackRate() == 0.5
    assert line.hasFocus()  # the user is still typing in the row
    # The text typed so far is untouched by the keys.
    assert editor.segments == SEGMENTS


def test_segment_start_and_end_move_to_the_playback_position_undoably(qtbot, playing):
    view, _queue = playing
    panel, editor = _panel(view), view.editor
    assert editor is not None
    _wait_loaded(qtbot, panel)
    editor.view.setFocus()
    editor.view.setCurrentIndex(editor.model.index(1))
    panel._seek_ms(3200)
    qtbot.keyClick(editor.view, Qt.Key.Key_BracketLeft, Qt.KeyboardModifier.AltModifier)
    assert editor.segments[1].start == pytest.approx(3.2, abs=0.01)
    panel.skip(4.0)
    qtbot.keyClick(editor.view, Qt.Key.Key_BracketRight, Qt.KeyboardModifier.AltModifier)
    assert editor.segments[1].end == pytest.approx(7.2, abs=0.01)
    editor.undo_stack.undo()
    editor.undo_stack.undo()
    assert editor.segments == SEGMENTS


def test_a_missing_recording_leaves_the_transcript_editable_and_locate_plays_it(
    qtbot, tmp_path, corpus, virtual_mic, monkeypatch
):
    moved = tmp_path / "moved" / "jfk.flac"
    with _open(qtbot, tmp_path, tmp_path / "gone" / "jfk.flac") as (view, _queue):
        panel, editor = _panel(view), view.editor
        assert editor is not None
        qtbot.waitUntil(lambda: panel.note.isVisible(), timeout=10_000)
        assert str(tmp_path / "gone" / "jfk.flac") in panel.note.text()
        assert "not at" in panel.note.text() and "Traceback" not in panel.note.text()
        assert not panel.slider.isEnabled() and not panel.play_action.isEnabled()
        assert panel.locate_button.isVisible()
        assert _unnamed_controls(panel) == []
        assert editor.set_text(0, "And so, my fellow Americans,")  # still editable
        panel.play_from(1.0)  # asked while it cannot play: nothing happens, nothing breaks
        assert panel.player.playbackState() != Playing

        moved.parent.mkdir()
        shutil.copy(corpus / "jfk.flac", moved)
        monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *_args, **_kw: (str(moved), ""))
        qtbot.mouseClick(panel.locate_button, Qt.MouseButton.LeftButton)
        assert not panel.note.isVisible() and panel.play_action.isEnabled()
        _wait_loaded(qtbot, panel)
        with qtbot.waitSignal(panel.player.playbackStateChanged, timeout=10_000):
            editor.play_requested.emit(8.0)
        qtbot.waitUntil(lambda: panel.player.position() >= 8000, timeout=10_000)
        assert editor.model.current_word is not None
        assert editor.model.current_word.segment == 2


def test_a_located_recording_is_the_jobs_after_a_restart(
    qtbot, tmp_path, corpus, virtual_mic, monkeypatch
):
    moved = tmp_path / "moved" / "jfk.flac"
    moved.parent.mkdir()
    shutil.copy(corpus / "jfk.flac", moved)
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *_args, **_kw: (str(moved), ""))
    with _open(qtbot, tmp_path, tmp_path / "gone" / "jfk.flac") as (view, queue):
        panel = _panel(view)
        qtbot.waitUntil(lambda: panel.locate_button.isVisible(), timeout=10_000)
        qtbot.mouseClick(panel.locate_button, Qt.MouseButton.LeftButton)
        assert view.job_id is not None
        assert queue.snapshot(view.job_id).path == moved  # type: ignore[union-attr]
    with _open(qtbot, tmp_path, None) as (view, queue):  # a new queue over the same store
        (job,) = queue.jobs()
        assert job.path == moved
        panel = _panel(view)
        assert panel.source == moved
        _wait_loaded(qtbot, panel)
        assert panel.playable and panel.play_action.isEnabled() and panel.slider.isEnabled()
        assert not panel.locate_button.isVisible() and not panel.note.isVisible()


def test_a_file_that_is_not_audio_gets_one_sentence(qtbot, tmp_path, virtual_mic):
    junk = tmp_path / "notes.wav"
    junk.write_bytes(b"this is not a recording" * 100)
    with _open(qtbot, tmp_path, junk) as (view, _queue):
        panel = _panel(view)
        qtbot.waitUntil(lambda: panel.note.isVisible(), timeout=10_000)
        text = panel.note.text()
        assert text.startswith(f"The recording {junk} cannot be played")
        assert "\n" not in text and "Traceback" not in text


def test_no_sound_output_is_said_and_the_words_still_follow(qtbot, tmp_path, corpus, monkeypatch):
    monkeypatch.setattr(QMediaDevices, "audioOutputs", staticmethod(lambda: []))
    with _open(qtbot, tmp_path, corpus / "jfk.flac") as (view, _queue):
        panel, editor = _panel(view), view.editor
        assert editor is not None
        assert panel.note.isVisible() and panel.note.text() == NO_OUTPUT_NOTE
        assert not panel.locate_button.isVisible() and panel.play_action.isEnabled()
        _wait_loaded(qtbot, panel)
        panel._seek_ms(3600)
        assert editor.model.current_word == WordPlace(1, 1)


def test_every_playback_key_is_declared_and_none_is_space_or_a_letter():
    for key in (
        Shortcut.PLAY_PAUSE,
        Shortcut.SKIP_BACK,
        Shortcut.SKIP_FORWARD,
        Shortcut.SLOWER,
        Shortcut.FASTER,
        Shortcut.START_AT_PLAYBACK,
        Shortcut.END_AT_PLAYBACK,
    ):
        text = key.keys.toString()
        assert "+" in text, f"{key.name} is a plain key: {text}"
        assert text not in {"Ctrl+Left", "Ctrl+Right", "Ctrl+Space"}


def test_the_lit_word_is_the_timeline_word_at_positions(playing):
    """The panel's seek moves the light without playing: a paused proofreader sees where it is."""
    view, _queue = playing
    panel, editor = _panel(view), view.editor
    assert editor is not None
    for seconds, place in [(0.2, WordPlace(0, 0)), (3.6, WordPlace(1, 1)), (9.1, WordPlace(2, 2))]:
        panel._seek_ms(int(seconds * 1000))
        assert editor.model.current_word == place


def test_playing_and_pausing_change_no_action_and_no_button_follows_one(qtbot, playing):
    """A button following an action (setDefaultAction) reconnects to it on each change of the
    action, taking one of Qt's shared connection locks with Python's lock held, while FFmpeg's
    renderer thread, torn down by the same state change, holds such a lock waiting for
    Python's: the suite hung there once. So no change of the playback state changes an action,
    and no button of the bar follows one; the Play button's own text says Pause."""
    view, _queue = playing
    panel = _panel(view)
    assert [b for b in panel.findChildren(QToolButton) if b.defaultAction() is not None] == []
    _wait_loaded(qtbot, panel)
    changed: list[str] = []
    for action in panel.actions_by_key.values():
        action.changed.connect(lambda action=action: changed.append(action.text()))
    with qtbot.waitSignal(panel.player.playbackStateChanged, timeout=10_000):
        panel.play_button.click()
    assert panel.player.playbackState() == Playing and panel.play_button.text() == "Pause"
    with qtbot.waitSignal(panel.player.playbackStateChanged, timeout=10_000):
        panel.play_action.trigger()
    assert panel.play_button.text() == "Play"
    assert changed == []


def test_qt_threads_never_ask_python_about_the_players_connections(qtbot, monkeypatch) -> None:
    """FFmpeg's renderer destroys its objects on its own thread, holding a Qt connection lock,
    and Qt then calls ``disconnectNotify`` on our player and audio output. Had PySide to ask
    Python whether it is overridden there (the first call per object does), the renderer waited
    for Python's lock while the GUI thread, in ``QMediaPlayer.stop()``, held it and waited for
    Qt's: a test run hung for good. The panel has the question answered when it is made."""
    panel = PlaybackPanel()
    qtbot.addWidget(panel)
    asked: list[object] = []

    def override(self: object, _signal: object) -> None:
        asked.append(self)

    # A Python override seen from now on: PySide calls it wherever it still asks.
    monkeypatch.setattr(QMediaPlayer, "disconnectNotify", override)
    monkeypatch.setattr(QAudioOutput, "disconnectNotify", override)
    fresh = QAudioOutput()  # the probe's control: an object nobody asked about yet
    for qt_object in (panel.player, panel.audio, fresh):
        qt_object.objectNameChanged.connect(print)
        qt_object.objectNameChanged.disconnect(print)
    assert asked, "the probe does not work: PySide asked about no object"
    assert all(qt_object is fresh for qt_object in asked)
