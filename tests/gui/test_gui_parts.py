"""The window's parts on their own: the job model, dialogs, accessibility and error reporting."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from PySide6.QtWidgets import (
    QAbstractButton,
    QAbstractItemView,
    QAbstractSpinBox,
    QComboBox,
    QHeaderView,
    QLineEdit,
    QPlainTextEdit,
    QWidget,
)

from desktop_app.core.settings import load_settings
from desktop_app.core.transcriber import TranscriptionOptions
from desktop_app.core.transcript import Segment, Transcript
from desktop_app.gui.errors import ErrorReporter
from desktop_app.gui.export_dialog import ExportDialog
from desktop_app.gui.job_model import JobRole, JobTableModel
from desktop_app.gui.preferences import Preferences
from desktop_app.gui.settings_dialog import SettingsDialog
from desktop_app.gui.window_actions import Command
from desktop_app.job_queue import JobQueue
from tests.fakes import FakeEngine

INTERACTIVE = (
    QAbstractButton,
    QLineEdit,
    QAbstractItemView,
    QAbstractSpinBox,
    QComboBox,
    QPlainTextEdit,
)


def test_job_model_passes_qtmodeltester(qtmodeltester, qtbot):
    gate = threading.Event()
    queue = JobQueue(FakeEngine(gate=gate), max_workers=1, max_queue_size=5)
    try:
        model = JobTableModel(queue)
        queue.add_finished(Path("dictation.wav"), Transcript(duration=1.0), TranscriptionOptions())
        jobs = [queue.submit(Path(f"bad{i}.wav")).job for i in range(1)]
        jobs += [queue.submit(Path(f"file{i}.wav")).job for i in range(3)]
        qtmodeltester.check(model, force_py=True)
        queue.move_to_top(jobs[-1].id)
        queue.cancel(jobs[-2].id)
        assert model.rowCount() == 5
        listed = [model.index(r, 0).data() for r in range(5)]
        assert listed == [job.name for job in queue.jobs()]
        assert listed.index("file2.wav") < listed.index("file1.wav")
        qtmodeltester.check(model, force_py=True)
    finally:
        gate.set()
        assert queue.shutdown(10_000)


def test_one_jobs_change_updates_its_row_only(qtbot):
    gate = threading.Event()
    queue = JobQueue(FakeEngine(segments=2, gate=gate), max_workers=1, max_queue_size=5)
    try:
        model = JobTableModel(queue)
        first = queue.submit(Path("one.wav")).job
        queue.submit(Path("two.wav"))
        rows: list[tuple[int, int]] = []
        model.dataChanged.connect(
            lambda top, bottom, _roles: rows.append((top.row(), bottom.row()))
        )
        gate.set()
        qtbot.waitUntil(lambda: queue.job(first.id).state.finished)
        # The row shows a snapshot taken when the queue's signal arrives on this thread, which
        # may come after the worker has finished: wait for what the list shows.
        qtbot.waitUntil(lambda: model.index(0, 0).data(JobRole.PROGRESS) == 1.0)
        assert rows and all(top == bottom for top, bottom in rows)
    finally:
        gate.set()
        assert queue.shutdown(10_000)


def _unnamed_controls(root: QWidget) -> list[str]:
    missing = []
    for widget in root.findChildren(QWidget):
        if not isinstance(widget, INTERACTIVE) or isinstance(widget, QHeaderView):
            continue
        if widget.objectName().startswith("qt_") or not widget.isVisibleTo(root):
            continue
        if isinstance(widget.parent(), (QAbstractSpinBox, QComboBox)):
            continue  # the editor inside a spin box or combo box is named by its owner
        if not widget.accessibleName():
            missing.append(f"{type(widget).__name__} {widget.objectName()!r} {widget!r}")
    return missing


def test_every_control_has_an_accessible_name_and_job_actions_have_shortcuts(make_window, qtbot):
    window = make_window(FakeEngine(), workers=1, queue_size=3)
    window.show()
    qtbot.waitExposed(window)
    assert _unnamed_controls(window) == []
    for action in [
        *window.commands.job_actions(),
        window.commands[Command.ADD_FILES],
        window.commands[Command.ADD_FOLDER],
        window.commands[Command.EXPORT_ALL],
        window.commands[Command.SETTINGS],
    ]:
        assert not action.shortcut().isEmpty(), action.text()
    settings = SettingsDialog(window.settings, {}, Preferences(), window)
    export = ExportDialog(2, ["srt"], "", window)
    for dialog in (settings, export):
        qtbot.addWidget(dialog)
        dialog.show()
        assert _unnamed_controls(dialog) == []


def test_settings_dialog_is_built_from_the_specs_and_validates(qtbot):
    settings = load_settings(environ={}, saved={})
    dialog = SettingsDialog(settings, {"MAX_QUEUE_SIZE": "12"}, Preferences())
    qtbot.addWidget(dialog)
    assert not dialog.fields["max_queue_size"].isEnabled()
    assert "max_queue_size" not in dialog.values()
    assert "MAX_QUEUE_SIZE" in dialog.fields["max_queue_size"].toolTip()
    # tiny.en is English-only: translate is not offered.
    task = dialog.fields["task"]
    assert not task.model().item(task.findText("translate")).isEnabled()
    dialog.set_value("max_concurrent_workers", 3)
    dialog.set_value("vad_filter", False)
    assert dialog.values()["max_concurrent_workers"] == 3
    assert dialog.values()["vad_filter"] is False
    dialog.set_value("language", "de")
    assert "English-only" in dialog.validate()
    assert not dialog.buttons.buttons()[0].isEnabled() or not dialog.problem.isHidden()
    dialog.set_value("whisper_model_size", "small")
    assert dialog.validate() == ""
    assert task.model().item(task.findText("translate")).isEnabled()


def test_unexpected_errors_in_threads_reach_one_dialog_and_the_log(qtbot, caplog):
    reporter = ErrorReporter(None, Path("/tmp/verbatim.log"))
    reporter.install()
    try:

        def explode() -> None:
            raise RuntimeError("boom in a worker")

        with qtbot.waitSignal(reporter.error_reported, timeout=5_000) as blocker:
            thread = threading.Thread(target=explode, name="exploder")
            thread.start()
            thread.join()
        assert blocker.args == ["RuntimeError: boom in a worker"]
        assert reporter.dialog is not None and reporter.dialog.isVisible()
        with qtbot.waitSignal(reporter.error_reported):
            reporter.report(ValueError, ValueError("second"), None, "a timer")
        assert reporter.more_errors == 1  # counted into the open dialog, not a second one
        assert "boom in a worker" in caplog.text
    finally:
        reporter.uninstall()
        if reporter.dialog is not None:
            reporter.dialog.close()
            reporter.dialog.deleteLater()


@pytest.mark.parametrize("count", [1, 3])
def test_export_dialog_needs_a_format(qtbot, count):
    dialog = ExportDialog(count, [], "")
    qtbot.addWidget(dialog)
    ok = dialog.buttons.buttons()[0]
    assert not ok.isEnabled()
    dialog.format_boxes["srt"].setChecked(True)
    assert ok.isEnabled() and dialog.formats() == ["srt"] and dialog.output_dir() is None


def test_transcript_segments_render_with_timestamps():
    from desktop_app.gui.transcript_view import segment_line

    assert segment_line(Segment(61.25, 63.0, "Hi.")) == "[1:01.2 → 1:03.0]  Hi."
