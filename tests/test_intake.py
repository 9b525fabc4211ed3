"""Intake: what becomes of dropped paths (decided without Qt) and the already-queued check."""

from __future__ import annotations

import threading
from pathlib import Path

from desktop_app.core.intake import (
    AddOutcome,
    BatchResult,
    add_paths,
    split_already_queued,
)
from desktop_app.core.jobs import Job
from desktop_app.core.transcriber import TranscriptionOptions
from desktop_app.job_queue import JobQueue
from tests.fakes import FakeEngine


def test_files_waiting_or_named_twice_are_split_off_in_order(tmp_path, monkeypatch):
    a, b, c = (tmp_path / name for name in ("a.wav", "b.wav", "c.wav"))
    monkeypatch.chdir(tmp_path)
    new, queued = split_already_queued([a, b, c, Path("b.wav"), a], queued=[c])
    assert new == [a, b]
    assert queued == [c, Path("b.wav"), a]


def test_the_outcome_is_one_message_with_every_file_in_the_details(tmp_path):
    refused = [tmp_path / f"late{i}.wav" for i in range(7)]
    outcome = AddOutcome(
        accepted=[Job(tmp_path / "one.wav", TranscriptionOptions())],
        refused=refused,
        refusal_reason="The queue is full.",
        already_queued=[tmp_path / "again.wav"],
        not_media=[tmp_path / "notes.txt"],
    )
    assert outcome.message() == (
        "Added 1 of 8 files; 7 refused. The queue is full. "
        "Skipped 1 file already waiting or running. "
        "1 not audio or video, so not added: notes.txt."
    )
    details = outcome.details().splitlines()
    assert all(str(path) in details for path in [*refused, tmp_path / "again.wav"])
    assert str(tmp_path / "notes.txt") in details
    assert AddOutcome(accepted=outcome.accepted).message() == "Added 1 file."


def test_add_paths_scans_folders_and_hands_the_media_to_the_queue(tmp_path):
    folder = tmp_path / "talks"
    folder.mkdir()
    (folder / "a.wav").write_bytes(b"x")
    (folder / "b.mp3").write_bytes(b"x")
    (folder / "readme.md").write_text("not audio")
    offered: list[list[Path]] = []

    def submit_many(files: list[Path]) -> BatchResult:
        offered.append(files)
        return BatchResult(
            accepted=[Job(files[0], TranscriptionOptions())],
            refused=[(files[1], "The queue is full.")],
        )

    outcome = add_paths([folder, tmp_path / "notes.txt"], submit_many)

    assert offered == [[folder / "a.wav", folder / "b.mp3"]]
    assert outcome.refused == [folder / "b.mp3"] and outcome.refusal_reason == "The queue is full."
    assert outcome.not_media == [tmp_path / "notes.txt"]


def test_two_drops_at_once_queue_each_file_once(qapp, tmp_path):
    gate = threading.Event()
    queue = JobQueue(FakeEngine(gate=gate), max_workers=2, max_queue_size=200)
    files = [tmp_path / f"f{i:03d}.wav" for i in range(150)]
    results: list[BatchResult] = []
    start = threading.Barrier(2)

    def drop() -> None:
        start.wait()
        results.append(queue.submit_many(files, skip_queued=True))

    try:
        threads = [threading.Thread(target=drop) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        accepted = [job.path for result in results for job in result.accepted]
        skipped = [path for result in results for path in result.already_queued]
        assert sorted(accepted) == files and sorted(skipped) == files
        assert len(queue.jobs()) == 150
    finally:
        gate.set()
        assert queue.shutdown(10_000)
