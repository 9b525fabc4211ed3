"""What the job actions do to the selected jobs: cancel, retry, move to top, remove, reveal,
change options, re-transcribe.

Narrow inputs: the queue, the selection (job ids in the list's order), a place to show a notice,
the status bar and a parent for dialogs. ``changed`` tells the window which shown jobs to show
afresh; it refreshes its actions on every emission.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, Qt, QUrl, Signal, Slot
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import QStatusBar, QWidget

from desktop_app.core.jobs import JobSnapshot, JobState
from desktop_app.core.wording import plural
from desktop_app.gui.job_options_dialog import JobOptionsDialog
from desktop_app.gui.shortcuts import Shortcut
from desktop_app.job_queue import JobQueue

#: States whose options may be edited: the job is not running and will (or may) run again.
EDITABLE_STATES = frozenset({JobState.QUEUED, JobState.FAILED, JobState.CANCELLED})
RETRYABLE_STATES = frozenset({JobState.FAILED, JobState.CANCELLED})


class JobActions(QObject):
    """The job actions' slots, over the queue and the window's selection."""

    changed = Signal(list)  # ids of jobs whose transcript pane must be shown afresh (may be [])

    def __init__(
        self,
        queue: JobQueue,
        selected_ids: Callable[[], list[str]],
        notify: Callable[[str], None],
        status: QStatusBar,
        parent: QWidget,
        confirm_discarding_edits: Callable[[list[str]], bool] = lambda job_ids: True,
    ) -> None:
        super().__init__(parent)
        self.queue = queue
        self.selected_ids = selected_ids
        self.notify = notify
        self.status = status
        self.dialog_parent = parent
        self.options_dialog: JobOptionsDialog | None = None
        #: Asks before a re-run discards the user's edits of these jobs; False: keep them.
        self.confirm_discarding_edits = confirm_discarding_edits

    def selected_jobs(self) -> list[JobSnapshot]:
        """The selected jobs as they are now (fresh snapshots, in the list's order)."""
        return self.queue.snapshots(self.selected_ids())

    @Slot()
    def cancel_selected(self) -> None:
        for job_id in self.selected_ids():
            self.queue.cancel(job_id)
        self.changed.emit([])

    @Slot()
    def retry_selected(self) -> None:
        ids = [job.id for job in self.selected_jobs() if job.state in RETRYABLE_STATES]
        self._retry(ids, "could not be retried now")
        self.changed.emit([])

    @Slot()
    def move_selected_to_top(self) -> None:
        # Reversed, so the selected jobs keep their order at the top.
        for job_id in reversed(self.selected_ids()):
            self.queue.move_to_top(job_id)
        self.changed.emit([])

    @Slot()
    def remove_selected(self) -> None:
        for job_id in self.selected_ids():
            self.queue.remove(job_id)
        self.changed.emit([])

    @Slot()
    def reveal_selected(self) -> None:
        for folder in {job.path.parent for job in self.selected_jobs()}:
            QDesktopServices.openUrl(QUrl.fromLocalFile(str(folder)))

    @Slot()
    def edit_job_options(self) -> None:
        """Change the options of the selected jobs that have not run or may run again."""
        jobs = [job for job in self.selected_jobs() if job.state in EDITABLE_STATES]
        if jobs:
            self._open_options_dialog(jobs, "Apply", self._apply_job_options)

    @Slot()
    def retranscribe_selected(self) -> None:
        """Run finished jobs again with other options (a larger model, another language)."""
        jobs = [job for job in self.selected_jobs() if job.state is JobState.DONE]
        if jobs and self.confirm_discarding_edits([job.id for job in jobs]):
            self._open_options_dialog(jobs, "Re-transcribe", self._retranscribe)

    def _open_options_dialog(self, jobs: list[JobSnapshot], action: str, apply: Any) -> None:
        """Window-modal but not blocking: the list keeps updating while the user chooses."""
        ids = [job.id for job in jobs]
        dialog = JobOptionsDialog(jobs[0].options, len(jobs), action, self.dialog_parent)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.accepted.connect(lambda: apply(ids, dialog))
        dialog.destroyed.connect(lambda: setattr(self, "options_dialog", None))
        self.options_dialog = dialog
        dialog.open()

    def _apply_job_options(self, job_ids: list[str], dialog: JobOptionsDialog) -> None:
        changed = started = 0
        for job in self.queue.snapshots(job_ids):
            if job.state in EDITABLE_STATES and self.queue.set_options(
                job.id, dialog.options_for(job.options)
            ):
                changed += 1
            else:
                started += 1
        message = f"Options changed for {plural(changed, 'job')}."
        if started:
            message += (
                f" {started} had started meanwhile and "
                f"{'keeps its' if started == 1 else 'keep their'} options."
            )
        if any(job.state is not JobState.QUEUED for job in self.queue.snapshots(job_ids)):
            message += (
                f" Retry ({Shortcut.RETRY.text}) runs failed or cancelled jobs with the new "
                "options."
            )
        self.status.showMessage(message, 10_000)
        self.changed.emit(job_ids)

    def _retranscribe(self, job_ids: list[str], dialog: JobOptionsDialog) -> None:
        self._retry(job_ids, "could not be queued again now", dialog)
        self.changed.emit(job_ids)

    def _retry(
        self, job_ids: list[str], refused_text: str, dialog: JobOptionsDialog | None = None
    ) -> None:
        """Queue the jobs again (with the dialog's options: finished ones too); one notice
        says how many the queue refused, and why."""
        refused = 0
        reason = ""
        for job in self.queue.snapshots(job_ids):
            if dialog is None:
                result = self.queue.retry(job.id)
            else:
                result = self.queue.retry(job.id, dialog.options_for(job.options), allow_done=True)
            if not result.accepted:
                refused += 1
                reason = result.reason
        if refused:
            self.notify(f"{plural(refused, 'job')} {refused_text}. {reason}")
