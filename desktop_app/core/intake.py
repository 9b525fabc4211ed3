"""What happens to dropped or chosen paths before they are jobs, for every face.

A drop is resolved in three steps, all off the GUI thread: folders are searched for media
(:func:`scan_paths`), the queue decides under its lock which files it takes (a file already
waiting or running is skipped, not queued twice; what does not fit is refused with the reason),
and :class:`AddOutcome` turns the result into one message, with the full list of files not added
for the user to see and copy. The window only shows the outcome.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from desktop_app.core.audio import find_media_files, is_media_file
from desktop_app.core.jobs import Job
from desktop_app.core.wording import plural

#: How many file names a one-line message lists before "and N more".
NAMES_SHOWN = 5


def names(paths: list[Path]) -> str:
    """The first few file names, then how many more: short enough for one line."""
    shown = ", ".join(path.name for path in paths[:NAMES_SHOWN])
    extra = len(paths) - NAMES_SHOWN
    return shown + (f" and {extra} more" if extra > 0 else "")


def path_key(path: Path) -> Path:
    """The form in which two paths name the same file, without touching the disk (the queue
    compares under its lock, where no disk I/O may happen)."""
    return Path(path).absolute()


def split_already_queued(
    paths: Iterable[Path], queued: Iterable[Path]
) -> tuple[list[Path], list[Path]]:
    """``(new, already_queued)``: ``queued`` are the files waiting or running; a path named
    twice in ``paths`` counts as queued the second time. Order is kept."""
    seen = {path_key(path) for path in queued}
    new: list[Path] = []
    duplicates: list[Path] = []
    for path in paths:
        key = path_key(path)
        if key in seen:
            duplicates.append(path)
        else:
            seen.add(key)
            new.append(path)
    return new, duplicates


@dataclass
class BatchResult:
    """What the queue did with a batch: every file is accepted, refused or already queued."""

    accepted: list[Job] = field(default_factory=list)
    refused: list[tuple[Path, str]] = field(default_factory=list)  # (file, reason)
    already_queued: list[Path] = field(default_factory=list)


@dataclass
class ScanResult:
    """Dropped or chosen paths, resolved: media files found, and what was set aside."""

    media: list[Path] = field(default_factory=list)
    not_media: list[Path] = field(default_factory=list)
    empty_folders: list[Path] = field(default_factory=list)


def scan_paths(paths: Iterable[Path]) -> ScanResult:
    """Expand folders recursively; named files that are not audio or video are set aside."""
    result = ScanResult()
    for path in paths:
        if path.is_dir():
            found = list(find_media_files([path]))
            result.media.extend(found)
            if not found:
                result.empty_folders.append(path)
        elif is_media_file(path):
            result.media.append(path)
        else:
            result.not_media.append(path)
    return result


@dataclass
class AddOutcome:
    """What one drop or Add did: the numbers the single message reports, and the files."""

    accepted: list[Job] = field(default_factory=list)
    refused: list[Path] = field(default_factory=list)
    refusal_reason: str = ""
    already_queued: list[Path] = field(default_factory=list)
    not_media: list[Path] = field(default_factory=list)
    empty_folders: list[Path] = field(default_factory=list)

    def message(self) -> str:
        """One message for the whole batch: added, refused and why, skipped and why."""
        parts: list[str] = []
        offered = len(self.accepted) + len(self.refused)
        if self.refused:
            parts.append(
                f"Added {len(self.accepted)} of {plural(offered, 'file')}; "
                f"{len(self.refused)} refused. {self.refusal_reason}"
            )
        elif self.accepted:
            parts.append(f"Added {plural(len(self.accepted), 'file')}.")
        if self.already_queued:
            parts.append(
                f"Skipped {plural(len(self.already_queued), 'file')} already waiting or running."
            )
        if self.not_media:
            parts.append(
                f"{len(self.not_media)} not audio or video, so not added: {names(self.not_media)}."
            )
        if self.empty_folders:
            parts.append(f"No audio or video files found in {names(self.empty_folders)}.")
        return " ".join(parts) or "Nothing to add."

    def details(self) -> str:
        """Every file not added, one full path a line under its reason, for the user to copy
        (the message names at most a few)."""
        sections = [
            ("Refused, the queue is full (add them again when jobs finish):", self.refused),
            ("Already waiting or running:", self.already_queued),
            ("Not audio or video:", self.not_media),
            ("Folders without audio or video:", self.empty_folders),
        ]
        return "\n\n".join(
            "\n".join([title, *(str(path) for path in paths)]) for title, paths in sections if paths
        )

    @property
    def needs_attention(self) -> bool:
        return bool(self.refused or self.not_media or self.empty_folders or self.already_queued)


def add_paths(
    paths: Iterable[Path], submit_many: Callable[[list[Path]], BatchResult]
) -> AddOutcome:
    """Scan ``paths`` and offer the media found to ``submit_many`` (the queue's, which skips
    files already queued and refuses what does not fit). Slow on big folders: call it off the
    GUI thread."""
    scan = scan_paths(paths)
    batch = submit_many(scan.media)
    return AddOutcome(
        accepted=batch.accepted,
        refused=[path for path, _reason in batch.refused],
        refusal_reason=batch.refused[0][1] if batch.refused else "",
        already_queued=batch.already_queued,
        not_media=scan.not_media,
        empty_folders=scan.empty_folders,
    )
