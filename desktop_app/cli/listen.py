"""``verbatim-cli devices`` and ``verbatim-cli listen``: dictation in the terminal.

``listen`` runs the same :class:`~desktop_app.core.live.LiveSession` as the window's Live panel.
It prints confirmed text as it is confirmed (or, with ``--json``, one JSON object per event), and
stops on Ctrl+C or when standard input closes; either way it first transcribes and confirms what
was captured, so the last words are printed before it exits.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Any, TextIO

from desktop_app.core.audio_sources import (
    AudioSource,
    MicrophoneError,
    MicrophoneSource,
    ReplaySource,
    list_input_devices,
)
from desktop_app.core.live import LiveSession, create_transcriber
from desktop_app.core.recording import WavRecorder, new_recording_path
from desktop_app.core.settings import Settings
from desktop_app.core.streaming import StreamEvent

logger = logging.getLogger(__name__)

EXIT_OK, EXIT_FAILED = 0, 1


def add_listen_arguments(listen: argparse.ArgumentParser) -> None:
    listen.add_argument("--device", "-d", help="input device name (or part of it, or its number)")
    listen.add_argument("--json", action="store_true", help="one JSON object per line per event")
    listen.add_argument(
        "--output", "-o", type=Path, help="keep the recording in FILE.wav (default: data folder)"
    )
    listen.add_argument("--model", help="model name or CTranslate2 model folder")
    # For tests and benchmarks: a recording replayed as if it were the microphone.
    listen.add_argument("--replay", type=Path, help=argparse.SUPPRESS)
    listen.add_argument("--replay-speed", type=float, default=1.0, help=argparse.SUPPRESS)


def run_devices(args: argparse.Namespace, settings: Settings, out: TextIO | None = None) -> int:
    out = out if out is not None else sys.stdout  # read at call time
    try:
        devices = list_input_devices()
    except MicrophoneError as exc:
        print(f"verbatim-cli: {exc}", file=sys.stderr)
        return EXIT_FAILED
    if not devices:
        print("No input devices found.", file=out)
        return EXIT_OK
    for device in devices:
        marker = "*" if device.is_default else " "
        print(
            f"{marker} {device.index:>3}  {device.name}  ({device.channels} ch, "
            f"{device.default_samplerate:.0f} Hz, {device.host_api})",
            file=out,
        )
    print("* = default input", file=out)
    return EXIT_OK


def run_listen(args: argparse.Namespace, settings: Settings, out: TextIO | None = None) -> int:
    out = out if out is not None else sys.stdout  # read at call time
    if args.model:
        settings = settings.replace(whisper_model_size=args.model)
    transcriber = create_transcriber(settings)  # load the model before the microphone opens
    try:
        source: AudioSource = (
            ReplaySource(args.replay, speed=args.replay_speed)
            if args.replay
            else MicrophoneSource(args.device)
        )
    except MicrophoneError as exc:
        print(f"verbatim-cli: {exc}", file=sys.stderr)
        return EXIT_FAILED
    recorder = WavRecorder(args.output or new_recording_path())
    printer = _Printer(out, as_json=args.json)
    session = LiveSession(
        source,
        transcriber,
        recorder=recorder,
        model_name=settings.whisper_model_size,
        on_event=printer.event,
    )
    try:
        session.start()
    except MicrophoneError as exc:
        recorder.close()
        recorder.path.unlink(missing_ok=True)
        print(f"verbatim-cli: {exc}", file=sys.stderr)
        return EXIT_FAILED
    previous = signal.signal(signal.SIGINT, lambda *_: session.stop())
    print("Listening; press Ctrl+C or Ctrl+D to stop.", file=sys.stderr, flush=True)
    threading.Thread(target=_stop_at_eof, args=(session,), name="stdin-eof", daemon=True).start()
    try:
        while not session.wait(timeout=0.2):
            pass
    finally:
        signal.signal(signal.SIGINT, previous)
    printer.close()
    result = session.result
    assert result is not None
    print(
        f"Recording ({result.captured_seconds:.1f} s) saved to {result.recording}",
        file=sys.stderr,
    )
    if result.error:
        print(f"verbatim-cli: {result.error}", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK


def _stop_at_eof(session: LiveSession) -> None:
    # os.read on the descriptor, not sys.stdin: a daemon thread blocked inside a buffered
    # reader holds its lock and aborts the interpreter at exit.
    try:
        descriptor = sys.stdin.fileno()
        while os.read(descriptor, 4096):
            pass
    except (OSError, ValueError, AttributeError):
        return  # no usable stdin: only Ctrl+C stops
    session.stop()


class _Printer:
    """Prints events from the processing thread; one lock so lines never interleave."""

    def __init__(self, out: TextIO, *, as_json: bool) -> None:
        self.out = out
        self.as_json = as_json
        self.lock = threading.Lock()
        self.printed_text = False

    def event(self, event: StreamEvent) -> None:
        with self.lock:
            if self.as_json:
                record: dict[str, Any] = event.to_json_dict()
                print(json.dumps(record, ensure_ascii=False), file=self.out, flush=True)
            elif event.type == "final" and event.text:
                prefix = " " if self.printed_text else ""
                print(prefix + event.text, end="", file=self.out, flush=True)
                self.printed_text = True

    def close(self) -> None:
        with self.lock:
            if self.printed_text and not self.as_json:
                print(file=self.out, flush=True)
