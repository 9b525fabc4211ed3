"""A live dictation session: audio source -> WAV on disk -> streaming policy -> events.

Two threads, so that a slow model pass never delays writing the recording:

* the **capture** thread drains the source's queue, writes the WAV (flushed within half a
  second), measures the input level and hands the audio to the processing inbox;
* the **processing** thread takes everything in the inbox, feeds the policy and reports events.

If processing falls behind, the inbox grows: the backlog is reported as ``lag`` in every status
callback, and no audio is dropped. Stop closes the source, lets both threads drain, and calls
the policy's ``finish()`` so the last words are confirmed before ``on_finished``.

Callbacks run on the session's threads; a GUI must forward them through queued signals.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from desktop_app.core.audio import SAMPLE_RATE
from desktop_app.core.audio_sources import AudioSource
from desktop_app.core.model import ModelProvider
from desktop_app.core.recording import WavRecorder
from desktop_app.core.settings import Settings, cpu_count, looks_like_path
from desktop_app.core.streaming import (
    SOFT_BUFFER_SECONDS,
    WINDOW_MARGIN_SECONDS,
    StreamEvent,
    StreamingTranscriber,
    WhisperRecognizer,
)
from desktop_app.core.transcript import Transcript

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class LiveStatus:
    captured_seconds: float
    lag_seconds: float
    level: float  # RMS of the latest block, 0..1
    dropped_seconds: float = 0.0


@dataclass
class LiveResult:
    transcript: Transcript
    recording: Path | None
    error: str | None
    captured_seconds: float
    #: False when :meth:`LiveSession.abort` stopped it before all it captured was read: the
    #: transcript then ends early, and the recording (complete) holds the rest.
    complete: bool = True


def _ignore(*_: object) -> None:
    return None


class LiveSession:
    """Runs one dictation; start(), then stop() (or the source ends), then on_finished."""

    def __init__(
        self,
        source: AudioSource,
        transcriber: StreamingTranscriber,
        *,
        recorder: WavRecorder | None = None,
        model_name: str = "",
        on_event: Callable[[StreamEvent], None] = _ignore,
        on_status: Callable[[LiveStatus], None] = _ignore,
        on_error: Callable[[str], None] = _ignore,
        on_finished: Callable[[LiveResult], None] = _ignore,
    ) -> None:
        self.source = source
        self.transcriber = transcriber
        self.recorder = recorder
        self.model_name = model_name
        self.on_event = on_event
        self.on_status = on_status
        self.on_error = on_error
        self.on_finished = on_finished
        self._inbox: list[np.ndarray] = []
        self._inbox_samples = 0
        self._captured_samples = 0
        self._capture_done = False
        self._cond = threading.Condition()
        self._threads: list[threading.Thread] = []
        self._finished = threading.Event()
        self._aborted = threading.Event()
        self.result: LiveResult | None = None
        self._error: str | None = None
        self._level = 0.0

    # ------------------------------------------------------------------ control
    def start(self) -> None:
        """Open the source (may raise MicrophoneError) and start both threads."""
        self.source.start()
        self.transcriber.start()
        self._threads = [
            threading.Thread(target=self._capture, name="live-capture", daemon=True),
            threading.Thread(target=self._process, name="live-processing", daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        """Stop capturing; what was captured is still transcribed and confirmed. Never waits."""
        threading.Thread(target=self.source.stop, name="live-stop", daemon=True).start()

    def abort(self) -> None:
        """Stop reading what is still waiting (the read under way ends first); capture ends as
        with :meth:`stop`, and the result says it is not complete. For a window that closes
        while finishing a long backlog would hold it up: the recording has every word."""
        self._aborted.set()
        self.source.stop()
        with self._cond:
            self._cond.notify()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until the session finished (for the CLI and tests; never on a GUI thread)."""
        done = self._finished.wait(timeout)
        if done:
            for thread in self._threads:
                thread.join()
        return done

    @property
    def finished(self) -> bool:
        return self._finished.is_set()

    @property
    def lag_seconds(self) -> float:
        with self._cond:
            return self._inbox_samples / SAMPLE_RATE

    # ------------------------------------------------------------------ threads
    def _capture(self) -> None:
        try:
            while True:
                frames = self.source.read(timeout=0.1)
                if frames is None:
                    if self.source.finished:
                        frames = self.source.read(timeout=0)  # blocks queued before the end
                        if frames is None:
                            break
                    else:
                        continue
                if self.recorder is not None:
                    self.recorder.write(frames)
                self._level = float(np.sqrt(np.mean(np.square(frames)))) if frames.size else 0.0
                with self._cond:
                    self._inbox.append(frames)
                    self._inbox_samples += frames.size
                    self._captured_samples += frames.size
                    self._cond.notify()
                self.on_status(self._status())
        except Exception as exc:
            logger.exception("Live capture failed")
            self._error = f"Recording failed: {exc}. What was captured so far is kept."
        finally:
            if self.recorder is not None:
                try:
                    self.recorder.close()
                except Exception:
                    logger.exception("Closing the recording failed")
            with self._cond:
                self._capture_done = True
                self._cond.notify()

    def _status(self) -> LiveStatus:
        with self._cond:
            captured = self._captured_samples / SAMPLE_RATE
            lag = self._inbox_samples / SAMPLE_RATE
        return LiveStatus(captured, lag, min(1.0, self._level), self.source.dropped_seconds)

    def _process(self) -> None:
        try:
            while True:
                with self._cond:
                    while not (self._inbox or self._capture_done or self._aborted.is_set()):
                        self._cond.wait()
                    blocks, self._inbox = self._inbox, []
                    self._inbox_samples = 0
                    done = (self._capture_done and not blocks) or self._aborted.is_set()
                if done:
                    break
                for event in self.transcriber.feed(np.concatenate(blocks)):
                    self.on_event(event)
                self.on_status(self._status())
            if not self._aborted.is_set():
                for event in self.transcriber.finish():
                    self.on_event(event)
        except Exception as exc:
            logger.exception("Live transcription failed")
            self._error = self._error or (
                f"Live transcription failed: {exc}. The recording is kept and can be "
                "transcribed from the job list."
            )
        finally:
            self._finish()

    def _finish(self) -> None:
        error = self._error or self.source.error
        if self.source.dropped_seconds:
            error = (error + " " if error else "") + (
                f"{self.source.dropped_seconds:.1f} s of audio could not be kept because "
                "processing stalled."
            )
        if error:
            self.on_error(error)
        captured = self._captured_samples / SAMPLE_RATE
        transcript = self.transcriber.transcript(
            model=self.model_name,
            source=str(self.recorder.path) if self.recorder is not None else self.source.name,
        )
        transcript.duration = round(captured, 3)
        self.result = LiveResult(
            transcript=transcript,
            recording=self.recorder.path if self.recorder is not None else None,
            error=error,
            captured_seconds=captured,
            complete=not self._aborted.is_set(),
        )
        self._finished.set()
        try:
            self.on_finished(self.result)
        except Exception:
            logger.exception("on_finished failed")


