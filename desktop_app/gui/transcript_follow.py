"""Keeps the transcript pane showing its job as the job is now.

The pane shows a frozen snapshot of one job; what changes later reaches it from the queue's
signals, on the GUI thread: each new segment with its index (so one already in the snapshot is
never shown twice), progress and details in the header, and a fresh snapshot when the job's
state changes, when an action changed it, or when the pane missed a segment.
"""

from __future__ import annotations

from collections.abc import Collection

from PySide6.QtCore import QObject, Slot

from desktop_app.core.jobs import JobState
from desktop_app.core.transcript import Segment
from desktop_app.gui.transcript_view import TranscriptView
from desktop_app.job_queue import JobQueue


class TranscriptFollow(QObject):
    def __init__(self, queue: JobQueue, transcript: TranscriptView, parent: QObject) -> None:
        super().__init__(parent)
        self.queue = queue
        self.transcript = transcript
        queue.segment_added.connect(self._on_segment)
        queue.job_progress.connect(self.refresh_header)
        queue.job_updated.connect(self.refresh_header)
        queue.job_state_changed.connect(self._on_state)
        transcript.needs_snapshot.connect(self.refresh_one)

    def show(self, job_id: str | None) -> None:
        """Show ``job_id`` (None: no job) from a new snapshot."""
        self.transcript.show_job(self.queue.snapshot(job_id) if job_id is not None else None)

    def refresh(self, job_ids: Collection[str]) -> None:
        """Show the shown job afresh if it is one of ``job_ids``."""
        shown = self.transcript.job_id
        if shown is not None and shown in job_ids:
            self.refresh_one(shown)

    @Slot(str)
    def refresh_one(self, job_id: str) -> None:
        """Show ``job_id`` afresh from a new snapshot, if it is the job on show."""
        if job_id == self.transcript.job_id:
            self.show(job_id)

    @Slot(str)
    def refresh_header(self, job_id: str) -> None:
        """Progress and details of the shown job reach its header as they reach its row."""
        if job_id == self.transcript.job_id:
            job = self.queue.snapshot(job_id)
            if job is not None:
                self.transcript.show_header(job)

    @Slot(str, int, object)
    def _on_segment(self, job_id: str, index: int, segment: Segment) -> None:
        self.transcript.append_segment(job_id, index, segment)

    @Slot(str, object)
    def _on_state(self, job_id: str, _state: JobState) -> None:
        self.refresh_one(job_id)
