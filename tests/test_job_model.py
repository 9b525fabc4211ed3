"""The job list's model under a big clean-up: removing k of n rows is one pass, not k."""

from __future__ import annotations

import time
from pathlib import Path

from desktop_app.core.jobs import Job
from desktop_app.core.transcriber import TranscriptionOptions
from desktop_app.core.transcript import Transcript
from desktop_app.gui.job_model import Column, JobTableModel
from desktop_app.job_queue import JobQueue
from tests.fakes import FakeEngine


def finished_jobs(queue: JobQueue, count: int, old_rows: list[int]) -> list[Job]:
    """``count`` finished jobs; those at ``old_rows`` finished two hours ago."""
    options = TranscriptionOptions()
    jobs = [
        queue.add_finished(Path(f"{index:05d}.wav"), Transcript(duration=1.0), options)
        for index in range(count)
    ]
    for row in old_rows:
        jobs[row].finished_at = time.time() - 7200
    return jobs


def test_a_clean_up_passes_the_model_tester(qtbot, qtmodeltester):
    """Qt's rules for removals, checked on every one (the tester is too slow for 20,000 rows)."""
    queue = JobQueue(FakeEngine(), max_workers=1, max_queue_size=5)
    old_rows = [0, 1, 2, 5, 7, 8, 40, 41, 199]
    jobs = finished_jobs(queue, 200, old_rows)
    model = JobTableModel(queue)
    qtmodeltester.check(model, force_py=True)  # and it watches the removals below
    assert len(queue.cleanup(max_age_hours=1)) == len(old_rows)
    kept = [job for row, job in enumerate(jobs) if row not in old_rows]
    assert [model.job_id(row) for row in range(model.rowCount())] == [job.id for job in kept]
    qtmodeltester.check(model, force_py=True)
    queue.shutdown()


def test_a_clean_up_of_5000_of_20000_rows_is_correct_and_reindexes_once(qtbot, monkeypatch):
    queue = JobQueue(FakeEngine(), max_workers=1, max_queue_size=5)
    # A leading block, 3,800 rows apart from each other, and a block in the middle.
    old_rows = [*range(1000), *range(1002, 1002 + 4 * 3800, 4), *range(18_000, 18_200)]
    assert len(old_rows) == 5000
    jobs = finished_jobs(queue, 20_000, old_rows)
    model = JobTableModel(queue)
    reindexes: list[int] = []
    real_reindex = JobTableModel._reindex

    def counting_reindex(self: JobTableModel) -> None:
        reindexes.append(1)
        real_reindex(self)

    monkeypatch.setattr(JobTableModel, "_reindex", counting_reindex)
    removals: list[tuple[int, int]] = []
    model.rowsRemoved.connect(lambda _parent, first, last: removals.append((first, last)))

    removed = queue.cleanup(max_age_hours=1)

    assert sorted(removed) == sorted(jobs[row].id for row in old_rows)
    assert len(reindexes) == 1
    assert len(removals) == 1 + 3800 + 1, "one removal per run of adjacent rows"
    kept = queue.jobs()
    assert model.rowCount() == len(kept) == 15_000
    assert [model.job_id(row) for row in range(model.rowCount())] == [job.id for job in kept]
    assert [model.index(row, Column.FILE).data() for row in range(model.rowCount())] == [
        job.name for job in kept
    ]
    assert all(model.row_of(job.id) == row for row, job in enumerate(kept))
    assert all(model.row_of(job_id) == -1 for job_id in removed)
    queue.shutdown()
