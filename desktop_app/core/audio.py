"""Audio input: find media files, check them, and decode them to 16 kHz mono float32.

Every way an input can be unusable is mapped to a typed :class:`InputError` whose message names
the file and says what is wrong, so one bad file fails one job with a sentence, never a traceback.
"""

from __future__ import annotations

import errno
import logging
import os
from collections.abc import Callable, Generator, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from desktop_app.core.errors import (
    EmptyAudioError,
    InputMissingError,
    InputTooLargeError,
    InputUnreadableError,
    NoAudioStreamError,
    NotAFileError,
    NotDecodableError,
    UnsupportedAudioError,
)

if TYPE_CHECKING:
    import av

logger = logging.getLogger(__name__)

#: The one sample rate of Verbatim's audio: Whisper's input rate, to which every file is
#: decoded and every microphone recorded or resampled.
SAMPLE_RATE = 16_000
#: Sample rates a real recording can have. A header outside them is damaged or hostile: a 352 KB
#: WAV claiming 1 Hz resamples to 48.9 hours of 16 kHz audio, days of CPU for nothing.
MIN_SAMPLE_RATE_HZ = 1_000
MAX_SAMPLE_RATE_HZ = 384_000

AUDIO_EXTENSIONS = frozenset(
    [
        ".aac",
        ".ac3",
        ".aif",
        ".aiff",
        ".alac",
        ".amr",
        ".ape",
        ".au",
        ".caf",
        ".flac",
        ".m4a",
        ".m4b",
        ".mka",
        ".mp2",
        ".mp3",
        ".mpga",
        ".oga",
        ".ogg",
        ".opus",
        ".ra",
        ".spx",
        ".wav",
        ".wave",
        ".weba",
        ".wma",
        ".wv",
    ]
)
VIDEO_EXTENSIONS = frozenset(
    [
        ".3gp",
        ".avi",
        ".flv",
        ".m2ts",
        ".m4v",
        ".mkv",
        ".mov",
        ".mp4",
        ".mpeg",
        ".mpg",
        ".mts",
        ".ogv",
        ".ts",
        ".vob",
        ".webm",
        ".wmv",
    ]
)
MEDIA_EXTENSIONS = AUDIO_EXTENSIONS | VIDEO_EXTENSIONS


@dataclass(frozen=True)
class MediaInfo:
    """What a cheap probe of the container says, before decoding."""

    path: Path
    size_bytes: int
    duration: float | None
    has_video: bool


def is_media_file(path: Path) -> bool:
    return path.suffix.lower() in MEDIA_EXTENSIONS


def find_media_files(paths: Iterable[str | Path]) -> Iterator[Path]:
    """Yield the given files, and the media files found in the given folders (recursively, sorted).

    Files named explicitly are yielded whatever their extension, so that the user gets a clear
    error for them rather than silence; inside folders only known media extensions are taken.
    Symbolic-link loops are not followed twice.
    """
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            seen: set[tuple[int, int]] = set()
            yield from _walk(path, seen)
        else:
            yield path


def _walk(folder: Path, seen: set[tuple[int, int]]) -> Iterator[Path]:
    try:
        stat = folder.stat()
    except OSError:
        return
    key = (stat.st_dev, stat.st_ino)
    if key in seen:
        return
    seen.add(key)
    try:
        entries = sorted(os.scandir(folder), key=lambda e: e.name.lower())
    except OSError as exc:
        logger.warning("Cannot list folder %s: %s", folder, exc.strerror)
        return
    for entry in entries:
        entry_path = Path(entry.path)
        try:
            if entry.is_dir():
                yield from _walk(entry_path, seen)
            elif entry.is_file() and is_media_file(entry_path):
                yield entry_path
        except OSError:
            continue


