"""The transcript of the selected job: timestamped segments that grow live, with copy and find."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtGui import QGuiApplication, QKeySequence, QShortcut, QTextDocument
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from desktop_app.core.jobs import Job, JobState
from desktop_app.core.transcript import Segment


def segment_line(segment: Segment) -> str:
    """``[m:ss.s → m:ss.s]  text``: precise enough to find the place in the recording."""
    return f"[{_clock(segment.start)} → {_clock(segment.end)}]  {segment.text}"


def _clock(seconds: float) -> str:
    minutes, secs = divmod(max(0.0, seconds), 60)
    hours, minutes = divmod(int(minutes), 60)
    if hours:
        return f"{hours}:{minutes:02d}:{secs:04.1f}"
    return f"{minutes}:{secs:04.1f}"


class TranscriptView(QWidget):
    """Shows one job; segments for that job are appended as they arrive, nothing is re-read."""

    find_result = Signal(bool)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.job_id: str | None = None
        self.title = QLabel("No job selected")
        self.title.setObjectName("transcriptTitle")
        self.title.setAccessibleName("Selected job")
        self.title.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.text = QPlainTextEdit()
        self.text.setReadOnly(True)
        self.text.setAccessibleName("Transcript")
        self.text.setPlaceholderText(
            "Select a job to read its transcript. Text appears here as it is recognised."
        )
        self.find_box = QLineEdit()
        self.find_box.setPlaceholderText("Find in transcript (Ctrl+F)")
        self.find_box.setAccessibleName("Find in transcript")
        self.find_box.setClearButtonEnabled(True)
        self.find_box.returnPressed.connect(self.find_next)
        self.find_button = QPushButton("Find next")
        self.find_button.setAccessibleName("Find next")
        self.find_button.clicked.connect(self.find_next)
        self.copy_button = QPushButton("Copy transcript")
        self.copy_button.setAccessibleName("Copy transcript")
        self.copy_button.setToolTip("Copy the whole transcript as plain text (Ctrl+Shift+C)")
        self.copy_button.clicked.connect(self.copy)
        QShortcut(QKeySequence.StandardKey.Find, self, self._focus_find)
        QShortcut(QKeySequence("Ctrl+Shift+C"), self, self.copy)

        tools = QHBoxLayout()
        tools.addWidget(self.find_box, 1)
        tools.addWidget(self.find_button)
        tools.addWidget(self.copy_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.title)
        layout.addWidget(self.text, 1)
        layout.addLayout(tools)

    def show_job(self, job: Job | None) -> None:
        """Replace the pane's content with ``job`` (or the empty state)."""
        self.job_id = job.id if job is not None else None
        self.text.clear()
        if job is None:
            self.title.setText("No job selected")
            return
        self.title.setText(f"{job.name} — {self._state_note(job)}")
        segments = job.transcript.segments if job.transcript is not None else list(job.segments)
        lines = [segment_line(segment) for segment in segments]
        if job.state is JobState.FAILED and job.error:
            lines.append(f"This job failed: {job.error}")
        elif not lines and job.state is JobState.QUEUED:
            lines.append("Waiting for a free worker…")
        elif not lines and job.state is JobState.DONE:
            lines.append("No speech was found in this file.")
        self.text.setPlainText("\n".join(lines))

    def refresh_title(self, job: Job) -> None:
        if job.id == self.job_id:
            self.show_job(job)

    @Slot(str, object)
    def append_segment(self, job_id: str, segment: Segment) -> None:
        if job_id != self.job_id:
            return
        if self.text.toPlainText().startswith("Waiting for a free worker"):
            self.text.clear()
        self.text.appendPlainText(segment_line(segment))

    @Slot()
    def copy(self) -> None:
        QGuiApplication.clipboard().setText(self.text.toPlainText())

    @Slot()
    def find_next(self) -> bool:
        """Find the next match, wrapping at the end; says so through :attr:`find_result`."""
        needle = self.find_box.text()
        if not needle:
            return False
        found = self.text.find(needle)
        if not found:
            cursor = self.text.textCursor()
            cursor.movePosition(cursor.MoveOperation.Start)
            self.text.setTextCursor(cursor)
            found = self.text.find(needle, QTextDocument.FindFlag(0))
        self.find_result.emit(found)
        return found

    def _focus_find(self) -> None:
        self.find_box.setFocus()
        self.find_box.selectAll()

    @staticmethod
    def _state_note(job: Job) -> str:
        if job.state is JobState.RUNNING:
            return f"running, {job.progress:.0%}"
        if job.state is JobState.DONE and job.transcript is not None:
            language = job.transcript.language or job.options.language
            return f"done ({language}, {len(job.transcript.segments)} segments)"
        return job.state.label.lower()
