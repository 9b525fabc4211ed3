"""Job records: plain data that the job queue owns and every face displays."""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path

from desktop_app.core.transcriber import TranscriptionOptions
from desktop_app.core.transcript import Segment, Transcript


class JobState(str, Enum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        return self in (JobState.DONE, JobState.FAILED, JobState.CANCELLED)

    @property
    def label(self) -> str:
        return {
            JobState.QUEUED: "Queued",
            JobState.RUNNING: "Running",
            JobState.DONE: "Done",
            JobState.FAILED: "Failed",
            JobState.CANCELLED: "Cancelled",
        }[self]


class _Timing:
    """Elapsed and remaining time, shared by the live record and its snapshots."""

    state: JobState
    progress: float
    started_at: float | None
    finished_at: float | None

    def elapsed(self, now: float | None = None) -> float | None:
        if self.started_at is None:
            return None
        end = self.finished_at if self.finished_at is not None else (now or time.time())
        return max(0.0, end - self.started_at)

    def remaining(self, now: float | None = None) -> float | None:
        """Estimated seconds left, from the pace so far; None until there is a pace."""
        elapsed = self.elapsed(now)
        if self.state is not JobState.RUNNING or not elapsed or self.progress <= 0.02:
            return None
        return elapsed * (1.0 - self.progress) / self.progress


@dataclass(frozen=True, eq=False)
class JobSnapshot(_Timing):
    """A job as it was at one moment, which no thread can change: what the window reads.

    The queue's workers change a :class:`Job` while it runs; a view that kept the live record
    could read a segment list that grows underneath it. A snapshot is taken under the queue's
    lock, so its fields agree with each other, and ``segments`` is a tuple, so its length is the
    position from which the next ``segment_added`` update continues.
    """

    id: str
    path: Path
    options: TranscriptionOptions
    state: JobState
    progress: float
    error: str
    segments: tuple[Segment, ...]
    transcript: Transcript | None
    duration: float | None
    language: str
    created_at: float
    started_at: float | None
    finished_at: float | None
    attempts: int
    resumed: bool
    cancelling: bool  # a running job asked to stop after its current segment
    #: False for a list row's snapshot: ``segments`` and ``transcript`` were left out (empty),
    #: so a list of 100,000 restored jobs never reads their transcripts from the store.
    has_text: bool = True

    @property
    def name(self) -> str:
        return self.path.name


@dataclass(frozen=True)
class KeptResult:
    """A finished job's result, kept while the job is transcribed again.

    Re-transcribing (another model, another language) must never cost the transcript the user
    already has: the new run may fail (the file moved, the model is missing) or be cancelled, and
    then this result comes back as it was.
    """

    transcript: Transcript
    options: TranscriptionOptions
    started_at: float | None
    finished_at: float | None


@dataclass(eq=False)
class Job(_Timing):
    """One file to transcribe. Only the job queue changes a job; faces read its snapshots."""

    path: Path
    options: TranscriptionOptions
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    state: JobState = JobState.QUEUED
    progress: float = 0.0
    error: str = ""
    segments: list[Segment] = field(default_factory=list)
    transcript: Transcript | None = None
    duration: float | None = None
    language: str = ""
    created_at: float = field(default_factory=time.time)
    started_at: float | None = None
    finished_at: float | None = None
    attempts: int = 0
    resumed: bool = False
    #: The previous result while a finished job runs again; None otherwise.
    kept: KeptResult | None = None
    cancel_requested: threading.Event = field(default_factory=threading.Event, repr=False)

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def is_read(self) -> bool:
        """Whether the segments and transcript are in memory (a restored job reads them from
        the store when first used; see ``job_store.StoredJob``)."""
        return True

    @property
    def cancelling(self) -> bool:
        """Asked to stop (a restored job answers without making its event)."""
        return self.cancel_requested.is_set()

    def snapshot(self, *, with_text: bool = True) -> JobSnapshot:
        """A frozen copy; the queue takes it under its lock, so the fields agree.

        ``with_text=False`` (a list row) leaves out the segments and the transcript.
        """
        return JobSnapshot(
            id=self.id,
            path=self.path,
            options=self.options,
            state=self.state,
            progress=self.progress,
            error=self.error,
            segments=tuple(self.segments) if with_text else (),
            transcript=self.transcript if with_text else None,
            duration=self.duration,
            language=self.language,
            created_at=self.created_at,
            started_at=self.started_at,
            finished_at=self.finished_at,
            attempts=self.attempts,
            resumed=self.resumed,
            cancelling=self.cancelling,
            has_text=with_text,
        )
