"""Batch throughput: the job queue against the best hand-written loop and a model-per-job runner.

One batch (the public corpus clips plus a few minutes of espeak-ng speech) is timed three ways,
each in its own subprocess so that peak memory figures do not contaminate each other:

(a) ``queue``: ``verbatim-cli transcribe``'s own code path (``run_transcribe``: ``JobQueue`` +
    ``WhisperEngine`` in a ``QCoreApplication`` event loop, TXT export), with
    MAX_CONCURRENT_WORKERS from ``default_workers()``;
(b) ``hand``: one ``WhisperModel`` shared by a ``ThreadPoolExecutor``, no Qt, no queue;
(c) ``per-job``: one file at a time with the model loaded for each job and dropped after it,
    ``cpu_threads`` = all cores (how Buzz runs file jobs).

The queue also runs with 4 workers, for its peak memory. Every variant uses the same decoding:
bundled tiny.en, int8, beam 5, VAD on, word timestamps on. Wall time runs from before the model
is loaded until the last transcript is in (interpreter start and imports excluded). Runs are
interleaved across repeats, rotating the order, and the best wall time of each variant is
reported (the 4-worker queue runs once, after them); a word error rate against the references
guards against a fast but wrong variant.

Usage: python benchmarks/throughput.py [--workers N] [--repeat R] [--quick]
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import io
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.speech import speech_files  # noqa: E402
from desktop_app.core.audio import SAMPLE_RATE  # noqa: E402
from desktop_app.core.settings import cpu_count, default_workers  # noqa: E402
from tests.corpus import clips  # noqa: E402

DECODING = {"beam_size": 5, "vad_filter": True, "word_timestamps": True}
RESULT_MARK = "THROUGHPUT-RESULT "

TARGET_QUEUE_OVER_HAND = 1.05
TARGET_PER_JOB_OVER_QUEUE = 1.8
TARGET_PEAK_RSS_MB = 600.0


# --------------------------------------------------------------------------- the batch
def corpus_files() -> list[tuple[Path, str]]:
    """(path, reference) for the public clips listed in ``references.tsv``."""
    return clips()


def batch(quick: bool) -> list[tuple[Path, str]]:
    speech = speech_files()
    return corpus_files() + (speech[:2] if quick else speech)


def audio_seconds(paths: list[Path]) -> float:
    from faster_whisper.audio import decode_audio

    return sum(decode_audio(str(p)).size / SAMPLE_RATE for p in paths)


# --------------------------------------------------------------------------- the variants
def run_queue(paths: list[Path], workers: int) -> dict[str, str]:
    """``verbatim-cli transcribe`` itself (its ``main``, so its start-up memory policy too), with
    default settings and ``workers`` jobs."""
    import contextlib

    from desktop_app.cli import main as cli_main
    from desktop_app.core.exporters import output_path

    with tempfile.TemporaryDirectory() as out_dir:
        argv = ["transcribe", *map(str, paths), "-o", out_dir, "-f", "txt", "--overwrite"]
        argv += ["--workers", str(workers)]
        log = io.StringIO()
        with contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
            code = cli_main(argv)
        if code != 0:
            raise SystemExit(f"verbatim-cli transcribe failed ({code}):\n{log.getvalue()}")
        return {
            str(p): output_path(p, "txt", Path(out_dir)).read_text(encoding="utf-8") for p in paths
        }


def _bundled_model() -> str:
    from desktop_app.core.model import resolve_model
    from desktop_app.core.settings import BUNDLED_MODEL

    return str(resolve_model(BUNDLED_MODEL))


def _transcribe(model, path: Path) -> str:
    """Decode inside the job, as the engine does, and drain the segment generator."""
    from faster_whisper.audio import decode_audio

    audio = decode_audio(str(path), sampling_rate=SAMPLE_RATE)
    segments, _info = model.transcribe(audio, language=None, **DECODING)
    return " ".join(s.text.strip() for s in segments)


def run_hand(paths: list[Path], pool: int, threads: int) -> dict[str, str]:
    """One shared model with ``pool`` CTranslate2 workers of ``threads`` threads, ``pool`` jobs."""
    from faster_whisper import WhisperModel

    model = WhisperModel(
        _bundled_model(), device="cpu", compute_type="int8", cpu_threads=threads, num_workers=pool
    )
    if pool == 1:
        return {str(p): _transcribe(model, p) for p in paths}
    with ThreadPoolExecutor(max_workers=pool) as executor:
        texts = executor.map(lambda p: _transcribe(model, p), paths)
        return {str(p): text for p, text in zip(paths, texts, strict=True)}


def run_per_job(paths: list[Path]) -> dict[str, str]:
    """Buzz's way: load, transcribe, drop the model, next file; all cores for one job."""
    from faster_whisper import WhisperModel

    folder = _bundled_model()
    texts = {}
    for path in paths:
        model = WhisperModel(
            folder, device="cpu", compute_type="int8", cpu_threads=cpu_count(), num_workers=1
        )
        texts[str(path)] = _transcribe(model, path)
        del model
        gc.collect()
    return texts


