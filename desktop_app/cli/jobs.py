"""``verbatim-cli jobs``: list what the window's job store holds, as a table or as JSON.

It reads the same store the window writes (SQLite's write-ahead log lets it read while the window
runs) and never changes a job; a store that does not exist yet is not created, and a damaged one
is reported and left where it is (the window moves it aside when it next starts).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any, TextIO

from desktop_app.cli import ExitCode
from desktop_app.core.job_store import JobStore, JobStoreError, default_store_path, path_bytes
from desktop_app.core.jobs import Job


def _display(path: Path | bytes) -> str:
    """A path as text a terminal can print, even when its name is not valid UTF-8."""
    return (path if isinstance(path, bytes) else os.fsencode(path)).decode(
        "utf-8", "backslashreplace"
    )


def job_record(job: Job, segments: int) -> dict[str, Any]:
    """``segments`` is the stored count: listing never reads the transcripts themselves."""
    return {
        "id": job.id,
        "file": _display(path_bytes(job)),
        "state": job.state.value,
        "progress": round(job.progress, 4),
        "error": job.error,
        "resumed": job.resumed,
        "attempts": job.attempts,
        "segments": segments,
        "created_at": job.created_at,
        "finished_at": job.finished_at,
    }


def run_jobs(
    args: argparse.Namespace, out: TextIO | None = None, store_path: Path | None = None
) -> int:
    out = out if out is not None else sys.stdout  # read at call time
    path = store_path or default_store_path()
    jobs: list[Job] = []
    counts: dict[str, int] = {}
    if path.exists():
        try:
            store = JobStore(path, read_only=True)
            try:
                jobs = store.load_jobs()
                if args.json:
                    counts = store.segment_counts()
            finally:
                store.close()
        except JobStoreError as error:  # damage a read met is said too, not a traceback
            print(f"verbatim-cli: {error}", file=sys.stderr)
            return ExitCode.FAILED
    if args.json:
        # One record a line, each by json's C encoder: ``indent`` takes the pure-Python one,
        # 25 s for 100,000 jobs.
        records = ",\n".join(
            f"  {json.dumps(job_record(job, counts.get(job.id, 0)))}" for job in jobs
        )
        out.write(f"[\n{records}\n]\n" if jobs else "[]\n")
        return ExitCode.OK
    if not jobs:
        print(f"No jobs stored ({path}).", file=out)
        return ExitCode.OK
    lines: list[str] = [f"{'ID':<8}  {'STATE':<9}  {'PROGRESS':>8}  FILE"]
    for job in jobs:
        mark = " (resumed)" if job.resumed else ""
        lines.append(
            f"{job.id[:8]:<8}  {job.state.value:<9}  {job.progress:>8.0%}  "
            f"{_display(path_bytes(job))}{mark}"
        )
        if job.error:
            lines.append(f"{'':<8}  error: {job.error}")
    out.write("\n".join(lines) + "\n")  # one write: a print per job was a fifth of the run
    return ExitCode.OK
