"""The window's export flow: ask (formats, folder), write off the GUI thread, report.

Narrow inputs: the queue (snapshots, owed exports), a place to run slow work, the status bar, a
place to show a notice and the preferences as they are now. The writing itself is the Qt-free
:func:`desktop_app.core.export_batch.export_transcripts`, shared with every face.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QObject, Signal, Slot
from PySide6.QtWidgets import QMessageBox, QStatusBar, QWidget

from desktop_app.core.export_batch import ExportOutcome, export_transcripts
from desktop_app.core.intake import names
from desktop_app.core.job_store import OwedExport
from desktop_app.core.jobs import Job, JobState
from desktop_app.core.wording import plural
from desktop_app.gui.background import BackgroundTasks
from desktop_app.gui.export_dialog import ExportDialog
from desktop_app.gui.preferences import Preferences
from desktop_app.job_queue import JobQueue

Notify = Callable[..., None]  # (text, details="") -> None


class ExportFlow(QObject):
    """Exports finished jobs, on request or as an auto-export the queue says a job owes."""

    finished = Signal(object)  # ExportOutcome

    def __init__(
        self,
        queue: JobQueue,
        background: BackgroundTasks,
        status: QStatusBar,
        notify: Notify,
        preferences: Callable[[], Preferences],
        parent: QWidget,
    ) -> None:
        super().__init__(parent)
        self.queue = queue
        self.background = background
        self.status = status
        self.notify = notify
        self.preferences = preferences
        self.dialog_parent = parent
        self._owed_in_flight: set[str] = set()  # jobs whose owed export is being written
        queue.set_export_policy(self.owed_export)
        queue.job_state_changed.connect(self._on_job_state)

    @Slot(str, object)
    def _on_job_state(self, job_id: str, state: JobState) -> None:
        """A job that finished owes its auto-export: written from here, not via the window."""
        if state is JobState.DONE:
            owed = self.queue.owed_export(job_id)
            if owed is not None:
                self.write_owed(owed)

    @Slot()
    def write_all_owed(self) -> None:
        """Write every export still owed (at start: those a crash kept from being written)."""
        for owed in self.queue.owed_exports():
            self.write_owed(owed)

    def owed_export(self, job: Job) -> OwedExport | None:
        """The queue's export policy: what a job that just finished owes (auto-export).

        The queue asks on a worker thread and stores the answer with the job's completion, so
        the export survives a crash between the two (see ``write_owed``). It reads only the
        preferences, a plain record that settings replace whole.
        """
        prefs = self.preferences()
        if not (prefs.auto_export and prefs.auto_export_formats):
            return None
        return OwedExport(job.id, tuple(prefs.auto_export_formats), prefs.auto_export_dir())

    def write_owed(self, owed: OwedExport) -> None:
        """Write an export the queue says a job owes; once its outcome is shown, it is settled.

        A job that finishes while the stored jobs load is owed once but heard of twice (its
        state change, the owed list after loading): an export already under way is not redone.
        """
        if owed.job_id in self._owed_in_flight:
            return
        self._owed_in_flight.add(owed.job_id)
        self.export([owed.job_id], list(owed.formats), owed.folder, automatic=True)

    def ask_and_export(self, job_ids: list[str]) -> None:
        if not job_ids:
            self.notify("Nothing to export yet: only finished jobs have a transcript.")
            return
        prefs = self.preferences()
        dialog = ExportDialog(
            len(job_ids), prefs.export_formats, prefs.export_folder, self.dialog_parent
        )
        if dialog.exec() != ExportDialog.DialogCode.Accepted:
            return
        prefs.export_formats = dialog.formats()
        prefs.export_folder = dialog.folder.text().strip()
        prefs.save()
        self.export(job_ids, dialog.formats(), dialog.output_dir())

    def export(
        self,
        job_ids: list[str],
        formats: list[str],
        output_dir: Path | None,
        *,
        overwrite: bool = False,
        automatic: bool = False,
    ) -> None:
        """Write the transcripts on a background thread; existing files are asked about.

        A restored job's transcript is read from the store on first use: the snapshots are
        taken in ``write``, off the GUI thread (exporting 100,000 restored jobs reads them all).
        """
        fmts = list(formats)
        queue = self.queue

        def write() -> ExportOutcome:
            work = [
                (job.id, job.path, job.transcript)
                for job in queue.snapshots(job_ids)
                if job.transcript is not None
            ]
            return export_transcripts(work, fmts, output_dir, overwrite=overwrite, owed=automatic)

        self.status.showMessage("Exporting…")
        self.background.start(
            "Export",
            write,
            lambda outcome: self._on_exported(outcome, fmts, output_dir, automatic),
            self.notify,
        )

    def _on_exported(
        self, outcome: ExportOutcome, formats: list[str], output_dir: Path | None, automatic: bool
    ) -> None:
        """Every ending replaces "Exporting…": with what was written, what was kept, or
        nothing (the notice tells of errors)."""
        parts: list[str] = []
        if outcome.written:
            folders = sorted({str(path.parent) for path in outcome.written})
            parts.append(
                f"Exported {plural(len(outcome.written), 'file')} to {', '.join(folders)}."
            )
        if outcome.errors:
            self.notify("Export problems: " + " ".join(outcome.errors))
        if outcome.conflicts:
            existing = [path for paths in outcome.conflicts.values() for path in paths]
            if automatic:
                self.notify(
                    "Auto-export kept existing files instead of overwriting them: "
                    f"{names(existing)}.",
                    "\n".join(str(path) for path in existing),
                )
            elif self.confirm_overwrite(existing):
                # Shows "Exporting…" again; that export's own outcome ends it.
                self.export(list(outcome.conflicts), formats, output_dir, overwrite=True)
                self.finished.emit(outcome)
                return
            else:
                parts.append(
                    f"Kept {plural(len(existing), 'existing file')}; "
                    f"{plural(len(outcome.conflicts), 'transcript')} not exported."
                )
        if parts:
            self.status.showMessage(" ".join(parts), 10_000)
        else:
            self.status.clearMessage()
        if automatic:
            for job_id in outcome.job_ids:
                self.queue.settle_export(job_id)
                self._owed_in_flight.discard(job_id)
        self.finished.emit(outcome)

    def confirm_overwrite(self, existing: list[Path]) -> bool:
        """Ask before replacing files: they may be earlier exports the user has edited."""
        answer = QMessageBox.question(
            self.dialog_parent,
            "Replace existing files?",
            f"{plural(len(existing), 'file')} already "
            f"{'exists' if len(existing) == 1 else 'exist'}: {names(existing)}.\n\nReplace "
            f"{'it' if len(existing) == 1 else 'them'}?",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
            QMessageBox.StandardButton.No,
        )
        return answer == QMessageBox.StandardButton.Yes
