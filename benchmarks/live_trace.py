"""Where live dictation's time goes, pass by pass: the app's live path replayed without threads.

The audio (the corpus, or ``--long`` seconds of espeak-ng speech from ``benchmarks/speech.py``)
goes through ``create_transcriber`` (the app's model, fitted windows, settings) at one of three
paces:

* ``--behind S``: each pass finds S seconds of new audio, however long passes take (the text is
  then the same on any machine; the tests replay this way). Latency is counted in audio: from a
  word's end to the end of the audio received when it was confirmed.
* ``--random LOW HIGH [--seed N]``: each pass finds between LOW and HIGH seconds of new audio,
  drawn by a seeded generator, as a busy computer's passes vary (latency counted in audio, as
  with ``--behind``). Constant paces missed what random ones found: seed 9 of 0.5-2.5 s
  confirmed "what you your country" on the corpus (a word squeezed into a read's last instant),
  and so did seeds 18 and 21 of 0.45-0.8 s (a word clipped there); ``--tentative`` showed why.
* by default, a **simulated real-time clock**: a pass starts once its chunk of audio has arrived
  and the next one finds all the audio that arrived while it ran, as ``LiveSession`` does, but
  the clock is the passes' measured wall time times ``--slowdown`` (2: as if a CPU hog took
  half the cores), so a busy computer is reproduced without sleeps or threads. Latency: the
  simulated time at confirmation minus the word's end.

Printed per pass: audio received, buffer start and length, new audio, wall and CPU seconds of
the pass, the VAD's seconds, the model calls and the encoder window of each (mel frames; 3000
is Whisper's full 30 s window), words confirmed and their word-end -> confirm delays; then the
summary (median and p95 latency, WER, CPU per audio second, time per phase).

``--peer [PYTHON]`` (with ``--behind``) replays ``live_latency.py``'s peer, WhisperLiveKit's
LocalAgreement, at the same pace by passes (``live_peer.py --behind``), so the two policies
are compared with the machine's speed taken out: at real-time pace on 2 cores the peer's 30 s
windows make its passes find 1-3 s of new audio each, Verbatim's 0.5-0.7 s.

``--pass-beam 1`` decodes the fitted passes greedily (the full-window re-reads keep ``--beam``):
on the corpus it cut CPU by a fifth at the same WER, but on 147 s of espeak-ng speech (1 s per
pass) greedy reads agreed less, the buffer grew to 31 s and WER rose from 18.4% to 24.4%, CPU
per audio second from 1.02 to 1.43: rejected, kept here to measure again.

    python benchmarks/live_trace.py [--long 120] [--behind 1.2 | --random 0.5 2.5 --seed 9 |
        --slowdown 2] [--quiet]
"""

from __future__ import annotations

import argparse
import functools
import itertools
import os
import random
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jiwer
import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from live_latency import (  # noqa: E402
    DEFAULT_PEER_PYTHON,
    FILES,
    apply_overrides,
    long_speech,
    normalise,
    peer_problem,
    repeats,
    run_peer,
)

from desktop_app.core.audio import SAMPLE_RATE, load_audio  # noqa: E402
from desktop_app.core.live import create_transcriber  # noqa: E402
from desktop_app.core.settings import load_settings  # noqa: E402
from desktop_app.core.streaming import StreamEvent, StreamingTranscriber  # noqa: E402
from desktop_app.core.transcript import Word  # noqa: E402
from tests.corpus import CORPUS, references  # noqa: E402


@dataclass
class Meter:
    """What one pass spent: filled by the wrappers around the model and the VAD."""

    vad_seconds: float = 0.0
    calls: list[tuple[str, int, float]] = field(default_factory=list)  # (kind, frames, wall)
    _frames: int = 0

    def reset(self) -> None:
        self.vad_seconds, self.calls, self._frames = 0.0, [], 0


class EncodeSpy:
    """The model, noting the mel frames each encode reads (the fitted or the full window)."""

    def __init__(self, model: Any, meter: Meter) -> None:
        self._model, self._meter = model, meter

    def encode(self, features: np.ndarray) -> Any:
        self._meter._frames = int(features.shape[-1])
        return self._model.encode(features)

    def transcribe(self, audio: np.ndarray, **options: Any) -> Any:
        self._meter._frames = 3000
        segments, info = self._model.transcribe(audio, **options)
        return list(segments), info

    def __getattr__(self, name: str) -> Any:
        return getattr(self._model, name)


