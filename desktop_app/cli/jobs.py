"""``verbatim-cli jobs``: list what the window's job store holds, as a table or as JSON.

It reads the same store the window writes (SQLite's write-ahead log lets it read while the window
runs) and never changes a job; a store that does not exist yet is not created.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any, TextIO

from desktop_app.core.job_store import JobStore, default_store_path
from desktop_app.core.jobs import Job

EXIT_OK = 0


def _display(path: Path) -> str:
    """A path as text a terminal can print, even when its name is not valid UTF-8."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def job_record(job: Job) -> dict[str, Any]:
    return {
        "id": job.id,
        "file": _display(job.path),
        "state": job.state.value,
        "progress": round(job.progress, 4),
        "error": job.error,
        "resumed": job.resumed,
        "attempts": job.attempts,
        "segments": len(job.segments),
        "created_at": job.created_at,
        "finished_at": job.finished_at,
    }


def run_jobs(
    args: argparse.Namespace, out: TextIO | None = None, store_path: Path | None = None
) -> int:
    out = out if out is not None else sys.stdout  # read at call time
    path = store_path or default_store_path()
    jobs: list[Job] = []
    if path.exists():
        store = JobStore(path, read_only=True)  # reads beside a running window
        try:
            jobs = store.load_jobs()
        finally:
            store.close()
    if args.json:
        json.dump([job_record(job) for job in jobs], out, indent=2)
        out.write("\n")
        return EXIT_OK
    if not jobs:
        print(f"No jobs stored ({path}).", file=out)
        return EXIT_OK
    print(f"{'ID':<8}  {'STATE':<9}  {'PROGRESS':>8}  FILE", file=out)
    for job in jobs:
        mark = " (resumed)" if job.resumed else ""
        print(
            f"{job.id[:8]:<8}  {job.state.value:<9}  {job.progress:>8.0%}  "
            f"{_display(job.path)}{mark}",
            file=out,
        )
        if job.error:
            print(f"{'':<8}  error: {job.error}", file=out)
    return EXIT_OK
