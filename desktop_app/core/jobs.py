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
class Job:
    """One file to transcribe. Only the job queue changes a job; faces read it."""

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
