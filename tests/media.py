"""Builders for test media (real containers made with PyAV, and hostile files)."""

from __future__ import annotations

import struct
import wave
from pathlib import Path

import av
import numpy as np

from desktop_app.core.audio import SAMPLE_RATE, load_audio


def write_wav(path: Path, samples: np.ndarray, rate: int = SAMPLE_RATE, channels: int = 1) -> Path:
    pcm = (np.clip(samples, -1, 1) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as out:
        out.setnchannels(channels)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(pcm.tobytes())
    return path


def encode_audio(source: Path, destination: Path, codec: str = "libmp3lame") -> Path:
    """Re-encode a real recording (mono 16 kHz) into another container/codec."""
    samples = load_audio(source)
    with av.open(str(destination), "w") as container:
        stream = container.add_stream(codec, rate=SAMPLE_RATE, layout="mono")
        frame = av.AudioFrame.from_ndarray(
            (samples * 32767).astype(np.int16).reshape(1, -1), format="s16", layout="mono"
        )
        frame.sample_rate = SAMPLE_RATE
        for packet in stream.encode(frame):
            container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return destination


def video_with_audio(source: Path, destination: Path, with_audio: bool = True) -> Path:
    """An MP4 with a few seconds of grey video and, optionally, the source's speech."""
    samples = load_audio(source)
    seconds = samples.size / SAMPLE_RATE
    with av.open(str(destination), "w") as container:
        video = container.add_stream("mpeg4", rate=5)
        video.width, video.height, video.pix_fmt = 64, 48, "yuv420p"
        audio = container.add_stream("aac", rate=SAMPLE_RATE, layout="mono") if with_audio else None
        for index in range(int(seconds * 5)):
            image = np.full((48, 64, 3), index % 255, dtype=np.uint8)
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            for packet in video.encode(frame):
                container.mux(packet)
        for packet in video.encode(None):
            container.mux(packet)
        if audio is not None:
            frame = av.AudioFrame.from_ndarray(
                samples.astype(np.float32).reshape(1, -1), format="flt", layout="mono"
            )
            frame.sample_rate = SAMPLE_RATE
            for packet in audio.encode(frame):
                container.mux(packet)
            for packet in audio.encode(None):
                container.mux(packet)
    return destination


def wav_header_claiming(path: Path, data_bytes: int) -> Path:
    """A WAV file whose header claims ``data_bytes`` of samples but holds 1,600 bytes."""
    header = b"RIFF" + struct.pack("<I", 36 + data_bytes) + b"WAVEfmt "
    header += struct.pack("<IHHIIHH", 16, 1, 1, 16000, 32000, 2, 16)
    header += b"data" + struct.pack("<I", data_bytes)
    path.write_bytes(header + b"\x00\x01" * 800)
    return path
