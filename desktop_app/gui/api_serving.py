"""The window's "Serve on this computer": the local server on the window's own queue.

Starting (importing the web stack, binding, starting uvicorn) and stopping (letting requests in
flight finish) take a moment, so both run on a thread of their own; the outcome comes back to
the GUI thread as a queued signal. The GUI thread never waits on them, except at shutdown.
"""

from __future__ import annotations

import logging
import threading

from PySide6.QtCore import QObject, Signal

from desktop_app.core.errors import VerbatimError
from desktop_app.core.settings import Settings
from desktop_app.job_queue import JobQueue

logger = logging.getLogger(__name__)


class WindowServer(QObject):
    started = Signal(str)  # the address it serves on
    failed = Signal(str)  # why it could not start, for the notice bar
    stopped = Signal()

    def __init__(self, queue: JobQueue, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.queue = queue
        self._server: object | None = None  # an ApiServer while serving
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []

    @property
    def serving(self) -> bool:
        with self._lock:
            return self._server is not None

    def apply(self, enabled: bool, settings: Settings) -> None:
        """Serve (with these settings) or stop serving; a change of address restarts it."""
        self._run(lambda: self._apply(enabled, settings), "verbatim-window-serve")

    def stop(self) -> None:
        """At shutdown: stop serving and wait for it (the queue is stopped next)."""
        self._run(self._stop, "verbatim-window-serve-stop")
        for thread in self._threads:
            thread.join()
        self._threads.clear()

    def _run(self, work: object, name: str) -> None:
        self._threads = [thread for thread in self._threads if thread.is_alive()]
        thread = threading.Thread(target=work, name=name, daemon=True)  # type: ignore[arg-type]
        self._threads.append(thread)
        thread.start()

    def _apply(self, enabled: bool, settings: Settings) -> None:
        with self._lock:
            from desktop_app.server.runner import ApiServer

            current = self._server
            if isinstance(current, ApiServer):
                if enabled and current.config.settings == settings:
                    return
                current.stop()
                self._server = None
                self.stopped.emit()
            if not enabled:
                return
            server = ApiServer(self.queue, settings)
            try:
                server.start()
            except VerbatimError as error:
                server.stop()
                self.failed.emit(f"Not serving on this computer: {error}")
                return
            except Exception as error:
                logger.exception("The local server could not start")
                server.stop()
                self.failed.emit(f"Not serving on this computer: {error}. See the log.")
                return
            self._server = server
            self.started.emit(server.url)

    def _stop(self) -> None:
        with self._lock:
            from desktop_app.server.runner import ApiServer

            if isinstance(self._server, ApiServer):
                self._server.stop()
                self._server = None
                self.stopped.emit()
