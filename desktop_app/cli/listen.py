"""``verbatim-cli devices`` and ``verbatim-cli listen``: dictation in the terminal.

``listen`` runs the same :class:`~desktop_app.core.live.LiveSession` as the window's Live panel.
It prints confirmed text as it is confirmed (or, with ``--json``, one JSON object per event), and
stops on Ctrl+C or when standard input closes; either way it first transcribes and confirms what
was captured, so the last words are printed before it exits. A run that captured nothing (say,
standard input was already closed: ``listen < /dev/null``) is a failure, not an empty success.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import select
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

from desktop_app.cli import ExitCode, add_setting_option, discard_stdout
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

STDIN_CLOSED_MESSAGE = (
    "nothing was recorded: standard input was closed before listening began, and listen stops "
    "when standard input closes; run it from a terminal or keep standard input open "
    "(e.g. sleep infinity | verbatim-cli listen)."
)
NOTHING_CAPTURED_MESSAGE = "nothing was recorded: it stopped before any audio arrived."


def add_listen_arguments(listen: argparse.ArgumentParser) -> None:
    listen.add_argument("--device", "-d", help="input device name (or part of it, or its number)")
    listen.add_argument("--json", action="store_true", help="one JSON object per line per event")
    listen.add_argument(
        "--output", "-o", type=Path, help="keep the recording in FILE.wav (default: data folder)"
    )
    add_setting_option(listen, "whisper_model_size", help="model name or CTranslate2 model folder")
    # For tests and benchmarks: a recording replayed as if it were the microphone.
    listen.add_argument("--replay", type=Path, help=argparse.SUPPRESS)
    listen.add_argument("--replay-speed", type=float, default=1.0, help=argparse.SUPPRESS)


def run_devices(args: argparse.Namespace, settings: Settings, out: TextIO | None = None) -> int:
    out = out if out is not None else sys.stdout  # read at call time
    try:
        devices = list_input_devices()
    except MicrophoneError as exc:
        print(f"verbatim-cli: {exc}", file=sys.stderr)
        return ExitCode.FAILED
    if not devices:
        print("No input devices found.", file=out)
        return ExitCode.OK
    for device in devices:
        marker = "*" if device.is_default else " "
        print(
            f"{marker} {device.index:>3}  {device.name}  ({device.channels} ch, "
            f"{device.default_samplerate:.0f} Hz, {device.host_api})",
            file=out,
        )
    print("* = default input", file=out)
    return ExitCode.OK


def run_listen(args: argparse.Namespace, settings: Settings, out: TextIO | None = None) -> int:
    out = out if out is not None else sys.stdout  # read at call time
    if _stdin_at_end():  # checked first: no model load, no empty recording left behind
        print(f"verbatim-cli: {STDIN_CLOSED_MESSAGE}", file=sys.stderr)
        return ExitCode.FAILED
    transcriber = create_transcriber(settings)  # load the model before the microphone opens
    try:
        source: AudioSource = (
            ReplaySource(args.replay, speed=args.replay_speed)
            if args.replay
            else MicrophoneSource(args.device)
        )
    except MicrophoneError as exc:
        print(f"verbatim-cli: {exc}", file=sys.stderr)
        return ExitCode.FAILED
    recorder = WavRecorder(args.output or new_recording_path())
    printer = _Printer(out, as_json=args.json)
    session = LiveSession(
        source,
        transcriber,
        recorder=recorder,
        model_name=settings.whisper_model_size,
        on_event=printer.event,
    )
    printer.on_closed = session.stop
    try:
        session.start()
    except MicrophoneError as exc:
        recorder.close()
        recorder.path.unlink(missing_ok=True)
        print(f"verbatim-cli: {exc}", file=sys.stderr)
        return ExitCode.FAILED
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
    if result.captured_seconds <= 0 and not result.error:
        if result.recording is not None:
            result.recording.unlink(missing_ok=True)
        print(f"verbatim-cli: {NOTHING_CAPTURED_MESSAGE}", file=sys.stderr)
        return ExitCode.FAILED
    print(
        f"Recording ({result.captured_seconds:.1f} s) saved to {result.recording}",
        file=sys.stderr,
    )
    if result.error:
        print(f"verbatim-cli: {result.error}", file=sys.stderr)
        return ExitCode.FAILED
    return ExitCode.FAILED if printer.output_closed else ExitCode.OK


def _stdin_at_end() -> bool:
    """Whether standard input is already at its end (``< /dev/null``), without waiting for it.

    Whatever is read is discarded: listen takes no input, it only watches for the end of it.
    """
    try:
        descriptor = sys.stdin.fileno()
        readable, _, _ = select.select([descriptor], [], [], 0)
        return bool(readable) and not os.read(descriptor, 4096)
    except (OSError, ValueError, AttributeError):  # no stdin, or select cannot watch it
        return False


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
    """Prints events from the processing thread; one lock so lines never interleave.

    When the reader of standard output goes away (``listen | head -1``), the rest of the output
    is discarded and ``on_closed`` stops the session, which still keeps the recording.
    """

    def __init__(self, out: TextIO, *, as_json: bool) -> None:
        self.out = out
        self.as_json = as_json
        self.lock = threading.Lock()
        self.printed_text = False
        self.output_closed = False
        self.on_closed: Callable[[], None] = lambda: None

    def event(self, event: StreamEvent) -> None:
        with self.lock:
            if self.output_closed:
                return
            try:
                self._print(event)
            except BrokenPipeError:
                self.output_closed = True
                discard_stdout()
                self.on_closed()

    def _print(self, event: StreamEvent) -> None:
        if self.as_json:
            record: dict[str, Any] = event.to_json_dict()
            print(json.dumps(record, ensure_ascii=False), file=self.out, flush=True)
        elif event.type == "final" and event.text:
            prefix = " " if self.printed_text else ""
            print(prefix + event.text, end="", file=self.out, flush=True)
            self.printed_text = True

    def close(self) -> None:
        with self.lock:
            if self.printed_text and not self.as_json and not self.output_closed:
                print(file=self.out, flush=True)
