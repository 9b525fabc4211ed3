"""The window's job flow (issue 10, the window): re-drops, drops off the GUI thread, the
transcript's header and segments, the shortcut table, a status bar that never goes stale, and
plurals and durations in the list."""

from __future__ import annotations

import threading
from collections import Counter
from pathlib import Path
from typing import Any

from PySide6.QtGui import QAction, QKeySequence, QShortcut
from PySide6.QtWidgets import QAbstractButton, QApplication

from desktop_app.core.errors import JobCancelled, NotDecodableError
from desktop_app.core.job_store import JobStore
from desktop_app.core.jobs import Job, JobState
from desktop_app.core.store_writer import StoreWrite
from desktop_app.core.transcriber import TranscriptionOptions
from desktop_app.core.transcript import Segment, Transcript
from desktop_app.gui.job_model import Column, JobRole, JobTableModel
from desktop_app.gui.main_window import MainWindow
from desktop_app.gui.transcript_view import NO_JOB_HINT, TranscriptView, segment_line
from desktop_app.gui.window_actions import Command
from desktop_app.job_queue import JobQueue
from tests.fakes import FakeEngine


def _touch(folder: Path, count: int, stem: str = "talk") -> list[Path]:
    files = []
    for index in range(count):
        path = folder / f"{stem}{index}.wav"
        path.write_bytes(b"RIFF")
        files.append(path)
    return files


def _lines(window: MainWindow) -> list[str]:
    return window.transcript.text.toPlainText().splitlines()


class StepEngine:
    """Moves when the test says so: once ``go`` is set, a job reports each of ``progress`` with
    one segment, then waits for ``release``. A file named ``bad`` fails its first attempt."""

    def __init__(self, progress: list[float]) -> None:
        self.progress = progress
        self.go = threading.Event()
        self.go.set()
        self.release = threading.Event()
        self.attempts: Counter[str] = Counter()

    def transcribe(
        self, path: Path, options: TranscriptionOptions, *, on_segment, on_progress, **kw: Any
    ) -> Transcript:
        self.attempts[path.name] += 1
        if "bad" in path.name and self.attempts[path.name] == 1:
            raise NotDecodableError(path, "cannot be decoded.")
        transcript = Transcript(duration=10.0, model="fake", source=str(path))
        while not self.go.wait(0.01):
            if kw["is_cancelled"]():
                raise JobCancelled()
        for index, fraction in enumerate(self.progress):
            segment = Segment(float(index), index + 1.0, f"words {index}")
            transcript.segments.append(segment)
            on_segment(segment)
            on_progress(fraction)
        while not self.release.wait(0.01):
            if kw["is_cancelled"]():
                raise JobCancelled()
        return transcript


# ----------------------------------------------------------------- 1. re-dropping after a refusal
def test_a_second_drop_skips_queued_files_and_adds_the_refused_ones(
    make_window, drop, qtbot, tmp_path
):
    gate = threading.Event()
    window = make_window(FakeEngine(gate=gate), workers=1, queue_size=3)
    files = _touch(tmp_path, 6)

    first = drop(window, files)

    assert [job.path for job in first.accepted] == files[:4]
    assert first.refused == files[4:]
    # The refused files can be seen and copied: full paths under "Show Details".
    assert window.notice.details_button.isVisibleTo(window)
    window.notice.details_button.click()
    box = window.notice.details_box
    assert box is not None and box.isVisible()
    details = box.detailedText()
    assert all(str(path) in details for path in files[4:])
    box.close()

    window.queue.set_limits(max_queue_size=5)  # two more places
    second = drop(window, files)

    assert [job.path for job in second.accepted] == files[4:]
    assert second.already_queued == files[:4] and not second.refused
    assert "Added 2 files. Skipped 4 files already waiting or running." in window.notice.text()
    listed = [window.model.index(row, 0).data(JobRole.PATH) for row in range(6)]
    assert sorted(listed) == sorted(str(path) for path in files)
    gate.set()


def test_a_file_that_finished_can_be_added_again(make_window, drop, qtbot, tmp_path):
    window = make_window(FakeEngine(segments=1), workers=1, queue_size=3)
    files = _touch(tmp_path, 1)
    drop(window, files)
    qtbot.waitUntil(lambda: window.model.index(0, 0).data(JobRole.STATE) == "done")

    again = drop(window, files)

    assert len(again.accepted) == 1 and not again.already_queued


