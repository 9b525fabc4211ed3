"""The window's background pool: each task's result comes back once, on the GUI thread, through
an emitter that outlives every task."""

from __future__ import annotations

import threading

import pytest

from desktop_app.gui.background import BackgroundTasks

main = threading.main_thread()


def test_results_come_back_on_the_gui_thread_through_one_long_lived_emitter(qtbot) -> None:
    tasks = BackgroundTasks()
    before = tasks.children()
    results: list[tuple[int, bool]] = []
    failures: list[str] = []

    def fail() -> None:
        raise ValueError("no such folder")

    for number in range(20):
        tasks.start(
            f"task {number}",
            lambda number=number: number,
            lambda result: results.append((result, threading.current_thread() is main)),
            pytest.fail,
        )
    tasks.start("Scanning", fail, pytest.fail, failures.append)
    # No object per task: one a worker emitted on could be deleted (once its result arrived)
    # while the worker was still inside the emit, which crashed the interpreter under load.
    assert tasks.children() == before
    qtbot.waitUntil(lambda: len(results) == 20 and len(failures) == 1)
    assert sorted(results) == [(number, True) for number in range(20)]
    assert failures == ["Scanning failed: no such folder"]
    assert tasks.wait()
