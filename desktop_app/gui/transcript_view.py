"""The transcript of the selected job: timestamped segments that grow live, with copy and find."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtGui import QGuiApplication, QShortcut, QTextDocument
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from desktop_app.core.jobs import JobSnapshot, JobState
from desktop_app.core.transcript import Segment
from desktop_app.core.wording import plural
from desktop_app.gui.playback import PlaybackPanel
from desktop_app.gui.shortcuts import Shortcut
from desktop_app.gui.transcript_editor import TranscriptEditor

NO_JOB_HINT = "Select a job to read its transcript. Text appears here as it is recognised."
RUNNING_HINT = "Transcribing… the text appears here as it is recognised."
WAITING_TEXT = "Waiting for a free worker…"


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
    """Shows one job: a snapshot's segments, then each new segment as it arrives.

    ``segment_added`` updates carry the segment's index, and the view counts the segments it
    shows, so an update the snapshot already held is ignored rather than shown twice.
    """

    find_result = Signal(bool)
    needs_snapshot = Signal(str)  # job id: an update skipped a position, show a fresh snapshot

    def __init__(
        self, editor: TranscriptEditor | None = None, parent: QWidget | None = None
    ) -> None:
        """With an ``editor``, a finished job's transcript opens in it for proofreading; the
        plain text pane shows the rest (running, queued, failed jobs)."""
        super().__init__(parent)
        self.editor = editor
        #: Playback of a job open in the editor (none without an editor).
        self.playback = PlaybackPanel() if editor is not None else None
        self.job_id: str | None = None
        #: How many of the job's live segments the text shows: the index the next one must have.
        self.shown_segments = 0
        self.title = QLabel("No job selected")
        self.title.setObjectName("transcriptTitle")
        self.title.setAccessibleName("Selected job")
        self.title.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.text = QPlainTextEdit()
        self.text.setReadOnly(True)
        self.text.setAccessibleName("Transcript")
        self.text.setPlaceholderText(NO_JOB_HINT)
        self.find_box = QLineEdit()
        self.find_box.setPlaceholderText(f"Find in transcript ({Shortcut.FIND.text})")
        self.find_box.setAccessibleName("Find in transcript")
        self.find_box.setClearButtonEnabled(True)
        self.find_box.returnPressed.connect(self.find_next)
        self.find_button = QPushButton("Find next")
        self.find_button.setAccessibleName("Find next")
        self.find_button.clicked.connect(self.find_next)
        self.copy_button = QPushButton("Copy transcript")
        self.copy_button.setAccessibleName("Copy transcript")
        self.copy_button.setToolTip(
            f"Copy the whole transcript as plain text ({Shortcut.COPY_TRANSCRIPT.text})"
        )
        self.copy_button.clicked.connect(self.copy)
        QShortcut(Shortcut.FIND.keys, self, self._focus_find)
        QShortcut(Shortcut.COPY_TRANSCRIPT.keys, self, self.copy)

        tools = QHBoxLayout()
        tools.addWidget(self.find_box, 1)
        tools.addWidget(self.find_button)
        tools.addWidget(self.copy_button)
        self.pages = QStackedWidget()
        self.pages.addWidget(self.text)
        if editor is not None:
            self.pages.addWidget(editor)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.title)
        if editor is not None and self.playback is not None:
            self.playback.add_shortcuts_to(editor)  # the keys work while typing in a row
            editor.play_requested.connect(self.playback.play_from)
            self.playback.position_changed.connect(editor.show_position)
            self.playback.start_here.connect(editor.start_at)
            self.playback.end_here.connect(editor.end_at)
            self.playback.relocated.connect(editor.queue.relocate)
            self.playback.hide()
            layout.addWidget(self.playback)
        layout.addWidget(self.pages, 1)
        layout.addLayout(tools)

    def confirm_discarding_edits(self, job_ids: list[str]) -> bool:
        """Whether re-transcribing ``job_ids`` may go ahead (the user is asked if any has
        edits); always without an editor."""
        return self.editor is None or self.editor.confirm_discarding_edits(job_ids)

    @property
    def editing(self) -> bool:
        """Whether the shown job is open in the editor."""
        return self.editor is not None and self.pages.currentWidget() is self.editor

    def show_job(self, job: JobSnapshot | None) -> None:
        """Replace the pane's content with ``job`` (or the empty state)."""
        self.job_id = job.id if job is not None else None
        self.text.clear()
        self.shown_segments = 0
        if job is None:
            self._show_editor(False)
            self.title.setText("No job selected")
            self.text.setPlaceholderText(NO_JOB_HINT)
            return
        self.show_header(job)
        # A finished job with text opens in the editor; the plain text below is still made,
        # for copying and for a job without speech ("No speech was found").
        editable = job.state is JobState.DONE and job.transcript is not None and job.segments
        if self.editor is not None and editable:
            self.editor.open_job(job)
            if self.playback is not None:
                self.playback.open(job.id, job.path)
        self._show_editor(bool(editable))
        self.text.setPlaceholderText(RUNNING_HINT if job.state is JobState.RUNNING else "")
        segments = tuple(job.transcript.segments) if job.transcript is not None else job.segments
        # A finished job's transcript holds the same segments: updates still on their way for
        # it are skipped like those of a running job.
        self.shown_segments = len(segments)
        lines = [segment_line(segment) for segment in segments]
        if job.state is JobState.FAILED and job.error:
            lines.append(f"This job failed: {job.error}")
        elif not lines and job.state is JobState.QUEUED:
            lines.append(WAITING_TEXT)
        elif not lines and job.state is JobState.DONE:
            lines.append("No speech was found in this file.")
        self.text.setPlainText("\n".join(lines))

    def show_header(self, job: JobSnapshot) -> None:
        """Bring the title up to date (state and progress) without touching the text."""
        if job.id == self.job_id:
            self.title.setText(f"{job.name} — {self._state_note(job)}")

    @Slot(str, int, object)
    def append_segment(self, job_id: str, index: int, segment: Segment) -> None:
        """Show segment ``index`` of the shown job if it is the next one; one the shown snapshot
        already held is ignored, so no segment appears twice, and a gap asks for a snapshot,
        so none goes missing."""
        if job_id != self.job_id or index < self.shown_segments:
            return
        if index > self.shown_segments:  # one went missing: show the job afresh
            self.needs_snapshot.emit(job_id)
            return
        if self.shown_segments == 0:
            self.text.clear()  # the "waiting" line
        self.text.appendPlainText(segment_line(segment))
        self.shown_segments += 1

    def _show_editor(self, shown: bool) -> None:
        """The editor has its own find and replace; the plain pane's tools are for the text."""
        shown = shown and self.editor is not None
        if self.editor is not None and not shown:
            self.editor.close_job()
        if self.playback is not None:
            if not shown:
                self.playback.close_job()
            self.playback.setVisible(shown)
        self.pages.setCurrentWidget(self.editor if shown and self.editor else self.text)
        self.find_box.setVisible(not shown)
        self.find_button.setVisible(not shown)

    @Slot()
    def copy(self) -> None:
        if self.editing and self.editor is not None:
            QGuiApplication.clipboard().setText(self.editor.text())
            return
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
        if self.editing and self.editor is not None:
            self.editor.focus_find()
            return
        self.find_box.setFocus()
        self.find_box.selectAll()

    @staticmethod
    def _state_note(job: JobSnapshot) -> str:
        if job.state is JobState.RUNNING:
            return "cancelling…" if job.cancelling else f"running, {job.progress:.0%}"
        if job.state is JobState.DONE and job.transcript is not None:
            language = job.transcript.language or job.options.language
            return f"done ({language}, {plural(len(job.transcript.segments), 'segment')})"
        return job.state.label.lower()