# ----------------------------------------------------------------- 2. a drop off the GUI thread
def test_a_drop_is_scanned_and_decided_off_the_gui_thread(make_window, drop, tmp_path):
    window = make_window(FakeEngine(segments=1), workers=2, queue_size=50)
    folder = tmp_path / "many"
    folder.mkdir()
    files = _touch(folder, 40)
    threads: list[threading.Thread] = []
    submit_many = window.queue.submit_many

    def watched(*args: Any, **kwargs: Any) -> Any:
        threads.append(threading.current_thread())
        return submit_many(*args, **kwargs)

    window.queue.submit_many = watched  # type: ignore[method-assign]

    outcome = drop(window, [folder])

    assert sorted(job.path for job in outcome.accepted) == sorted(files)
    assert threads and threading.main_thread() not in threads
    assert window.model.rowCount() == 40


# ----------------------------------------------------------------- 3. the transcript's header
def test_the_header_follows_the_progress_of_the_selected_running_job(
    make_window, drop, qtbot, tmp_path
):
    engine = StepEngine([0.25, 0.54])
    engine.go.clear()
    window = make_window(engine, workers=1, queue_size=3)
    drop(window, _touch(tmp_path, 1, "long"))
    job_id = window.model.job_id(0)
    window.select_job(job_id)
    qtbot.waitUntil(lambda: window.transcript.title.text() == "long0.wav — running, 0%")

    # Progress is announced at once, a segment once stored (by the writer thread): on a busy
    # computer the header leads the text (the suite once read the text empty at 54%). Holding
    # the writer makes that moment certain; the text follows once the writes are done.
    stored = threading.Event()
    window.queue._writer.submit(StoreWrite(None, lambda: stored.wait(10)))
    engine.go.set()
    qtbot.waitUntil(lambda: window.transcript.title.text() == "long0.wav — running, 54%")
    assert window.model.index(0, Column.PROGRESS).data() == "54%"
    assert _lines(window) == []
    stored.set()
    qtbot.waitUntil(
        lambda: _lines(window) == ["[0:00.0 → 0:01.0]  words 0", "[0:01.0 → 0:02.0]  words 1"]
    )
    engine.release.set()
    qtbot.waitUntil(lambda: window.transcript.title.text().startswith("long0.wav — done"))
    assert window.transcript.title.text().endswith("2 segments)")


def test_a_running_job_without_text_yet_does_not_ask_to_select_a_job(
    make_window, drop, qtbot, tmp_path
):
    engine = StepEngine([])
    window = make_window(engine, workers=1, queue_size=3)
    drop(window, _touch(tmp_path, 1))
    window.select_job(window.model.job_id(0))
    qtbot.waitUntil(lambda: window.transcript.title.text().endswith("running, 0%"))
    assert window.transcript.text.toPlainText() == ""
    assert window.transcript.text.placeholderText() != NO_JOB_HINT
    assert "Transcribing" in window.transcript.text.placeholderText()
    engine.release.set()


# ----------------------------------------------------------------- 4. segments never twice
def test_a_segment_already_in_the_shown_snapshot_is_not_shown_again(
    make_window, drop, qtbot, tmp_path, monkeypatch
):
    """The store write between a segment's append and its signal is held open while the window
    shows the job: the view then holds the segment, and the late signal must not add it again."""
    shown = threading.Event()
    write = JobStore.append_segment

    def slow_append(store: JobStore, job_id: str, index: int, segment: Segment) -> None:
        assert shown.wait(10)
        write(store, job_id, index, segment)

    monkeypatch.setattr(JobStore, "append_segment", slow_append)
    engine = StepEngine([0.5])
    store = JobStore(tmp_path / "jobs.sqlite3")
    queue = JobQueue(engine, max_workers=1, max_queue_size=3, store=store)
    window = MainWindow(settings=None, queue=queue, environ={})
    qtbot.addWidget(window)
    try:
        job = queue.submit(_touch(tmp_path, 1)[0]).job
        assert job is not None
        qtbot.waitUntil(lambda: len(job.segments) == 1)  # appended; its signal not yet sent
        window.select_job(job.id)
        window.transcript_follow.refresh([job.id])
        assert _lines(window) == ["[0:00.0 → 0:01.0]  words 0"]
        with qtbot.waitSignal(queue.segment_added):
            shown.set()
        assert _lines(window) == ["[0:00.0 → 0:01.0]  words 0"]
    finally:
        shown.set()
        engine.release.set()
        assert queue.shutdown(10_000)
        window.shutdown()
        store.close()