def child(args: argparse.Namespace) -> int:
    """Run one variant in this process and print its figures as one JSON line."""
    paths = [Path(p) for p in json.loads(args.files)]
    # Import before the clock starts, so each variant pays only for its work; import only what
    # the variant needs, so Qt does not count in the other variants' peak memory.
    import faster_whisper  # noqa: F401

    if args.variant == "queue":
        import desktop_app.cli.transcribe  # noqa: F401

    started = time.perf_counter()
    if args.variant == "queue":
        texts = run_queue(paths, args.workers)
    elif args.variant == "hand":
        texts = run_hand(paths, args.pool, args.threads)
    elif args.variant == "per-job":
        texts = run_per_job(paths)
    else:
        raise SystemExit(f"unknown variant {args.variant}")
    wall = time.perf_counter() - started
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # kilobytes on Linux
    print(RESULT_MARK + json.dumps({"wall": wall, "peak_rss_mb": peak_kb / 1024, "texts": texts}))
    return 0


# --------------------------------------------------------------------------- scoring
def normalize(text: str) -> str:
    text = text.lower().replace("-", " ")
    text = re.sub(r"[^a-z' ]+", " ", text)
    return " ".join(w.strip("'") for w in text.split())


def word_error_rate(references: dict[str, str], texts: dict[str, str]) -> float:
    import jiwer

    keys = sorted(references)
    return float(
        jiwer.wer(
            [normalize(references[k]) for k in keys], [normalize(texts.get(k, "")) for k in keys]
        )
    )


