"""The job list as one Qt table model over snapshots of the queue's jobs.

The model keeps the order of job ids (mirroring the queue's order) and, per job, a frozen
:class:`~desktop_app.core.jobs.JobSnapshot` taken on the GUI thread when a queue signal about
that job arrives (queued connections). Painting reads only these snapshots: no worker changes
them, and no cell waits on the queue's lock. Each signal touches exactly one row (a dropped
batch, or the jobs restored at start, is one insertion), so a busy queue repaints one line at a
time, and the clock refreshes running rows only: a list of 100,000 stored jobs costs the GUI
thread one insertion, not 100,000, and nothing per tick. Row snapshots hold no transcript text
(``with_text=False``): a restored job's transcript is read from the store when the transcript
pane asks for it, never for the list.
"""

from __future__ import annotations

import time
from enum import IntEnum
from typing import Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    Qt,
    QTimer,
    Slot,
)
from PySide6.QtGui import QBrush, QColor

from desktop_app.core.jobs import JobSnapshot, JobState
from desktop_app.job_queue import JobQueue
from desktop_app.server.config import default_upload_dir, is_upload

Index = QModelIndex | QPersistentModelIndex


class Column(IntEnum):
    FILE = 0
    DURATION = 1
    STATE = 2
    PROGRESS = 3
    ELAPSED = 4
    REMAINING = 5
    MODEL = 6


HEADERS = {
    Column.FILE: "File",
    Column.DURATION: "Duration",
    Column.STATE: "State",
    Column.PROGRESS: "Progress",
    Column.ELAPSED: "Elapsed",
    Column.REMAINING: "Remaining",
    Column.MODEL: "Model / language",
}


class JobRole(IntEnum):
    """Named roles, so views, delegates and tests ask for meaning rather than columns."""

    JOB_ID = Qt.ItemDataRole.UserRole + 1
    STATE = Qt.ItemDataRole.UserRole + 2
    PROGRESS = Qt.ItemDataRole.UserRole + 3
    ERROR = Qt.ItemDataRole.UserRole + 4
    PATH = Qt.ItemDataRole.UserRole + 5
    ELAPSED = Qt.ItemDataRole.UserRole + 6
    REMAINING = Qt.ItemDataRole.UserRole + 7
    RESUMED = Qt.ItemDataRole.UserRole + 8


#: Tested by identity in C (``in`` a tuple): ``state.finished`` is a call, 100,000 of them.
UNFINISHED_STATES = tuple(state for state in JobState if not state.finished)

STATE_COLOURS = {
    JobState.FAILED: QColor("#b3261e"),
    JobState.CANCELLED: QColor("#6b6b6b"),
    JobState.DONE: QColor("#1e7b34"),
}


