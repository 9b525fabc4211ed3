"""Write a live recording to a WAV file as it is captured, so a crash loses about a second.

The header's length fields are patched on every write (the ``wave`` module does this when the
file is seekable) and the file is flushed and fsynced at least every ``flush_seconds``: after a
crash, the file on disk is a valid WAV holding everything but the last second or so.

A recording is someone's voice: it is created 0600, in a 0700 folder when it is Verbatim's own.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
import wave
from datetime import datetime
from pathlib import Path

import numpy as np

from desktop_app.core.audio import SAMPLE_RATE
from desktop_app.core.errors import VerbatimError
from desktop_app.core.paths import data_dir, open_private, private_dir

logger = logging.getLogger(__name__)


def recordings_dir() -> Path:
    """Where dictations are kept: the user's data folder, never a temporary folder."""
    return data_dir() / "recordings"


def new_recording_path(folder: Path | None = None) -> Path:
    folder = recordings_dir() if folder is None else folder
    stamp = datetime.now().strftime("%Y-%m-%d %H-%M-%S")
    path = folder / f"Dictation {stamp}.wav"
    counter = 2
    while path.exists():
        path = folder / f"Dictation {stamp} ({counter}).wav"
        counter += 1
    return path


class WavRecorder:
    """16 kHz mono 16-bit WAV written as frames arrive. Not thread-safe: one thread writes."""

    def __init__(self, path: Path, *, flush_seconds: float = 0.5) -> None:
        self.path = Path(path)
        self.flush_seconds = flush_seconds
        self.samples_written = 0
        try:
            if self.path.parent == recordings_dir():
                private_dir(self.path.parent)
            else:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = open_private(self.path, "wb")  # kept open for the whole recording
        except OSError as exc:
            raise VerbatimError(
                f"Cannot write the recording {self.path}: {exc.strerror or exc}. Choose another "
                "folder or free some disk space."
            ) from None
        self._wav = wave.open(self._file, "wb")  # noqa: SIM115 - closed in close()
        self._wav.setnchannels(1)
        self._wav.setsampwidth(2)
        self._wav.setframerate(SAMPLE_RATE)
        self._pending: list[np.ndarray] = []
        self._pending_samples = 0
        self._last_flush = time.monotonic()
        self._closed = False

    @property
    def seconds(self) -> float:
        return (self.samples_written + self._pending_samples) / SAMPLE_RATE

    def write(self, frames: np.ndarray) -> None:
        """Queue float32 frames; they reach the disk within ``flush_seconds``."""
        if self._closed:
            raise RuntimeError("write() after close()")
        self._pending.append(np.asarray(frames, dtype=np.float32).reshape(-1))
        self._pending_samples += self._pending[-1].size
        if time.monotonic() - self._last_flush >= self.flush_seconds:
            self.flush()

    def flush(self) -> None:
        """Write what is pending, patch the header and push it to the disk."""
        if self._pending:
            audio = np.concatenate(self._pending)
            self._pending, self._pending_samples = [], 0
            pcm = (np.clip(audio, -1.0, 1.0) * 32767.0).astype("<i2")
            self._wav.writeframes(pcm.tobytes())
            self.samples_written += pcm.size
        self._file.flush()
        with contextlib.suppress(OSError):  # some file systems refuse fsync; flush is enough
            os.fsync(self._file.fileno())
        self._last_flush = time.monotonic()

    def close(self) -> Path:
        if not self._closed:
            self.flush()
            self._wav.close()
            self._file.close()
            self._closed = True
            logger.info("Recording %s closed, %.1f s", self.path, self.seconds)
        return self.path