class Timed:
    """A recognizer whose calls the meter records."""

    def __init__(self, kind: str, inner: Any, meter: Meter) -> None:
        self.kind, self.inner, self.meter = kind, inner, meter
        inner.model = EncodeSpy(inner.model, meter)

    @property
    def language(self) -> str | None:
        return str(self.inner.language)

    def __call__(self, audio: np.ndarray, prompt: str) -> list[Word]:
        began = time.perf_counter()
        words: list[Word] = self.inner(audio, prompt)
        self.meter.calls.append((self.kind, self.meter._frames, time.perf_counter() - began))
        return words


def instrument(policy: StreamingTranscriber, meter: Meter) -> None:
    policy.recognizer = Timed("fit", policy.recognizer, meter)
    if policy.final_recognizer is not None:
        policy.final_recognizer = Timed("full", policy.final_recognizer, meter)
    detector = policy.speech_detector
    if detector is not None:

        def timed_vad(audio: np.ndarray, received: int) -> list[tuple[float, float]]:
            began = time.perf_counter()
            try:
                return detector(audio, received)
            finally:
                meter.vad_seconds += time.perf_counter() - began

        policy.speech_detector = timed_vad


@dataclass
class Trace:
    latencies: list[float] = field(default_factory=list)
    text: list[str] = field(default_factory=list)
    wall: float = 0.0
    cpu: float = 0.0
    vad: float = 0.0
    model: dict[str, float] = field(default_factory=dict)
    passes: int = 0
    max_buffer: float = 0.0
    max_lag: float = 0.0