def format_seconds(seconds: float | None) -> str:
    """``m:ss`` (or ``h:mm:ss``); an empty string when the figure is not known yet."""
    if seconds is None:
        return ""
    total = round(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


class JobTableModel(QAbstractTableModel):
    """Rows are the queue's jobs in the queue's order; it only reads them."""

    def __init__(self, queue: JobQueue, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.queue = queue
        self._upload_dir = default_upload_dir()  # files in it came over the API
        rows = queue.snapshots(with_text=False)
        self._snapshots: dict[str, JobSnapshot] = {job.id: job for job in rows}
        self._ids: list[str] = list(self._snapshots)
        self._rows: dict[str, int] = {}
        self._running = {job.id for job in rows if job.state is JobState.RUNNING}
        #: Rows showing a job not finished: only these can miss an update (see ``_on_idle``).
        self._unfinished = {job.id for job in rows if not job.state.finished}
        #: Jobs that changed before their row was inserted (a worker may start a dropped job
        #: before the batch's ``jobs_added`` arrives): their snapshots are taken afresh.
        self._changed_early: set[str] = set()
        self._reindex()
        queue.job_added.connect(self._on_added)
        queue.jobs_added.connect(self._on_batch_added)
        queue.job_removed.connect(self._on_removed)
        queue.jobs_removed.connect(self._on_batch_removed)
        queue.job_moved.connect(self._on_moved)
        queue.job_state_changed.connect(self._on_state)
        queue.job_progress.connect(self._on_progress)
        queue.job_updated.connect(self._on_updated)  # duration known, options edited
        queue.idle.connect(self._on_idle)
        # Elapsed and remaining times move without any queue signal: refresh running rows only.
        self._clock = QTimer(self)
        self._clock.setInterval(1000)
        self._clock.timeout.connect(self._tick)
        self._clock.start()

    # ----------------------------------------------------------------- Qt model API
    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._ids)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(Column)

    def headerData(
        self,
        section: int,
        orientation: Qt.Orientation,
        role: int = Qt.ItemDataRole.DisplayRole,
    ) -> Any:
        if (
            orientation == Qt.Orientation.Horizontal
            and role == Qt.ItemDataRole.DisplayRole
            and 0 <= section < len(Column)
        ):
            return HEADERS[Column(section)]
        return None

    def flags(self, index: Index) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        return Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or index.parent().isValid():
            return None
        if not (0 <= index.row() < len(self._ids)) or not (0 <= index.column() < len(Column)):
            return None
        job = self._snapshots[self._ids[index.row()]]
        column = Column(index.column())
        if role == Qt.ItemDataRole.DisplayRole:
            return self._display(job, column)
        if role == Qt.ItemDataRole.ToolTipRole:
            return self._tooltip(job)
        if role == Qt.ItemDataRole.ForegroundRole and column == Column.STATE:
            colour = STATE_COLOURS.get(job.state)
            return QBrush(colour) if colour is not None else None
        if role == Qt.ItemDataRole.TextAlignmentRole and column in (
            Column.DURATION,
            Column.ELAPSED,
            Column.REMAINING,
        ):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.AccessibleTextRole:
            return f"{job.name}, {self._display(job, Column.STATE)}"
        return self._custom(job, role)

    # ----------------------------------------------------------------- helpers
    def job_id(self, row: int) -> str:
        return self._ids[row]

    def row_of(self, job_id: str) -> int:
        """The row showing ``job_id``, or -1."""
        row = self._rows.get(job_id, -1)
        if row >= len(self._ids) or (row >= 0 and self._ids[row] != job_id):
            # Asked from a view's slot in the middle of a batch removal: rows past the run
            # just removed have moved up.
            self._reindex()
            row = self._rows.get(job_id, -1)
        return row

    def snapshot(self, job_id: str) -> JobSnapshot | None:
        """The job as this model last saw it (what its row shows)."""
        return self._snapshots.get(job_id)

    def snapshots(self) -> list[JobSnapshot]:
        """Every listed job, in the list's order, as its row shows it."""
        return [self._snapshots[job_id] for job_id in self._ids]

    def _display(self, job: JobSnapshot, column: Column) -> str:
        if column == Column.FILE:
            return f"{job.name} (API)" if is_upload(job.path, self._upload_dir) else job.name
        if column == Column.DURATION:
            return format_seconds(job.duration)
        if column == Column.STATE:
            if job.state is JobState.RUNNING and job.cancelling:
                return "Cancelling…"
            if job.resumed and not job.state.finished:
                return f"{job.state.label} (resumed)"
            return job.state.label
        if column == Column.PROGRESS:
            return f"{job.progress:.0%}"
        if column == Column.ELAPSED:
            return format_seconds(job.elapsed(time.time()))
        if column == Column.REMAINING:
            return format_seconds(job.remaining(time.time()))
        language = job.language or job.options.language
        return f"{job.options.model} / {language}"

    def _tooltip(self, job: JobSnapshot) -> str:
        if job.state is JobState.FAILED and job.error:
            return job.error
        if job.resumed and not job.state.finished:
            return (
                f"{job.path}\nInterrupted when Verbatim last closed; continues from "
                f"{format_seconds(job.options.start_at)}, keeping the text decoded before."
            )
        return str(job.path)

    def _custom(self, job: JobSnapshot, role: int) -> Any:
        if role == JobRole.JOB_ID:
            return job.id
        if role == JobRole.STATE:
            return job.state.value
        if role == JobRole.PROGRESS:
            return float(job.progress)
        if role == JobRole.ERROR:
            return job.error
        if role == JobRole.PATH:
            return str(job.path)
        if role == JobRole.ELAPSED:
            return job.elapsed(time.time())
        if role == JobRole.REMAINING:
            return job.remaining(time.time())
        if role == JobRole.RESUMED:
            return job.resumed
        return None

    def _reindex(self) -> None:
        self._rows = {job_id: row for row, job_id in enumerate(self._ids)}

    def _changed(
        self, job_id: str, first: Column = Column.FILE, last: Column = Column.MODEL
    ) -> None:
        """Take a fresh snapshot of ``job_id`` and repaint the given cells of its row."""
        row = self._rows.get(job_id)
        if row is None:
            self._changed_early.add(job_id)
            return
        snapshot = self.queue.snapshot(job_id, with_text=False)
        if snapshot is not None:
            self._keep(snapshot)
        self.dataChanged.emit(self.index(row, first), self.index(row, last))

    # ----------------------------------------------------------------- queue signals
    @Slot(str)
    def _on_added(self, job_id: str) -> None:
        self._on_batch_added(self.queue.snapshots([job_id], with_text=False))

    @Slot(object)
    def _on_batch_added(self, jobs: list[JobSnapshot]) -> None:
        """One insertion for a whole dropped batch: thousands of rows cost one layout."""
        new = [job for job in jobs if job.id not in self._rows]
        if not new:
            return
        if self._changed_early:
            stale = {job.id for job in new} & self._changed_early
            self._changed_early -= stale
            fresh = {job.id: job for job in self.queue.snapshots(stale, with_text=False)}
            new = [fresh.get(job.id, job) for job in new]
        first = len(self._ids)
        ids = [job.id for job in new]
        self.beginInsertRows(QModelIndex(), first, first + len(new) - 1)
        # Whole-list steps: a restore of 100,000 jobs is one pass of Python, not a call per row.
        self._ids.extend(ids)
        self._rows.update(zip(ids, range(first, first + len(ids)), strict=True))
        self._snapshots.update(zip(ids, new, strict=True))
        unfinished = [job for job in new if job.state in UNFINISHED_STATES]
        self._unfinished.update(job.id for job in unfinished)
        self._running.update(job.id for job in unfinished if job.state is JobState.RUNNING)
        self.endInsertRows()

    @Slot(str)
    def _on_removed(self, job_id: str) -> None:
        self._on_batch_removed([job_id])

    @Slot(object)
    def _on_batch_removed(self, job_ids: list[str]) -> None:
        """A clean-up of thousands: one removal per run of adjacent rows, from the last run to
        the first (so the rows of the runs before stay where they are), and one reindex at the
        end. A reindex per row made removing k of n rows cost k * n."""
        rows = sorted({row for job_id in job_ids if (row := self._rows.get(job_id)) is not None})
        if not rows:
            return
        runs: list[tuple[int, int]] = []  # (first, last) rows, ascending
        for row in rows:
            if runs and runs[-1][1] == row - 1:
                runs[-1] = (runs[-1][0], row)
            else:
                runs.append((row, row))
        for first, last in reversed(runs):
            self.beginRemoveRows(QModelIndex(), first, last)
            for job_id in self._ids[first : last + 1]:
                self._running.discard(job_id)
                self._unfinished.discard(job_id)
                del self._snapshots[job_id]
                self._changed_early.discard(job_id)
                del self._rows[job_id]  # rows after this run are stale until the reindex
            del self._ids[first : last + 1]
            self.endRemoveRows()
        self._reindex()

    @Slot(str, int)
    def _on_moved(self, job_id: str, new_index: int) -> None:
        row = self._rows.get(job_id)
        if row is None or row == new_index:
            return
        # Qt's destination is the row *before which* the moved row lands, counted before the move.
        destination = new_index if new_index < row else new_index + 1
        if not self.beginMoveRows(QModelIndex(), row, row, QModelIndex(), destination):
            return
        del self._ids[row]
        self._ids.insert(new_index, job_id)
        self._reindex()
        self.endMoveRows()

    @Slot(str, object)
    def _on_state(self, job_id: str, state: JobState) -> None:
        self._changed(job_id)  # the fresh snapshot, not the signal, says whether it runs

    def _keep(self, snapshot: JobSnapshot) -> None:
        self._snapshots[snapshot.id] = snapshot
        if snapshot.state is JobState.RUNNING:
            self._running.add(snapshot.id)
        else:
            self._running.discard(snapshot.id)
        if snapshot.state.finished:
            self._unfinished.discard(snapshot.id)
        else:
            self._unfinished.add(snapshot.id)

    @Slot(str)
    def _on_updated(self, job_id: str) -> None:
        self._changed(job_id)

    @Slot(str, float)
    def _on_progress(self, job_id: str, _fraction: float) -> None:
        self._changed(job_id, Column.PROGRESS, Column.REMAINING)

    @Slot()
    def _on_idle(self) -> None:
        """Nothing runs or waits now; a row still showing a job as running or queued missed a
        worker's update that is still on its way (two workers' signals can cross): read it.
        Only those rows are visited: not the 100,000 finished ones a long-time user keeps."""
        for job_id in list(self._unfinished):
            self._changed(job_id)

    @Slot()
    def _tick(self) -> None:
        """Elapsed and remaining move with the clock: repaint those cells of running rows
        (the snapshot holds the start time, so no new snapshot is needed)."""
        for job_id in self._running:
            row = self._rows[job_id]
            self.dataChanged.emit(
                self.index(row, Column.ELAPSED), self.index(row, Column.REMAINING)
            )
