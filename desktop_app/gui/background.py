"""Run plain functions off the GUI thread and hand their results back through queued signals.

Folder scans, exports and model loading go through here, on a pool of their own so they never
compete with transcription workers for a place. The function itself never sees a widget.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal, Slot

logger = logging.getLogger(__name__)


class _Task(QRunnable):
    def __init__(
        self, tasks: BackgroundTasks, task_id: int, function: Callable[[], Any], what: str
    ) -> None:
        super().__init__()
        self.tasks = tasks
        self.task_id = task_id
        self.function = function
        self.what = what

    def run(self) -> None:
        """Never raises: an error becomes ``task_failed`` with a sentence, and is logged."""
        try:
            result = self.function()
        except Exception as error:
            logger.exception("Background task failed: %s", self.what)
            self.tasks.task_failed.emit(self.task_id, f"{self.what} failed: {error}")
            return
        self.tasks.task_finished.emit(self.task_id, result)


class BackgroundTasks(QObject):
    """A small pool for the window's non-transcription work.

    Every task reports through this object's own two signals, tagged with the task's number, so
    the object that a worker emits on lives as long as the pool. (An emitter per task, deleted
    once its result had arrived, could be deleted while a slow worker was still inside its emit:
    on a loaded machine that crashed the interpreter in the deferred delete.)
    """

    task_finished = Signal(int, object)
    task_failed = Signal(int, str)

    def __init__(self, parent: QObject | None = None, max_threads: int = 2) -> None:
        super().__init__(parent)
        self.pool = QThreadPool(self)
        self.pool.setMaxThreadCount(max_threads)
        self._callbacks: dict[int, tuple[Callable[[Any], None], Callable[[str], None]]] = {}
        self._task_ids = itertools.count()
        # Emitted on the pool's threads, so these run queued on this object's (the GUI) thread.
        self.task_finished.connect(self._on_finished)
        self.task_failed.connect(self._on_failed)

    def start(
        self,
        what: str,
        function: Callable[[], Any],
        on_finished: Callable[[Any], None],
        on_failed: Callable[[str], None],
    ) -> None:
        """Run ``function`` on the pool; exactly one of the callbacks runs later on this thread."""
        task_id = next(self._task_ids)
        self._callbacks[task_id] = (on_finished, on_failed)
        self.pool.start(_Task(self, task_id, function, what))

    @Slot(int, object)
    def _on_finished(self, task_id: int, result: object) -> None:
        on_finished, _ = self._callbacks.pop(task_id)
        on_finished(result)

    @Slot(int, str)
    def _on_failed(self, task_id: int, message: str) -> None:
        _, on_failed = self._callbacks.pop(task_id)
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
