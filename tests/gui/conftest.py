"""Window fixtures: every window is shut down, and its queue idle, before the test ends; every
test has its own data folder, so stored jobs never leak from one test into the next."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication

from desktop_app.core.intake import AddOutcome
from desktop_app.core.settings import SETTINGS, load_settings
from desktop_app.gui.main_window import MainWindow
from desktop_app.gui.preferences import Preferences
from desktop_app.job_queue import JobQueue
from desktop_app.saved_settings import save


@pytest.fixture(scope="session", autouse=True)
def _sound_server_before_any_window(request) -> None:
    """Qt Multimedia lists the sound devices once, when the first player is made, and every
    window has a player: the session's sound server must be up before the first window, or the
    playback tests find no output device for the rest of the session."""
    if shutil.which("pulseaudio") is not None:
        request.getfixturevalue("virtual_mic")


@pytest.fixture(autouse=True)
def _own_data_folder(tmp_path_factory, monkeypatch) -> Path:
    """Each test its own user data folder: a window that opens the default job store (or a
    single-instance server named after that folder) never sees another test's jobs."""
    folder = tmp_path_factory.mktemp("data")
    monkeypatch.setenv("XDG_DATA_HOME", str(folder))
    return folder


@pytest.fixture
def make_window(qtbot) -> Iterator[Any]:
    """Build a window over a queue of the given engine and limits; clean up after the test."""
    made: list[tuple[MainWindow, JobQueue]] = []

    def make(engine: Any, workers: int = 2, queue_size: int = 3) -> MainWindow:
        queue = JobQueue(engine, max_workers=workers, max_queue_size=queue_size)
        settings = load_settings(
            environ={},
            saved={"max_concurrent_workers": workers, "max_queue_size": queue_size},
        )
        window = MainWindow(settings=settings, queue=queue, environ={})
        qtbot.addWidget(window)
        made.append((window, queue))
        return window

    yield make
    for window, queue in made:
        assert queue.shutdown(30_000)
        window.shutdown()
    # Settings and window preferences saved by a test must not leak into the next one (an
    # auto-export folder left behind made a later test's export notice name another folder).
    save({spec.name: None for spec in SETTINGS})
    Preferences().save()


@pytest.fixture
def drop(qtbot) -> Any:
    """Drop local paths on a window as a file manager does (text/uri-list URLs)."""

    def do_drop(window: MainWindow, paths: list[Path]) -> AddOutcome:
        mime = QMimeData()
        mime.setUrls([QUrl.fromLocalFile(str(path)) for path in paths])
        assert "text/uri-list" in mime.formats()
        # Qt delivers a drop only to the widget that accepted the drag's entry, as in real life.
        # PySide6 6.11 takes an integer QPoint for the entry and a QPointF for the drop.
        enter = QDragEnterEvent(
            QPoint(20, 20),
            Qt.DropAction.CopyAction,
            mime,
            Qt.MouseButton.NoButton,
            Qt.KeyboardModifier.NoModifier,
        )
        QApplication.sendEvent(window, enter)
        assert enter.isAccepted()
        event = QDropEvent(
            QPointF(20, 20),
            Qt.DropAction.CopyAction,
            mime,
            Qt.MouseButton.NoButton,
            Qt.KeyboardModifier.NoModifier,
        )
        with qtbot.waitSignal(window.files_added, timeout=10_000) as blocker:
            QApplication.sendEvent(window, event)
        return blocker.args[0]

    return do_drop
