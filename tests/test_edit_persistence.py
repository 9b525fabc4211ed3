"""Proofreading edits in the job store (schema V4): stored as made, surviving a restart and a
``kill -9``, the machine's transcript kept for "Revert all", and every export using the edits."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pysubs2

from desktop_app.core import edits
from desktop_app.core.exporters import render
from desktop_app.core.job_store import MIGRATIONS, JobStore
from desktop_app.core.jobs import Job, JobState
from desktop_app.core.transcriber import TranscriptionOptions
from desktop_app.core.transcript import Segment, Transcript, Word
from desktop_app.job_queue import JobQueue
from tests.fakes import FakeEngine

REPO = Path(__file__).resolve().parent.parent

MACHINE = [
    Segment(
        0.0,
        2.0,
        " they're under the",
        (
            Word(0.0, 1.0, " they're", 0.3),
            Word(1.0, 1.5, " under", 0.4),
            Word(1.5, 2.0, " the", 0.9),
        ),
    ),
    Segment(
        2.5, 4.0, " law applies.", (Word(2.5, 3.0, " law", 0.9), Word(3.0, 4.0, " applies.", 0.9))
    ),
]


def _save(store: JobStore, job_id: str, new: list[Segment] | tuple[Segment, ...]) -> bool:
    """Store ``new`` as the queue does: only the rows that changed from what is stored."""
    old = store.read_segments(job_id)
    first, old_stop, new_stop = edits.changed_rows(old, new)
    return store.save_edits(job_id, first, old_stop, list(new[first:new_stop]))


def _done_job(path: Path) -> Job:
    transcript = Transcript(list(MACHINE), language="en", duration=4.0, model="tiny.en")
    return Job(
        path=path,
        options=TranscriptionOptions(),
        state=JobState.DONE,
        segments=list(MACHINE),
        transcript=transcript,
        progress=1.0,
    )


def test_edits_survive_a_restart_and_revert_all_restores_the_machine_text(tmp_path):
    store_path = tmp_path / "jobs.sqlite3"
    store = JobStore(store_path)
    assert store.schema_version == len(MIGRATIONS) == 4
    job = _done_job(tmp_path / "a.wav")
    store.add_job(job)
    edited = list(edits.set_text(tuple(MACHINE), 0, "thereunder the"))
    assert _save(store, job.id, edited)
    assert _save(store, job.id, edited[:1])  # a second edit keeps the first machine copy
    store.close()

    store = JobStore(store_path)
    (loaded,) = store.load().jobs
    assert loaded.segments == edited[:1]
    assert loaded.transcript is not None and loaded.transcript.text == "thereunder the"
    assert store.read_machine_segments(job.id) == MACHINE
    assert store.edited_job_ids() == {job.id}
    assert store.discard_edits(job.id)
    assert store.read_segments(job.id) == MACHINE  # exactly: text, times, words
    assert store.read_machine_segments(job.id) is None
    assert not store.discard_edits(job.id)
    store.close()


def test_an_edit_of_a_job_no_longer_done_is_not_stored(tmp_path):
    store = JobStore(tmp_path / "jobs.sqlite3")
    job = _done_job(tmp_path / "a.wav")
    store.add_job(job)
    job.state, job.segments, job.transcript = JobState.QUEUED, [], None
    store.requeue(job)  # re-transcribed meanwhile
    assert not store.save_edits(job.id, 0, 2, MACHINE[:1])
    assert store.read_segments(job.id) == []
    store.close()


def test_a_new_transcription_drops_the_old_machine_copy(tmp_path):
    store = JobStore(tmp_path / "jobs.sqlite3")
    job = _done_job(tmp_path / "a.wav")
    store.add_job(job)
    _save(store, job.id, MACHINE[:1])
    store.finish_job(job)  # a re-run's new transcript, stored as done
    assert store.read_machine_segments(job.id) is None
    store.close()


def test_edits_survive_a_kill_of_the_process_that_made_them(tmp_path):
    store_path = tmp_path / "jobs.sqlite3"
    store = JobStore(store_path)
    job = _done_job(tmp_path / "a.wav")
    store.add_job(job)
    store.close()
    script = textwrap.dedent(
        f"""
        import os, signal
        from pathlib import Path
        from desktop_app.core import edits
        from desktop_app.core.job_store import JobStore
        from tests.test_edit_persistence import _save
        store = JobStore(Path({str(store_path)!r}))
        segments = tuple(store.read_segments({job.id!r}))
        segments = edits.set_text(segments, 0, "thereunder the")
        segments = edits.merge_with_next(segments, 0)
        _save(store, {job.id!r}, segments)
        os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    child = subprocess.run([sys.executable, "-c", script], cwd=REPO, check=False, timeout=120)
    assert child.returncode == -signal.SIGKILL
    store = JobStore(store_path)
    (loaded,) = store.load().jobs
    assert [s.text for s in loaded.segments] == [" thereunder the law applies."]
    assert store.read_machine_segments(job.id) == MACHINE
    store.close()


