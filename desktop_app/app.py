"""``verbatim``: the desktop application's entry point.

The window is shown before anything slow: the model loads on a background thread while the user
can already drop files. ``verbatim FILE...`` opens the window with those files queued, which is
what a file manager's "Open with" does; when a window is already running, the files go to it
instead and this process exits (:mod:`desktop_app.gui.single_instance`).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import signal
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from desktop_app import APP_NAME, __version__

if TYPE_CHECKING:
    from PySide6.QtCore import QObject
    from PySide6.QtWidgets import QWidget

logger = logging.getLogger(__name__)

#: Exit status when another Verbatim owns the job store and would not take the files.
EXIT_ALREADY_RUNNING = 1
#: How long a start that finds the store locked waits for its owner to open its socket.
OWNER_START_TIMEOUT_MS = 30_000
#: Signals that close the window as its close button does (Ctrl+C in the terminal, logout).
CLOSING_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="verbatim", description="Verbatim: private, offline speech-to-text (desktop window)."
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("files", nargs="*", help="audio or video files or folders to queue")
    # For benchmarks and smoke tests: quit once every queued job has finished, and write the
    # moments that matter (window shown, each job done) as JSON. Hidden from --help.
    parser.add_argument("--quit-when-done", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--timings", type=Path, help=argparse.SUPPRESS)
    return parser


class Timings:
    """Wall-clock moments (``time.time()``) written as JSON, so another process can compare."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.events: dict[str, float] = {"process_start": _process_start()}

    def mark(self, name: str) -> None:
        self.events.setdefault(name, time.time())

    def write(self) -> None:
        if self.path is not None:
            self.path.write_text(json.dumps(self.events, indent=2), encoding="utf-8")


def _process_start() -> float:
    """When this process started, where the platform says (else: now)."""
    try:
        ticks = os.sysconf("SC_CLK_TCK")
        with open("/proc/self/stat", encoding="ascii") as stat:
            started_ticks = int(stat.read().rsplit(")", 1)[1].split()[19])
        with open("/proc/uptime", encoding="ascii") as uptime:
            uptime_s = float(uptime.read().split()[0])
        return time.time() - uptime_s + started_ticks / ticks
    except (OSError, ValueError, IndexError):
        return time.time()


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    timings = Timings(args.timings)
    from desktop_app.core.memory import limit_malloc_arenas

    limit_malloc_arenas()  # before any worker thread exists
    from desktop_app.gui.background import favour_gui_thread

    favour_gui_thread()

    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    existing = QApplication.instance()
    app = existing if isinstance(existing, QApplication) else QApplication(sys.argv[:1])
    app.setApplicationName(APP_NAME)
    app.setApplicationDisplayName(APP_NAME)
    app.setApplicationVersion(__version__)
    closer = CloseOnSignals(app)

    # One window per user and data folder: a second ``verbatim FILE`` hands its files over.
    from desktop_app.core.errors import VerbatimError
    from desktop_app.core.job_store import StoreLock, StoreLockedError, default_store_path
    from desktop_app.gui.single_instance import SingleInstance

    try:
        instance = SingleInstance()
    except VerbatimError as error:  # no private folder for the socket
        return _refuse_to_start(str(error), args.quit_when_done)
    if instance.send(args.files):
        return 0
    try:
        store_lock = StoreLock.acquire(default_store_path())
    except StoreLockedError as error:
        # Another start owns the store: it may still be opening its socket.
        if instance.send(args.files, timeout_ms=OWNER_START_TIMEOUT_MS, retry=True):
            return 0
        return _refuse_to_start(str(error), args.quit_when_done)
    except VerbatimError:
        store_lock = None  # an unusable data folder: the window reports it itself
    if not instance.listen() and instance.send(args.files):
        return 0

    from desktop_app.composition import compose, startup_settings
    from desktop_app.core.jobs import JobState
    from desktop_app.core.logs import setup_logging
    from desktop_app.gui.errors import ErrorReporter
    from desktop_app.gui.main_window import MainWindow, app_icon

    settings, settings_problem = startup_settings(os.environ)  # a problem: the window shows it
    log_file = setup_logging(settings.log_level)
    logger.info("Starting %s %s", APP_NAME, __version__)
    app.setWindowIcon(app_icon())

    application = compose(settings, settings_problem=settings_problem)
    window = MainWindow(application=application)
    reporter = ErrorReporter(window, log_file)
    reporter.install()
    instance.files_received.connect(window.open_files_from_elsewhere)
    window.show()
    QTimer.singleShot(0, lambda: timings.mark("window_shown"))

    def on_state(job_id: str, state: JobState) -> None:
        job = window.queue.job(job_id)
        if job is not None and state is JobState.DONE:
            timings.mark(f"done:{job.name}")

    window.queue.job_state_changed.connect(on_state)
    window.model_state_changed.connect(lambda state: timings.mark(f"model_{state.value}"))
    if args.files:
        window.add_paths(args.files)
    if args.quit_when_done:
        window.batch_finished.connect(app.quit)
        window.files_added.connect(lambda outcome: outcome.accepted or app.quit())

    closer.watch(window)
    status = app.exec()
    closer.stop()
    instance.close()
    window.shutdown()
    if store_lock is not None:
        store_lock.release()
    reporter.uninstall()
    timings.mark("quit")
    timings.write()
    return int(status)