def check_file(path: str | Path, max_size_bytes: int | None = None) -> int:
    """Check that ``path`` is an existing, readable, not too large file; return its size.

    :raises InputError: a subclass saying what is wrong.
    """
    path = Path(path)
    try:
        stat = path.stat()
    except FileNotFoundError:
        raise InputMissingError(path, "the file does not exist (moved or deleted?).") from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise InputUnreadableError(path, "the path is a symbolic link loop.") from None
        raise InputUnreadableError(path, f"the file cannot be read ({exc.strerror}).") from None
    if not path.is_file():
        kind = "a folder" if path.is_dir() else "not a regular file"
        raise NotAFileError(path, f"this is {kind}, not an audio or video file.")
    if not os.access(path, os.R_OK):
        raise InputUnreadableError(path, "the file cannot be read: permission denied.")
    if max_size_bytes is not None and stat.st_size > max_size_bytes:
        raise InputTooLargeError(
            path,
            f"the file is {stat.st_size / 2**20:.0f} MB, over the "
            f"{max_size_bytes / 2**20:.0f} MB limit (MAX_FILE_SIZE_MB).",
        )
    if stat.st_size == 0:
        raise EmptyAudioError(path, "the file is empty (0 bytes).")
    return stat.st_size


def open_container(path: Path) -> av.container.InputContainer:
    """Open a local media file for reading, and nothing but local files.

    FFmpeg reads a name that starts like ``http:`` or ``tcp:`` as a network address, so a
    relative path such as ``http:/host/talk.wav`` (a folder named ``http:``) would open a
    connection: an absolute path never starts with a scheme, and the protocol whitelist keeps
    every nested open (a playlist's segments) on local files too.
    """
    import av

    return av.open(
        os.fspath(path.absolute()),
        mode="r",
        metadata_errors="ignore",
        options={"protocol_whitelist": "file"},
    )


def probe(path: str | Path, max_size_bytes: int | None = None) -> MediaInfo:
    """Open the container without decoding: is it media, and does it hold an audio stream?"""
    import av  # imported on first use: it costs start-up time the window must not pay

    path = Path(path)
    size = check_file(path, max_size_bytes)
    try:
        with open_container(path) as container:
            if not container.streams.audio:
                raise NoAudioStreamError(path, "the file has no audio track to transcribe.")
            has_video = bool(container.streams.video)
            duration = container.duration / av.time_base if container.duration else None
            stream = container.streams.audio[0]
            _check_sample_rate(path, stream.sample_rate)
            if duration is None and stream.duration and stream.time_base:
                duration = float(stream.duration * stream.time_base)
    except PermissionError:
        raise InputUnreadableError(path, "the file cannot be read: permission denied.") from None
    except FileNotFoundError:
        raise InputMissingError(path, "the file does not exist (moved or deleted?).") from None
    except IsADirectoryError:
        raise NotAFileError(path, "this is a folder, not an audio or video file.") from None
    except (av.error.InvalidDataError, av.error.FFmpegError, UnicodeDecodeError, ValueError):
        raise NotDecodableError(
            path, "cannot be decoded: it is not an audio or video file, or it is damaged."
        ) from None
    return MediaInfo(path=path, size_bytes=size, duration=duration, has_video=has_video)


def _check_sample_rate(path: Path, rate: int | None) -> None:
    if rate is None or rate == 0:  # not declared: the decoder finds out, the length bound holds
        return
    if not MIN_SAMPLE_RATE_HZ <= rate <= MAX_SAMPLE_RATE_HZ:
        raise UnsupportedAudioError(
            path,
            f"its header claims a sample rate of {rate:,} Hz, which no real recording has "
            f"(accepted: {MIN_SAMPLE_RATE_HZ:,} to {MAX_SAMPLE_RATE_HZ:,} Hz); the file is "
            "damaged or not what it seems.",
        )


def _too_long(path: Path, max_seconds: float) -> InputTooLargeError:
    return InputTooLargeError(
        path,
        f"the audio lasts over {max_seconds / 3600:g} hours, the limit "
        "(MAX_AUDIO_DURATION_HOURS). Split it into shorter files, or raise the limit.",
    )


def load_audio(
    path: str | Path, max_size_bytes: int | None = None, max_seconds: float | None = None
) -> np.ndarray:
    """Check and decode ``path`` to 16 kHz mono float32 samples.

    :raises InputError: the file is missing, unreadable, too large or too long, not media, has
        no audio stream, or holds no audio at all.
    """
    path = Path(path)
    probe(path, max_size_bytes)
    with _decoding_errors(path):
        audio = decode_to_mono(path, max_seconds)
    if audio.size == 0:
        raise EmptyAudioError(path, "the file contains no audio (duration 0 s).")
    return audio