def test_a_real_job_edited_exports_valid_srt_with_the_edited_text(
    qtbot, whisper_engine, corpus, tmp_path
):
    store = JobStore(tmp_path / "jobs.sqlite3")
    queue = JobQueue(whisper_engine, max_workers=1, max_queue_size=2, store=store)
    try:
        job = queue.submit(corpus / "jfk.flac").job
        assert job is not None
        qtbot.waitUntil(lambda: job.state.finished, timeout=120_000)
        assert job.state is JobState.DONE
        machine = tuple(job.segments)
        first = machine[0].text.replace("Americans", "citizens of the world")
        segments = edits.set_text(machine, 0, first)
        segments = edits.split(segments, 0, segments[0].text.index(" my"))
        segments = edits.merge_with_next(segments, 0)
        segments = edits.set_times(segments, 0, segments[0].start + 0.1, segments[0].end)
        segments, count = edits.replace_all(segments, "country", "nation")
        assert count >= 1
        assert queue.save_edits(job.id, segments)
        snapshot = queue.snapshot(job.id)
        assert snapshot is not None and snapshot.transcript is not None
        subtitles = pysubs2.SSAFile.from_string(render(snapshot.transcript, "srt"))
        text = " ".join(event.plaintext.replace("\n", " ") for event in subtitles)
        assert "citizens of the world" in text and "nation" in text and "country" not in text
        previous_end = 0
        for event in subtitles:
            assert event.start < event.end
            assert event.start >= previous_end
            previous_end = event.end
        assert queue.machine_segments(job.id) == list(machine)
        assert queue.discard_edits(job.id, machine)
        assert tuple(queue.snapshot(job.id).segments) == machine  # type: ignore[union-attr]
        assert queue.edited_ids() == set()
    finally:
        assert queue.shutdown(30_000)
        store.close()


def test_the_read_only_listing_reads_the_edited_text(tmp_path):
    """``verbatim-cli jobs`` reads the store read-only: it sees the edits like every face."""
    store_path = tmp_path / "jobs.sqlite3"
    store = JobStore(store_path)
    job = _done_job(tmp_path / "a.wav")
    store.add_job(job)
    _save(store, job.id, edits.set_text(tuple(MACHINE), 0, "thereunder the"))
    reader = JobStore(store_path, read_only=True)
    assert reader.read_segments(job.id)[0].text == " thereunder the"
    reader.close()
    store.close()
    assert os.path.exists(store_path)


def test_only_changed_rows_are_written_and_later_rows_move_with_splits_and_merges(tmp_path):
    store = JobStore(tmp_path / "jobs.sqlite3")
    many = [
        Segment(
            i * 2.0,
            i * 2.0 + 1.5,
            f" row {i} a b",
            (
                Word(i * 2.0, i * 2.0 + 0.5, " row", 0.9),
                Word(i * 2.0 + 0.5, i * 2.0 + 1.0, f" {i}", 0.9),
                Word(i * 2.0 + 1.0, i * 2.0 + 1.2, " a", 0.9),
                Word(i * 2.0 + 1.2, i * 2.0 + 1.5, " b", 0.9),
            ),
        )
        for i in range(30)
    ]
    job = _done_job(tmp_path / "a.wav")
    job.segments = list(many)
    store.add_job(job)
    segments = tuple(many)
    for step in (
        lambda s: edits.split(s, 3, s[3].text.index(" a")),
        lambda s: edits.split(s, 10, s[10].text.index(" b")),
        lambda s: edits.merge_with_next(s, 20),
        lambda s: edits.set_text(s, 29, "the end"),
        lambda s: edits.merge_with_next(s, 0),
    ):
        segments = step(segments)
        assert _save(store, job.id, segments)
        assert tuple(store.read_segments(job.id)) == segments
    store.close()


def test_a_rewrite_after_write_failures_keeps_the_machine_copy(tmp_path):
    """The queue rewrites the whole store once it can be written again: the machine's segments
    of an edited job exist only in the store, so the rewrite must carry them over."""
    store = JobStore(tmp_path / "jobs.sqlite3")
    job = _done_job(tmp_path / "a.wav")
    store.add_job(job)
    edited = list(edits.set_text(tuple(MACHINE), 0, "thereunder the"))
    assert _save(store, job.id, edited)
    job.segments = edited
    store.rewrite([job], [], [])
    assert store.read_segments(job.id) == edited
    assert store.read_machine_segments(job.id) == MACHINE
    store.close()


def test_a_located_recording_is_the_jobs_after_a_restart(tmp_path):
    """Locate… hands the queue the recording's new place: the job keeps it in the store."""
    store = JobStore(tmp_path / "jobs.sqlite3")
    queue = JobQueue(FakeEngine(), max_workers=1, max_queue_size=2, store=store)
    job = queue.add_finished(
        tmp_path / "gone" / "speech.wav",
        Transcript(list(MACHINE), language="en", duration=4.0),
        TranscriptionOptions(),
    )
    moved = tmp_path / "moved" / "speech.wav"
    assert queue.relocate(job.id, moved)
    assert not queue.relocate("no such job", moved)
    assert queue.shutdown(10_000)
    again = JobQueue(FakeEngine(), max_workers=1, max_queue_size=2, store=store)
    again.restore()
    (restored,) = again.jobs()
    assert restored.path == moved
    assert tuple(restored.segments) == tuple(MACHINE)  # the transcript is the same
    assert again.shutdown(10_000)
    store.close()
