"""``verbatim-cli transcribe``: feed files to the job queue as places free up, export each result.

A batch tool waits instead of refusing: files are submitted only while the queue accepts them, and
each finished job makes room for the next, so the queue cap bounds memory however many files
are named.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import time
from collections import deque
from pathlib import Path
from typing import TextIO

from PySide6.QtCore import QCoreApplication, QTimer

from desktop_app.core.audio import find_media_files
from desktop_app.core.errors import ExportError
from desktop_app.core.exporters import export_all, output_path
from desktop_app.core.jobs import Job, JobState
from desktop_app.core.settings import Settings
from desktop_app.core.transcriber import TranscriptionOptions, WhisperEngine
from desktop_app.job_queue import JobQueue

logger = logging.getLogger(__name__)

DEFAULT_FORMATS = ("txt", "srt")


class BatchRun:
    """Drives one command-line batch over a :class:`JobQueue` inside a Qt event loop."""

    def __init__(
        self,
        queue: JobQueue,
        files: list[Path],
        options: TranscriptionOptions,
        formats: tuple[str, ...],
        output_dir: Path | None,
        overwrite: bool,
        txt_timestamps: bool,
        out: TextIO,
        err: TextIO,
    ) -> None:
        self.queue = queue
        self.waiting = deque(files)
        self.total = len(files)
        self.options = options
        self.formats = formats
        self.output_dir = output_dir
        self.overwrite = overwrite
        self.txt_timestamps = txt_timestamps
        self.out = out
        self.err = err
        self.failures: list[tuple[Path, str]] = []
        self.reported: set[str] = set()
        self.succeeded = 0
        self.cancelled = 0
        self.interrupted = False
        self.started = time.monotonic()
        self.audio_seconds = 0.0
        self.progress = ProgressDisplay(self.total, out)
        queue.job_state_changed.connect(self._on_state)
        queue.job_progress.connect(self._on_progress)

    @property
    def finished_count(self) -> int:
        return self.succeeded + len(self.failures) + self.cancelled

    def start(self) -> None:
        self._feed()
        self._maybe_quit()

    def interrupt(self) -> None:
        if self.interrupted:
            return
        self.interrupted = True
        self.progress.line("Interrupted: cancelling the remaining files...")
        self.cancelled += len(self.waiting)
        self.waiting.clear()
        self.queue.cancel_all()
        self._maybe_quit()

    def _feed(self) -> None:
        while self.waiting and self.queue.capacity().accepts > 0:
            path = self.waiting.popleft()
            result = self.queue.submit(path, self.options)
            if not result.accepted:  # another face took the place first: try again later
                self.waiting.appendleft(path)
                break

    def _on_progress(self, job_id: str, fraction: float) -> None:
        job = self.queue.job(job_id)
        if job is not None:
            self.progress.update(job, self.finished_count)

    def _on_state(self, job_id: str, _state: str) -> None:
        # Signals from different worker threads may arrive out of order ("done" before
        # "running" for a very short job): act on the job's state now, once per transition.
        job = self.queue.job(job_id)
        if job is None or job_id in self.reported:
            return
        if job.state.finished:
            self.reported.add(job_id)
            self._on_finished(job)
            self._feed()
            self._maybe_quit()
        elif job.state is JobState.RUNNING and job_id not in self.progress.bars:
            self.progress.started(job)

    def _on_finished(self, job: Job) -> None:
        if job.state is JobState.DONE and job.transcript is not None:
            try:
                written = export_all(
                    job.transcript,
                    self.formats,
                    job.path,
                    self.output_dir,
                    overwrite=self.overwrite,
                    txt_timestamps=self.txt_timestamps,
                )
            except ExportError as exc:
                self.failures.append((job.path, str(exc)))
                self.progress.finished(job, f"FAILED: {exc}")
                return
            self.succeeded += 1
            self.audio_seconds += job.transcript.duration
            names = ", ".join(p.name for p in written)
            self.progress.finished(job, f"done in {job.elapsed() or 0:.1f} s -> {names}")
        elif job.state is JobState.FAILED:
            self.failures.append((job.path, job.error))
            self.progress.finished(job, f"FAILED: {job.error}")
        else:
            self.cancelled += 1
            self.progress.finished(job, "cancelled")

    def _maybe_quit(self) -> None:
        if (not self.waiting or self.interrupted) and self.queue.is_idle():
            QTimer.singleShot(0, QCoreApplication.quit)

    def summary(self) -> str:
        elapsed = time.monotonic() - self.started
        speed = f", {self.audio_seconds / elapsed:.1f}x real time" if elapsed > 0 else ""
        return (
            f"{self.total} file(s): {self.succeeded} done, {len(self.failures)} failed, "
            f"{self.cancelled} cancelled in {elapsed:.1f} s "
            f"({self.audio_seconds:.0f} s of audio{speed})."
        )


class ProgressDisplay:
    """Progress bars on a terminal (one overall, one per running file); plain lines otherwise."""

    def __init__(self, total: int, out: TextIO) -> None:
        self.total = total
        self.out = out
        self.tty = out.isatty()
        self.bars: dict[str, object] = {}
        self.overall = None
        if self.tty:
            from tqdm import tqdm

            self._tqdm = tqdm
            self.overall = tqdm(
                total=total, desc="All files", unit="file", position=0, file=out, leave=True
            )
        self._free_positions: list[int] = []
        self._next_position = 1

    def line(self, text: str) -> None:
        if self.tty:
            self._tqdm.write(text, file=self.out)
        else:
            print(text, file=self.out, flush=True)

    def started(self, job: Job) -> None:
        if not self.tty:
            self.line(f"started {job.path}")
            return
        position = self._free_positions.pop(0) if self._free_positions else self._next_position
        if position == self._next_position:
            self._next_position += 1
        self.bars[job.id] = self._tqdm(
            total=100,
            desc=job.name[:30],
            unit="%",
            position=position,
            file=self.out,
            leave=False,
            bar_format="{desc:<30} {percentage:3.0f}%|{bar}| {elapsed}<{remaining}",
        )

    def update(self, job: Job, finished: int) -> None:
        bar = self.bars.get(job.id)
        if bar is not None:
            bar.n = round(job.progress * 100)  # type: ignore[attr-defined]
            bar.refresh()  # type: ignore[attr-defined]

    def finished(self, job: Job, outcome: str) -> None:
        bar = self.bars.pop(job.id, None)
        if bar is not None:
            self._free_positions.append(bar.pos)  # type: ignore[attr-defined]
            bar.close()  # type: ignore[attr-defined]
        if self.overall is not None:
            self.overall.update(1)
        self.line(f"{job.path}: {outcome}")

    def close(self) -> None:
        for bar in self.bars.values():
            bar.close()  # type: ignore[attr-defined]
        if self.overall is not None:
            self.overall.close()


def run_transcribe(
    args: argparse.Namespace,
    settings: Settings,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    out = out if out is not None else sys.stdout  # read at call time
    err = err if err is not None else sys.stderr  # read at call time
    files = list(find_media_files(args.inputs))
    if not files:
        print("verbatim-cli: no audio or video files found in the given folders.", file=err)
        return 1
    if args.output_dir is not None:
        args.output_dir.mkdir(parents=True, exist_ok=True)
    formats = tuple(dict.fromkeys(args.formats or DEFAULT_FORMATS))
    if not args.overwrite:
        taken = [
            output_path(f, fmt, args.output_dir)
            for f in files
            for fmt in formats
            if output_path(f, fmt, args.output_dir).exists()
        ]
        if taken:
            print(
                f"verbatim-cli: {len(taken)} output file(s) already exist, e.g. {taken[0]}; "
                "pass --overwrite to replace them or choose --output-dir.",
                file=err,
            )
            return 1

    app = QCoreApplication.instance() or QCoreApplication([])
    engine = WhisperEngine.from_settings(settings)
    engine.preload(settings.whisper_model_size)  # a bad model fails once, not once per file
    queue = JobQueue(
        engine,
        max_workers=settings.max_concurrent_workers,
        max_queue_size=settings.max_queue_size,
    )
    run = BatchRun(
        queue,
        files,
        TranscriptionOptions.from_settings(settings),
        formats,
        args.output_dir,
        args.overwrite,
        args.timestamps,
        out,
        err,
    )
    previous = signal.signal(signal.SIGINT, lambda *_: run.interrupt())
    # Python runs signal handlers only between bytecodes: wake up regularly while Qt waits.
    heartbeat = QTimer()
    heartbeat.start(200)
    heartbeat.timeout.connect(lambda: None)
    QTimer.singleShot(0, run.start)
    try:
        app.exec()
    finally:
        signal.signal(signal.SIGINT, previous)
        heartbeat.stop()
        queue.shutdown()
        run.progress.close()
    print(run.summary(), file=out)
    for path, reason in run.failures:
        print(f"FAILED {path}: {reason}", file=err)
    if run.interrupted:
        return 130
    return 0 if not run.failures and run.cancelled == 0 else 1
