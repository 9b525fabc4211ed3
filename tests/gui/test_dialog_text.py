"""Every dialog shows its words whole at its default size: no label cut, no text elided.

Each text is measured as Qt paints it (font metrics, or a text document for rich text) against
the room the widget really has (the style's content rectangle), word-wrap aware: a wrapped label
must fit each unbreakable piece on a line and all its lines in its height.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from PySide6 import QtGui
from PySide6.QtCore import QRect, Qt, QTimer
from PySide6.QtGui import QTextDocument
from PySide6.QtWidgets import (
    QAbstractButton,
    QApplication,
    QComboBox,
    QDialog,
    QLabel,
    QLineEdit,
    QMessageBox,
    QStyle,
    QStyleOptionComboBox,
    QStyleOptionFrame,
    QWidget,
)

from desktop_app.core.settings import SPECS_BY_NAME, load_settings
from desktop_app.core.transcriber import TranscriptionOptions
from desktop_app.gui.about_dialog import AboutDialog
from desktop_app.gui.errors import ErrorReporter
from desktop_app.gui.export_dialog import ExportDialog
from desktop_app.gui.job_options_dialog import JOB_FIELDS, JobOptionsDialog
from desktop_app.gui.preferences import Preferences
from desktop_app.gui.settings_dialog import DIALOG_SETTINGS, LABELS, SettingsDialog
from tests.fakes import FakeEngine

#: QLineEdit's own margin inside its contents rectangle, each side (QLineEditPrivate).
LINE_EDIT_MARGIN = 2


def _shown(widget: QWidget, top: QWidget) -> bool:
    return widget.isVisibleTo(top) and widget.width() > 0


def _label_problem(label: QLabel) -> str | None:
    text = label.text()
    if not text:
        return None
    room = label.contentsRect().adjusted(
        label.margin(), label.margin(), -label.margin(), -label.margin()
    )
    wrap = label.wordWrap()
    if label.textFormat() is Qt.TextFormat.RichText or (
        label.textFormat() is Qt.TextFormat.AutoText and QtGui.Qt.mightBeRichText(text)
    ):
        document = QTextDocument()
        document.setDefaultFont(label.font())
        document.setDocumentMargin(0)
        document.setHtml(text)
        if not wrap:
            if document.idealWidth() > room.width():
                return f"needs {document.idealWidth():.0f} px, has {room.width()}"
            return None
        document.setTextWidth(room.width())
        if document.idealWidth() > room.width() or document.size().height() > room.height():
            return f"needs {document.size().toSize()} px, has {room.size()}"
        return None
    # With a buddy, "&" marks the mnemonic and is not drawn ("&&" draws one "&").
    shown = text.replace("&&", "\0").replace("&", "").replace("\0", "&") if label.buddy() else text
    metrics = label.fontMetrics()
    if not wrap:
        widest = max(metrics.horizontalAdvance(line) for line in shown.splitlines())
        if widest > room.width():
            return f"needs {widest} px, has {room.width()}"
        return None
    # Qt breaks lines where Unicode allows (spaces, after "/"); a piece it cannot break makes
    # the bounding rectangle wider than the room.
    needed = metrics.boundingRect(
        QRect(0, 0, room.width(), 100_000), int(Qt.TextFlag.TextWordWrap), shown
    )
    if needed.width() > room.width() or needed.height() > room.height():
        return f"needs {needed.size()} px, has {room.size()}"
    return None


def _line_edit_problem(edit: QLineEdit) -> str | None:
    text = edit.text() or edit.placeholderText()
    if not text:
        return None
    option = QStyleOptionFrame()
    edit.initStyleOption(option)
    contents = edit.style().subElementRect(QStyle.SubElement.SE_LineEditContents, option, edit)
    margins = edit.textMargins()
    room = contents.width() - margins.left() - margins.right() - 2 * LINE_EDIT_MARGIN
    needed = edit.fontMetrics().horizontalAdvance(text)
    return f"needs {needed} px, has {room}" if needed > room else None


def _combo_problem(combo: QComboBox) -> str | None:
    if combo.isEditable():
        return None  # its line edit is checked as one
    option = QStyleOptionComboBox()
    combo.initStyleOption(option)
    field = combo.style().subControlRect(
        QStyle.ComplexControl.CC_ComboBox, option, QStyle.SubControl.SC_ComboBoxEditField, combo
    )
    needed = combo.fontMetrics().horizontalAdvance(combo.currentText())
    return f"needs {needed} px, has {field.width()}" if needed > field.width() else None


def _button_problem(button: QAbstractButton) -> str | None:
    needed, has = button.sizeHint().width(), button.width()
    return f"needs {needed} px, has {has}" if button.text() and has < needed else None


def cut_texts(top: QWidget) -> list[str]:
    """Each visible text in ``top`` that is cut or elided, as "kind 'text': needs/has"."""
    problems: list[str] = []
    for widget in top.findChildren(QWidget):
        if not _shown(widget, top):
            continue
        if isinstance(widget, QLabel):
            text, problem = widget.text()[:60], _label_problem(widget)
        elif isinstance(widget, QLineEdit):
            text = widget.text() or widget.placeholderText()
            problem = _line_edit_problem(widget)
        elif isinstance(widget, QComboBox):
            text, problem = widget.currentText(), _combo_problem(widget)
        elif isinstance(widget, QAbstractButton):
            text, problem = widget.text(), _button_problem(widget)
        else:
            continue
        if problem:
            problems.append(f"{type(widget).__name__} {text!r}: {problem}")
    return problems


def _settings_dialog(environ: dict[str, str] | None = None) -> SettingsDialog:
    return SettingsDialog(load_settings(environ={}), environ or {}, Preferences())


def _settings_with_a_problem() -> SettingsDialog:
    dialog = _settings_dialog()
    dialog.set_value("language", "de")  # tiny.en is English-only: the problem sentence shows
    return dialog


def _job_options(count: int) -> Callable[[], QDialog]:
    options = TranscriptionOptions.from_settings(load_settings(environ={}))
    return lambda: JobOptionsDialog(options, count)


def _job_options_with_a_problem() -> JobOptionsDialog:
    dialog = JobOptionsDialog(TranscriptionOptions.from_settings(load_settings(environ={})))
    dialog.set_value("language", "de")
    return dialog


DIALOGS: dict[str, Callable[[], QDialog]] = {
    "settings": _settings_dialog,
    "settings locked by the environment": lambda: _settings_dialog({"MAX_QUEUE_SIZE": "12"}),
    "settings with a problem": _settings_with_a_problem,
    "export one": lambda: ExportDialog(1, ["srt"], ""),
    "export many": lambda: ExportDialog(250, ["txt", "srt"], ""),
    "job options": _job_options(1),
    "options of 12 jobs": _job_options(12),
    "job options with a problem": _job_options_with_a_problem,
    "about": lambda: AboutDialog("tiny.en"),
}


@pytest.mark.parametrize("make", DIALOGS.values(), ids=DIALOGS.keys())
def test_no_text_in_a_dialog_is_cut_at_its_default_size(qtbot, make) -> None:
    dialog = make()
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitUntil(dialog.isVisible)
    assert cut_texts(dialog) == []


def test_the_folder_hint_reads_whole_in_export_and_settings(qtbot) -> None:
    for dialog in (ExportDialog(2, ["srt"], ""), _settings_dialog()):
        qtbot.addWidget(dialog)
        dialog.show()
        edit = next(e for e in dialog.findChildren(QLineEdit) if e.placeholderText())
        assert edit.placeholderText() == "Beside each source file"
        assert _line_edit_problem(edit) is None


def test_job_options_reads_as_lines_not_a_narrow_column(qtbot) -> None:
    dialog = _job_options(1)()
    qtbot.addWidget(dialog)
    dialog.show()
    intro = dialog.findChildren(QLabel)[0]
    assert intro.text().startswith("These apply")
    metrics = intro.fontMetrics()
    lines = (
        metrics.boundingRect(
            QRect(0, 0, intro.contentsRect().width(), 100_000),
            int(Qt.TextFlag.TextWordWrap),
            intro.text(),
        ).height()
        // metrics.lineSpacing()
    )
    assert lines <= 2


def _message_boxes_of(trigger: Callable[[], object]) -> list[list[str]]:
    """Run ``trigger``, which opens a modal message box; check the box, then dismiss it."""
    found: list[list[str]] = []

    def inspect() -> None:
        box = QApplication.activeModalWidget()
        if box is None:  # not open yet
            QTimer.singleShot(10, inspect)
            return
        # Recorded, not asserted: an assertion here would leave the box open and the test hung.
        found.append(cut_texts(box) if isinstance(box, QMessageBox) else [f"{box!r} opened"])
        box.reject()

    QTimer.singleShot(0, inspect)
    trigger()
    return found


def test_the_windows_message_boxes_show_their_words_whole(make_window, qtbot, tmp_path) -> None:
    window = make_window(FakeEngine())
    existing = [tmp_path / f"a rather long recording name {index}.srt" for index in range(7)]
    assert _message_boxes_of(lambda: window.export_flow.confirm_overwrite(existing)) == [[]]
    panel = window.live_panel
    message = f"The folder {tmp_path} is read-only: the dictation could not be written there."
    assert _message_boxes_of(lambda: panel._export_failed(message)) == [[]]

    reporter = ErrorReporter(window, Path("/tmp/verbatim-tests.log"))
    reporter._show("RuntimeError: something deep inside went wrong")
    assert reporter.dialog is not None
    qtbot.addWidget(reporter.dialog)
    qtbot.waitUntil(reporter.dialog.isVisible)
    assert cut_texts(reporter.dialog) == []
    reporter.dialog.close()


def test_settings_labels_are_the_specs_and_explain_themselves(qtbot) -> None:
    dialog = _settings_dialog()
    qtbot.addWidget(dialog)
    labels = {label.buddy(): label for label in dialog.findChildren(QLabel) if label.buddy()}
    for name in DIALOG_SETTINGS:
        spec = SPECS_BY_NAME[name]
        field = dialog.fields[name]
        label = labels[field]
        assert label.text().replace("&", "") == spec.label
        # The help is on the name a user points at, not only on the box; from the one spec.
        for widget in (label, field):
            assert spec.description.split(":")[0] in widget.toolTip()
            assert widget.whatsThis() == widget.toolTip()
    assert "VAD" in SPECS_BY_NAME["vad_filter"].description  # the label's acronym spelled out
    assert "beam search" in SPECS_BY_NAME["beam_size"].description
    assert "worker" in SPECS_BY_NAME["max_concurrent_workers"].description


def test_job_options_explain_their_fields_from_the_same_specs(qtbot) -> None:
    dialog = _job_options(1)()
    qtbot.addWidget(dialog)
    labels = {label.buddy(): label for label in dialog.findChildren(QLabel) if label.buddy()}
    for name in JOB_FIELDS:
        label = labels[dialog.fields[name]]
        assert label.text() == LABELS[name]
        assert SPECS_BY_NAME[name].description.split(":")[0] in label.toolTip()
