"""Transcription of one file: decode, run the model, deliver segments as they are decoded.

The :class:`Engine` protocol is what the job queue drives; :class:`WhisperEngine` is the real one
and tests may give the queue a fake with the same shape.

Defaults, chosen for accuracy at a CPU-friendly speed: int8 weights, beam 5 (6.7% WER against 15%
for greedy decoding at a similar speed on synthetic speech), Silero VAD on (without it, beam 5
dropped whole sentences after a 6 s silence) and word timestamps on (subtitle cues are split at
words). Plain sequential decoding is used rather than ``BatchedInferencePipeline``: it is faster
per file, but its ~30 s segments need word timestamps anyway, and several jobs in parallel on one
shared model already keep the cores busy.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Protocol

import numpy as np

from desktop_app.core.audio import SAMPLE_RATE, load_audio
from desktop_app.core.errors import JobCancelled
from desktop_app.core.model import ModelProvider
from desktop_app.core.priority import run_at_batch_priority
from desktop_app.core.settings import Settings, threads_per_worker
from desktop_app.core.transcript import Segment, Transcript, Word

logger = logging.getLogger(__name__)

SegmentCallback = Callable[[Segment], None]
ProgressCallback = Callable[[float], None]
DurationCallback = Callable[[float], None]
CancelCheck = Callable[[], bool]


@dataclass(frozen=True)
class TranscriptionOptions:
    """What a job asks of the engine; kept with the job so a retry runs the same way."""

    model: str = "tiny.en"
    language: str = "auto"
    task: str = "transcribe"
    beam_size: int = 5
    vad_filter: bool = True
    word_timestamps: bool = True
    initial_prompt: str = ""
    #: Seconds of audio to skip, used to resume an interrupted job after its last stored segment.
    start_at: float = 0.0

    @classmethod
    def from_settings(cls, settings: Settings) -> TranscriptionOptions:
        return cls(
            model=settings.whisper_model_size,
            language=settings.language,
            task=settings.task,
            beam_size=settings.beam_size,
            vad_filter=settings.vad_filter,
        )

    def with_changes(self, **changes: object) -> TranscriptionOptions:
        return replace(self, **changes)  # type: ignore[arg-type]


class Engine(Protocol):
    def transcribe(
        self,
        path: Path,
        options: TranscriptionOptions,
        *,
        on_segment: SegmentCallback,
        on_progress: ProgressCallback,
        is_cancelled: CancelCheck,
        on_duration: DurationCallback | None = None,
    ) -> Transcript: ...


class WhisperEngine:
    """faster-whisper behind the :class:`Engine` protocol, one shared model per model setting."""

    def __init__(
        self, *, cpu_threads: int, num_workers: int, max_file_size_bytes: int | None = None
    ) -> None:
        self.models = ModelProvider(
            cpu_threads=cpu_threads, num_workers=num_workers, batch_priority=True
        )
        self.max_file_size_bytes = max_file_size_bytes

    @classmethod
    def from_settings(cls, settings: Settings) -> WhisperEngine:
        return cls(
            cpu_threads=settings.cpu_threads,
            num_workers=settings.max_concurrent_workers,
            max_file_size_bytes=settings.max_file_size_bytes,
        )

    def preload(self, model: str) -> None:
        """Load the model, and the voice-activity detector and decoder libraries with it.

        Their first import and load hold the GIL for tens of milliseconds; done here (at start-up,
        in the background) they do not freeze the window when the first file starts.
        """
        self.models.get(model)
        import av  # noqa: F401
        from faster_whisper.vad import get_vad_model

        run_at_batch_priority(get_vad_model)  # its thread pool then works at batch priority too

    def configure_workers(self, workers: int) -> None:
        """Size the shared model for ``workers`` parallel jobs (takes effect at the next load)."""
        self.models.reconfigure(cpu_threads=threads_per_worker(workers), num_workers=workers)

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
        audio = load_audio(path, self.max_file_size_bytes)
        if on_duration is not None:
            on_duration(audio.size / SAMPLE_RATE)
        return self.transcribe_array(
            audio,
            options,
            on_segment=on_segment,
            on_progress=on_progress,
            is_cancelled=is_cancelled,
            source=str(path),
        )

    def transcribe_array(
        self,
        audio: np.ndarray,
        options: TranscriptionOptions,
        *,
        on_segment: SegmentCallback,
        on_progress: ProgressCallback,
        is_cancelled: CancelCheck,
        source: str = "",
    ) -> Transcript:
        duration = audio.size / SAMPLE_RATE
        offset = min(max(0.0, options.start_at), duration)
        if is_cancelled():
            raise JobCancelled()
        model = self.models.get(options.model)
        if is_cancelled():
            raise JobCancelled()
        clip = audio[int(offset * SAMPLE_RATE) :] if offset else audio
        transcript = Transcript(duration=duration, model=options.model, source=source)
        if clip.size < SAMPLE_RATE // 10:  # nothing left to decode after a resume
            on_progress(1.0)
            return transcript
        segments, info = model.transcribe(
            clip,
            language=None if options.language == "auto" else options.language,
            task=options.task,
            beam_size=options.beam_size,
            vad_filter=options.vad_filter,
            word_timestamps=options.word_timestamps,
            initial_prompt=options.initial_prompt or None,
        )
        transcript.language = info.language
        transcript.language_probability = info.language_probability
        try:
            for raw in segments:
                segment = Segment(
                    start=round(raw.start + offset, 3),
                    end=round(raw.end + offset, 3),
                    text=raw.text.strip(),
                    words=tuple(
                        Word(
                            round(w.start + offset, 3),
                            round(w.end + offset, 3),
                            w.word,
                            round(w.probability, 4),
                        )
                        for w in (raw.words or ())
                    ),
                )
                if segment.text:
                    transcript.segments.append(segment)
                    on_segment(segment)
                on_progress(min(1.0, segment.end / duration) if duration else 1.0)
                if is_cancelled():
                    raise JobCancelled()
        finally:
            close = getattr(segments, "close", None)
            if close is not None:
                close()
        on_progress(1.0)
        return transcript
