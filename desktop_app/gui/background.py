"""Run plain functions off the GUI thread and hand their results back through queued signals.

Folder scans, exports and model loading go through here, on a pool of their own so they never
compete with transcription workers for a place. The function itself never sees a widget.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal

logger = logging.getLogger(__name__)


class _TaskSignals(QObject):
    """One per :class:`BackgroundTasks`, living as long as it does: results carry their task's
    number. A QObject per task, deleted once its result arrived, raced with the worker thread
    still releasing its reference to it, and crashed in ``QObject::~QObject``."""

    finished = Signal(int, object)
    failed = Signal(int, str)


class _Task(QRunnable):
    def __init__(
        self, function: Callable[[], Any], signals: _TaskSignals, number: int, what: str
    ) -> None:
        super().__init__()
        self.function = function
        self.signals = signals
        self.number = number
        self.what = what

    def run(self) -> None:
        """Never raises: an error becomes a ``failed`` signal with a sentence, and is logged."""
        try:
            result = self.function()
        except Exception as error:
            logger.exception("Background task failed: %s", self.what)
            self.signals.failed.emit(self.number, f"{self.what} failed: {error}")
            return
        self.signals.finished.emit(self.number, result)


class BackgroundTasks(QObject):
    """A small pool for the window's non-transcription work."""

    def __init__(self, parent: QObject | None = None, max_threads: int = 2) -> None:
        super().__init__(parent)
        self.pool = QThreadPool(self)
        self.pool.setMaxThreadCount(max_threads)
        self._signals = _TaskSignals(self)  # lives on the GUI thread, so its slots run there
        self._signals.finished.connect(self._finished)
        self._signals.failed.connect(self._failed)
        self._callbacks: dict[int, tuple[Callable[[Any], None], Callable[[str], None]]] = {}
        self._numbers = itertools.count()

    def start(
        self,
        what: str,
        function: Callable[[], Any],
        on_finished: Callable[[Any], None],
        on_failed: Callable[[str], None],
    ) -> None:
        """Run ``function`` on the pool; exactly one of the callbacks runs later on this thread."""
        number = next(self._numbers)
        self._callbacks[number] = (on_finished, on_failed)
        self.pool.start(_Task(function, self._signals, number, what))

    def _finished(self, number: int, result: object) -> None:
        on_finished, _on_failed = self._callbacks.pop(number)
        on_finished(result)

    def _failed(self, number: int, message: str) -> None:
        _on_finished, on_failed = self._callbacks.pop(number)
        on_failed(message)

    def wait(self, timeout_ms: int = 30_000) -> bool:
        return bool(self.pool.waitForDone(timeout_ms))


#: How long a thread may hold the GIL while another waits for it. Python's default is 5 ms; the
#: window's paint makes hundreds of short calls into Python (the job model's ``data``), each of
#: which can wait that long behind busy workers. Measured with 4 workers decoding and transcribing
#: 12 files: heartbeat max stall 51-92 ms at 5 ms, 16-39 ms at 1 ms; throughput unchanged within
#: noise, since the decoding itself runs in C without the GIL.
GUI_SWITCH_INTERVAL_SECONDS = 0.001


def favour_gui_thread() -> None:
    """Make worker threads hand the GIL back to the GUI thread sooner; call once at start-up."""
    import sys

    sys.setswitchinterval(GUI_SWITCH_INTERVAL_SECONDS)
