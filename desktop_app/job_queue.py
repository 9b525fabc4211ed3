"""The one job queue behind every face: capped pending queue, worker pool, capacity, cancellation.

Jobs wait in our own pending deque, capped at ``max_queue_size``, and enter the QThreadPool only
when a worker is free. The pool therefore never holds waiting work of its own, so a queued job can
be cancelled or moved to the top at any time, and ``capacity()`` is exact.

Every method may be called from any thread. State lives behind one lock; signals are emitted
after the lock is released, and receivers in another thread (the window's models) get them
through queued connections.

With a :class:`~desktop_app.core.job_store.JobStore`, every change is persisted: under the lock
the change enqueues a write record (the jobs in it copied), and one ordered writer thread
(:class:`~desktop_app.core.store_writer.StoreWriter`) writes the records in the order the queue
made them, so no disk I/O ever happens under the lock the GUI's reads take. A stored segment and
a job's end are announced (``segment_added``, ``job_state_changed``) only once written, so what a
face was told survives a crash. :meth:`JobQueue.flush` waits for the writer;
:meth:`JobQueue.restore` brings the stored jobs back after a restart or a crash.

A store that cannot be written (a full disk, a read-only file) never stops a transcription, and
never diverges silently: the first failure is announced once (:attr:`JobQueue.store_failed`, with
what to do), the queue goes on in memory, and at most every :data:`STORE_RETRY_INTERVAL_S` a
change tries to rewrite the whole store from memory; when that succeeds the store matches the
queue again (:attr:`JobQueue.store_recovered`). Refusing new work instead would stop the user for
a problem that losing nothing in memory does not need: the notice says the session's jobs will
not survive a restart until the problem is fixed.
"""

from __future__ import annotations

import copy
import dataclasses
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from enum import Enum
from functools import partial
from pathlib import Path
from typing import Any, NamedTuple

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal

from desktop_app.core.audio import probe
from desktop_app.core.edits import changed_rows
from desktop_app.core.errors import JobCancelled, VerbatimError
from desktop_app.core.intake import BatchResult, split_already_queued
from desktop_app.core.job_store import JobStore, OwedExport, describe_write_failure
from desktop_app.core.jobs import Job, JobSnapshot, JobState, KeptResult
from desktop_app.core.memory import collector_paused, release_free_memory
from desktop_app.core.priority import lower_current_thread_priority
from desktop_app.core.settings import SPECS_BY_NAME
from desktop_app.core.store_writer import StoreWrite, StoreWriter
from desktop_app.core.transcriber import Engine, TranscriptionOptions
from desktop_app.core.transcript import Segment, Transcript

logger = logging.getLogger(__name__)

ExportPolicy = Callable[[Job], OwedExport | None]
#: After a failed store write, the queue tries to rewrite the whole store at most this often.
STORE_RETRY_INTERVAL_S = 5.0


@dataclass(frozen=True)
class Capacity:
    """The figures of the original service's ``/api/v1/capacity``."""

    active: int
    queued: int
    max_workers: int
    max_queue_size: int

    @property
    def available(self) -> int:
        """Free places in the pending queue."""
        return max(0, self.max_queue_size - self.queued)

    @property
    def free_workers(self) -> int:
        return max(0, self.max_workers - self.active)

    @property
    def accepts(self) -> int:
        """How many new files would be taken now: free workers plus free queue places."""
        return self.free_workers + self.available

    @property
    def at_capacity(self) -> bool:
        return self.accepts == 0

    def as_dict(self) -> dict[str, int | bool]:
        return {
            "active_jobs": self.active,
            "queued_jobs": self.queued,
            "max_workers": self.max_workers,
            "max_queue_size": self.max_queue_size,
            "available_capacity": self.available,
            "at_capacity": self.at_capacity,
        }

    def refusal(self) -> str:
        """Why a file is refused, naming the setting as Settings shows it (the environment
        variable serves the command line)."""
        queue_size = SPECS_BY_NAME["max_queue_size"]
        return (
            f"The queue is full ({self.queued} of {self.max_queue_size} places taken, "
            f"{self.active} of {self.max_workers} workers busy). Wait for jobs to finish, or "
            f"raise {queue_size.label} in Settings ({queue_size.env} for the command line)."
        )


class _QueueCopy(NamedTuple):
    """What a whole rewrite of the store writes, copied under the lock."""

    jobs: list[Job]
    pending: list[str]
    owed: list[OwedExport]
    through: int  # the last write record this copy includes


class RefusalCode(Enum):
    """Why the queue refused a file or a retry; the value is the code's text in JSON."""

    AT_CAPACITY = "AT_CAPACITY"
    NOT_RETRYABLE = "NOT_RETRYABLE"


@dataclass(frozen=True)
class SubmitResult:
    job: Job | None
    code: RefusalCode | None = None  # None: accepted
    reason: str = ""

    @property
    def accepted(self) -> bool:
        return self.job is not None


__all__ = ["BatchResult", "Capacity", "JobQueue", "RefusalCode", "SubmitResult"]


