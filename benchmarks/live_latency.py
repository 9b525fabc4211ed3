"""Live dictation latency: real speech replayed at real-time pace through the live pipeline.

Prints, per configuration: median and 95th-percentile latency from a word's end in the audio to
its confirmation; time to the first tentative text; streamed WER beside offline WER on the same
audio; the same while two batch jobs run on the JobQueue. Targets (tiny.en, 2 cores): median
<= 1.0 s, p95 <= 2.0 s idle; streamed WER <= offline + 2 points.

The idle run is repeated with the full 30 s encoded window (what ``WhisperModel.transcribe``
does) beside the fitted window the app uses, to show what the shorter window costs in WER.
``--speech N`` appends N espeak-ng passages (``benchmarks/speech.py``) for a larger WER sample.

    python benchmarks/live_latency.py [--beam 5] [--chunk 0.5] [--skip-busy] [--speech N]
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import threading
import time
from pathlib import Path

import jiwer
import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from desktop_app.core.audio import SAMPLE_RATE, load_audio  # noqa: E402
from desktop_app.core.audio_sources import ReplaySource  # noqa: E402
from desktop_app.core.live import LiveSession, create_transcriber  # noqa: E402
from desktop_app.core.settings import load_settings  # noqa: E402
from desktop_app.core.streaming import WINDOW_MARGIN_SECONDS, StreamEvent  # noqa: E402
from desktop_app.core.transcriber import TranscriptionOptions, WhisperEngine  # noqa: E402
from tests.corpus import CORPUS, references  # noqa: E402

FILES = ("jfk.flac", "LJ050-0131.wav")


def normalise(text: str) -> str:
    return " ".join(re.sub(r"[^a-z0-9' ]+", " ", text.lower()).split())


CHUNK: dict[str, str] = {}
SHOW_TEXT = False


def run_live(
    audio: np.ndarray, *, beam: int, margin: float | None = WINDOW_MARGIN_SECONDS
) -> tuple[list[StreamEvent], str]:
    settings = load_settings(environ=CHUNK)
    transcriber = create_transcriber(settings, beam_size=beam, margin_seconds=margin)
    events: list[StreamEvent] = []
    session = LiveSession(ReplaySource(audio, speed=1.0), transcriber, on_event=events.append)
    session.start()
    session.wait()
    assert session.result is not None
    return events, session.result.transcript.text


def report(
    label: str, events: list[StreamEvent], text: str, reference: str, offline: float
) -> None:
    latencies = [e.emitted_at - w.end for e in events if e.type == "final" for w in e.words]
    first = next((e.emitted_at for e in events if e.type == "partial" and e.text), float("nan"))
    streamed = jiwer.wer(normalise(reference), normalise(text))
    print(
        f"{label:<34} median {np.median(latencies):5.2f} s  p95 "
        f"{np.percentile(latencies, 95):5.2f} s  first tentative {first:5.2f} s  "
        f"WER streamed {streamed:6.1%} vs offline {offline:6.1%}  ({len(latencies)} words)"
    )
    if SHOW_TEXT:
        print(f"    streamed: {text}")


def start_batch_load(stop: threading.Event, *, batch_priority: bool = True) -> threading.Thread:
    """Two batch jobs at a time on the JobQueue, resubmitted until ``stop``.

    ``batch_priority=False`` switches off what the app does (batch threads at nice 10), to show
    side by side what that choice buys the dictation.
    """
    from PySide6.QtCore import QCoreApplication

    import desktop_app.core.model as model_module
    import desktop_app.job_queue as queue_module
    from desktop_app.job_queue import JobQueue

    if not batch_priority:
        queue_module.lower_current_thread_priority = lambda *args: False  # type: ignore[assignment]
        model_module.run_at_batch_priority = lambda load: load()  # type: ignore[assignment]

    QCoreApplication.instance() or QCoreApplication([])
    engine = WhisperEngine(cpu_threads=1, num_workers=2)
    queue = JobQueue(engine, max_workers=2, max_queue_size=10)

    def keep_busy() -> None:
        while not stop.is_set():
            if queue.capacity().active + queue.capacity().queued < 2:
                queue.submit(CORPUS / "jfk.flac", TranscriptionOptions())
            stop.wait(0.05)
        queue.cancel_all()
        queue.wait_for_done(60_000)

    thread = threading.Thread(target=keep_busy, name="batch-load")
    thread.start()
    deadline = time.monotonic() + 30
    while queue.capacity().active < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    return thread


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--beam", type=int, default=5, help="the app: WHISPER_BEAM_SIZE, 5")
    parser.add_argument("--speech", type=int, default=0, help="espeak-ng passages to append")
    parser.add_argument("--skip-busy", action="store_true")
    parser.add_argument("--chunk", type=float, help="STREAM_MIN_CHUNK_SIZE, seconds")
    parser.add_argument("--show", action="store_true", help="print the texts")
    args = parser.parse_args()
    global SHOW_TEXT
    SHOW_TEXT = args.show
    if args.chunk:
        CHUNK["STREAM_MIN_CHUNK_SIZE"] = str(args.chunk)
    refs = references()
    clips = [(CORPUS / name, refs[name]) for name in FILES]
    if args.speech:
        from speech import speech_files

        clips += list(speech_files())[: args.speech]
    gap = np.zeros(SAMPLE_RATE, np.float32)
    audio = np.concatenate([part for path, _ in clips for part in (load_audio(path), gap)])
    reference = " ".join(text for _, text in clips)
    engine = WhisperEngine(cpu_threads=2, num_workers=1)
    offline_text = engine.transcribe_array(audio, TranscriptionOptions()).text
    offline = jiwer.wer(normalise(reference), normalise(offline_text))
    if SHOW_TEXT:
        print(f"    offline: {offline_text}")
    print(
        f"audio {audio.size / SAMPLE_RATE:.1f} s, cores {os.cpu_count()}, beam {args.beam}, "
        f"window = buffer + {WINDOW_MARGIN_SECONDS:g} s, "
        f"min chunk {CHUNK.get('STREAM_MIN_CHUNK_SIZE', 'default')}, "
        f"load average {os.getloadavg()[0]:.1f}"
    )
    run_live(audio[:SAMPLE_RATE], beam=args.beam)  # warm-up: model load
    events, text = run_live(audio, beam=args.beam)
    report("idle", events, text, reference, offline)
    events, text = run_live(audio, beam=args.beam, margin=None)
    report("idle, full 30 s window", events, text, reference, offline)
    if not args.skip_busy:
        for batch_priority, label in (
            (True, "2 batch jobs at nice 10 (the app)"),
            (False, "2 batch jobs at normal priority"),
        ):
            stop = threading.Event()
            load = start_batch_load(stop, batch_priority=batch_priority)
            try:
                events, text = run_live(audio, beam=args.beam)
            finally:
                stop.set()
                load.join()
            report(label, events, text, reference, offline)


if __name__ == "__main__":
    main()
