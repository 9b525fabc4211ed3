"""Peak memory of one long file: windowed transcription against the old whole-file way.

A long recording of speech with pauses is built once and cached in
``benchmarks/.cache/long_file/``: the public corpus clips and the espeak-ng passages of
``benchmarks/speech.py``, in a new shuffled order each round, separated by 0.5-3 s of faint noise,
until it is ``--minutes`` long (its reference text is stored next to it). It is cheap to build
(a few seconds) because it only copies samples.

Each variant transcribes it with ``WhisperEngine.transcribe`` (bundled tiny.en, default options,
one job, the app's malloc settings) in its own subprocess, which reports its peak
resident memory (``ru_maxrss``), the resident memory just before the file started (model, VAD and
decoder loaded and warmed up on a corpus clip), the wall time and the transcript:

- ``windowed``: the engine as it is, in windows of ``WINDOW_SECONDS`` (``--window`` to change);
- ``whole``: ``window_seconds=None``, the old way: the whole file decoded into one array and
  handed to faster-whisper in one call (features and VAD over all of it at once);
- ``windowed-prompt`` (``--variants``): windowed, each window prompted with the last 200
  characters of the text before it (``PROMPT_CARRY_CHARS``, off in the engine).

The old way's memory grows with the file, so ``--old-minutes`` can measure it on the first
minutes of the same recording; the table gives every figure per hour of audio as well.

Variants run side by side (one subprocess each, ``--threads`` decoding threads, 1 by default)
when the cores allow, so their times meet the same machine load; otherwise one after another.

Usage: python benchmarks/long_file_memory.py [--minutes 30] [--old-minutes M] [--window S]
                                             [--variants windowed,whole] [--threads N]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import subprocess
import sys
import time
import wave
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.speech import speech_files  # noqa: E402
from desktop_app.core.audio import SAMPLE_RATE  # noqa: E402
from tests.corpus import CORPUS as CORPUS_DIR  # noqa: E402
from tests.corpus import clips as corpus_clips  # noqa: E402

CACHE_DIR = Path(__file__).resolve().parent / ".cache" / "long_file"
RESULT_MARK = "LONG-FILE-RESULT "
SEED = 7
CARRY_CHARS = 200
VARIANTS = ("windowed", "whole", "windowed-prompt")


# --------------------------------------------------------------------------- the recording
def clips() -> list[tuple[Path, str]]:
    return corpus_clips() + speech_files()


def long_recording(minutes: float) -> tuple[Path, str]:
    """(WAV path, reference text) of a ``minutes``-long recording, built once and cached.

    Rounds are drawn from one seeded generator, so a shorter recording is the start of a longer
    one.
    """
    from desktop_app.core.audio import load_audio

    sources = clips()
    path = CACHE_DIR / f"speech-{minutes:g}min-seed{SEED}-{len(sources)}clips.wav"
    reference_path = path.with_suffix(".txt")
    if path.exists() and reference_path.exists():
        return path, reference_path.read_text(encoding="utf-8")
    samples = [(np.clip(load_audio(p), -1, 1) * 32767).astype("<i2").tobytes() for p, _ in sources]
    rng = np.random.default_rng(SEED)
    target = minutes * 60 * SAMPLE_RATE
    written = 0
    references: list[str] = []
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    with wave.open(str(partial), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(SAMPLE_RATE)
        while written < target:
            for index in rng.permutation(len(sources)):
                gap = rng.normal(0, 30, int(rng.uniform(0.5, 3.0) * SAMPLE_RATE))
                out.writeframes(gap.astype("<i2").tobytes() + samples[index])
                written += gap.size + len(samples[index]) // 2
                references.append(sources[index][1])
                if written >= target:
                    break
    os.replace(partial, path)
    reference_path.write_text(" ".join(references), encoding="utf-8")
    return path, reference_path.read_text(encoding="utf-8")


# --------------------------------------------------------------------------- one variant
def child(variant: str, path: Path, window: float | None, threads: int) -> int:
    """Transcribe ``path`` the ``variant`` way in this process; print figures as one JSON line."""
    from desktop_app.core import transcriber
    from desktop_app.core.memory import limit_malloc_arenas
    from desktop_app.core.settings import BUNDLED_MODEL
    from desktop_app.core.transcriber import TranscriptionOptions, WhisperEngine

    limit_malloc_arenas()  # as the window and the command line do at start-up
    if variant == "windowed-prompt":
        transcriber.PROMPT_CARRY_CHARS = CARRY_CHARS
    engine = WhisperEngine(
        cpu_threads=threads,
        num_workers=1,
        window_seconds=None if variant == "whole" else window or transcriber.WINDOW_SECONDS,
    )
    engine.preload(BUNDLED_MODEL)

    def run(source: Path) -> tuple[str, float]:
        transcript = engine.transcribe(
            source,
            TranscriptionOptions(model=BUNDLED_MODEL),
            on_segment=lambda _: None,
            on_progress=lambda _: None,
            is_cancelled=lambda: False,
        )
        return transcript.text, transcript.duration

    run(CORPUS_DIR / "jfk.flac")  # warm-up: everything loaded before the baseline is read
    baseline_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    text, duration = run(path)
    wall = time.perf_counter() - started
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # kilobytes on Linux
    result = {
        "wall": wall,
        "seconds": duration,
        "baseline_mb": baseline_kb / 1024,
        "peak_mb": peak_kb / 1024,
        "window": engine.window_seconds,
        "text": text,
    }
    print(RESULT_MARK + json.dumps(result))
    return 0


def spawn(variant: str, path: Path, window: float | None, threads: int) -> subprocess.Popen[str]:
    command = [sys.executable, __file__, "--child", variant, "--file", str(path)]
    command += ["--threads", str(threads)]
    if window:
        command += ["--window", str(window)]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def result_of(variant: str, process: subprocess.Popen[str]) -> dict:
    stdout, stderr = process.communicate()
    for line in stdout.splitlines():
        if line.startswith(RESULT_MARK):
            result: dict = json.loads(line[len(RESULT_MARK) :])
            return result
    raise SystemExit(f"{variant} failed ({process.returncode}):\n{stdout}\n{stderr}")


# --------------------------------------------------------------------------- the report
def normalize(text: str) -> str:
    text = text.lower().replace("-", " ")
    text = re.sub(r"[^a-z' ]+", " ", text)
    return " ".join(w.strip("'") for w in text.split())


def scores(reference: str, text: str) -> tuple[float, int, int, int]:
    import jiwer

    out = jiwer.process_words(normalize(reference), normalize(text))
    return out.wer, out.substitutions, out.deletions, out.insertions


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=30.0, help="length of the recording")
    parser.add_argument(
        "--old-minutes", type=float, help="measure the whole-file way on the first M minutes"
    )
    parser.add_argument("--window", type=float, help="window length in seconds")
    parser.add_argument("--variants", default="windowed,whole", help=", ".join(VARIANTS))
    parser.add_argument(
        "--threads", type=int, default=1, help="decoding threads per variant (default 1)"
    )
    parser.add_argument("--child", choices=VARIANTS, help=argparse.SUPPRESS)
    parser.add_argument("--file", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return child(args.child, args.file, args.window, args.threads)

    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    unknown = set(variants) - set(VARIANTS)
    if unknown:
        parser.error(f"unknown variants: {', '.join(sorted(unknown))}")
    # Side by side when the cores allow, so that both meet the same machine load.
    together = len(variants) * args.threads <= (os.cpu_count() or 1)
    processes: dict[str, subprocess.Popen[str]] = {}
    results: dict[str, dict] = {}
    references: dict[str, str] = {}
    for variant in variants:
        minutes = args.old_minutes if variant == "whole" and args.old_minutes else args.minutes
        path, references[variant] = long_recording(minutes)
        print(f"{variant}: {path.name}, {args.threads} thread(s)", flush=True)
        process = spawn(variant, path, args.window, args.threads)
        if together:
            processes[variant] = process
        else:
            results[variant] = result_of(variant, process)
    for variant, process in processes.items():
        results[variant] = result_of(variant, process)
    rows = [(v, results[v], scores(references[v], results[v]["text"])) for v in variants]

    print()
    print(
        f"{'variant':20} {'audio':>8} {'window':>7} {'base MB':>8} {'peak MB':>8} "
        f"{'+MB':>6} {'+MB/h':>7} {'time s':>7} {'s/h':>6} {'WER':>6}  S/D/I"
    )
    for variant, result, (wer, subs, dels, ins) in rows:
        hours = result["seconds"] / 3600
        growth = result["peak_mb"] - result["baseline_mb"]
        window = f"{result['window']:.0f}s" if result["window"] else "whole"
        print(
            f"{variant:20} {result['seconds'] / 60:6.1f}mn {window:>7} "
            f"{result['baseline_mb']:8.0f} {result['peak_mb']:8.0f} {growth:6.0f} "
            f"{growth / hours:7.0f} {result['wall']:7.1f} {result['wall'] / hours:6.0f} "
            f"{wer:6.1%}  {subs}/{dels}/{ins}"
        )
    print(
        "\n+MB: peak resident memory over the baseline (model loaded and warmed up). +MB/h and "
        "s/h: per hour of audio; the whole-file way's +MB grows with the file, a windowed run's "
        "is one window's, whatever its length."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