class _JobRunnable(QRunnable):
    def __init__(self, queue: JobQueue, job: Job) -> None:
        super().__init__()
        self.queue = queue
        self.job = job
        self.setAutoDelete(True)

    def run(self) -> None:
        lower_current_thread_priority()  # batch work yields to dictation and the window
        self.queue._run_job(self.job)


class _DurationProbe(QRunnable):
    """Reads the durations of newly queued files, so a waiting row shows how long it is."""

    def __init__(self, queue: JobQueue, jobs: list[Job]) -> None:
        super().__init__()
        self.queue = queue
        self.jobs = jobs
        self.setAutoDelete(True)

    def run(self) -> None:
        for job in self.jobs:
            if self.queue._probing_stopped.is_set():
                return
            self.queue._probe_duration(job)


class JobQueue(QObject):
    """Owns every job; the only thing in Verbatim that starts transcriptions."""

    job_added = Signal(str)
    #: A batch from ``submit_many``, as a list of JobSnapshot in order: one row insertion, and
    #: the snapshots are taken here, off the GUI thread (16,000 of them cost it 0.15-0.3 s).
    jobs_added = Signal(object)
    job_removed = Signal(str)
    #: Job ids in list order: a clean-up of thousands is one signal, so the list removes them
    #: in one pass (one removal per run of adjacent rows) rather than one reindex per job.
    jobs_removed = Signal(object)
    job_moved = Signal(str, int)  # job id, new index in jobs()
    job_state_changed = Signal(str, object)  # job id, JobState (emitted on transitions only)
    job_updated = Signal(str)  # job id: details changed (duration known, options edited)
    job_progress = Signal(str, float)
    #: job id, the segment's index in the job's segments, Segment: with the index a view that
    #: already shows a snapshot with that segment never shows it twice.
    segment_added = Signal(str, int, object)
    capacity_changed = Signal(object)  # Capacity
    idle = Signal()  # nothing running and nothing queued
    store_failed = Signal(str)  # what failed and what to do; once per failure, not per write
    store_recovered = Signal(str)  # the store was rewritten and matches the queue again

    def __init__(
        self,
        engine: Engine,
        *,
        max_workers: int,
        max_queue_size: int,
        parent: QObject | None = None,
        store: JobStore | None = None,
    ) -> None:
        super().__init__(parent)
        if max_workers < 1 or max_queue_size < 1:
            raise ValueError("max_workers and max_queue_size must be at least 1")
        self.engine = engine
        self._lock = threading.RLock()
        self._jobs: dict[str, Job] = {}
        self._order: list[str] = []
        self._pending: deque[str] = deque()
        self._active: set[str] = set()
        self._max_workers = max_workers
        self._max_queue_size = max_queue_size
        self._capacity = Capacity(0, 0, max_workers, max_queue_size)
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(max_workers)
        self._pool.setExpiryTimeout(5000)
        self._store = store
        # One thread for duration probes: they are light, and must never take a worker's place.
        self._probe_pool = QThreadPool(self)
        self._probe_pool.setMaxThreadCount(1)
        self._probing_stopped = threading.Event()
        self._store_problem = ""  # non-empty while the store cannot be written
        self._next_store_retry = 0.0
        self._export_policy: ExportPolicy | None = None
        self._owed: dict[str, OwedExport] = {}
        #: Jobs the user has edited, and the machine's own segments of those edited in this
        #: session: known here, so the GUI never reads the store (nor waits for its writer).
        self._edited: set[str] = set()
        self._machine: dict[str, list[Segment]] = {}
        self._writer = StoreWriter()
        self._writes_made = 0  # records submitted to the writer, numbered under the lock
        self._rewritten_through = 0  # records up to this one are in the last whole rewrite

    # ----------------------------------------------------------------- reading
    def capacity(self) -> Capacity:
        """The figures as of the last change, without waiting for the lock: every change
        publishes a new frozen :class:`Capacity` before it releases the lock, so a reader that
        must not wait (the server's request loop, the GUI thread) never queues behind a worker
        or a store write, and never sees half a change."""
        return self._capacity

    def jobs(self) -> list[Job]:
        with self._lock:
            return [self._jobs[job_id] for job_id in self._order]

    def job(self, job_id: str) -> Job | None:
        with self._lock:
            return self._jobs.get(job_id)

    def snapshot(self, job_id: str, *, with_text: bool = True) -> JobSnapshot | None:
        """The job as it is now, frozen: what the GUI reads (a worker may change the job)."""
        if with_text:
            self._read_text([job_id])
        with self._lock:
            job = self._jobs.get(job_id)
            return job.snapshot(with_text=with_text) if job is not None else None

    def snapshots(
        self, job_ids: Iterable[str] | None = None, *, with_text: bool = True
    ) -> list[JobSnapshot]:
        """Snapshots of ``job_ids`` (default: every job, in order), taken under one lock.

        ``with_text=False`` (list rows) leaves the transcripts out, so none is read.
        """
        if job_ids is not None:
            job_ids = list(job_ids)
        if with_text:
            self._read_text(job_ids)
        with self._lock:
            ids = self._order if job_ids is None else job_ids
            return [
                self._jobs[job_id].snapshot(with_text=with_text)
                for job_id in ids
                if job_id in self._jobs
            ]

    def _read_text(self, job_ids: list[str] | None) -> None:
        """Read restored jobs' transcripts from the store before their snapshots are taken,
        outside the queue's lock: no disk I/O under a lock the GUI thread takes."""
        with self._lock:
            ids = self._order if job_ids is None else job_ids
            unread = [job for job_id in ids if (job := self._jobs.get(job_id)) and not job.is_read]
        for job in unread:
            job.segments  # noqa: B018 - reading it loads it (StoredJob)

    def index_of(self, job_id: str) -> int:
        with self._lock:
            return self._order.index(job_id)

    def pending_ids(self) -> list[str]:
        with self._lock:
            return list(self._pending)

    def is_idle(self) -> bool:
        """Nothing running, nothing queued, and every change stored and announced (as when
        ``idle`` is emitted)."""
        with self._lock:
            return not self._active and not self._pending and self._writer.idle

    def flush(self, timeout_s: float | None = None) -> bool:
        """Wait until every change made so far is in the store (and announced); False if
        ``timeout_s`` passed first. Changes are stored by the writer thread in the order they
        were made, a moment after they are made: this is for the command line, tests and
        shutdown, never the GUI thread."""
        return self._writer.drain(timeout_s)

    # ----------------------------------------------------------------- changing
    def submit(self, path: str | Path, options: TranscriptionOptions | None = None) -> SubmitResult:
        """Queue one file, or refuse it with ``RefusalCode.AT_CAPACITY`` when the pending queue
        is full."""
        job = Job(path=Path(path), options=options or TranscriptionOptions())
        with self._lock:
            capacity = self.capacity()
            if capacity.at_capacity:
                logger.info("Refused %s: queue full", job.path)
                return SubmitResult(None, RefusalCode.AT_CAPACITY, capacity.refusal())
            self._jobs[job.id] = job
            self._order.append(job.id)
            self._pending.append(job.id)
            self._persist(JobStore.add_job, job)
            started = self._dispatch_locked()
        self.job_added.emit(job.id)
        self._announce_started(started)
        self.capacity_changed.emit(self.capacity())
        self._probe_durations([job])
        return SubmitResult(job)

    def submit_many(
        self,
        paths: Iterable[str | Path],
        options: TranscriptionOptions | None = None,
        *,
        skip_queued: bool = False,
    ) -> BatchResult:
        """Queue what fits; the rest is listed as refused with the reason, never dropped.

        ``skip_queued`` (a drop on the window) leaves out files already waiting or running,
        listed in ``already_queued``, so that dropping a folder again after a refusal adds the
        refused files rather than second copies. The check and the queueing happen under one
        lock, so two drops at once cannot both add a file.

        One lock, one store transaction, one ``jobs_added`` and one capacity signal for the
        whole batch: a drop of thousands of files must not cost a commit, a row insertion and
        a status-bar update per file.
        """
        chosen = [Path(path) for path in paths]
        result = BatchResult()
        with self._lock:
            if skip_queued:
                busy = [self._jobs[job_id].path for job_id in (*self._active, *self._pending)]
                chosen, result.already_queued = split_already_queued(chosen, busy)
            fits = chosen[: self.capacity().accepts]
            for path in fits:
                job = Job(path=path, options=options or TranscriptionOptions())
                self._jobs[job.id] = job
                self._order.append(job.id)
                self._pending.append(job.id)
                result.accepted.append(job)
            self._persist(JobStore.add_jobs, result.accepted)
            started = self._dispatch_locked()
            added = [job.snapshot() for job in result.accepted]
            if len(fits) < len(chosen):
                reason = self.capacity().refusal()
                result.refused = [(path, reason) for path in chosen[len(fits) :]]
                logger.info("Refused %d file(s): queue full", len(result.refused))
        if added:
            self.jobs_added.emit(added)
        self._announce_started(started)
        if result.accepted:
            self.capacity_changed.emit(self.capacity())
            self._probe_durations(result.accepted)
        return result

    def add_finished(
        self,
        path: str | Path,
        transcript: Transcript,
        options: TranscriptionOptions,
        *,
        started_at: float | None = None,
    ) -> Job:
        """Record work done elsewhere (a live dictation) as a finished job: listed, exportable
        and retryable like any other, without taking a queue place. ``started_at`` (epoch
        seconds) is when that work began, so the job's elapsed time is the real one."""
        job = Job(path=Path(path), options=options, state=JobState.DONE, progress=1.0)
        job.transcript = transcript
        job.segments = list(transcript.segments)
        job.duration = transcript.duration
        job.language = transcript.language
        job.started_at = job.created_at if started_at is None else started_at
        job.finished_at = time.time()
        with self._lock:
            self._jobs[job.id] = job
            self._order.append(job.id)
            self._persist(JobStore.add_job, job)
        self.job_added.emit(job.id)
        return job

    def cancel(self, job_id: str) -> bool:
        """Cancel a queued job at once, or ask a running one to stop after its current segment."""
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None or job.state.finished:
                return False
            running = job.state is JobState.RUNNING
            if running:
                job.cancel_requested.set()
                logger.info("Cancelling running job %s", job.path.name)
            else:
                self._pending.remove(job_id)
                self._publish_capacity_locked()
                if job.kept is not None:  # a cancelled re-run leaves the previous transcript
                    self._bring_back_kept(job, "")
                    self._persist(JobStore.finish_job, job, None, segments_replaced=True)
                else:
                    job.state = JobState.CANCELLED
                    job.finished_at = time.time()
                    self._persist(JobStore.update_job, job)
        if running:
            self.job_updated.emit(job_id)  # its row says "Cancelling…" until it stops
            return True
        self.job_state_changed.emit(job_id, job.state)
        self._after_change()
        return True

    def cancel_all(self) -> None:
        for job in self.jobs():
            self.cancel(job.id)

    def retry(
        self,
        job_id: str,
        options: TranscriptionOptions | None = None,
        *,
        allow_done: bool = False,
    ) -> SubmitResult:
        """Queue a failed or cancelled job again, optionally with new options.

        ``allow_done`` re-transcribes a finished job too (say, with a larger model); its
        transcript is kept until the new one is done, and comes back if the new run fails or is
        cancelled (the job is then done again, its ``error`` saying why the re-run did not).
        """
        retryable = {JobState.FAILED, JobState.CANCELLED} | (
            {JobState.DONE} if allow_done else set()
        )
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None or job.state not in retryable:
                reason = "Only failed or cancelled jobs can be retried."
                return SubmitResult(None, RefusalCode.NOT_RETRYABLE, reason)
            capacity = self.capacity()
            if capacity.at_capacity:
                return SubmitResult(None, RefusalCode.AT_CAPACITY, capacity.refusal())
            previous_options = job.options
            if options is not None:
                job.options = options
            if job.resumed:  # a retry starts from the beginning, not from the crash point
                job.options = job.options.with_changes(start_at=0.0)
                job.resumed = False
            if job.state is JobState.DONE and job.transcript is not None:
                # Kept, in memory and in the store, until the new run has a transcript.
                job.kept = KeptResult(
                    job.transcript, previous_options, job.started_at, job.finished_at
                )
            job.state = JobState.QUEUED
            job.progress = 0.0
            job.error = ""
            job.segments = []
            job.transcript = None
            job.started_at = job.finished_at = None
            job.cancel_requested = threading.Event()
            self._pending.append(job_id)
            self._persist(JobStore.requeue, job)
            started = self._dispatch_locked()
        self.job_state_changed.emit(job_id, JobState.QUEUED)
        self.job_progress.emit(job_id, 0.0)
        self._announce_started(started)
        self.capacity_changed.emit(self.capacity())
        return SubmitResult(job)

    def set_options(self, job_id: str, options: TranscriptionOptions) -> bool:
        """Change the options of a job that has not started (or has ended)."""
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None or job.state is JobState.RUNNING:
                return False
            job.options = options
            self._persist(JobStore.update_job, job)
        self.job_updated.emit(job_id)
        return True

    def relocate(self, job_id: str, path: str | Path) -> bool:
        """The recording of ``job_id`` is now at ``path``: the user located a file that was
        moved or renamed. Playback, exports and a later re-transcription use it, and the store
        keeps it across restarts. False when there is no such job, or it is running (its worker
        reads the recording where it was)."""
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None or job.state is JobState.RUNNING:
                return False
            job.path = Path(path)
            self._persist(JobStore.relocate, job_id, job.path)
        self.job_updated.emit(job_id)
        return True

    def move_to_top(self, job_id: str) -> bool:
        """Make a queued job the next to run, and show it above the other queued jobs."""
        with self._lock:
            if job_id not in self._pending:
                return False
            self._pending.remove(job_id)
            self._pending.appendleft(job_id)
            old_index = self._order.index(job_id)
            self._order.remove(job_id)
            queued_rows = [i for i, jid in enumerate(self._order) if jid in self._pending]
            # Never lower the row: a retried job may already sit above running or finished ones.
            new_index = min(queued_rows[0], old_index) if queued_rows else old_index
            self._order.insert(new_index, job_id)
            self._persist(JobStore.move_to_top, job_id, list(self._order))
        self.job_moved.emit(job_id, new_index)
        return True

    def remove(self, job_id: str) -> bool:
        """Forget a finished job (its exported files are untouched)."""
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None or not job.state.finished:
                return False
            del self._jobs[job_id]
            self._order.remove(job_id)
            self._owed.pop(job_id, None)  # the store's row goes with the job
            self._edited.discard(job_id)
            self._machine.pop(job_id, None)
            self._persist(JobStore.delete_job, job_id)
        self.job_removed.emit(job_id)
        return True

    def set_limits(
        self, *, max_workers: int | None = None, max_queue_size: int | None = None
    ) -> None:
        """Apply new limits now; jobs already queued beyond a lower cap stay queued."""
        with self._lock:
            if max_workers is not None:
                if max_workers < 1:
                    raise ValueError("max_workers must be at least 1")
                self._max_workers = max_workers
                self._pool.setMaxThreadCount(max_workers)
                configure = getattr(self.engine, "configure_workers", None)
                if configure is not None:
                    configure(max_workers)
            if max_queue_size is not None:
                if max_queue_size < 1:
                    raise ValueError("max_queue_size must be at least 1")
                self._max_queue_size = max_queue_size
            started = self._dispatch_locked()
        self._announce_started(started)
        self.capacity_changed.emit(self.capacity())

    def wait_for_done(self, timeout_ms: int = -1) -> bool:
        """Block until the workers are idle and what they changed is stored and announced:
        for the command line, tests and shutdown only."""
        workers_done = bool(self._pool.waitForDone(timeout_ms))
        return self.flush(None if timeout_ms < 0 else timeout_ms / 1000) and workers_done

    def shutdown(self, timeout_ms: int = 30_000, *, keep_unfinished: bool = False) -> bool:
        """Cancel everything, wait for the workers to stop and end the store writer's thread.

        ``keep_unfinished`` (the window's normal close) first detaches the store, so the
        cancellations are not written: the stored running and queued jobs stay as they were, and
        the next start resumes and re-queues them exactly as after a crash.
        """
        if keep_unfinished:
            self.flush(timeout_ms / 1000)  # so a write that fails now is known below
            with self._lock:
                store, self._store = self._store, None
                copied = self._copied() if store is not None and self._store_problem else None
            if store is not None and copied is not None:  # a last chance to keep this session
                self._writer.submit(StoreWrite(partial(self._rewrite_store, store, copied)))
        self._probing_stopped.set()
        self._probe_pool.clear()
        self.cancel_all()
        probes_done = bool(self._probe_pool.waitForDone(timeout_ms))
        done = self.wait_for_done(timeout_ms) and probes_done
        # The writer's thread is joined here, so no thread outlives the queue's owner (the CLI
        # exits right after, the window's interpreter soon after).
        return self._writer.close(timeout_ms / 1000) and done

    # ----------------------------------------------------------------- persistence
    @property
    def store(self) -> JobStore | None:
        return self._store

    def set_export_policy(self, policy: ExportPolicy | None) -> None:
        """``policy(job)`` says what export a job that just finished owes (None: none).

        It is asked on the worker thread, under the queue's lock, as the job is stored as done;
        the debt is stored in that same transaction and lasts until :meth:`settle_export`, so a
        crash in between never loses the export. It must only read plain data.
        """
        with self._lock:
            self._export_policy = policy

    def owed_export(self, job_id: str) -> OwedExport | None:
        with self._lock:
            return self._owed.get(job_id)

    def owed_exports(self) -> list[OwedExport]:
        """Every export still owed, in list order (at start: those a crash left unwritten)."""
        with self._lock:
            return [self._owed[job_id] for job_id in self._order if job_id in self._owed]

    def settle_export(self, job_id: str) -> None:
        """The owed export was attempted and its outcome shown to the user: it is owed no more."""
        with self._lock:
            if self._owed.pop(job_id, None) is not None:
                self._persist(JobStore.settle_export, job_id)

    @property
    def store_problem(self) -> str:
        """Why the store cannot be written now, or "" when it can."""
        with self._lock:
            return self._store_problem

    def retry_store(self) -> bool:
        """Try now to rewrite the store after writes failed; True when it matches the queue.

        The rewrite is made by the writer thread, after the writes already queued; this waits
        for it (a user's "try again", tests), so never call it on the GUI thread.
        """
        store = self._store
        if store is None:
            return True
        matches: list[bool] = []
        self._writer.submit(StoreWrite(lambda: matches.append(self._rewrite_if_failing(store))))
        self._writer.drain()
        return matches[0]

    def restore(self, max_age_hours: float = 0.0) -> list[Job]:
        """Bring back the stored jobs; the window calls this once, at start, before new work.

        Finished jobs come back as they were, with their transcripts. A job that was running
        when the app died is queued first, to resume after its last stored segment
        (``options.start_at``, ``resumed``); its stored segments are kept and new ones follow
        them. Queued jobs are queued again in their order. Restored jobs are never refused at
        the queue cap: they were accepted before, so the pending queue may hold more than
        ``max_queue_size`` until it drains (as after lowering the limit). Finished jobs older
        than ``max_age_hours`` (0 keeps all) are cleaned up first. Returns the restored jobs.

        It costs O(n): the jobs come back as rows (their transcripts are read when first used),
        the new queue order is stored in one transaction (so a kill at any moment keeps the old
        order or the new one, never a mix), and the list hears of them in one ``jobs_added``
        carrying text-less snapshots.
        """
        if self._store is None:
            return []
        store = self._store
        self._persist(JobStore.cleanup, max_age_hours)  # a read-only store still lists its jobs
        self._writer.drain()  # what is loaded next is what the cleanup left
        try:
            stored = store.load()
            kept = store.kept_results()
            owed = store.owed_exports()
            edited = store.edited_job_ids()
        except Exception:
            logger.exception("Could not read the job store %s", store.path)
            return []
        requeued: list[Job] = []
        with collector_paused(), self._lock:
            # Whole-list steps, no per-job Python beyond one snapshot: 100,000 stored jobs.
            listed = self._jobs
            restored = [job for job in stored.jobs if job.id not in listed]
            ids = [job.id for job in restored]
            listed.update(zip(ids, restored, strict=True))
            self._order.extend(ids)
            fresh = set(ids)
            self._edited |= edited & fresh
            for debt in owed:
                if debt.job_id in listed and debt.job_id not in self._owed:
                    self._owed[debt.job_id] = debt
            for job_id in stored.pending_ids:  # the unfinished ones, in their queue order
                if job_id not in fresh:
                    continue
                job = listed[job_id]
                job.kept = kept.get(job_id)  # a re-run that a crash interrupted
                if job.state is JobState.RUNNING:
                    start_at = job.segments[-1].end if job.segments else 0.0
                    job.options = job.options.with_changes(start_at=start_at)
                    job.resumed = True
                    job.started_at = None
                    logger.info("Resuming interrupted job %s at %.1f s", job.name, start_at)
                job.state = JobState.QUEUED
                self._pending.append(job_id)
                requeued.append(job)
            self._persist(JobStore.requeue_all, requeued)
            started = self._dispatch_locked()
            added = [job.snapshot(with_text=False) for job in restored]
        if added:
            self.jobs_added.emit(added)
        self._announce_started(started)
        self._after_change()
        logger.info(
            "Restored %d job(s) from %s, %d queued again",
            len(restored),
            store.path,
            len(stored.pending_ids),
        )
        return restored

    def cleanup(self, max_age_hours: float, now: float | None = None) -> list[str]:
        """Forget finished jobs that finished over ``max_age_hours`` ago (0 keeps all), in the
        list and in the store; exported files are untouched. The window calls this from a timer.
        """
        if max_age_hours <= 0:
            return []
        cutoff = (time.time() if now is None else now) - max_age_hours * 3600
        with self._lock:
            old = [
                job.id
                for job in self.jobs()
                if job.state.finished and job.finished_at is not None and job.finished_at < cutoff
            ]
            gone = set(old)
            for job_id in old:
                del self._jobs[job_id]
                self._owed.pop(job_id, None)  # the store's row goes with the job
                self._edited.discard(job_id)
                self._machine.pop(job_id, None)
            self._order[:] = [job_id for job_id in self._order if job_id not in gone]
            if old:
                self._persist(JobStore.delete_jobs, old)
        if old:
            self.jobs_removed.emit(old)
        if self._store is not None:
            self._persist(JobStore.cleanup, max_age_hours, now)
        return old

    def _persist(
        self,
        write: Callable[..., Any],
        *args: Any,
        then: Callable[[], None] | None = None,
        **kwargs: Any,
    ) -> None:
        """Queue a write of the store for the writer thread; ``then`` runs once it is stored.

        Called with the lock held (it takes it too), so the records are numbered and applied
        in the order the queue made its changes. Jobs in ``args`` are copied now: the writer
        must see the job as it was at this change, not as a worker changes it later. Without a
        store, ``then`` still runs on the writer thread, after the records before it:
        announcements keep their order.
        """
        with self._lock:
            store = self._store  # ``shutdown`` may detach it from another thread
            if store is None:
                if then is not None:
                    self._writer.submit(StoreWrite(None, then))
                return
            self._writes_made += 1
            record = (self._writes_made, write, tuple(_frozen(arg) for arg in args), kwargs)
            self._writer.submit(StoreWrite(lambda: self._write(store, *record), then))

    def _write(
        self,
        store: JobStore,
        number: int,
        write: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> None:
        """Runs on the writer thread. A failure never stops the queue and is announced once.

        While the store cannot be written, single writes would leave it half-updated, so each
        change instead tries (at most every :data:`STORE_RETRY_INTERVAL_S`) to rewrite it whole;
        the records that rewrite already holds are then skipped.
        """
        with self._lock:
            failing = bool(self._store_problem)
            retry_now = failing and time.monotonic() >= self._next_store_retry
            in_rewrite = number <= self._rewritten_through
        if failing:
            if retry_now:
                self._rewrite_store(store)
            return
        if in_rewrite:
            return
        try:
            write(store, *args, **kwargs)
        except Exception as exc:
            logger.exception("Could not save to the job store (%s)", write.__name__)
            self._store_write_failed(store, exc)

    def _store_write_failed(self, store: JobStore, error: Exception) -> None:
        message = describe_write_failure(store.path, error)
        with self._lock:
            first = not self._store_problem
            self._store_problem = message
            self._next_store_retry = time.monotonic() + STORE_RETRY_INTERVAL_S
        if first:
            self.store_failed.emit(message)

    def _rewrite_if_failing(self, store: JobStore) -> bool:
        with self._lock:
            failing = bool(self._store_problem)
        return self._rewrite_store(store) if failing else True

    def _copied(self) -> _QueueCopy:
        """The queue as it is now, for a whole rewrite (called with the lock held)."""
        return _QueueCopy(
            [_frozen(self._jobs[job_id]) for job_id in self._order],
            list(self._pending),
            list(self._owed.values()),
            self._writes_made,
        )

    def _rewrite_store(self, store: JobStore, copied: _QueueCopy | None = None) -> bool:
        """Make the store match the queue again (on the writer thread): the queue as it is now
        (or as ``copied``) is copied under the lock, and written outside it."""
        if copied is None:
            with self._lock:
                copied = self._copied()
        jobs, pending, owed, through = copied
        try:
            store.rewrite(jobs, pending, owed)
        except Exception as exc:
            logger.warning("The job store %s still cannot be written: %s", store.path, exc)
            with self._lock:
                self._next_store_retry = time.monotonic() + STORE_RETRY_INTERVAL_S
            return False
        with self._lock:
            self._store_problem = ""
            self._rewritten_through = through
        logger.info("The job store %s was rewritten after write failures", store.path)
        self.store_recovered.emit(
            f"The job store {store.path} can be written again: every job and transcript of "
            "this session is saved."
        )
        return True

    # ----------------------------------------------------------------- proofreading
    def save_edits(self, job_id: str, segments: Sequence[Segment]) -> bool:
        """A finished job's transcript as the user edited it (see ``core/edits.py``): every
        face exports it from now on. It writes to the store: call it off the GUI thread.

        False, and nothing changes, when the job is no longer done (re-transcribed meanwhile).
        """
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None or job.state is not JobState.DONE or job.transcript is None:
                return False
            first, old_stop, new_stop = changed_rows(job.segments, segments)
            if job_id not in self._edited:  # the first edit: what is shown is the machine's
                self._machine[job_id] = list(job.segments)
                self._edited.add(job_id)
            job.segments = list(segments)
            # A new transcript object: snapshots the GUI holds keep the one they were given.
            job.transcript = dataclasses.replace(job.transcript, segments=list(segments))
        self._persist(JobStore.save_edits, job_id, first, old_stop, list(segments[first:new_stop]))
        self.job_updated.emit(job_id)
        return True

    def discard_edits(self, job_id: str, machine: Sequence[Segment]) -> bool:
        """Revert all: the job's transcript is the machine's (``machine``, from
        :meth:`machine_segments`) again. Writes to the store: call it off the GUI thread."""
        if not self.save_edits(job_id, machine):
            return False
        with self._lock:
            self._edited.discard(job_id)
            self._machine.pop(job_id, None)
        self._persist(JobStore.discard_edits, job_id)
        return True

    def machine_segments(self, job_id: str) -> list[Segment] | None:
        """The machine's own segments of an edited job; None when it has none kept apart.
        Those of a job edited in an earlier session are read from the store (written then)."""
        with self._lock:
            if job_id not in self._edited:
                return None
            machine = self._machine.get(job_id)
            store = self._store
        if machine is not None:
            return list(machine)
        return None if store is None else store.read_machine_segments(job_id)

    def edited_ids(self) -> set[str]:
        """Jobs whose transcripts the user has edited."""
        with self._lock:
            return set(self._edited)

    # ----------------------------------------------------------------- internals
    def _dispatch_locked(self) -> list[Job]:
        started: list[Job] = []
        while self._pending and len(self._active) < self._max_workers:
            job = self._jobs[self._pending.popleft()]
            job.state = JobState.RUNNING
            job.started_at = time.time()
            job.attempts += 1
            self._active.add(job.id)
            self._persist(JobStore.update_job, job)
            started.append(job)
            self._pool.start(_JobRunnable(self, job))
        self._publish_capacity_locked()
        return started

    def _publish_capacity_locked(self) -> None:
        """Called with the lock held after the counts or limits change (see ``capacity``)."""
        self._capacity = Capacity(
            len(self._active), len(self._pending), self._max_workers, self._max_queue_size
        )

    def _announce_started(self, started: list[Job]) -> None:
        for job in started:
            self.job_state_changed.emit(job.id, JobState.RUNNING)

    def _after_change(self) -> None:
        capacity = self.capacity()
        self.capacity_changed.emit(capacity)
        if capacity.active == 0 and capacity.queued == 0:
            self.idle.emit()

    def _run_job(self, job: Job) -> None:
        """Runs on a pool thread; never raises, always finishes the job."""
        state = JobState.FAILED
        error = ""
        transcript: Transcript | None = None
        try:
            transcript = self.engine.transcribe(
                job.path,
                job.options,
                on_segment=lambda segment: self._on_segment(job, segment),
                on_progress=lambda fraction: self._on_progress(job, fraction),
                on_duration=lambda seconds: self._on_duration(job, seconds),
                is_cancelled=job.cancel_requested.is_set,
            )
            state = JobState.DONE
        except JobCancelled:
            state = JobState.CANCELLED
        except VerbatimError as exc:
            error = str(exc)
            logger.info("Job %s failed: %s", job.path.name, error)
        except Exception as exc:
            logger.exception("Unexpected error while transcribing %s", job.path)
            error = f"{job.path.name}: unexpected error ({type(exc).__name__}: {exc}). See the log."
        finally:
            self._finish(job, state, error, transcript)
            release_free_memory()

    def _on_segment(self, job: Job, segment: Segment) -> None:
        """Changed under the lock, so a snapshot holds either all of a change or none of it;
        announced once stored, so a segment a face was told of survives a crash."""
        with self._lock:
            job.segments.append(segment)
            index = len(job.segments) - 1
            self._persist(
                JobStore.append_segment,
                job.id,
                index,
                segment,
                then=lambda: self.segment_added.emit(job.id, index, segment),
            )

    def _on_duration(self, job: Job, seconds: float) -> None:
        with self._lock:
            job.duration = seconds
            self._persist(JobStore.update_job, job)
        self.job_updated.emit(job.id)

    def _on_progress(self, job: Job, fraction: float) -> None:
        with self._lock:
            job.progress = fraction
            self._persist(JobStore.update_progress, job.id, fraction)
        self.job_progress.emit(job.id, fraction)

    def _probe_durations(self, jobs: list[Job]) -> None:
        if not self._probing_stopped.is_set():
            self._probe_pool.start(_DurationProbe(self, list(jobs)))

    def _probe_duration(self, job: Job) -> None:
        """Runs on the probe thread. A job that started meanwhile hears its duration from the
        engine; a file that cannot be probed gets its clear error when it runs."""
        with self._lock:
            if job.state is not JobState.QUEUED or job.duration is not None:
                return
        try:
            seconds = probe(job.path).duration
        except Exception as error:  # the job itself reports the problem when it runs
            logger.debug("No duration for %s: %s", job.path, error)
            return
        if seconds is None:
            return
        with self._lock:
            if job.duration is not None:
                return
        self._on_duration(job, seconds)

    def _finish(self, job: Job, state: JobState, error: str, transcript: Transcript | None) -> None:
        owed: OwedExport | None = None
        with self._lock:
            self._active.discard(job.id)
            job.state = state
            job.error = error
            job.finished_at = time.time()
            brought_back = transcript is None and job.kept is not None
            if transcript is not None:
                self._edited.discard(job.id)  # a new transcription: the store drops the edits too
                self._machine.pop(job.id, None)
                if job.resumed:  # the engine returns only what it decoded after ``start_at``
                    transcript.segments = list(job.segments)
                job.transcript = transcript
                job.duration = transcript.duration
                job.language = transcript.language
                job.progress = 1.0
                job.kept = None
                owed = self._owed_by(job)
                if owed is not None:
                    self._owed[job.id] = owed
            elif brought_back:
                self._bring_back_kept(job, error)
            final = job.state
            # Announced once the end is stored (durably): a face told "done" is never told
            # otherwise after a crash. The next job starts now; it is announced after.
            self._persist(
                JobStore.finish_job,
                job,
                owed,
                segments_replaced=brought_back,
                then=lambda: self.job_state_changed.emit(job.id, final),
            )
            started = self._dispatch_locked()
            self._writer.submit(StoreWrite(None, lambda: self._announce_after(started)))

    def _announce_after(self, started: list[Job]) -> None:
        self._announce_started(started)
        self._after_change()

    def _owed_by(self, job: Job) -> OwedExport | None:
        """Ask the export policy; a failing policy costs the export, never the job's end."""
        if self._export_policy is None:
            return None
        try:
            return self._export_policy(job)
        except Exception:
            logger.exception("The export policy failed for %s; no export is owed", job.path)
            return None

    @staticmethod
    def _bring_back_kept(job: Job, error: str) -> None:
        """A re-run failed (``error``) or was cancelled (no error): the job is done again with
        the result it had, and its error says why the re-run left it so."""
        kept = job.kept
        assert kept is not None
        job.kept = None
        job.state = JobState.DONE
        job.transcript = kept.transcript
        job.segments = list(kept.transcript.segments)
        job.options = kept.options
        job.started_at, job.finished_at = kept.started_at, kept.finished_at
        job.duration = kept.transcript.duration
        job.language = kept.transcript.language
        job.progress = 1.0
        job.resumed = False
        job.error = (
            f"Re-transcribing failed, so the previous transcript is kept: {error}"
            if error
            else "Re-transcribing was cancelled, so the previous transcript is kept."
        )


def _frozen(value: Any) -> Any:
    """A write record's copy of ``value``: a job as it is now (its segment list copied), so the
    writer thread never reads a record a worker is changing."""
    if isinstance(value, Job):
        copied = copy.copy(value)
        if value.is_read:
            copied.segments = list(value.segments)
        return copied
    if isinstance(value, list):
        return [_frozen(item) for item in value]
    return value
