"""Writing a batch of transcripts: the export flow shared by every face, without Qt.

Each transcript's files are planned first (one per format, beside its source or in one folder);
files that already exist are not replaced unless asked, and are listed instead, so the face can
ask the user. An owed export (auto-export, possibly interrupted by a crash while it was written)
first clears the leftovers of that attempt and counts the files that already hold it as written.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from desktop_app.core.errors import ExportError
from desktop_app.core.exporters import (
    existing_outputs,
    export_all,
    holds_export,
    output_path,
    remove_leftover_temp_files,
)
from desktop_app.core.transcript import Transcript


@dataclass
class ExportOutcome:
    job_ids: list[str] = field(default_factory=list)  # the jobs whose transcripts were exported
    written: list[Path] = field(default_factory=list)
    conflicts: dict[str, list[Path]] = field(default_factory=dict)  # job id -> existing files
    errors: list[str] = field(default_factory=list)


def export_transcripts(
    work: Iterable[tuple[str, Path, Transcript]],
    formats: list[str],
    output_dir: Path | None,
    *,
    overwrite: bool = False,
    owed: bool = False,
) -> ExportOutcome:
    """Write each ``(job id, source, transcript)`` in ``formats``; slow, so never on the GUI
    thread. ``owed``: an auto-export that a crash may have interrupted (see module doc)."""
    items = list(work)
    outcome = ExportOutcome(job_ids=[job_id for job_id, _source, _transcript in items])
    if output_dir is not None:
        output_dir.mkdir(parents=True, exist_ok=True)
    for job_id, source, transcript in items:
        todo = list(formats)
        if owed:
            for fmt in formats:
                destination = output_path(source, fmt, output_dir)
                remove_leftover_temp_files(destination)
                if holds_export(destination, transcript, fmt):
                    outcome.written.append(destination)
                    todo.remove(fmt)
        destinations = [output_path(source, fmt, output_dir) for fmt in todo]
        existing = existing_outputs(destinations)
        if existing and not overwrite:
            outcome.conflicts[job_id] = existing
            continue
        try:
            outcome.written += export_all(transcript, todo, source, output_dir, overwrite=overwrite)
        except ExportError as error:
            outcome.errors.append(str(error))
    return outcome
