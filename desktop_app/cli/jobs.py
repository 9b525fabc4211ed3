"""``verbatim-cli jobs``: list what the window's job store holds, as a table or as JSON.

It reads the same store the window writes (SQLite's write-ahead log lets it read while the window
runs) and never changes a job; a store that does not exist yet is not created, and a damaged one
is reported and left where it is (the window moves it aside when it next starts).

The listing streams: rows come from the store a chunk at a time (:meth:`JobStore.listing`) and
each chunk is written at once, so 100,000 stored jobs cost no job objects and no memory that
grows with the store. Damage met part-way is reported after the jobs already printed.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

from desktop_app.cli import ExitCode
from desktop_app.core.job_store import JobStore, JobStoreError, ListedJob, default_store_path
from desktop_app.core.jobs import JobState

#: A state's text in the listing (looked up: ``Enum.value`` is a slow property, 100,000 times).
_STATE_TEXT = {state: state.value for state in JobState}


def _display(path: bytes) -> str:
    """A path as text a terminal can print, even when its name is not valid UTF-8."""
    return path.decode("utf-8", "backslashreplace")


def job_record(job: ListedJob) -> dict[str, Any]:
    """``job.segments`` is the stored count: listing never reads the transcripts themselves."""
    return {
        "id": job.id,
        "file": job.path.decode("utf-8", "backslashreplace"),  # as _display, without a call
        "state": _STATE_TEXT[job.state],
        "progress": round(job.progress, 4),
        "error": job.error,
        "resumed": job.resumed,
        "attempts": job.attempts,
        "segments": job.segments,
        "created_at": job.created_at,
        "finished_at": job.finished_at,
    }


#: Between two values while a chunk is encoded: a control character, which json escapes
#: inside every string, so where it stands outside them is known without parsing.
_MARK = ",\x00"


def _json_chunks(chunks: Iterator[list[ListedJob]]) -> Iterator[str]:
    """``[``, one record a line, ``]``: the records of a chunk are encoded by one call of json's
    C encoder (``indent`` takes the pure-Python one, 25 s for 100,000 jobs; a call per record
    cost a third of the listing), then laid out a record a line. Records hold no nested
    objects, so ``}`` + mark + ``{`` is always the end of one record and the start of the next."""
    started = False
    for chunk in chunks:
        if chunk:
            encoded = json.dumps([job_record(job) for job in chunk], separators=(_MARK, ": "))
            records = encoded[1:-1].replace("}" + _MARK + "{", "},\n  {").replace(_MARK, ", ")
            yield f"{',' if started else '['}\n  {records}"
            started = True
    yield "\n]\n" if started else "[]\n"


def _table_chunks(chunks: Iterator[list[ListedJob]], path: Path) -> Iterator[str]:
    started = False
    for chunk in chunks:
        if not chunk:
            continue
        lines: list[str] = [] if started else [f"{'ID':<8}  {'STATE':<9}  {'PROGRESS':>8}  FILE"]
        started = True
        for job in chunk:
            mark = " (resumed)" if job.resumed else ""
            lines.append(
                f"{job.id[:8]:<8}  {_STATE_TEXT[job.state]:<9}  {job.progress:>8.0%}  "
                f"{_display(job.path)}{mark}"
            )
            if job.error:
                lines.append(f"{'':<8}  error: {job.error}")
        yield "\n".join(lines) + "\n"  # one write a chunk: a print per job was a fifth of the run
    if not started:
        yield f"No jobs stored ({path}).\n"


def run_jobs(
    args: argparse.Namespace, out: TextIO | None = None, store_path: Path | None = None
) -> int:
    out = out if out is not None else sys.stdout  # read at call time
    path = store_path or default_store_path()
    store: JobStore | None = None
    try:
        if path.exists():
            store = JobStore(path, read_only=True)
        chunks = store.listing(count_segments=args.json) if store is not None else iter(())
        for text in _json_chunks(chunks) if args.json else _table_chunks(chunks, path):
            out.write(text)
    except JobStoreError as error:  # damage a read met is said too, not a traceback
        print(f"verbatim-cli: {error}", file=sys.stderr)
        return ExitCode.FAILED
    finally:
        if store is not None:
            store.close()
    return ExitCode.OK
