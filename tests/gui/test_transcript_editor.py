"""The transcript editor, driven from the keyboard as a user would: edit, split, merge, retime,
replace, revert, undo and redo; unsure-word navigation; the played word followed; every edit
reaching the queue (and so every export) and the store."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtWidgets import QLineEdit, QMessageBox

from desktop_app.core import edits
from desktop_app.core.edits import WordPlace
from desktop_app.core.job_store import JobStore
from desktop_app.core.transcriber import TranscriptionOptions
from desktop_app.core.transcript import Segment, Transcript, Word
from desktop_app.gui.shortcuts import Shortcut
from desktop_app.gui.transcript_editor import TranscriptEditor
from desktop_app.gui.transcript_view import TranscriptView
from desktop_app.job_queue import JobQueue
from tests.fakes import FakeEngine
from tests.gui.test_gui_parts import _unnamed_controls


def _segment(spoken: list[tuple[str, float, float, float]]) -> Segment:
    words = tuple(Word(s, e, f" {text}", p) for text, s, e, p in spoken)
    return Segment(words[0].start, words[-1].end, "".join(w.text for w in words), words)


MACHINE = (
    _segment([("And", 0.0, 0.4, 0.9), ("so", 0.4, 0.7, 0.3), ("my", 0.7, 1.0, 0.9)]),
    _segment([("fellow", 1.5, 2.0, 0.2), ("Americans,", 2.0, 2.8, 0.9)]),
    _segment([("ask", 3.0, 3.3, 0.9), ("not", 3.3, 3.6, 0.45), ("what", 3.6, 4.0, 0.9)]),
)


@pytest.fixture
def editing(qtbot, tmp_path) -> Iterator[tuple[TranscriptEditor, JobQueue, str]]:
    store = JobStore(tmp_path / "jobs.sqlite3")
    queue = JobQueue(FakeEngine(), max_workers=1, max_queue_size=2, store=store)
    job = queue.add_finished(
        tmp_path / "speech.wav",
        Transcript(list(MACHINE), language="en", duration=5.0),
        TranscriptionOptions(),
    )
    view = TranscriptView(TranscriptEditor(queue, 0.5))
    qtbot.addWidget(view)
    view.show()
    view.show_job(queue.snapshot(job.id))
    editor = view.editor
    assert editor is not None and view.editing
    editor.view.setFocus()
    editor.view.setCurrentIndex(editor.model.index(0))
    yield editor, queue, job.id
    assert editor.saver.wait(10)
    assert queue.shutdown(10_000)
    store.close()


def _saved(editor: TranscriptEditor, queue: JobQueue, job_id: str) -> tuple[Segment, ...]:
    assert editor.saver.wait(10)
    snapshot = queue.snapshot(job_id)
    assert snapshot is not None and snapshot.transcript is not None
    assert tuple(snapshot.transcript.segments) == snapshot.segments
    return snapshot.segments


def _type_into_row(qtbot, editor: TranscriptEditor, row: int, text: str) -> QLineEdit:
    editor.view.setCurrentIndex(editor.model.index(row))
    qtbot.keyClick(editor.view, Qt.Key.Key_F2)
    (line,) = [e for e in editor.view.findChildren(QLineEdit) if e.isVisible()]
    line.selectAll()
    qtbot.keyClicks(line, text)
    return line


def test_typing_a_row_edits_it_and_undo_redo_walk_the_history(qtbot, editing):
    editor, queue, job_id = editing
    line = _type_into_row(qtbot, editor, 1, "fellow citizens,")
    qtbot.keyClick(line, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: editor.segments[1].text == " fellow citizens,")
    assert editor.segments[1].words[0] == MACHINE[1].words[0]  # unchanged word, own time
    assert _saved(editor, queue, job_id)[1].text == " fellow citizens,"
    assert queue.edited_ids() == {job_id}

    editor.actions_by_key[Shortcut.UNDO_EDIT].trigger()
    assert editor.segments == MACHINE
    assert _saved(editor, queue, job_id) == MACHINE
    assert queue.edited_ids() == set()  # back to the machine's: nothing is edited
    editor.actions_by_key[Shortcut.REDO_EDIT].trigger()
    assert editor.segments[1].text == " fellow citizens,"


def test_split_merge_nudge_replace_and_revert_from_the_keyboard(qtbot, editing):
    editor, queue, job_id = editing
    line = _type_into_row(qtbot, editor, 0, "And so my")
    line.setCursorPosition(len("And so"))
    qtbot.keyClick(line, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    assert [s.text for s in editor.segments[:2]] == [" And so", " my"]
    assert editor.current_row() == 1

    qtbot.keyClick(editor.view, Qt.Key.Key_M, Qt.KeyboardModifier.ControlModifier)
    assert editor.segments[1].text == " my fellow Americans,"

    before = editor.segments[1]
    qtbot.keyClick(editor.view, Qt.Key.Key_Right, Qt.KeyboardModifier.AltModifier)
    assert editor.segments[1].end == pytest.approx(before.end + 0.1)
    qtbot.keyClick(
        editor.view,
        Qt.Key.Key_Left,
        Qt.KeyboardModifier.AltModifier | Qt.KeyboardModifier.ShiftModifier,
    )
    assert editor.segments[1].start == before.start  # it may not reach into the one before
    qtbot.keyClick(
        editor.view,
        Qt.Key.Key_Right,
        Qt.KeyboardModifier.AltModifier | Qt.KeyboardModifier.ShiftModifier,
    )
    assert editor.segments[1].start == pytest.approx(before.start + 0.1)

    editor.find_box.setText("americans")
    editor.replace_box.setText("citizens")
    assert editor.replace_all() == 1
    assert editor.segments[1].text == " my fellow citizens,"
    assert not edits.problems(editor.segments)
    saved = _saved(editor, queue, job_id)
    assert saved == editor.segments

    editor.view.setCurrentIndex(editor.model.index(1))
    assert editor.revert_segment()
    assert editor.segments[1].text == " my fellow Americans,"
    assert editor.revert_all()
    assert editor.segments == MACHINE
    assert _saved(editor, queue, job_id) == MACHINE
    for _ in range(6):  # revert all, revert segment, replace, two nudges, merge
        editor.undo_stack.undo()
    assert [s.text for s in editor.segments[:2]] == [" And so", " my"]


def test_next_unsure_visits_exactly_the_unsure_words_in_order(qtbot, editing):
    editor, _queue, _job_id = editing
    assert editor.unsure_label.text() == "3 unsure words left"
    heard: list[float] = []
    editor.play_requested.connect(heard.append)
    visited = []
    for _ in range(4):
        qtbot.keyClick(editor.view, Qt.Key.Key_F3)
        visited.append(editor.model.current_word)
    expected = [WordPlace(0, 1), WordPlace(1, 0), WordPlace(2, 1)]
    assert visited == [*expected, expected[0]]  # then round again
    # each with a second of context before it, never before the start
    assert heard[:3] == pytest.approx([0.0, 0.5, 2.3])
    assert editor.current_row() == 0
    line = _type_into_row(qtbot, editor, 1, "fellow Americans,")
    qtbot.keyClick(line, Qt.Key.Key_Return)  # the same text: no edit, still unsure
    qtbot.waitUntil(lambda: editor.view.state() is editor.view.State.NoState)
    assert editor.unsure_label.text() == "3 unsure words left"
    line = _type_into_row(qtbot, editor, 1, "yellow Americans,")
    qtbot.keyClick(line, Qt.Key.Key_Return)  # the typed word is sure
    qtbot.waitUntil(lambda: editor.unsure_label.text() == "2 unsure words left")


def test_ctrl_click_on_a_word_being_edited_asks_to_hear_that_word(qtbot, editing):
    editor, _queue, _job_id = editing
    heard: list[float] = []
    editor.play_requested.connect(heard.append)
    editor.view.setCurrentIndex(editor.model.index(2))
    qtbot.keyClick(editor.view, Qt.Key.Key_F2)
    (line,) = [e for e in editor.view.findChildren(QLineEdit) if e.isVisible()]
    assert line.text() == "ask not what"
    at_not = next(
        QPoint(x, line.height() // 2)
        for x in range(line.width())
        if line.cursorPositionAt(QPoint(x, line.height() // 2)) == 5  # inside "not"
    )
    qtbot.mouseClick(line, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.ControlModifier, at_not)
    assert heard == [3.3]
    qtbot.mouseClick(line, Qt.MouseButton.LeftButton, pos=at_not)  # a plain click only edits
    assert heard == [3.3] and line.isVisible()


def test_the_played_word_is_lit_as_the_position_moves(editing):
    """The lighting itself, position by position (tests/gui/test_playback.py drives it from
    the real player)."""
    editor, _queue, _job_id = editing
    for seconds, place in [
        (0.0, WordPlace(0, 0)),
        (0.5, WordPlace(0, 1)),
        (1.2, WordPlace(0, 2)),  # a pause: the last word heard stays lit
        (2.5, WordPlace(1, 1)),
        (3.95, WordPlace(2, 2)),
    ]:
        editor.show_position(seconds)
        assert editor.model.current_word == place
        assert "background:" in editor.model.html(place.segment)


def test_re_transcribing_an_edited_job_asks_first(qtbot, editing, monkeypatch):
    editor, queue, job_id = editing
    asked: list[str] = []

    def answer(_parent, _title, text, *_args):
        asked.append(text)
        return QMessageBox.StandardButton.No

    monkeypatch.setattr(QMessageBox, "question", answer)
    assert editor.confirm_discarding_edits([job_id])  # not edited: no question
    assert not asked
    assert editor.set_text(0, "And so our")
    assert not editor.confirm_discarding_edits([job_id])  # asked even before it is stored
    assert "1 selected job has edited transcripts" in asked[0]
    assert editor.saver.wait(10)
    editor.close_job()
    other = TranscriptEditor(queue, 0.5)  # a later session: the store knows
    assert not other.confirm_discarding_edits([job_id])
    assert len(asked) == 2
    other.deleteLater()


def test_every_editor_control_is_named_and_its_keys_are_declared(editing):
    editor, _queue, _job_id = editing
    assert _unnamed_controls(editor) == []
    assert {key for key in editor.actions_by_key} >= {
        Shortcut.SPLIT_SEGMENT,
        Shortcut.MERGE_SEGMENT,
        Shortcut.NEXT_UNSURE,
        Shortcut.UNDO_EDIT,
    }
    assert not any(key.value == "Space" for key in Shortcut)


def test_edits_reach_the_store_as_they_are_made(qtbot, editing, tmp_path: Path):
    editor, queue, _job_id = editing
    assert editor.set_text(2, "ask now what")
    assert editor.saver.wait(10)
    assert queue.flush(10)  # the queue's writer thread stores the edit a moment later
    again = JobStore(tmp_path / "jobs.sqlite3", read_only=True)
    (job,) = again.load().jobs
    assert job.segments[2].text == " ask now what"
    again.close()


def test_a_row_can_be_edited_again_right_after_an_edit(qtbot, editing):
    editor, _queue, _job_id = editing
    for text in ("fellow citizens,", "fellow citizens, all"):
        line = _type_into_row(qtbot, editor, 1, text)
        qtbot.keyClick(line, Qt.Key.Key_Return)
        qtbot.waitUntil(lambda text=text: editor.segments[1].text == f" {text}")
        qtbot.waitUntil(lambda: editor.view.state() is editor.view.State.NoState)


def test_a_finished_job_selected_in_the_window_opens_in_the_editor(make_window, qtbot, tmp_path):
    window = make_window(FakeEngine(), workers=1, queue_size=3)
    job = window.queue.add_finished(
        tmp_path / "speech.wav",
        Transcript(list(MACHINE), language="en", duration=5.0),
        TranscriptionOptions(),
    )
    window.show()
    qtbot.waitUntil(lambda: window.model.rowCount() == 1)
    window.select_job(job.id)
    editor = window.transcript.editor
    assert editor is not None and window.transcript.editing
    assert editor.segments == MACHINE
    editor.view.setFocus()
    for text in ("fellow citizens,", "fellow citizens, all"):
        line = _type_into_row(qtbot, editor, 1, text)
        qtbot.keyClick(line, Qt.Key.Key_Return)
        qtbot.waitUntil(lambda text=text: editor.segments[1].text == f" {text}")
        qtbot.waitUntil(lambda: editor.view.state() is editor.view.State.NoState)
    assert editor.saver.wait(10)
    snapshot = window.queue.snapshot(job.id)
    assert snapshot is not None and snapshot.segments[1].text == " fellow citizens, all"


def test_a_store_that_cannot_be_read_costs_the_revert_not_the_window(qtbot, tmp_path):
    """Opening a job reads nothing from the store (a closed store once raised there, from a
    state change during shut-down); a revert that needs the store (the machine's text of a job
    edited in an earlier session is only there) says why it cannot."""
    store = JobStore(tmp_path / "jobs.sqlite3")
    earlier = JobQueue(FakeEngine(), max_workers=1, max_queue_size=2, store=store)
    job = earlier.add_finished(
        tmp_path / "speech.wav",
        Transcript(list(MACHINE), language="en", duration=5.0),
        TranscriptionOptions(),
    )
    edited = (replace(MACHINE[0], text=" And so my fellow citizens,"), *MACHINE[1:])
    assert earlier.save_edits(job.id, edited)
    assert earlier.shutdown(10_000)
    queue = JobQueue(FakeEngine(), max_workers=1, max_queue_size=2, store=store)
    queue.restore()
    assert queue.edited_ids() == {job.id}
    snapshot = queue.snapshot(job.id, with_text=True)
    assert snapshot is not None
    store.close()
    editor = TranscriptEditor(queue, 0.5)
    qtbot.addWidget(editor)
    editor.open_job(snapshot)  # no store read: nothing raises
    messages: list[str] = []
    editor.message.connect(messages.append)
    editor.view.setCurrentIndex(editor.model.index(0))
    assert not editor.revert_all()
    assert "cannot be read now" in messages[0]
    assert queue.shutdown(10_000)


# A window that edits a finished job through its editor, says so once the edit is stored, and
# waits to be killed.
EDITING_CHILD = """
import sys
from pathlib import Path
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication
from desktop_app.core.job_store import JobStore
from desktop_app.core.settings import load_settings
from desktop_app.core.transcriber import TranscriptionOptions
from desktop_app.core.transcript import Transcript
from desktop_app.gui.main_window import MainWindow
from tests.fakes import FakeEngine
from tests.gui.test_transcript_editor import MACHINE
app = QApplication([])
window = MainWindow(
    settings=load_settings(environ={}, saved={}), engine=FakeEngine(), environ={},
    store=JobStore(Path(sys.argv[1])),
)
job = window.queue.add_finished(
    Path(sys.argv[2]), Transcript(list(MACHINE), language="en", duration=5.0),
    TranscriptionOptions(),
)
window.transcript.show_job(window.queue.snapshot(job.id))
editor = window.transcript.editor
editor.view.setCurrentIndex(editor.model.index(1))
editor.set_text(1, "fellow citizens,")
editor.merge()
def report():
    if editor.saver.wait(0):
        print("stored", flush=True)
    else:
        QTimer.singleShot(20, report)
