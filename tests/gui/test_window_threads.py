"""Closing the window joins every thread its work started: none is left to run while the
interpreter exits (a thread still running Python code during finalization can crash it: a
fatal error after every test had passed)."""

from __future__ import annotations

import threading

from desktop_app.core.jobs import JobState
from desktop_app.core.settings import load_settings
from desktop_app.gui.main_window import MainWindow
from tests.conftest import LIBRARY_DAEMONS
from tests.fakes import FakeEngine


def started_since(before: set[threading.Thread]) -> list[str]:
    """Threads alive now that were not before, less the libraries' own daemons and Qt's pool
    threads (idle in C++ once their pool is done; the queue's tests check the pools)."""
    return [
        thread.name
        for thread in threading.enumerate()
        if thread not in before and not (thread.daemon and thread.name.startswith(LIBRARY_DAEMONS))
    ]


def test_closing_the_window_joins_the_store_writer_and_the_edit_saver(qtbot, tmp_path) -> None:
    before = set(threading.enumerate())
    settings = load_settings(environ={}, saved={})
    window = MainWindow(settings=settings, engine=FakeEngine(segments=3), environ={})
    qtbot.addWidget(window)
    assert window.application.owns_queue and window.queue.store is not None
    job = window.queue.submit(tmp_path / "speech.wav").job
    assert job is not None
    qtbot.waitUntil(lambda: job.state is JobState.DONE, timeout=10_000)
    editor = window.transcript.editor
    assert editor is not None
    saving = threading.Event()
    written: list[bool] = []
    editor.saver.put(job.id, lambda: written.append(saving.wait(10)))  # still being written
    assert set(started_since(before)) == {"store-writer", "Edit saver"}

    saving.set()
    window.close()

    assert written == [True]
    assert started_since(before) == []