def replay(
    audio: np.ndarray,
    behind: Callable[[], float] | None,
    slowdown: float,
    beam: int,
    quiet: bool,
    overrides: list[str],
    pass_beam: int | None = None,
    tentative: bool = False,
    threads: int | None = None,
) -> Trace:
    policy = create_transcriber(load_settings(environ={}), beam_size=beam, cpu_threads=threads)
    if pass_beam is not None:
        policy.recognizer.beam_size = pass_beam  # type: ignore[attr-defined]
    apply_overrides(policy, overrides)
    meter = Meter()
    instrument(policy, meter)
    total = audio.size
    chunk = round(policy.min_chunk_seconds * SAMPLE_RATE)
    trace, fed, now = Trace(), 0, 0.0
    if not quiet:
        print(
            "  pass  recv   buf@   buf s   new s  wall s  cpu s  vad s  lag s  "
            "model calls (kind:frames:s)           confirmed (delays s)"
        )
    while True:
        if fed >= total:
            target, final = total, True
        elif behind is not None:
            target, final = min(total, fed + round(behind() * SAMPLE_RATE)), False
        else:
            # The audio that has arrived by now, at least a chunk (waiting for it costs no CPU).
            target = min(total, max(round(now * SAMPLE_RATE), fed + chunk))
            now = max(now, target / SAMPLE_RATE)
            final = False
        meter.reset()
        before = (policy.buffer_start, policy.buffer_seconds, policy.passes)
        wall, cpu = time.perf_counter(), time.process_time()
        events: list[StreamEvent] = policy.finish() if final else policy.feed(audio[fed:target])
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        new = (target - fed) / SAMPLE_RATE
        fed = target
        if behind is None:
            now += wall * slowdown
            confirmed_at = now
        else:
            confirmed_at = fed / SAMPLE_RATE
        words = [w for e in events if e.type == "final" for w in e.words]
        delays = [confirmed_at - w.end for w in words]
        trace.latencies += delays
        trace.text += [w.text for w in words]
        trace.wall += wall
        trace.cpu += cpu
        trace.vad += meter.vad_seconds
        for kind, _, seconds in meter.calls:
            trace.model[kind] = trace.model.get(kind, 0.0) + seconds
        if policy.passes > before[2] or words:
            trace.passes += 1
            trace.max_buffer = max(trace.max_buffer, before[1] + new)
            lag = max(0.0, now - fed / SAMPLE_RATE) if behind is None else 0.0
            trace.max_lag = max(trace.max_lag, lag)
            if not quiet:
                calls = " ".join(f"{k}:{f}:{s:.2f}" for k, f, s in meter.calls)
                said = " ".join(w.text for w in words)
                print(
                    f"  {trace.passes:4d} {fed / SAMPLE_RATE:6.1f} {before[0]:6.1f} "
                    f"{before[1] + new:6.1f} {new:7.2f} {wall:7.2f} {cpu:6.2f} "
                    f"{meter.vad_seconds:6.3f} {lag:6.2f}  {calls:<38} "
                    f"{said[:60]} ({' '.join(f'{d:.1f}' for d in delays)})"
                )
                if tentative:
                    print(
                        "        tentative:",
                        " ".join(
                            f"{w.text}[{w.start:.2f}-{w.end:.2f} {w.probability:.2f}]"
                            for w in policy.tentative
                        ),
                    )
        if final:
            return trace


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--long", type=float, help="seconds of espeak-ng speech, not the corpus")
    parser.add_argument("--behind", type=float, help="seconds of new audio per pass")
    parser.add_argument(
        "--random",
        type=float,
        nargs=2,
        metavar=("LOW", "HIGH"),
        help="seconds of new audio per pass drawn between LOW and HIGH (seeded: --seed)",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--slowdown", type=float, default=1.0, help="simulated clock factor")
    parser.add_argument("--beam", type=int, default=5)
    parser.add_argument("--pass-beam", type=int, help="the fitted passes' beam (default: --beam)")
    parser.add_argument("--quiet", action="store_true", help="only the summary")
    parser.add_argument(
        "--tentative",
        action="store_true",
        help="after each pass, the tentative words: text[start-end probability]",
    )
    parser.add_argument(
        "--set", action="append", default=[], metavar="FIELD=VALUE", help="a policy field"
    )
    parser.add_argument("--threads", type=int, help="the live model's CTranslate2 threads")
    parser.add_argument("--text", type=Path, help="write the reference and the streamed text here")
    parser.add_argument(
        "--peer",
        nargs="?",
        const=DEFAULT_PEER_PYTHON,
        metavar="PYTHON",
        help="also replay WhisperLiveKit (live_latency.py's peer) at the same --behind pace",
    )
    args = parser.parse_args()
    if args.peer and not args.behind:
        parser.error("--peer replays the peer by passes: give --behind")
    gap = np.zeros(SAMPLE_RATE, np.float32)
    if args.long:
        clips = long_speech(args.long)
    else:
        refs = references()
        clips = [(CORPUS / name, refs[name]) for name in FILES]
    audio = np.concatenate([p for path, _ in clips for p in (load_audio(path), gap)])
    reference = " ".join(text for _, text in clips)
    seconds = audio.size / SAMPLE_RATE
    behind: Callable[[], float] | None = None
    if args.random:
        rng = random.Random(args.seed)
        low, high = args.random
        pace = f"{low}-{high} s per pass (seed {args.seed})"
        behind = functools.partial(rng.uniform, low, high)
    elif args.behind:
        pace = f"{args.behind} s per pass"
        behind = itertools.repeat(args.behind).__next__
    else:
        pace = f"simulated clock x{args.slowdown}"
    print(
        f"{seconds:.0f} s of audio, {pace} {' '.join(args.set)}, "
        f"load average {os.getloadavg()[0]:.1f}"
    )
    trace = replay(
        audio,
        behind,
        args.slowdown,
        args.beam,
        args.quiet,
        args.set,
        args.pass_beam,
        args.tentative,
        args.threads,
    )
    text = " ".join(trace.text)
    latencies = trace.latencies or [float("nan")]
    wer = float(jiwer.wer(normalise(reference), normalise(text)))
    if args.text:
        args.text.write_text(f"{normalise(reference)}\n{normalise(text)}\n", encoding="utf-8")
    model = ", ".join(f"{kind} {s:.1f} s" for kind, s in trace.model.items())
    print(
        f"median {np.median(latencies):.2f} s  p95 {np.percentile(latencies, 95):.2f} s  "
        f"WER {wer:.1%}  repeated {max(0, repeats(text) - repeats(reference))}  "
        f"passes {trace.passes}  longest buffer {trace.max_buffer:.1f} s  "
        f"most behind {trace.max_lag:.1f} s"
    )
    print(
        f"wall {trace.wall:.1f} s (model: {model}; VAD {trace.vad:.2f} s)  "
        f"CPU/audio s {trace.cpu / seconds:.2f}  load average {os.getloadavg()[0]:.1f}"
    )
    if args.peer:
        replay_peer(args.peer, audio, reference, args.behind)


def replay_peer(python: str, audio: np.ndarray, reference: str, behind: float) -> None:
    """The peer by passes of ``behind`` seconds: its text at that pace, on any machine."""
    problem = peer_problem(python)
    if problem:
        print(f"peer: not run: {problem}")
        return
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "audio.npy"
        np.save(path, audio)
        run = run_peer(python, path, threads=2, behind=behind)
    latencies = [at - end for end, at, _ in run.words] or [float("nan")]
    wer = float(jiwer.wer(normalise(reference), normalise(run.text)))
    print(
        f"peer: median {np.median(latencies):.2f} s  p95 {np.percentile(latencies, 95):.2f} s  "
        f"WER {wer:.1%}  repeated {max(0, repeats(run.text) - repeats(reference))}  "
        f"(WhisperLiveKit LocalAgreement, {behind} s per pass)"
    )


if __name__ == "__main__":
    main()