def _refuse_to_start(message: str, quietly: bool) -> int:
    """Say why no window opens: on stderr, and in a message box for a start from a desktop."""
    sys.stderr.write(f"verbatim: {message}\n")
    if not quietly:
        from PySide6.QtWidgets import QMessageBox

        QMessageBox.warning(None, APP_NAME, message)
    return EXIT_ALREADY_RUNNING


class CloseOnSignals:
    """Ctrl+C in the terminal (SIGINT) and SIGTERM close the window as its close button does,
    keeping unfinished jobs for the next start, even when the signal comes while it is still
    being built (it is then closed as soon as it is shown).

    Python runs a signal handler only between bytecodes, never while Qt's event loop waits in
    C++, so the signal also writes a byte to a socket pair that a Qt notifier watches: the
    loop wakes, and the handler runs on the GUI thread. The close itself is queued, so it also
    happens when the signal comes before the loop runs.
    """

    def __init__(self, app: QObject) -> None:
        import socket

        from PySide6.QtCore import QSocketNotifier

        self.requested = False
        self._window: QWidget | None = None
        self._reader, self._writer = socket.socketpair()
        self._reader.setblocking(False)
        self._writer.setblocking(False)
        self._notifier = QSocketNotifier(self._reader.fileno(), QSocketNotifier.Type.Read, app)
        self._notifier.activated.connect(self._drain)
        self._previous_fd = signal.set_wakeup_fd(self._writer.fileno())
        self._previous = {
            number: signal.signal(number, self._on_signal) for number in CLOSING_SIGNALS
        }

    def watch(self, window: QWidget) -> None:
        """The window to close; closed at once if a signal came while it was being built."""
        self._window = window
        if self.requested:
            self._close_soon()

    def stop(self) -> None:
        """Give the signals back their previous handlers (after the event loop)."""
        for number, handler in self._previous.items():
            signal.signal(number, handler)
        signal.set_wakeup_fd(self._previous_fd)
        self._notifier.setEnabled(False)
        self._reader.close()
        self._writer.close()

    def _on_signal(self, number: int, _frame: object) -> None:
        logger.info("Closing on signal %s", signal.Signals(number).name)
        self.requested = True
        self._close_soon()

    def _close_soon(self) -> None:
        from PySide6.QtCore import QTimer

        if self._window is not None:
            QTimer.singleShot(0, self._window.close)

    def _drain(self) -> None:
        with contextlib.suppress(OSError):
            self._reader.recv(64)
