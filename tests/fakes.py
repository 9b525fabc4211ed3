"""A fake engine with a controllable speed, for queue logic and stress tests (no model)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from desktop_app.core.errors import InputMissingError, JobCancelled, NotDecodableError
from desktop_app.core.transcriber import (
    CancelCheck,
    DurationCallback,
    ProgressCallback,
    SegmentCallback,
    TranscriptionOptions,
)
from desktop_app.core.transcript import Segment, Transcript, Word


class FakeEngine:
    """Produces ``segments`` segments, one every ``segment_seconds``.

    Files whose name contains ``bad`` fail as undecodable; missing files fail as missing (only
    when ``check_exists``). ``gate``, when given, holds every job before its first segment until
    it is set, so tests can fill the workers deterministically.
    """

    def __init__(
        self,
        segments: int = 3,
        segment_seconds: float = 0.01,
        gate: threading.Event | None = None,
        check_exists: bool = False,
    ) -> None:
        self.segments = segments
        self.segment_seconds = segment_seconds
        self.gate = gate
        self.check_exists = check_exists
        self.lock = threading.Lock()
        self.running = 0
        self.max_running = 0
        self.calls: list[Path] = []

    def transcribe(
        self,
        path: Path,
        options: TranscriptionOptions,
        *,
        on_segment: SegmentCallback,
        on_progress: ProgressCallback,
        is_cancelled: CancelCheck,
        on_duration: DurationCallback | None = None,
    ) -> Transcript:
        with self.lock:
            self.running += 1
            self.max_running = max(self.max_running, self.running)
            self.calls.append(path)
        try:
            if self.check_exists and not path.exists():
                raise InputMissingError(path, "the file does not exist (moved or deleted?).")
            if "bad" in path.name:
                raise NotDecodableError(path, "is not an audio or video file that can be decoded.")
            if on_duration is not None:
                on_duration(float(self.segments))
            if self.gate is not None:
                while not self.gate.wait(0.01):
                    if is_cancelled():
                        raise JobCancelled()
            transcript = Transcript(duration=float(self.segments), model="fake", source=str(path))
            for index in range(self.segments):
                time.sleep(self.segment_seconds)
                segment = Segment(
                    float(index),
                    index + 1.0,
                    f"segment {index} of {path.name}",
                    (Word(float(index), index + 0.5, "segment"),),
                )
                transcript.segments.append(segment)
                on_segment(segment)
                on_progress((index + 1) / self.segments)
                if is_cancelled():
                    raise JobCancelled()
            return transcript
        finally:
            with self.lock:
                self.running -= 1
