"""Recovery drill: kill the job queue with SIGKILL mid-run, again and again, and count what is lost.

A child process runs the real queue (``JobQueue`` + ``WhisperEngine`` + ``JobStore``) on real
speech. The drill kills it at random moments, starts it again (the child calls
``JobQueue.restore()`` like the window does), and at the end prints:

- jobs before / jobs after: files submitted, jobs in the store at the end;
- lost: submitted files with no job, and stored segments that vanished after a kill;
- duplicated: files listed twice, and segments repeated or overlapping inside a job;
- resumed: jobs picked up after a kill from their last stored segment;
- transcripts intact: finished transcripts identical, byte for byte, to what the child wrote
  at the moment each job finished (restores in between).

Target: lost 0, duplicated 0, every finished transcript intact.

Usage: python benchmarks/recovery_drill.py [--kills 4] [--seed 1] [--files 6]
The test suite reuses the child: ``python benchmarks/recovery_drill.py child --store ... FILES``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.corpus import CORPUS  # noqa: E402


def transcript_bytes(transcript: object) -> bytes:
    """The form in which transcripts are compared: every field, every float, in order."""
    return json.dumps(transcript.to_dict(), ensure_ascii=False, indent=1).encode()  # type: ignore[attr-defined]


# ----------------------------------------------------------------------------- the child
def run_child(store_path: Path, files: list[Path], finished_dir: Path, workers: int) -> int:
    """Restore what the store holds (or submit ``files`` to a new store) and run until idle.

    Each job's transcript is written to ``finished_dir/<id>.json`` when it finishes, so the
    drill can later check that the store gives back exactly the same bytes.
    """
    from PySide6.QtCore import QCoreApplication, QTimer

    from desktop_app.core.job_store import JobStore
    from desktop_app.core.jobs import JobState
    from desktop_app.core.transcriber import TranscriptionOptions, WhisperEngine
    from desktop_app.job_queue import JobQueue

    app = QCoreApplication.instance() or QCoreApplication([])
    engine = WhisperEngine(cpu_threads=1, num_workers=workers)
    engine.preload("tiny.en")
    store = JobStore(store_path)
    queue = JobQueue(engine, max_workers=workers, max_queue_size=100, store=store)
    finished_dir.mkdir(parents=True, exist_ok=True)

    def on_state(job_id: str, state: str) -> None:
        job = queue.job(job_id)
        if job is not None and JobState(state) is JobState.DONE and job.transcript is not None:
            target = finished_dir / f"{job_id}.json"
            partial = target.with_suffix(".part")
            partial.write_bytes(transcript_bytes(job.transcript))
            os.replace(partial, target)
        if queue.is_idle():
            QTimer.singleShot(0, app.quit)

    queue.job_state_changed.connect(on_state)
    restored = queue.restore()
    if not restored:
        options = TranscriptionOptions(model="tiny.en", language="en")
        for path in files:
            queue.submit(path, options)
    print(f"child: {len(restored)} restored, {len(queue.jobs())} jobs", flush=True)
    if queue.is_idle():
        return 0
    app.exec()
    queue.shutdown()
    store.close()
    return 0


# ----------------------------------------------------------------------------- the drill
def build_files(folder: Path, count: int) -> list[Path]:
    """Real speech: the corpus clips and ~1 min files tiled from them, so kills land mid-job."""
    import numpy as np

    from desktop_app.core.audio import load_audio
    from tests.media import write_wav

    jfk = load_audio(CORPUS / "jfk.flac")
    lj = load_audio(CORPUS / "LJ050-0131.wav")
    gap = np.zeros(8000, dtype=np.float32)
    long = np.concatenate([jfk, gap, lj, gap] * 3)
    files = []
    for index in range(count):
        kind = index % 3
        path = folder / f"{index:02d}-{('jfk', 'long', 'lj')[kind]}.wav"
        write_wav(path, (jfk, long, lj)[kind])
        files.append(path)
    return files


def read_store(store_path: Path) -> dict[str, dict]:
    """A plain read of the store (no queue, no migration), as a second process sees it."""
    if not store_path.exists():
        return {}
    connection = sqlite3.connect(f"file:{store_path}?mode=ro", uri=True, timeout=5)
    try:
        jobs = {
            row[0]: {
                "path": bytes(row[1]),
                "state": row[2],
                "resumed": bool(row[3]),
                "meta": row[4],
                "segs": [],
            }
            for row in connection.execute("SELECT id, path, state, resumed, transcript FROM jobs")
        }
        for job_id, start, end, text, words in connection.execute(
            "SELECT job_id, start, end, text, words FROM segments ORDER BY job_id, idx"
        ):
            if job_id in jobs:
                jobs[job_id]["segs"].append((start, end, text, words))
    except sqlite3.OperationalError:  # not created yet
        return {}
    finally:
        connection.close()
    return jobs


def start_child(store: Path, files: list[Path], finished: Path, workers: int) -> subprocess.Popen:
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        "child",
        "--store",
        str(store),
        "--finished",
        str(finished),
        "--workers",
        str(workers),
        *map(str, files),
    ]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, env={**os.environ})


def drill(kills: int, seed: int, count: int, workers: int) -> dict[str, object]:
    rng = random.Random(seed)
    folder = Path(tempfile.mkdtemp(prefix="verbatim-drill-"))
    files = build_files(folder, count)
    store, finished = folder / "jobs.sqlite3", folder / "finished"
    snapshots: list[dict[str, dict]] = []
    started = time.monotonic()
    kills_done = 0
    for _ in range(kills):
        progress_before = progress_mark(read_store(store))
        child = start_child(store, files, finished, workers)
        # A random moment once this run is under way (model loaded, a new segment stored).
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and child.poll() is None:
            if progress_mark(read_store(store)) > progress_before:
                break
            time.sleep(0.1)
        time.sleep(rng.uniform(0.0, 2.5))
        if child.poll() is not None:
            break  # everything finished before this kill
        child.send_signal(signal.SIGKILL)
        child.wait()
        kills_done += 1
        snapshots.append(read_store(store))
        print(f"kill {kills_done}: {summary_line(snapshots[-1])}", flush=True)
    child = start_child(store, files, finished, workers)
    child.wait(timeout=900)
    wall = time.monotonic() - started
    return report(store, files, finished, snapshots, kills_done, wall)


def progress_mark(jobs: dict[str, dict]) -> int:
    """Grows with every stored segment and every finished job."""
    return sum(len(job["segs"]) + (job["state"] == "done") for job in jobs.values())


def summary_line(jobs: dict[str, dict]) -> str:
    states = Counter(job["state"] for job in jobs.values())
    segments = sum(len(job["segs"]) for job in jobs.values())
    return f"{dict(states)}, {segments} segments stored"


def report(
    store: Path,
    files: list[Path],
    finished: Path,
    snapshots: list[dict[str, dict]],
    kills: int,
    wall: float,
) -> dict[str, object]:
    from desktop_app.core.job_store import JobStore

    final = read_store(store)
    paths = Counter(job["path"] for job in final.values())
    lost_files = [f for f in files if paths[os.fsencode(f)] == 0]
    lost_segments = 0
    changed_after_done = 0  # a transcript finished before a kill that differs afterwards
    for snapshot in snapshots:
        for job_id, job in snapshot.items():
            after = final.get(job_id, {"segs": [], "meta": None})
            lost_segments += sum(
                1 for a, b in zip(job["segs"], after["segs"], strict=False) if a != b
            )
            lost_segments += max(0, len(job["segs"]) - len(after["segs"]))
            if job["state"] == "done" and (job["segs"], job["meta"]) != (
                after["segs"],
                after["meta"],
            ):
                changed_after_done += 1
    duplicated_segments = 0
    for job in final.values():
        for before, after in itertools.pairwise(job["segs"]):
            if after[0] < before[1] - 1e-6:  # starts before the previous one ended
                duplicated_segments += 1
    loaded = JobStore(store).load_jobs()
    done = [j for j in loaded if j.transcript is not None]
    copies = {j.id: finished / f"{j.id}.json" for j in done}
    checked = [j for j in done if copies[j.id].exists()]
    intact = sum(1 for j in checked if copies[j.id].read_bytes() == transcript_bytes(j.transcript))
    done_before_kill = {
        i for snap in snapshots for i, job in snap.items() if job["state"] == "done"
    }
    return {
        "kills": kills,
        "jobs_before": len(files),
        "jobs_after": len(final),
        "lost_files": len(lost_files),
        "lost_segments": lost_segments,
        "duplicated_jobs": sum(n - 1 for n in paths.values() if n > 1),
        "duplicated_segments": duplicated_segments,
        "resumed": sum(1 for job in final.values() if job["resumed"]),
        "done": len(done),
        "transcripts_intact": intact,
        # finished between the store's commit and the copy being written, then killed:
        "transcripts_unchecked": len(done) - len(checked),
        "done_before_a_kill": len(done_before_kill),
        "changed_after_done": changed_after_done,
        "states": dict(Counter(job["state"] for job in final.values())),
        "wall_s": round(wall, 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="mode")
    child = sub.add_parser("child")
    child.add_argument("--store", type=Path, required=True)
    child.add_argument("--finished", type=Path, required=True)
    child.add_argument("--workers", type=int, default=1)
    child.add_argument("files", nargs="*", type=Path)
    parser.add_argument("--kills", type=int, default=4)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--files", type=int, default=6)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)
    if args.mode == "child":
        return run_child(args.store, args.files, args.finished, args.workers)
    figures = drill(args.kills, args.seed, args.files, args.workers)
    for name, value in figures.items():
        print(f"{name:>20}: {value}")
    ok = (
        figures["lost_files"] == 0
        and figures["lost_segments"] == 0
        and figures["duplicated_jobs"] == 0
        and figures["duplicated_segments"] == 0
        and figures["changed_after_done"] == 0
        and figures["done"] == figures["jobs_before"]
        and figures["transcripts_intact"] == figures["done"] - figures["transcripts_unchecked"]  # type: ignore[operator]
    )
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
