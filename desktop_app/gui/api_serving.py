"""The window's "Serve on this computer": the local server on the window's own queue.

Starting (importing the web stack, binding, starting uvicorn, saving a generated access token)
and stopping (letting requests in flight finish) take a moment, so both run on a thread of their
own; the outcome comes back to the GUI thread as a queued signal, and :attr:`WindowServer.address`
says where it serves now without a lock. The GUI thread never waits on them, except at shutdown.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Signal

from desktop_app.core.errors import VerbatimError
from desktop_app.core.settings import Settings
from desktop_app.job_queue import JobQueue

if TYPE_CHECKING:  # imported when serving starts: the web stack takes a moment to import
    from desktop_app.server.runner import ApiServer

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ServingAddress:
    """Where the window serves, for Settings to show: what another program needs to connect.

    ``token`` is empty on loopback, where the server asks for none."""

    url: str
    token: str


class WindowServer(QObject):
    started = Signal(str)  # the address it serves on
    failed = Signal(str)  # why it could not start, for the notice bar
    stopped = Signal()

    def __init__(self, queue: JobQueue, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.queue = queue
        self._server: ApiServer | None = None
        self._lock = threading.Lock()  # held while starting or stopping: never on the GUI thread
        self._threads: list[threading.Thread] = []
        #: Set once the server answers, None while it does not; replaced whole, read without a lock.
        self.address: ServingAddress | None = None

    @property
    def serving(self) -> bool:
        return self.address is not None

    def apply(self, enabled: bool, settings: Settings) -> None:
        """Serve (with these settings) or stop serving; a change of address restarts it."""
        self._run(lambda: self._apply(enabled, settings), "verbatim-window-serve")

    def stop(self) -> None:
        """At shutdown: stop serving and wait for it (the queue is stopped next)."""
        self._run(self._stop, "verbatim-window-serve-stop")
        for thread in self._threads:
            thread.join()
        self._threads.clear()

    def _run(self, work: Callable[[], None], name: str) -> None:
        """Run ``work`` on a thread of its own, after the work asked for before it: serving
        switched on then off at once must end off, whichever thread the system runs first."""
        earlier = [thread for thread in self._threads if thread.is_alive()]

        def in_order() -> None:
            for thread in earlier:
                thread.join()
            work()

        thread = threading.Thread(target=in_order, name=name, daemon=True)
        self._threads = [*earlier, thread]
        thread.start()

    def _apply(self, enabled: bool, settings: Settings) -> None:
        with self._lock:
            from desktop_app.server.config import ensure_token
            from desktop_app.server.runner import ApiServer

            if enabled:
                try:
                    settings = ensure_token(settings)
                except Exception as error:  # a saved token that is not valid, an unwritable file
                    logger.exception("No access token for the local server")
                    self.failed.emit(f"Not serving on this computer: no access token: {error}")
                    return
            current = self._server
            if current is not None:
                if enabled and current.config.settings == settings:
                    return
                self._stop_locked(current)
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
            token = settings.api_token if server.config.token_required else ""
            self.address = ServingAddress(server.url, token)
            self.started.emit(server.url)

    def _stop(self) -> None:
        with self._lock:
            if self._server is not None:
                self._stop_locked(self._server)

    def _stop_locked(self, server: ApiServer) -> None:
        self.address = None
        server.stop()
        self._server = None
        self.stopped.emit()