report()
app.exec()
"""


def test_edits_survive_a_kill_of_the_window_and_revert_all_restores_the_machine_text(
    qtbot, tmp_path
):
    import os
    import signal
    import subprocess
    import sys

    from desktop_app.core.settings import load_settings
    from desktop_app.gui.main_window import MainWindow

    repo = Path(__file__).resolve().parents[2]
    store_path = tmp_path / "jobs.sqlite3"
    child = subprocess.Popen(
        [sys.executable, "-c", EDITING_CHILD, str(store_path), str(tmp_path / "speech.wav")],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(repo), "QT_QPA_PLATFORM": "offscreen"},
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "stored"
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
        if child.stdout is not None:
            child.stdout.close()
    assert child.returncode == -signal.SIGKILL

    window = MainWindow(
        settings=load_settings(environ={}, saved={}),
        engine=FakeEngine(),
        environ={},
        store=JobStore(store_path),
    )
    qtbot.addWidget(window)
    try:
        qtbot.waitUntil(lambda: not window.restoring)
        (job,) = window.queue.jobs()
        window.select_job(job.id)
        editor = window.transcript.editor
        assert editor is not None and window.transcript.editing
        assert [s.text for s in editor.segments] == [
            " And so my",
            " fellow citizens, ask not what",
        ]
        assert editor.revert_all()
        assert editor.segments == MACHINE  # exactly: text, times, words
        assert editor.saver.wait(10)
        assert tuple(window.queue.snapshot(job.id).segments) == MACHINE  # type: ignore[union-attr]
        assert window.queue.edited_ids() == set()
    finally:
        window.shutdown()
