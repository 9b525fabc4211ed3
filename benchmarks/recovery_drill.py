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

``scale`` drills a long-time user's store (no transcription: an engine that holds its jobs):

- a store of 100,000 finished jobs (8 segments each, with words) opened by the window's path
  (``JobStore`` + ``JobQueue.restore`` off the GUI thread into the job list's model) and by
  ``verbatim-cli jobs`` (table and ``--json``, beside a run over an empty store): wall and CPU
  seconds, the GUI thread's share, and memory above the process's size before opening (peak RSS);
  The window's integrity check of the whole store, run in the background once its list is
  up, is shown beside them (``background_check``), not counted in the opening;
- 16,000 queued jobs restored: the same figures, and how long closing right after takes;
- 4,000 queued jobs restored and killed with SIGKILL at random moments of the restore: after
  each kill the stored queue must hold every job once, in the original order.

Targets: open 100k in <= 2 s and <= 300 MB more memory (the window, the CLI's table and its
``--json``); kills: order intact, lost 0, duplicated 0.
The verdict takes CPU seconds, not wall seconds: on a shared machine the wall clock measures the
neighbours (at a load of 10 on 2 cores it runs 3x the CPU time).

Usage: python benchmarks/recovery_drill.py [--kills 4] [--seed 1] [--files 6]
       python benchmarks/recovery_drill.py scale [--finished 100000] [--queued 16000]
           [--kill-queued 4000] [--restore-kills 12] [--seed 1]
The test suite reuses the child: ``python benchmarks/recovery_drill.py child --store ... FILES``.
"""

from __future__ import annotations

import argparse
import contextlib
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

    def on_state(job_id: str, state: JobState) -> None:
        job = queue.job(job_id)
        if job is not None and state is JobState.DONE and job.transcript is not None:
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


# ----------------------------------------------------------------------------- scale
class HoldingEngine:
    """Holds every job it is given until released, then cancels it: restore without decoding."""

    def __init__(self) -> None:
        import threading

        self.release = threading.Event()

    def transcribe(self, path: Path, options: object, **_callbacks: object) -> object:
        from desktop_app.core.errors import JobCancelled

        self.release.wait()
        raise JobCancelled()


def build_store(path: Path, finished: int, queued: int, segments: int = 8) -> None:
    """``finished`` done jobs of ``segments`` segments (words and all), then ``queued`` queued
    jobs, written through JobStore in batches like the queue writes them."""
    from desktop_app.core.job_store import JobStore
    from desktop_app.core.jobs import Job, JobState
    from desktop_app.core.transcriber import TranscriptionOptions
    from desktop_app.core.transcript import Segment, Transcript, Word

    options = TranscriptionOptions(model="tiny.en", language="en")
    store = JobStore(path)
    words = ["and", "so", "my", "fellow", "Americans", "ask", "not"]
    for first in range(0, finished + queued, 2000):
        batch = []
        for index in range(first, min(first + 2000, finished + queued)):
            job = Job(
                Path(f"/home/user/recordings/{index // 1000:03d}/talk-{index:06d}.wav"), options
            )
            if index < finished:
                segs = [
                    Segment(
                        i * 3.0,
                        i * 3.0 + 2.5,
                        " ".join(words) + f" {index}",
                        tuple(
                            Word(i * 3.0 + k * 0.3, i * 3.0 + k * 0.3 + 0.25, f" {w}", 0.91)
                            for k, w in enumerate(words)
                        ),
                    )
                    for i in range(segments)
                ]
                job.state, job.progress, job.language = JobState.DONE, 1.0, "en"
                job.duration, job.started_at, job.finished_at = segments * 3.0, 1.0, 2.0
                job.segments = segs
                job.transcript = Transcript(list(segs), "en", 1.0, segments * 3.0, "tiny.en")
            batch.append(job)
        store.add_jobs(batch)
    store.close()


def _memory_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def _reset_peak() -> None:
    """Start VmHWM from now (Linux 4.0+), so the peak measures the opening only."""
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")


def run_open_child(store_path: Path, how: str) -> int:
    """Open ``store_path`` the window's way or the CLI's; print one JSON line of figures."""
    before = _memory_kb("VmRSS")
    if how == "window":
        import threading

        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
        from PySide6.QtWidgets import QApplication, QTableView

        from desktop_app.core.job_store import JobStore
        from desktop_app.gui.job_model import JobTableModel
        from desktop_app.job_queue import JobQueue

        app = QApplication.instance() or QApplication([])
        engine = HoldingEngine()
        view = QTableView()
        view.resize(900, 600)
        view.show()
        app.processEvents()
        before = _memory_kb("VmRSS")
        _reset_peak()
        started, cpu = time.perf_counter(), time.process_time()
        store = JobStore(store_path)  # no integrity check: the window runs it once the list is up
        store_s = time.perf_counter() - started
        queue = JobQueue(engine, max_workers=2, max_queue_size=100, store=store)  # type: ignore[arg-type]
        model = JobTableModel(queue)
        view.setModel(model)
        outcome: list[int] = []
        # Off the GUI thread, as the window restores; the list then hears of the jobs.
        worker = threading.Thread(target=lambda: outcome.append(len(queue.restore())))
        worker.start()
        worker.join()
        restored = outcome[0]
        restored_s = time.perf_counter() - started
        app.processEvents()  # the queued ``jobs_added`` reaches the model: the GUI thread's share
        listed_s = time.perf_counter() - started - restored_s
        cpu_s = time.process_time() - cpu
        rows = model.rowCount()
        peak = _memory_kb("VmHWM")
        started = time.perf_counter()
        queue.shutdown(0, keep_unfinished=True)  # the window's close
        engine.release.set()
        queue.wait_for_done()
        close_s = time.perf_counter() - started
        # What the window then runs in the background, off the opening path (not in open_s).
        started, check_cpu = time.perf_counter(), time.process_time()
        problem = store.check_integrity()
        check_s, check_cpu_s = time.perf_counter() - started, time.process_time() - check_cpu
        store.close()
        figures = {
            "jobs": restored,
            "rows": rows,
            "open_s": restored_s + listed_s,
            "open_cpu_s": cpu_s,
            "store_open_s": store_s,
            "gui_thread_s": listed_s,
            "close_s": close_s,
            "background_check_s": check_s,
            "background_check_cpu_s": check_cpu_s,
            "store_damaged": float(problem is not None),
        }
    else:
        from desktop_app.cli import main as cli_main

        argv = ["jobs", "--json"] if how == "cli-json" else ["jobs"]
        _reset_peak()
        before = _memory_kb("VmRSS")
        started, cpu = time.perf_counter(), time.process_time()
        with open(os.devnull, "w") as sink:
            saved, sys.stdout = sys.stdout, sink
            try:
                cli_main(argv)
            finally:
                sys.stdout = saved
        figures = {
            "open_s": time.perf_counter() - started,
            "open_cpu_s": time.process_time() - cpu,
        }
        peak = _memory_kb("VmHWM")
    figures["more_memory_mb"] = max(0, peak - before) / 1024
    print(json.dumps(figures), flush=True)
    return 0


def run_restore_child(store_path: Path) -> int:
    """Restore the store the window's way, saying when the restore starts and ends."""
    from PySide6.QtCore import QCoreApplication

    from desktop_app.core.job_store import JobStore
    from desktop_app.job_queue import JobQueue

    app = QCoreApplication.instance() or QCoreApplication([])  # noqa: F841
    engine = HoldingEngine()
    store = JobStore(store_path)
    queue = JobQueue(engine, max_workers=2, max_queue_size=100, store=store)  # type: ignore[arg-type]
    print("restoring", flush=True)
    started = time.perf_counter()
    restored = len(queue.restore())
    print(f"restored {restored} {time.perf_counter() - started:.3f}", flush=True)
    queue.shutdown(0, keep_unfinished=True)
    engine.release.set()
    queue.wait_for_done()
    store.close()
    return 0


def open_figures(store_path: Path, how: str) -> dict[str, float]:
    env = {**os.environ, "XDG_DATA_HOME": str(store_path.parent.parent)}
    command = [sys.executable, str(Path(__file__).resolve()), "open-child", how, str(store_path)]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=900, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def stored_queue(store_path: Path) -> list[str]:
    from desktop_app.core.job_store import JobStore

    store = JobStore(store_path)
    try:
        return store.load().pending_ids
    finally:
        store.close()


def copy_store(source: Path, target: Path) -> None:
    import shutil

    for suffix in ("", "-wal", "-shm"):
        Path(f"{target}{suffix}").unlink(missing_ok=True)
        if Path(f"{source}{suffix}").exists():
            shutil.copyfile(f"{source}{suffix}", f"{target}{suffix}")


def restore_kills(folder: Path, queued: int, kills: int, rng: random.Random) -> dict[str, object]:
    """Kill a restore of ``queued`` jobs at random moments; check the stored queue each time."""
    pristine, trial = folder / "pristine" / "jobs.sqlite3", folder / "trial" / "jobs.sqlite3"
    pristine.parent.mkdir()
    trial.parent.mkdir()
    build_store(pristine, 0, queued)
    expected = stored_queue(pristine)
    command = [sys.executable, str(Path(__file__).resolve()), "restore-child", str(trial)]
    # One restore to the end first: how long a restore takes, so the kills land inside it.
    copy_store(pristine, trial)
    done = subprocess.run(command, capture_output=True, text=True, timeout=900, check=True)
    restore_s = float(done.stdout.split()[-1])
    intact = lost = duplicated = mid_restore = 0
    for _ in range(kills):
        copy_store(pristine, trial)
        child = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
        assert child.stdout is not None
        child.stdout.readline()  # "restoring"
        time.sleep(rng.uniform(0.0, restore_s * 1.2))
        child.send_signal(signal.SIGKILL)
        rest = child.stdout.read()
        child.wait()
        mid_restore += "restored" not in rest
        after = stored_queue(trial)
        lost += len(set(expected) - set(after))
        duplicated += len(after) - len(set(after))
        intact += after == expected
    return {
        "restore_4k_s": round(restore_s, 3),
        "restore_kills": kills,
        "killed_mid_restore": mid_restore,
        "order_intact": intact,
        "restore_lost": lost,
        "restore_duplicated": duplicated,
    }


def scale(
    finished: int, queued: int, kill_queued: int, kills: int, seed: int, keep: Path | None
) -> dict[str, object]:
    """``keep``: build the stores there once and reuse them (building 100k jobs takes minutes)."""
    import shutil

    from desktop_app.core.job_store import JobStore

    rng = random.Random(seed)
    folder = keep or Path(tempfile.mkdtemp(prefix="verbatim-scale-"))
    figures: dict[str, object] = {}
    try:
        stores = {}
        for name, done, waiting in (("big", finished, 0), ("many", 0, queued)):
            # XDG_DATA_HOME=folder/name-...: the CLI finds it as its own store.
            store = stores[name] = folder / f"{name}-{done}-{waiting}" / "verbatim" / "jobs.sqlite3"
            if not store.exists():
                store.parent.mkdir(parents=True, exist_ok=True)
                started = time.perf_counter()
                build_store(store, done, waiting)
                figures[f"build_{name}_s"] = round(time.perf_counter() - started, 1)
            figures[f"store_{name}_mb"] = round(store.stat().st_size / 2**20, 1)
        empty = folder / "empty" / "verbatim" / "jobs.sqlite3"
        if not empty.exists():
            empty.parent.mkdir(parents=True, exist_ok=True)
            JobStore(empty).close()
        for name, value in open_figures(empty, "cli").items():
            figures[f"cli_empty_store_{name}"] = round(value, 3)  # what any run costs
        for how in ("window", "cli", "cli-json"):
            for name, value in open_figures(stores["big"], how).items():
                figures[f"{how}_{name}"] = round(value, 3)
        for name, value in open_figures(stores["many"], "window").items():
            figures[f"restore_{name}"] = round(value, 3)
        kill_folder = Path(tempfile.mkdtemp(prefix="kills-", dir=folder))
        figures.update(restore_kills(kill_folder, kill_queued, kills, rng))
        shutil.rmtree(kill_folder)
    finally:
        if keep is None:
            shutil.rmtree(folder)
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="mode")
    child = sub.add_parser("child")
    child.add_argument("--store", type=Path, required=True)
    child.add_argument("--finished", type=Path, required=True)
    child.add_argument("--workers", type=int, default=1)
    child.add_argument("files", nargs="*", type=Path)
    opener = sub.add_parser("open-child")
    opener.add_argument("how", choices=("window", "cli", "cli-json"))
    opener.add_argument("store", type=Path)
    restorer = sub.add_parser("restore-child")
    restorer.add_argument("store", type=Path)
    big = sub.add_parser("scale")
    big.add_argument("--finished", type=int, default=100_000)
    big.add_argument("--queued", type=int, default=16_000)
    big.add_argument("--kill-queued", type=int, default=4_000)
    big.add_argument("--restore-kills", type=int, default=12)
    big.add_argument("--keep", type=Path, help="build the stores in this folder once, reuse them")
    parser.add_argument("--kills", type=int, default=4)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--files", type=int, default=6)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)
    if args.mode == "child":
        return run_child(args.store, args.files, args.finished, args.workers)
    if args.mode == "open-child":
        return run_open_child(args.store, args.how)
    if args.mode == "restore-child":
        return run_restore_child(args.store)
    if args.mode == "scale":
        figures = scale(
            args.finished, args.queued, args.kill_queued, args.restore_kills, args.seed, args.keep
        )
        for name, value in figures.items():
            print(f"{name:>24}: {value}")
        ok = (
            figures["window_open_cpu_s"] <= 2.0  # type: ignore[operator]
            and figures["window_more_memory_mb"] <= 300  # type: ignore[operator]
            and figures["cli_open_cpu_s"] <= 2.0  # type: ignore[operator]
            and figures["cli_more_memory_mb"] <= 300  # type: ignore[operator]
            and figures["cli-json_open_cpu_s"] <= 2.0  # type: ignore[operator]
            and figures["cli-json_more_memory_mb"] <= 300  # type: ignore[operator]
            and figures["order_intact"] == figures["restore_kills"]
            and figures["restore_lost"] == figures["restore_duplicated"] == 0
        )
        print("PASS" if ok else "FAIL")
        return 0 if ok else 1
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