def test_segments_arrive_while_the_gui_rereads_the_job_1000_times(
    make_window, drop, qtbot, tmp_path
):
    """Stress: the GUI re-reads the running job and handles queued updates a thousand times
    while a worker adds segments; at every step the pane shows each segment exactly once, in
    order, and at the end all of them."""
    total = 1000
    window = make_window(FakeEngine(segments=total, segment_seconds=0.0005), 1, 3)
    path = _touch(tmp_path, 1, "stress")[0]
    drop(window, [path])
    job_id = window.model.job_id(0)
    window.select_job(job_id)
    expected = [
        segment_line(Segment(float(i), i + 1.0, f"segment {i} of {path.name}"))
        for i in range(total)
    ]

    def check() -> None:
        lines = [line for line in _lines(window) if line.startswith("[")]
        assert lines == expected[: len(lines)], "a segment is doubled, missing or out of order"

    for iteration in range(1000):
        if iteration % 3 == 0:
            window.transcript_follow.refresh_one(job_id)  # what selecting the job again does
        QApplication.processEvents()
        check()
    qtbot.waitUntil(lambda: window.model.index(0, 0).data(JobRole.STATE) == "done", timeout=60_000)
    # The row can read "done" before the pane hears it (the row reads the job, the pane the
    # announcements made once stored): wait for the pane's own sign, the editor it opens.
    qtbot.waitUntil(lambda: window.transcript.editing, timeout=60_000)
    assert _lines(window) == expected


def test_snapshots_do_not_change_when_the_job_does(qtbot, tmp_path):
    gate = threading.Event()
    queue = JobQueue(FakeEngine(segments=3, gate=gate), max_workers=1, max_queue_size=3)
    try:
        job = queue.submit(tmp_path / "a.wav").job
        assert job is not None
        before = queue.snapshot(job.id)
        assert before is not None and before.state is JobState.RUNNING
        gate.set()
        qtbot.waitUntil(lambda: job.state is JobState.DONE)
        assert before.segments == () and before.progress == 0.0 and before.transcript is None
        after = queue.snapshot(job.id)
        assert after is not None and len(after.segments) == 3
    finally:
        gate.set()
        assert queue.shutdown(10_000)


# ----------------------------------------------------------------- 5. one key, one command
def _bindings(window: MainWindow) -> list[tuple[str, str]]:
    """(key, owner) for every shortcut in the window: actions, buttons (mnemonics included)
    and stand-alone shortcuts, in every tab."""
    found: list[tuple[str, str]] = []

    def add(keys: list[QKeySequence], owner: str) -> None:
        for key in keys:
            text = key.toString(QKeySequence.SequenceFormat.PortableText)
            if text:
                found.append((text, owner))

    actions = {id(a): a for a in [*window.actions(), *window.findChildren(QAction)]}
    for action in actions.values():
        add(action.shortcuts(), f"action {action.text()!r}")
    for button in window.findChildren(QAbstractButton):
        add([button.shortcut()], f"button {button.text()!r}")
    for shortcut in window.findChildren(QShortcut):
        add([shortcut.key()], "shortcut")
    return found


def test_no_key_is_bound_twice_across_the_window(make_window):
    window = make_window(FakeEngine(), workers=1, queue_size=3)
    assert window.tabs.count() == 2, "the Live panel takes part in this check"
    bindings = _bindings(window)
    keys = Counter(key for key, _owner in bindings)
    twice = {key: [o for k, o in bindings if k == key] for key, n in keys.items() if n > 1}
    assert not twice, f"keys bound twice: {twice}"
    assert ("Ctrl+R", "action '&Retry'") in bindings


# ----------------------------------------------------------------- 6. a status bar that is true
def test_the_finished_message_goes_when_a_retried_job_runs(make_window, drop, qtbot, tmp_path):
    engine = StepEngine([])
    engine.release.set()
    window = make_window(engine, workers=1, queue_size=3)
    files = [tmp_path / "good.wav", tmp_path / "bad.wav"]
    for path in files:
        path.write_bytes(b"x")
    with qtbot.waitSignal(window.batch_finished, timeout=10_000):
        drop(window, files)
    assert window.statusBar().currentMessage() == "All jobs finished: 1 done, 1 failed."

    engine.release.clear()
    window.select_job(window.model.job_id(1))
    window.commands[Command.RETRY].trigger()
    qtbot.waitUntil(lambda: window.model.index(1, 0).data(JobRole.STATE) == "running")
    assert "All jobs finished" not in window.statusBar().currentMessage()
    with qtbot.waitSignal(window.batch_finished, timeout=10_000):
        engine.release.set()
    assert window.statusBar().currentMessage() == "All jobs finished: 1 done."


def test_exporting_ends_when_the_user_keeps_the_existing_files(
    make_window, drop, qtbot, tmp_path, monkeypatch
):
    window = make_window(FakeEngine(segments=1), workers=1, queue_size=3)
    source = tmp_path / "speech.wav"
    source.write_bytes(b"x")
    drop(window, [source])
    qtbot.waitUntil(lambda: window.model.index(0, 0).data(JobRole.STATE) == "done")
    job_id = window.model.job_id(0)
    out = tmp_path / "out"
    with qtbot.waitSignal(window.export_finished):
        window.export_jobs([job_id], ["txt"], out)
    assert window.statusBar().currentMessage() == f"Exported 1 file to {out}."
    monkeypatch.setattr(window.export_flow, "confirm_overwrite", lambda _existing: False)

    with qtbot.waitSignal(window.export_finished):
        window.export_jobs([job_id], ["txt", "srt"], out)

    assert window.statusBar().currentMessage() == "Kept 1 existing file; 1 transcript not exported."