def decode_to_mono(path: Path, max_seconds: float | None = None) -> np.ndarray:
    """Decode the first audio stream to 16 kHz mono float32, skipping damaged packets.

    :raises InputTooLargeError: the audio lasts longer than ``max_seconds``.
    """
    chunks = []
    decoded, limit = 0, _sample_limit(max_seconds)
    for block in _decode_blocks(path):
        decoded += block.size
        if decoded > limit:
            raise _too_long(path, max_seconds or 0.0)
        chunks.append(block)
    if not chunks:
        return np.zeros(0, dtype=np.float32)
    return np.concatenate(chunks).astype(np.float32, copy=False)


class AudioStream:
    """A checked input decoded block by block, so that a long file never sits in memory whole.

    Opening it probes the container (typed errors for a bad file straight away, and the
    duration the container declares, if any); :meth:`blocks` then decodes on demand.
    """

    def __init__(
        self, path: str | Path, max_size_bytes: int | None = None, max_seconds: float | None = None
    ) -> None:
        self.path = Path(path)
        self.info = probe(self.path, max_size_bytes)
        #: What decoding may cost: past this many seconds of audio it stops with an error. The
        #: declared duration is not trusted for it (streamed WAVs claim 4 GB of data).
        self.max_seconds = max_seconds
        #: Samples decoded so far (a resumed job still decodes, then drops, what it skips).
        self.decoded_samples = 0
        self._bytes_read = 0

    @property
    def fraction_read(self) -> float:
        """How far through the file the decoder is, by bytes: a progress estimate for containers
        that declare no duration (a browser's WebM recording, for one)."""
        return min(1.0, self._bytes_read / self.info.size_bytes) if self.info.size_bytes else 0.0

    def blocks(self) -> Generator[np.ndarray, None, None]:
        """Yield the 16 kHz mono float32 samples in decoding order, a frame's worth at a time.

        :raises InputError: the file cannot be decoded past some point, holds no audio, or
            lasts longer than :attr:`max_seconds`.
        """
        limit = _sample_limit(self.max_seconds)
        with _decoding_errors(self.path):
            for block in _decode_blocks(self.path, self._note_packet):
                self.decoded_samples += block.size
                if self.decoded_samples > limit:
                    raise _too_long(self.path, self.max_seconds or 0.0)
                yield block
        if self.decoded_samples == 0:
            raise EmptyAudioError(self.path, "the file contains no audio (duration 0 s).")

    def _note_packet(self, packet: av.Packet) -> None:
        position = packet.pos if packet.pos is not None and packet.pos >= 0 else -1
        end = position + packet.size if position >= 0 else self._bytes_read + packet.size
        self._bytes_read = max(self._bytes_read, end)


def _sample_limit(max_seconds: float | None) -> float:
    return float("inf") if max_seconds is None else max_seconds * SAMPLE_RATE


@contextmanager
def _decoding_errors(path: Path) -> Iterator[None]:
    """Turn what the decoder raises for a damaged file into a typed error naming the file."""
    import av

    try:
        yield
    except (av.error.FFmpegError, ValueError, IndexError) as exc:
        logger.info("Decoding %s failed: %s", path, exc)
        raise NotDecodableError(
            path, "cannot be decoded: the file is damaged or truncated."
        ) from None
    except MemoryError:
        raise InputTooLargeError(
            path, "the file is too long to decode in the available memory."
        ) from None


def _decode_blocks(
    path: Path, on_packet: Callable[[av.Packet], None] | None = None
) -> Iterator[np.ndarray]:
    """Decode the first audio stream to 16 kHz mono float32 blocks, skipping damaged packets.

    faster-whisper's ``decode_audio`` ends with a full ``gc.collect()`` (a workaround for
    resampler leaks in old PyAV), which holds the GIL for 50-90 ms in a process with a Qt window
    and froze the window once per file; PyAV 12+ frees its resampler without it. Resampling
    straight to float also halves the peak memory of the int16 round trip.
    """
    import av

    resampler = av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE)
    with open_container(path) as container:
        stream = container.streams.audio[0]
        for packet in container.demux(stream):
            if on_packet is not None:
                on_packet(packet)
            try:
                frames = packet.decode()
            except av.error.InvalidDataError:
                continue  # a damaged packet: keep what can be decoded
            for frame in frames:
                frame.pts = None  # timestamps jumping in damaged files upset the resampler
                for out in resampler.resample(frame):
                    yield out.to_ndarray().reshape(-1)
        for out in resampler.resample(None):
            yield out.to_ndarray().reshape(-1)
