"""Voice activity for live dictation: Silero VAD run once per frame of the stream, not per pass.

faster-whisper's ``get_speech_timestamps`` runs Silero over the whole audio it is given, from a
blank state. The streaming policy asks for the speech in its buffer before every pass (twice a
second), so running it over the whole buffer read each second of speech again on every pass
of that buffer's life (up to 60 times over a 30 s buffer). :class:`StreamingSilero` runs the model
only on the frames that are new since the last call, carrying the model's state (h, c and the
64-sample context) from one call to the next. The probabilities are then exactly those of one run
over the whole stream (checked in ``tests/test_streaming.py``), and the speech stretches are
found from them by faster-whisper's rules (threshold, a silence must last
``min_silence_seconds`` to end a stretch, stretches padded by ``pad_seconds``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from desktop_app.core.audio import SAMPLE_RATE

#: Silero's frame at 16 kHz, and the samples of the previous frame it sees as context.
FRAME_SAMPLES = 512
CONTEXT_SAMPLES = 64


class StreamingSilero:
    """A :class:`~desktop_app.core.streaming.SpeechDetector` that reads each frame once.

    Called with the policy's buffer and the stream's length in samples: the buffer always ends
    at the newest audio, so what is new since the last call is the buffer's tail. Not
    thread-safe: the policy's worker owns it.
    """

    def __init__(
        self,
        threshold: float = 0.5,
        min_silence_seconds: float = 0.3,
        pad_seconds: float = 0.1,
        model: Any = None,
    ) -> None:
        self.threshold = threshold
        self.neg_threshold = max(threshold - 0.15, 0.01)  # faster-whisper's default
        self.min_silence = round(min_silence_seconds * SAMPLE_RATE)
        self.pad = round(pad_seconds * SAMPLE_RATE)
        self._model = model
        self._state = np.zeros((2, 1, 1, 128), np.float32)  # Silero's h and c
        self._context = np.zeros(CONTEXT_SAMPLES, np.float32)
        self._pending = np.zeros(0, np.float32)
        self._seen = 0  # samples of the stream handed to the detector
        self._first_frame = 0  # the stream frame that self._probs[0] belongs to
        self._probs = np.zeros(0, np.float32)

    def __call__(self, buffer: np.ndarray, received: int) -> list[tuple[float, float]]:
        """Speech stretches in ``buffer`` (the last ``buffer.size`` of ``received`` samples) as
        (start, end) seconds from the buffer's start."""
        new = received - self._seen
        if new > buffer.size:  # the buffer was cut past audio never shown here: it is gone
            self._advance(np.zeros(new - buffer.size, np.float32))
            new = buffer.size
        if new > 0:
            self._advance(buffer[buffer.size - new :])
        self._seen = max(self._seen, received)
        start = received - buffer.size
        self._forget(start // FRAME_SAMPLES)
        return self._stretches(start, buffer.size)

    def _advance(self, samples: np.ndarray) -> None:
        audio = np.concatenate([self._pending, samples.astype(np.float32, copy=False)])
        usable = audio.size - audio.size % FRAME_SAMPLES
        self._pending = audio[usable:].copy()
        if not usable:
            return
        if self._model is None:
            from faster_whisper.vad import get_vad_model

            self._model = get_vad_model()
        frames = audio[:usable].reshape(-1, FRAME_SAMPLES)
        context = np.concatenate([self._context[None, :], frames[:-1, -CONTEXT_SAMPLES:]])
        self._context = frames[-1, -CONTEXT_SAMPLES:].copy()
        probs, h, c = self._model.session.run(
            None,
            {
                "input": np.concatenate([context, frames], axis=1),
                "h": self._state[0],
                "c": self._state[1],
            },
        )
        self._state = np.stack([h, c])
        self._probs = np.concatenate([self._probs, np.asarray(probs, np.float32).reshape(-1)])

    def _forget(self, frame: int) -> None:
        """Drop the probabilities of frames before ``frame`` (the buffer was trimmed past them)."""
        drop = min(max(0, frame - self._first_frame), self._probs.size)
        if drop:
            self._probs = self._probs[drop:]
            self._first_frame += drop

    def _stretches(self, start: int, length: int) -> list[tuple[float, float]]:
        """faster-whisper's ``get_speech_timestamps`` rules over the frames of the buffer."""
        speeches: list[list[int]] = []
        triggered = False
        speech_start = 0
        silence_from: int | None = None
        for index, prob in enumerate(self._probs.tolist()):
            at = (self._first_frame + index) * FRAME_SAMPLES - start
            if at < 0 or at >= length:
                continue
            if prob >= self.threshold:
                silence_from = None
                if not triggered:
                    triggered, speech_start = True, at
                continue
            if triggered and prob < self.neg_threshold:
                if silence_from is None:
                    silence_from = at
                if at - silence_from >= self.min_silence:
                    speeches.append([speech_start, silence_from])
                    triggered, silence_from = False, None
        if triggered:
            speeches.append([speech_start, length])
        for index, speech in enumerate(speeches):
            if index == 0:
                speech[0] = max(0, speech[0] - self.pad)
            if index + 1 < len(speeches):
                following = speeches[index + 1]
                gap = following[0] - speech[1]
                shift = gap // 2 if gap < 2 * self.pad else self.pad
                speech[1] += shift
                following[0] = max(0, following[0] - shift)
            else:
                speech[1] = min(length, speech[1] + self.pad)
        return [(a / SAMPLE_RATE, b / SAMPLE_RATE) for a, b in speeches]