# --------------------------------------------------------------------------- the parent
def spawn(
    variant: str, paths: list[Path], *, workers: int = 0, pool: int = 0, threads: int = 0
) -> dict:
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--variant",
        variant,
        "--files",
        json.dumps([str(p) for p in paths]),
        "--workers",
        str(workers or 1),
        "--pool",
        str(pool or 1),
        "--threads",
        str(threads or 1),
    ]
    env = dict(os.environ)
    env.pop("MAX_CONCURRENT_WORKERS", None)  # the queue variant names its workers itself
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    for line in reversed(done.stdout.splitlines()):
        if line.startswith(RESULT_MARK):
            return json.loads(line[len(RESULT_MARK) :])
    raise SystemExit(
        f"The {variant} run failed (exit {done.returncode}):\n{done.stdout[-2000:]}\n"
        f"{done.stderr[-4000:]}"
    )


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--workers",
        type=int,
        default=None,
        help="queue workers for (a) (default: default_workers(), one per core, at most 4)",
    )
    parser.add_argument(
        "--repeat", type=int, default=2, help="interleaved rounds of a, b, c (default 2)"
    )
    parser.add_argument(
        "--quick", action="store_true", help="corpus + 2 speech files, one round, no 4-worker run"
    )
    parser.add_argument(
        "--hand-pool", type=int, default=None, help="(b): jobs in parallel (default: workers)"
    )
    parser.add_argument(
        "--hand-threads",
        type=int,
        default=None,
        help="(b): CTranslate2 threads per job (default: cores / pool)",
    )
    # Internal: one variant in a subprocess.
    parser.add_argument("--variant", help=argparse.SUPPRESS)
    parser.add_argument("--files", help=argparse.SUPPRESS)
    parser.add_argument("--pool", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--threads", type=int, default=1, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.variant:
        return child(args)

    cores = cpu_count()
    workers = args.workers or default_workers()
    pool = args.hand_pool or workers
    threads = args.hand_threads or max(1, cores // pool)
    repeat = 1 if args.quick else max(1, args.repeat)
    pairs = batch(args.quick)
    paths = [p for p, _ in pairs]
    references = {str(p): text for p, text in pairs}
    total_audio = audio_seconds(paths)

    labels = {
        "a": f"(a) queue, {workers} workers x {max(1, cores // workers)} threads",
        "b": f"(b) hand loop, 1 model, pool {pool} x {threads} threads",
        "c": f"(c) model per job, 1 job x {cores} threads",
        "q4": "(a4) queue, 4 workers x 1 thread",
    }
    runs = {
        "a": lambda: spawn("queue", paths, workers=workers),
        "b": lambda: spawn("hand", paths, pool=pool, threads=threads),
        "c": lambda: spawn("per-job", paths),
        "q4": lambda: spawn("queue", paths, workers=4),
    }
    order = ["a", "b", "c"]
    print(
        f"Batch: {len(paths)} files, {total_audio:.1f} s of audio; {cores} cores; "
        f"{repeat} interleaved round(s); tiny.en int8, beam 5, VAD, word timestamps."
    )
    print(f"Load average before: {_load()} (other work on the machine skews the figures)")
    results: dict[str, list[dict]] = {key: [] for key in order}
    for round_index in range(repeat):
        rotation = order[round_index % len(order) :] + order[: round_index % len(order)]
        for key in rotation:
            results[key].append(spawn_and_report(runs[key], labels[key], round_index))
    if not args.quick and workers != 4:
        order.append("q4")  # run once, for its peak memory
        results["q4"] = [spawn_and_report(runs["q4"], labels["q4"], 0)]
    print(f"Load average after: {_load()}")

    print()
    header = (
        f"{'variant':44} {'best s':>7} {'median s':>8} {'x real':>7} {'RTF':>6} "
        f"{'peak RSS':>9} {'WER':>6}"
    )
    print(header)
    print("-" * len(header))
    best: dict[str, float] = {}
    peak: dict[str, float] = {}
    for key in order:
        walls = [r["wall"] for r in results[key]]
        best[key] = min(walls)
        peak[key] = max(r["peak_rss_mb"] for r in results[key])
        wer = max(word_error_rate(references, r["texts"]) for r in results[key])
        print(
            f"{labels[key]:44} {best[key]:7.1f} {statistics.median(walls):8.1f} "
            f"{total_audio / best[key]:6.1f}x {best[key] / total_audio:6.3f} "
            f"{peak[key]:6.0f} MB {wer:6.1%}"
        )
    print()
    a_over_b = best["a"] / best["b"]
    c_over_a = best["c"] / best["a"]
    ok_ab = _verdict(a_over_b <= TARGET_QUEUE_OVER_HAND)
    ok_ca = _verdict(c_over_a >= TARGET_PER_JOB_OVER_QUEUE)
    print(f"a/b = {a_over_b:.3f}  (target <= {TARGET_QUEUE_OVER_HAND}) {ok_ab}")
    print(f"c/a = {c_over_a:.2f}   (target >= {TARGET_PER_JOB_OVER_QUEUE}) {ok_ca}")
    rss_key = "q4" if "q4" in peak else "a"
    rss_workers = 4 if rss_key == "q4" else workers
    ok_rss = _verdict(peak[rss_key] <= TARGET_PEAK_RSS_MB)
    print(
        f"peak RSS, queue with {rss_workers} workers = {peak[rss_key]:.0f} MB "
        f"(target <= {TARGET_PEAK_RSS_MB:.0f}) {ok_rss}"
    )
    return 0


def spawn_and_report(run, label: str, round_index: int) -> dict:
    result = run()
    print(
        f"  round {round_index + 1}: {label:44} {result['wall']:6.1f} s, "
        f"peak RSS {result['peak_rss_mb']:.0f} MB",
        flush=True,
    )
    return result


def _load() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def _verdict(ok: bool) -> str:
    return "ok" if ok else "MISSED"


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())