_live_models: dict[int, ModelProvider] = {}
_live_models_lock = threading.Lock()

#: Live dictation reads these models on one CTranslate2 thread. On 2 cores, alternated idle
#: runs of ``benchmarks/live_latency.py --threads`` streamed the corpus at 0.80-0.82 s median
#: latency and 0.56 CPU s per audio s on one thread, 0.89-0.93 s and 0.72-0.75 on two, with the
#: same text: a tiny.en pass over 12 s decoded with beam 5 in 0.31 s on one thread against 0.49
#: on two (the beam search multiplies matrices too small to split). The other core is left to
#: file jobs. Larger models keep every core (not measured: only tiny.en is here offline).
ONE_THREAD_MODELS = frozenset({"tiny", "tiny.en"})


def live_threads(model: str, cores: int | None = None) -> int:
    """The live model's CTranslate2 threads: one for the tiny models, else every core."""
    name = Path(model).name if looks_like_path(model) else model
    if name in ONE_THREAD_MODELS:
        return 1
    return cpu_count() if cores is None else cores


def create_transcriber(
    settings: Settings,
    *,
    cpu_threads: int | None = None,
    beam_size: int | None = None,
    margin_seconds: float | None = WINDOW_MARGIN_SECONDS,
    clock: Callable[[], float] | None = None,
) -> StreamingTranscriber:
    """The streaming policy over a live model of its own.

    Live dictation loads its own copy of the model (tiny.en is 75 MB) rather than sharing the
    batch jobs' instance: it never waits for a batch job's decoding slot.
    ``margin_seconds`` is the silence after the buffer in each encoded window (``None``: the
    full 30 s window, for comparison in ``benchmarks/live_latency.py``).

    The beam is ``WHISPER_BEAM_SIZE`` (5), as for files, unless ``beam_size`` says otherwise.
    With fitted windows, beam 5 streamed the corpus and four espeak-ng passages at 18.6% WER
    against 23.9% for greedy decoding, for about 0.1 s more latency (``live_latency.py --beam``).
    """
    threads = cpu_threads or live_threads(settings.whisper_model_size)
    key = threads
    with _live_models_lock:
        provider = _live_models.get(key)
        if provider is None:
            provider = _live_models[key] = ModelProvider(cpu_threads=threads, num_workers=1)
    model = provider.get(settings.whisper_model_size)
    beam = settings.beam_size if beam_size is None else beam_size
    recognizer = WhisperRecognizer(
        model, language=settings.language, beam_size=beam, margin_seconds=margin_seconds
    )
    return StreamingTranscriber(
        recognizer,
        final_recognizer=WhisperRecognizer(
            model, language=settings.language, beam_size=beam, margin_seconds=None
        ),
        min_chunk_seconds=settings.stream_min_chunk_size,
        max_buffer_seconds=settings.stream_max_buffer_size,
        soft_buffer_seconds=min(SOFT_BUFFER_SECONDS, settings.stream_max_buffer_size),
        clock=clock or time.monotonic,
    )