# ----------------------------------------------------------------- 7. plurals and durations
def test_one_of_a_thing_is_counted_in_the_singular(make_window, drop, qtbot, tmp_path):
    window = make_window(FakeEngine(segments=1), workers=1, queue_size=3)
    path = _touch(tmp_path, 1)[0]
    outcome = drop(window, [path, tmp_path / "notes.txt"])
    assert outcome.message().startswith("Added 1 file.")
    window.select_job(window.model.job_id(0))
    qtbot.waitUntil(lambda: window.transcript.title.text().startswith("talk0.wav — done"))
    assert window.transcript.title.text().endswith("1 segment)")


def test_a_queued_row_shows_its_duration(make_window, drop, qtbot, corpus, tmp_path):
    gate = threading.Event()
    window = make_window(FakeEngine(gate=gate), workers=1, queue_size=3)
    first = _touch(tmp_path, 1)[0]

    drop(window, [first, corpus / "jfk.flac"])

    assert window.model.index(1, Column.STATE).data() == "Queued"
    qtbot.waitUntil(lambda: window.model.index(1, Column.DURATION).data() == "0:11")
    gate.set()


def test_a_row_inserted_after_its_job_changed_shows_the_change(qtbot, tmp_path):
    """A worker can start a dropped job before the batch's ``jobs_added`` reaches the model;
    the row must then show the job as it is, not the snapshot taken when it was added."""
    gate = threading.Event()
    queue = JobQueue(FakeEngine(gate=gate), max_workers=1, max_queue_size=3)
    try:
        model = JobTableModel(queue)
        queue.jobs_added.disconnect(model._on_batch_added)  # hold the insertion back
        batches: list[Any] = []
        queue.jobs_added.connect(batches.append)
        queue.submit_many([tmp_path / "a.wav"])
        (added,) = batches
        job_id = added[0].id
        assert added[0].state is JobState.RUNNING
        queue.cancel(job_id)  # the job changes; its update reaches the model before its row
        qtbot.waitUntil(lambda: queue.job(job_id).state is JobState.CANCELLED)  # type: ignore
        model._on_state(job_id, JobState.CANCELLED.value)

        model._on_batch_added(added)

        assert model.index(0, Column.STATE).data() == "Cancelled"
    finally:
        gate.set()
        assert queue.shutdown(10_000)


def test_rows_are_up_to_date_when_the_queue_says_it_is_idle(qtbot, tmp_path):
    """Two workers' signals can cross: one's "done" may arrive after the other's "idle". When
    the queue is idle, no row may still show a job as running."""
    queue = JobQueue(FakeEngine(segments=1), max_workers=1, max_queue_size=3)
    try:
        model = JobTableModel(queue)
        queue.job_state_changed.disconnect(model._on_state)  # "done" is late, indefinitely
        queue.job_progress.disconnect(model._on_progress)
        with qtbot.waitSignal(queue.idle, timeout=10_000):
            queue.submit(tmp_path / "a.wav")
        assert model.index(0, Column.STATE).data() == "Done"
    finally:
        assert queue.shutdown(10_000)


def test_a_failed_search_says_so_and_leaves_no_searching_message(
    make_window, qtbot, tmp_path, monkeypatch
):
    window = make_window(FakeEngine(), workers=1, queue_size=3)

    def unreadable(*_args: Any) -> Any:
        raise PermissionError(f"[Errno 13] Permission denied: '{tmp_path}'")

    monkeypatch.setattr("desktop_app.core.intake.add_paths", unreadable)
    with qtbot.waitSignal(window.notice_shown) as notice:
        window.add_paths([tmp_path])
    assert "Permission denied" in notice.args[0]
    assert window.statusBar().currentMessage() == ""


def test_updates_a_finished_transcript_already_holds_are_ignored(qtbot):
    """The pane counts a finished job's segments as shown, like a running job's, so an update
    it already holds changes nothing (it used to clear the pane and start again)."""
    view = TranscriptView()
    qtbot.addWidget(view)
    segments = [Segment(0.0, 1.0, "first"), Segment(1.0, 2.0, "second")]
    job = Job(Path("done.wav"), TranscriptionOptions(), state=JobState.DONE, progress=1.0)
    job.segments = list(segments)
    job.transcript = Transcript(segments=list(segments), duration=2.0)
    view.show_job(job.snapshot())
    shown = view.text.toPlainText()

    view.append_segment(job.id, 0, segments[0])

    assert view.text.toPlainText() == shown
    assert shown.splitlines() == [segment_line(segment) for segment in segments]
