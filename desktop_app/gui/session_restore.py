"""Bringing back the last session's jobs at start-up, off the GUI thread.

Reading a store of 1,000 jobs with their segments takes about 0.2 s, too long a stall for the
GUI thread; the queue is thread-safe and its signals reach the list queued. Files added
meanwhile are held until the restored jobs are in, so they queue behind them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QStatusBar

from desktop_app.core.jobs import JobSnapshot
from desktop_app.core.wording import plural
from desktop_app.gui.background import BackgroundTasks
from desktop_app.job_queue import JobQueue

logger = logging.getLogger(__name__)


def restored_message(count: int, resumed: int) -> str:
    """What the status bar says once ``count`` jobs are back, ``resumed`` of them interrupted."""
    message = f"{plural(count, 'job')} from the last session"
    if resumed:
        message += (
            f"; {plural(resumed, 'interrupted job')} "
            f"{'continues' if resumed == 1 else 'continue'} where "
            f"{'it' if resumed == 1 else 'they'} stopped"
        )
    return message + "."


class SessionRestore(QObject):
    """Restores the queue's stored jobs once; ``finished(count)`` when they are in (or not)."""

    finished = Signal(int)  # how many stored jobs came back

    def __init__(
        self,
        queue: JobQueue,
        background: BackgroundTasks,
        status: QStatusBar,
        notify: Callable[[str], None],
        rows: Callable[[], list[JobSnapshot]],
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.queue = queue
        self.background = background
        self.status = status
        self.notify = notify
        self.rows = rows  # the list's rows as shown (text-less snapshots)
        self.restoring = False
        self._held: list[list[Path]] = []

    def start(self, max_age_hours: float) -> None:
        self.restoring = True
        self.status.showMessage("Loading the jobs of the last session…")
        self.background.start(
            "Loading the stored jobs",
            lambda: len(self.queue.restore(max_age_hours)),
            self._on_restored,
            self._on_failed,
        )

    def hold(self, paths: list[Path]) -> bool:
        """Keep files added while the stored jobs load; False when nothing is loading."""
        if self.restoring:
            self._held.append(paths)
        return self.restoring

    def take_held(self) -> list[list[Path]]:
        held, self._held = self._held, []
        return held

    def _on_restored(self, count: int) -> None:
        self.restoring = False
        self._check_store()
        if count:
            resumed = sum(1 for job in self.rows() if job.resumed and not job.state.finished)
            self.status.showMessage(restored_message(count, resumed), 10_000)
        else:
            self.status.clearMessage()
        self.finished.emit(count)

    def _check_store(self) -> None:
        """The store's integrity check reads the whole file (seconds for 100,000 jobs), so it
        runs in the background once the list is up, never on the opening path."""
        store = self.queue.store
        if store is not None:
            self.background.start(
                "Checking the job store",
                store.check_integrity,
                self._on_store_checked,
                logger.warning,
            )

    def _on_store_checked(self, problem: str | None) -> None:
        if problem is not None:
            self.notify(problem)

    def _on_failed(self, message: str) -> None:
        self.notify(f"{message} Earlier jobs are not shown; new ones still run.")
        self._on_restored(0)
