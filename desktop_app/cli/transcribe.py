"""``verbatim-cli transcribe``: feed files to the job queue as places free up, export each result.

Every output is planned before any work starts (:func:`plan_batch`): inputs that cannot be read
fail at once, colliding names are made distinct, existing outputs are refused (or kept, with
``--skip-existing``) before a single file is transcribed, so a batch never fails at its end for a
reason it could have known at its start.

A batch tool waits instead of refusing: files are submitted only while the queue accepts them, and
each finished job makes room for the next, so the queue cap bounds memory however many files
are named.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import time
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from PySide6.QtCore import QCoreApplication, QTimer

from desktop_app.cli import ExitCode, discard_stdout
from desktop_app.composition import build_engine, build_queue
from desktop_app.core.audio import check_file, find_media_files
from desktop_app.core.errors import ExportError, InputError
from desktop_app.core.exporters import (
    existing_outputs,
    export_planned,
    folder_problem,
    plan_outputs,
)
from desktop_app.core.jobs import Job, JobState
from desktop_app.core.settings import Settings
from desktop_app.core.transcriber import TranscriptionOptions
from desktop_app.job_queue import JobQueue

logger = logging.getLogger(__name__)

DEFAULT_FORMATS = ("txt", "srt")
#: Existing outputs named in a refusal; more are counted, not listed.
MAX_NAMED_OUTPUTS = 10


@dataclass
class BatchPlan:
    """What a batch will do, decided before any work starts."""

    #: Files to transcribe, in order, each with its destination per format.
    outputs: dict[Path, dict[str, Path]] = field(default_factory=dict)
    #: Inputs that fail before any work: missing, unreadable, too large, empty.
    failed: list[tuple[Path, str]] = field(default_factory=list)
    #: With --skip-existing: files not transcribed, and the outputs they already have.
    skipped: list[tuple[Path, list[Path]]] = field(default_factory=list)
    #: With --skip-existing: files transcribed for their missing outputs, and the ones kept.
    kept: list[tuple[Path, list[Path]]] = field(default_factory=list)
    #: Without --overwrite or --skip-existing: existing outputs, which stop the batch.
    taken: list[Path] = field(default_factory=list)

    @property
    def total(self) -> int:
        return len(self.outputs) + len(self.failed) + len(self.skipped)


def _input_key(path: Path) -> str:
    return os.path.normcase(os.path.abspath(path))


def plan_batch(
    inputs: Sequence[str | Path],
    formats: Sequence[str],
    output_dir: Path | None,
    *,
    overwrite: bool = False,
    skip_existing: bool = False,
    max_file_size_bytes: int | None = None,
) -> BatchPlan:
    """Find the files, check them, and name every output, writing nothing.

    A file found twice (named, and inside a named folder) is transcribed once. In
    ``output_dir``, files found in a named folder keep the folders between it and them.
    """
    found: dict[str, Path] = {}
    subfolders: dict[Path, Path] = {}
    for raw in inputs:
        root = Path(raw)
        try:
            searched = root.is_dir()
        except OSError:  # a name the system refuses: check_file below says why, as for any file
            searched = False
        for path in find_media_files([root]) if searched else [root]:
            if _input_key(path) in found:
                continue
            found[_input_key(path)] = path
            if searched:
                subfolders[path] = path.parent.relative_to(root)
    plan = BatchPlan()
    readable: list[Path] = []
    for path in found.values():
        try:
            check_file(path, max_file_size_bytes)
        except InputError as exc:
            plan.failed.append((path, str(exc)))
        else:
            readable.append(path)
    planned = plan_outputs(readable, formats, output_dir, subfolders)
    problems: dict[Path, str | None] = {}
    for path, destinations in planned.items():
        folder = next(iter(destinations.values())).parent
        if folder not in problems:
            problems[folder] = folder_problem(folder)
        if problems[folder] is not None:
            plan.failed.append(
                (path, f"its outputs cannot be written in {folder}: {problems[folder]}")
            )
            continue
        existing = existing_outputs(destinations.values())
        if not existing or overwrite:
            plan.outputs[path] = destinations
        elif not skip_existing:
            plan.taken += existing
            plan.outputs[path] = destinations
        elif len(existing) == len(destinations):
            plan.skipped.append((path, existing))
        else:
            plan.kept.append((path, existing))
            plan.outputs[path] = {
                fmt: destination
                for fmt, destination in destinations.items()
                if destination not in existing
            }
    return plan


def _names(paths: Sequence[Path]) -> str:
    return ", ".join(path.name for path in paths)


class BatchRun:
    """Drives one command-line batch over a :class:`JobQueue` inside a Qt event loop."""

    def __init__(
        self,
        queue: JobQueue,
        plan: BatchPlan,
        options: TranscriptionOptions,
        overwrite: bool,
        txt_timestamps: bool,
        out: TextIO,
        err: TextIO,
    ) -> None:
        self.queue = queue
        self.outputs = plan.outputs
        self.waiting = deque(plan.outputs)
        self.total = plan.total
        self.skipped = len(plan.skipped)
        self.options = options
        self.overwrite = overwrite
        self.txt_timestamps = txt_timestamps
        self.out = out
        self.err = err
        self.failures: list[tuple[Path, str]] = list(plan.failed)
        self.reported: set[str] = set()
        self.succeeded = 0
        self.cancelled = 0
        self.interrupted = False
        self.started = time.monotonic()
        self.audio_seconds = 0.0
        self.progress = ProgressDisplay(len(plan.outputs), out)
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

    def _on_state(self, job_id: str, _state: JobState) -> None:
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
            destinations = self.outputs[job.path]
            try:
                _make_folders(destinations.values())
                written = export_planned(
                    job.transcript,
                    destinations,
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
        return summary_line(
            self.total,
            self.succeeded,
            len(self.failures),
            self.cancelled,
            self.skipped,
            time.monotonic() - self.started,
            self.audio_seconds,
        )

    def exit_code(self) -> ExitCode:
        if self.interrupted:
            return ExitCode.INTERRUPTED
        return ExitCode.FAILED if self.failures or self.cancelled else ExitCode.OK


def summary_line(
    total: int,
    succeeded: int,
    failed: int,
    cancelled: int,
    skipped: int,
    elapsed: float,
    audio_seconds: float,
) -> str:
    """The batch's last line on standard output."""
    speed = f", {audio_seconds / elapsed:.1f}x real time" if elapsed > 0 else ""
    skipped_part = f", {skipped} skipped" if skipped else ""
    return (
        f"{total} file(s): {succeeded} done, {failed} failed, {cancelled} cancelled{skipped_part}"
        f" in {elapsed:.1f} s ({audio_seconds:.0f} s of audio{speed})."
    )


