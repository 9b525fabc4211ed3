"""Microphone input: every failure is a sentence, and real PortAudio through a virtual source."""

from __future__ import annotations

import importlib.abc
import os
import re
import sys
import threading
import time
import types
from pathlib import Path
from typing import Any

import jiwer
import numpy as np
import pytest

from desktop_app.core import audio_sources
from desktop_app.core.audio import load_audio
from desktop_app.core.audio_sources import MicrophoneError, MicrophoneSource, find_device
from desktop_app.core.live import LiveSession
from desktop_app.core.recording import WavRecorder
from desktop_app.core.streaming import StreamingTranscriber, WhisperRecognizer


def normalise(text: str) -> str:
    return " ".join(re.sub(r"[^a-z0-9' ]+", " ", text.lower()).split())


class _NoPortAudio(importlib.abc.MetaPathFinder):
    def find_spec(self, name: str, path: Any = None, target: Any = None) -> None:
        if name == "sounddevice":
            raise OSError("PortAudio library not found")


def test_missing_portaudio_is_a_sentence(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(sys.modules, "sounddevice", raising=False)
    monkeypatch.setattr(sys, "meta_path", [_NoPortAudio(), *sys.meta_path])
    with pytest.raises(MicrophoneError, match=r"PortAudio is not installed.*libportaudio2"):
        audio_sources.list_input_devices()


class FakeStream:
    """Delivers ``blocks`` to the callback from its own thread, then ends like an unplugged
    device (PortAudio calls the finished callback and the stream goes inactive)."""

    def __init__(self, blocks: list[np.ndarray], **kwargs: Any) -> None:
        self.blocks = blocks
        self.callback = kwargs["callback"]
        self.finished_callback = kwargs["finished_callback"]
        self.active = False
        self.thread = threading.Thread(target=self._run)

    def start(self) -> None:
        self.active = True
        self.thread.start()

    def _run(self) -> None:
        for block in self.blocks:
            self.callback(block.reshape(-1, 1), block.size, None, None)
        self.active = False
        self.finished_callback()

    def abort(self) -> None:
        self.thread.join()

    def close(self) -> None:
        pass


def fake_sounddevice(devices: list[dict[str, Any]], blocks: list[np.ndarray]) -> Any:
    module = types.SimpleNamespace()
    module.query_devices = lambda: devices
    module.query_hostapis = lambda: [{"name": "Fake API"}]
    module._terminate = module._initialize = lambda: None  # PortAudio re-scan of devices
    module.default = types.SimpleNamespace(device=(0 if devices else -1, -1))
    module.check_input_settings = lambda **kwargs: None
    module.InputStream = lambda **kwargs: FakeStream(blocks, **kwargs)
    return module


MIC = {"name": "USB Mic", "max_input_channels": 1, "default_samplerate": 48000.0, "hostapi": 0}
SPEAKER = {"name": "Speakers", "max_input_channels": 0, "default_samplerate": 48000, "hostapi": 0}


def test_no_input_device_and_unknown_names_are_sentences(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "sounddevice", fake_sounddevice([SPEAKER], []))
    with pytest.raises(MicrophoneError, match="No microphone was found"):
        MicrophoneSource(None)
    monkeypatch.setitem(sys.modules, "sounddevice", fake_sounddevice([MIC, SPEAKER], []))
    with pytest.raises(MicrophoneError, match=r"No input device is called 'Headset'.*USB Mic"):
        MicrophoneSource("Headset")
    assert find_device("usb") == find_device(None)  # a unique part of the name will do
    assert find_device(None).name == "USB Mic"  # type: ignore[union-attr]


def test_device_lost_mid_recording_keeps_what_was_captured(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    blocks = [np.full(1600, 0.1, np.float32) for _ in range(20)]  # 2 s, then the device is gone
    monkeypatch.setitem(sys.modules, "sounddevice", fake_sounddevice([MIC], blocks))
    source = MicrophoneSource("USB Mic")
    errors: list[str] = []
    session = LiveSession(
        source,
        StreamingTranscriber(lambda audio, prompt: [], speech_detector=None),
        recorder=WavRecorder(tmp_path / "lost.wav"),
        on_error=errors.append,
    )
    session.start()
    assert session.wait(timeout=30)
    source.stop()
    assert session.result is not None
    assert errors and "stopped delivering audio" in errors[0] and "kept" in errors[0]
    assert session.result.recording == tmp_path / "lost.wav"
    assert session.result.captured_seconds == pytest.approx(2.0)


# --------------------------------------------------------------------- real PortAudio
# The virtual_mic fixture (tests/conftest.py) runs a private PulseAudio server for the session.
def _play_into(
    fifo: Path, audio: np.ndarray, spoken: threading.Event, stop: threading.Event
) -> None:
    """Write 16 kHz s16le into the FIFO at real-time pace, like a person speaking, then
    silence until ``stop``: a pipe source with no writer stalls the stream instead of ending.

    The writes never block: once the recording stream closes, PulseAudio stops reading the
    pipe, whose 64 KiB (2 s) then fill while a busy machine's last pass runs; a blocking
    write hung this thread, and ``join`` the test, until pytest's 300 s timeout. A full pipe
    is retried until ``stop`` (3200-byte blocks are under PIPE_BUF: written whole or not)."""
    pcm = (np.clip(audio, -1, 1) * 32767).astype("<i2")
    block = 1600
    fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
    try:
        began = time.monotonic()
        offset = 0
        while not stop.wait(max(0.0, began + offset / 16000 - time.monotonic())):
            chunk = pcm[offset : offset + block]
            if chunk.size < block:
                spoken.set()
                chunk = np.zeros(block, "<i2")
            try:
                os.write(fd, chunk.tobytes())
            except BlockingIOError:
                began += 0.05  # the pipe is full: this block again, a little later
                continue
            offset += block
    finally:
        os.close(fd)


def test_dictation_through_real_portaudio(
    virtual_mic: Path, corpus: Path, references: dict[str, str], whisper_engine, tmp_path: Path
) -> None:
    speech = load_audio(corpus / "LJ050-0131.wav")
    audio = np.concatenate([speech, np.zeros(16000, np.float32)])
    source = MicrophoneSource(None)  # the default input, which the script set to virtmic
    recognizer = WhisperRecognizer(whisper_engine.models.get("tiny.en"), beam_size=1)
    session = LiveSession(
        source,
        StreamingTranscriber(recognizer),
        recorder=WavRecorder(tmp_path / "mic.wav"),
    )
    spoken, stop = threading.Event(), threading.Event()
    player = threading.Thread(target=_play_into, args=(virtual_mic, audio, spoken, stop))
    session.start()
    player.start()
    try:
        assert spoken.wait(timeout=60)
        session.stop()
        assert session.wait(timeout=60)
    finally:
        stop.set()
        player.join()
    result = session.result
    assert result is not None and result.error is None, result
    assert result.captured_seconds >= speech.size / 16000
    error = jiwer.wer(normalise(references["LJ050-0131.wav"]), normalise(result.transcript.text))
    assert error <= 0.25, result.transcript.text


def test_the_virtual_microphone_writer_stops_when_nobody_records(virtual_mic: Path) -> None:
    """With no recording stream, PulseAudio does not drain the pipe (51 KiB went in, then it
    stayed full for 6 s): a blocking writer hung there until pytest's timeout when a busy
    machine's last pass outlasted the pipe's 2 s. Here nothing records at all (and the pipe
    may already be full from the test before, so nothing here waits for a write)."""
    stop = threading.Event()
    player = threading.Thread(
        target=_play_into,
        args=(virtual_mic, np.zeros(1600, np.float32), threading.Event(), stop),
    )
    player.start()
    try:
        time.sleep(3.0)  # past the pipe's 2 s of silence at real-time pace
    finally:
        stop.set()
    player.join(timeout=5)
    assert not player.is_alive(), "the writer is stuck on a full pipe"
