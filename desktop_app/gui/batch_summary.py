"""The "All jobs finished" summary: which jobs ran since the last one, and how they ended.

Narrow inputs: the queue (its state changes and ``idle``), the status bar, and the window to
alert when it is not the active one.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal, Slot
from PySide6.QtWidgets import QApplication, QStatusBar, QWidget

from desktop_app.core.jobs import JobState
from desktop_app.job_queue import JobQueue


class BatchSummary(QObject):
    """Says in the status bar how the jobs that ran ended, once the queue is idle."""

    finished = Signal()  # the summary was shown

    def __init__(self, queue: JobQueue, status: QStatusBar, window: QWidget) -> None:
        super().__init__(window)
        self.queue = queue
        self.status = status
        self.window = window
        #: Jobs that ran since the last summary (ordered set: a retry counts once).
        self._batch: dict[str, None] = {}
        self._shown = ""  # the summary, while it is shown
        queue.job_state_changed.connect(self._on_job_state)
        queue.idle.connect(self._on_idle)

    @Slot(str, object)
    def _on_job_state(self, job_id: str, state: JobState) -> None:
        if state is JobState.RUNNING:
            self._batch[job_id] = None
        if not state.finished and self._shown:
            # A retried or newly started job: "All jobs finished" is no longer true.
            if self.status.currentMessage() == self._shown:
                self.status.clearMessage()
            self._shown = ""

    @Slot()
    def _on_idle(self) -> None:
        # Fresh snapshots: a worker's "done" may reach the window after another's "idle".
        finished = self.queue.snapshots(list(self._batch))
        self._batch = {}
        if not finished:
            return
        done = sum(1 for job in finished if job.state is JobState.DONE)
        failed = sum(1 for job in finished if job.state is JobState.FAILED)
        message = f"All jobs finished: {done} done" + (f", {failed} failed." if failed else ".")
        self._shown = message
        self.status.showMessage(message)
        if not self.window.isActiveWindow():
            QApplication.alert(self.window)
        self.finished.emit()