def _make_folders(destinations: Iterable[Path]) -> None:
    """Create output folders only when something is written, so a failed batch leaves none."""
    for folder in dict.fromkeys(destination.parent for destination in destinations):
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            problem = exc.strerror or type(exc).__name__
            raise ExportError(f"Could not create the folder {folder}: {problem}.") from None


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
            say(self.out, text)

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


def say(out: TextIO, text: str) -> None:
    """Print a progress line; once its reader has gone (``| head``), print nothing more.

    The batch goes on: its product is the files it writes, not these lines.
    """
    try:
        print(text, file=out, flush=True)
    except BrokenPipeError:
        discard_stdout()


def run_transcribe(
    args: argparse.Namespace,
    settings: Settings,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    out = out if out is not None else sys.stdout  # read at call time
    err = err if err is not None else sys.stderr  # read at call time
    formats = tuple(dict.fromkeys(args.formats or DEFAULT_FORMATS))
    if args.output_dir is not None:
        problem = folder_problem(args.output_dir)
        if problem is not None:
            print(
                f"verbatim-cli: --output-dir {args.output_dir} cannot be used: {problem}.",
                file=err,
            )
            return ExitCode.USAGE
    plan = plan_batch(
        args.inputs,
        formats,
        args.output_dir,
        overwrite=args.overwrite,
        skip_existing=args.skip_existing,
        max_file_size_bytes=settings.max_file_size_bytes,
    )
    if not plan.total:
        print("verbatim-cli: no audio or video files found in the given folders.", file=err)
        return ExitCode.FAILED
    if plan.taken:
        named = ", ".join(str(path) for path in plan.taken[:MAX_NAMED_OUTPUTS])
        more = len(plan.taken) - MAX_NAMED_OUTPUTS
        print(
            f"verbatim-cli: {len(plan.taken)} output file(s) already exist: {named}"
            + (f" and {more} more" if more > 0 else "")
            + "; nothing was transcribed. Pass --overwrite to replace them, --skip-existing to "
            "keep them and write only what is missing, or choose another --output-dir.",
            file=err,
        )
        return ExitCode.FAILED
    for path, reason in plan.failed:
        say(out, f"{path}: FAILED: {reason}")
    for path, existing in plan.skipped:
        say(out, f"{path}: skipped: its outputs exist ({_names(existing)})")
    for path, existing in plan.kept:
        missing = _names(list(plan.outputs[path].values()))
        say(out, f"{path}: kept existing {_names(existing)}; writing only {missing}")

    if not plan.outputs:  # every file failed its check or was skipped: no model, no queue
        say(out, summary_line(plan.total, 0, len(plan.failed), 0, len(plan.skipped), 0.0, 0.0))
        report_failures(plan.failed, err)
        return ExitCode.FAILED if plan.failed else ExitCode.OK

    app = QCoreApplication.instance() or QCoreApplication([])
    engine = build_engine(settings)
    engine.preload(settings.whisper_model_size)  # a bad model fails once, not once per file
    queue = build_queue(settings, engine)  # no store: the command line keeps no jobs
    run = BatchRun(
        queue,
        plan,
        TranscriptionOptions.from_settings(settings),
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
    say(out, run.summary())
    report_failures(run.failures, err)
    return run.exit_code()


def report_failures(failures: Sequence[tuple[Path, str]], err: TextIO) -> None:
    """One line per failed file on standard error, for scripts: ``FAILED path: reason``."""
    for path, reason in failures:
        print(f"FAILED {path}: {reason}", file=err)
