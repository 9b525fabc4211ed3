"""Transcription of one file: decode, run the model, deliver segments as they are decoded.

The :class:`Engine` protocol is what the job queue drives; :class:`WhisperEngine` is the real one
and tests may give the queue a fake with the same shape.

Defaults, chosen for accuracy at a CPU-friendly speed: int8 weights, beam 5 (6.7% WER against 15%
for greedy decoding at a similar speed on synthetic speech), Silero VAD on (without it, beam 5
dropped whole sentences after a 6 s silence) and word timestamps on (subtitle cues are split at
words). Plain sequential decoding is used rather than ``BatchedInferencePipeline``: it is faster
per file, but its ~30 s segments need word timestamps anyway, and several jobs in parallel on one
shared model already keep the cores busy.

A long file is decoded as it is transcribed, a window of :data:`WINDOW_SECONDS` at a time, each
window ending in a pause, so its memory does not grow with its length; a file shorter than a
window is transcribed in one call, exactly as before windows existed.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np

from desktop_app.core.audio import SAMPLE_RATE, AudioStream
from desktop_app.core.errors import JobCancelled
from desktop_app.core.model import ModelProvider
from desktop_app.core.priority import run_at_batch_priority
from desktop_app.core.settings import SPECS_BY_NAME, Settings, threads_per_worker
from desktop_app.core.transcript import Segment, Transcript, Word

if TYPE_CHECKING:
    from faster_whisper.transcribe import Segment as FasterWhisperSegment

logger = logging.getLogger(__name__)

#: Longest stretch of audio handed to the model at once. faster-whisper computes the VAD and
#: the log-mel features of all it is given at once, about 1 MB per second of speech at their
#: peak, so one call on a whole file needs memory in proportion to its length (3.6 GB an hour).
#: Measured over a baseline of ~330 MB (tiny.en): +45 MB for 60 s windows, +94 MB for 120 s,
#: +306 MB for 300 s, +623 MB for 600 s. 120 s is also the more accurate: on 12 min of corpus and
#: espeak speech, WER 14.9% in 120 s windows, 18.3% in 300 s windows and 23.1% in one call, where
#: one skipped passage is not caught up (whole sentences deleted) until the next window.
WINDOW_SECONDS = 120.0
#: A window ends at the quietest half second of its last ten seconds, so no word is cut in two.
CUT_SEARCH_SECONDS = 10.0
QUIET_SPAN_SAMPLES = SAMPLE_RATE // 2
#: Characters of the text so far given to the next window as its prompt, after the user's own.
#: Off, by measurement with tiny.en: a carried prompt made the model drop speech it had just read
#: in the prompt and write "Thank you very much." where a prompted window ends. Mean WER on 4 min
#: of speech in 15, 20 and 25 s windows: 15.4% without, 16.8% carrying 100 characters, 17.7%
#: carrying 200 (up to 27% against at most 6.1% on clips that repeat); in 120 s windows on 12 min,
#: 15.4% carrying 200 against 14.9% without. The user's prompt still reaches every window. A
#: larger model may gain from the carry: ``benchmarks/long_file_memory.py`` measures it.
PROMPT_CARRY_CHARS = 0
#: Less audio than this (a resume at the very end) is not worth a model call.
MIN_WINDOW_SAMPLES = SAMPLE_RATE // 10
#: A window's last stretch shorter than this, read only by temperature fallback, is not speech.
#: After a read ending in a timestamp pair, faster-whisper decodes what is left after it, however
#: short: on LJ050-0131.wav 0.08 s after "in this regard." (7.54 of 7.66 s). tiny.en's greedy
#: read of it failed its checks (average log-probability -1.4) and silence was not sure enough
#: (no-speech probability 0.57 against 0.6), so the sampled fallback reads went through, and one
#: of them (" Thank you.", or " .") ended the transcript: random text on a random run.
TAIL_FALLBACK_SECONDS = 0.3

SegmentCallback = Callable[[Segment], None]
ProgressCallback = Callable[[float], None]
DurationCallback = Callable[[float], None]
CancelCheck = Callable[[], bool]


@dataclass(frozen=True)
class TranscriptionOptions:
    """What a job asks of the engine; kept with the job so a retry runs the same way. The
    defaults are the settings' defaults, declared once in
    :data:`desktop_app.core.settings.SETTINGS`."""

    model: str = SPECS_BY_NAME["whisper_model_size"].default_value()
    language: str = SPECS_BY_NAME["language"].default_value()
    task: str = SPECS_BY_NAME["task"].default_value()
    beam_size: int = SPECS_BY_NAME["beam_size"].default_value()
    vad_filter: bool = SPECS_BY_NAME["vad_filter"].default_value()
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
        self,
        *,
        cpu_threads: int,
        num_workers: int,
        max_file_size_bytes: int | None = None,
        max_audio_seconds: float | None = None,
        window_seconds: float | None = WINDOW_SECONDS,
    ) -> None:
        self.models = ModelProvider(
            cpu_threads=cpu_threads, num_workers=num_workers, batch_priority=True
        )
        self.max_file_size_bytes = max_file_size_bytes
        self.max_audio_seconds = max_audio_seconds
        self.window_seconds = window_seconds

    @property
    def window_seconds(self) -> float | None:
        """Longest audio handed to the model at once; None hands it the whole file (the memory
        then grows with the file's length)."""
        return None if self.window_samples is None else self.window_samples / SAMPLE_RATE

    @window_seconds.setter
    def window_seconds(self, seconds: float | None) -> None:
        if seconds is not None and seconds < 1.0:
            raise ValueError(f"window_seconds must be at least 1 s or None, not {seconds}")
        self.window_samples = None if seconds is None else int(seconds * SAMPLE_RATE)
        # The cut is looked for in the last half of a short window at most, so that every window
        # but the last holds at least half a window of audio.
        search = CUT_SEARCH_SECONDS if seconds is None else min(CUT_SEARCH_SECONDS, seconds / 2)
        self.cut_search_samples = int(search * SAMPLE_RATE)

    @classmethod
    def from_settings(cls, settings: Settings) -> WhisperEngine:
        return cls(
            cpu_threads=settings.cpu_threads,
            num_workers=settings.max_concurrent_workers,
            max_file_size_bytes=settings.max_file_size_bytes,
            max_audio_seconds=settings.max_audio_seconds,
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
        stream = AudioStream(path, self.max_file_size_bytes, self.max_audio_seconds)
        blocks = stream.blocks()
        try:
            pending = _PendingAudio(blocks, _skip_samples(options), is_cancelled)
            # The first window is decoded before anything else, so a damaged or empty file fails
            # straight away, and a file shorter than a window has its exact duration.
            pending.fill(None if self.window_samples is None else self.window_samples + 1)
            announced = stream.decoded_samples / SAMPLE_RATE if pending.exhausted else None
            announced = announced or stream.info.duration
            if on_duration is not None and announced:
                on_duration(announced)

            def progress_of(seconds: float) -> float:
                if announced:
                    return min(1.0, seconds / announced)
                decoded, fraction = stream.decoded_samples / SAMPLE_RATE, stream.fraction_read
                return min(0.99, seconds * fraction / decoded) if decoded else 0.0

            def on_end_of_file() -> float:
                exact = stream.decoded_samples / SAMPLE_RATE
                if on_duration is not None and (not announced or abs(exact - announced) >= 1.0):
                    on_duration(exact)
                return exact

            return self._transcribe_windows(
                pending,
                options,
                on_segment=on_segment,
                on_progress=on_progress,
                is_cancelled=is_cancelled,
                progress_of=progress_of,
                on_end_of_file=on_end_of_file,
                source=str(path),
            )
        finally:
            blocks.close()  # closes the file, also when the job is cancelled mid-way

    def transcribe_array(
        self,
        audio: np.ndarray,
        options: TranscriptionOptions,
        *,
        on_segment: SegmentCallback = lambda segment: None,
        on_progress: ProgressCallback = lambda fraction: None,
        is_cancelled: CancelCheck = lambda: False,
        source: str = "",
    ) -> Transcript:
        """16 kHz mono audio already in memory (tests, benchmarks); the callbacks are optional."""
        duration = audio.size / SAMPLE_RATE
        return self._transcribe_windows(
            _PendingAudio(iter([audio]), _skip_samples(options), is_cancelled),
            options,
            on_segment=on_segment,
            on_progress=on_progress,
            is_cancelled=is_cancelled,
            progress_of=lambda seconds: min(1.0, seconds / duration) if duration else 1.0,
            on_end_of_file=lambda: duration,
            source=source,
        )

    def _transcribe_windows(
        self,
        pending: _PendingAudio,
        options: TranscriptionOptions,
        *,
        on_segment: SegmentCallback,
        on_progress: ProgressCallback,
        is_cancelled: CancelCheck,
        progress_of: Callable[[float], float],
        on_end_of_file: Callable[[], float],
        source: str,
    ) -> Transcript:
        """Transcribe ``pending`` one window at a time, each ended at a pause.

        Every window gets the user's prompt (and the end of the text so far, if
        :data:`PROMPT_CARRY_CHARS` is set); when the language is "auto", the windows after the
        first that held speech keep its language, so a multilingual model does not switch
        language at a window boundary.
        """
        if is_cancelled():
            raise JobCancelled()
        model = self.models.get(options.model)
        if is_cancelled():
            raise JobCancelled()
        transcript = Transcript(model=options.model, source=source)
        language = None if options.language == "auto" else options.language
        language_settled = False
        first_start = max(0.0, options.start_at)  # seconds, in the whole file
        handed = 0  # samples given to the model so far
        reported = 0.0

        def report(fraction: float) -> None:
            nonlocal reported
            reported = max(reported, fraction)
            on_progress(reported)

        duration: float | None = None
        while True:
            window, last = self._next_window(pending)
            if last and duration is None:
                duration = on_end_of_file()
            if window.size < MIN_WINDOW_SAMPLES:  # nothing left to decode (after a resume)
                break
            window_start = first_start + handed / SAMPLE_RATE
            handed += window.size
            logger.debug(
                "Window %.1f-%.1f s of %s",
                window_start,
                first_start + handed / SAMPLE_RATE,
                source,
            )
            prompt = options.initial_prompt
            if transcript.segments:
                prompt = " ".join(p for p in (prompt.strip(), _prompt_tail(transcript.text)) if p)
            segments, info = model.transcribe(
                window,
                language=language,
                task=options.task,
                beam_size=options.beam_size,
                vad_filter=options.vad_filter,
                word_timestamps=options.word_timestamps,
                initial_prompt=prompt or None,
                # Conditioned on its own last chunk, tiny.en can read the next 30 s as one short
                # made-up sentence stamped at the chunk's end, and the speech between is lost
                # (a whole paragraph of a 2.5-minute recording). Each chunk decoded on its own
                # keeps every paragraph; the window's prompt above still carries the wording.
                condition_on_previous_text=False,
            )
            if not language_settled:
                transcript.language = info.language
                transcript.language_probability = info.language_probability
            spoke = False
            try:
                window_end = window_start + window.size / SAMPLE_RATE
                for raw in segments:
                    segment = _shifted(raw, window_start)
                    if _fallback_tail(raw, window_start, window_end):
                        logger.debug(
                            "Dropped %r: read by fallback from the window's last moment", raw.text
                        )
                        continue
                    if segment.text:
                        spoke = True
                        transcript.segments.append(segment)
                        on_segment(segment)
                    report(progress_of(segment.end))
                    if is_cancelled():
                        raise JobCancelled()
            finally:
                close = getattr(segments, "close", None)
                if close is not None:
                    close()
            if spoke and not language_settled:
                language_settled = True
                language = language or info.language
            del window, segments  # the window's audio and features go before the next is read
            if last:
                break
            report(progress_of(first_start + handed / SAMPLE_RATE))
            if is_cancelled():
                raise JobCancelled()
        transcript.duration = duration if duration is not None else on_end_of_file()
        report(1.0)
        return transcript

    def _next_window(self, pending: _PendingAudio) -> tuple[np.ndarray, bool]:
        """The next window's samples, and whether it is the last one."""
        size = self.window_samples
        pending.fill(None if size is None else size + 1)
        if size is None or (pending.exhausted and pending.size <= size):
            return pending.take(pending.size), True
        window = pending.take(size)
        cut = quiet_cut(window, self.cut_search_samples, QUIET_SPAN_SAMPLES)
        pending.put_back(window[cut:])
        return window[:cut], False


def quiet_cut(audio: np.ndarray, search_samples: int, span_samples: int) -> int:
    """Where to end a window that could run to ``audio.size``: the middle of the quietest
    ``span_samples`` within the last ``search_samples`` (the latest of equally quiet ones), so
    that the cut falls in a pause between words rather than inside one."""
    hop = SAMPLE_RATE // 100
    search = min(search_samples, audio.size)
    frames = search // hop
    span = max(1, span_samples // hop)
    if frames <= span:
        return audio.size
    region = audio[audio.size - search : audio.size - search + frames * hop]
    energy = np.square(region.reshape(frames, hop), dtype=np.float64).sum(axis=1)
    cumulative = np.concatenate(([0.0], np.cumsum(energy)))
    span_energy = cumulative[span:] - cumulative[:-span]
    quietest = span_energy.size - 1 - int(np.argmin(span_energy[::-1]))
    return audio.size - search + quietest * hop + span * hop // 2


def _skip_samples(options: TranscriptionOptions) -> int:
    return int(max(0.0, options.start_at) * SAMPLE_RATE)


def _prompt_tail(text: str) -> str:
    """The last :data:`PROMPT_CARRY_CHARS` characters of ``text``, starting at a word."""
    limit = PROMPT_CARRY_CHARS
    if limit <= 0:
        return ""
    if len(text) <= limit:
        return text.strip()
    tail = text[-limit:]
    if not text[-limit - 1].isspace():
        tail = tail.partition(" ")[2]
    return tail.strip()


def _fallback_tail(raw: FasterWhisperSegment, offset: float, window_end: float) -> bool:
    """Whether ``raw`` is a fallback read of nothing but the window's last moment (see
    :data:`TAIL_FALLBACK_SECONDS`). A fake model's segments may lack ``temperature``."""
    return (
        getattr(raw, "temperature", 0.0) > 0.0
        and window_end - (raw.start + offset) < TAIL_FALLBACK_SECONDS
    )


def _shifted(raw: FasterWhisperSegment, offset: float) -> Segment:
    """A faster-whisper segment as ours, its times moved from the window's to the file's."""
    return Segment(
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


class _PendingAudio:
    """Decoded samples waiting for their window, pulled from the decoder only as far as needed.

    Holds at most a window and a decoder block, whatever the file's length; the first
    ``skip_samples`` are dropped as they are decoded (a resumed job).
    """

    def __init__(
        self, blocks: Iterator[np.ndarray], skip_samples: int, is_cancelled: CancelCheck
    ) -> None:
        self._blocks = blocks
        self._skip = skip_samples
        self._is_cancelled = is_cancelled
        self._parts: deque[np.ndarray] = deque()
        self.size = 0
        self.exhausted = False

    def fill(self, target: int | None) -> None:
        """Decode until ``target`` samples wait (all of the file for None) or the file ends."""
        while not self.exhausted and (target is None or self.size < target):
            if self._is_cancelled():
                raise JobCancelled()
            block = next(self._blocks, None)
            if block is None:
                self.exhausted = True
                break
            if self._skip:
                dropped = min(self._skip, block.size)
                block = block[dropped:]
                self._skip -= dropped
            if block.size:
                self._parts.append(block)
                self.size += block.size

    def take(self, count: int) -> np.ndarray:
        """Remove and return the first ``count`` waiting samples (fewer if fewer wait)."""
        parts: list[np.ndarray] = []
        needed = min(count, self.size)
        self.size -= needed
        while needed:
            part = self._parts.popleft()
            if part.size > needed:
                self._parts.appendleft(part[needed:])
                part = part[:needed]
            parts.append(part)
            needed -= part.size
        if len(parts) == 1:
            return parts[0]
        if not parts:
            return np.zeros(0, dtype=np.float32)
        return np.concatenate(parts).astype(np.float32, copy=False)

    def put_back(self, samples: np.ndarray) -> None:
        if samples.size:
            self._parts.appendleft(samples)
            self.size += samples.size
