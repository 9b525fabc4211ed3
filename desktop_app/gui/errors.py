"""Unexpected exceptions reach the user as one dialog and the log, from any thread.

``sys.excepthook`` (the GUI thread, including slots and timer callbacks, which PySide6 reports
through it) and ``threading.excepthook`` (Python threads) both log the traceback and hand a short
message to a bridge object living on the GUI thread; a queued signal shows it there. While a
dialog is open, further errors are logged and counted, never stacked as more dialogs.
"""

from __future__ import annotations

import logging
import sys
import threading
import traceback
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

from PySide6.QtCore import QObject, Qt, Signal, Slot
from PySide6.QtWidgets import QMessageBox, QWidget

from desktop_app.core.wording import plural

logger = logging.getLogger(__name__)

ExceptHook = Callable[[type[BaseException], BaseException, TracebackType | None], None]


class ErrorReporter(QObject):
    """Owns the hooks and the single error dialog."""

    error_reported = Signal(str)  # the short message; emitted on the GUI thread

    def __init__(self, parent_widget: QWidget | None = None, log_file: Path | None = None) -> None:
        super().__init__(parent_widget)
        self.parent_widget = parent_widget
        self.log_file = log_file
        self.dialog: QMessageBox | None = None
        self.show_dialogs = True
        self.more_errors = 0
        self._previous_sys: ExceptHook | None = None
        self._previous_threading: Callable[[threading.ExceptHookArgs], object] | None = None
        self._bridge.connect(self._show, Qt.ConnectionType.QueuedConnection)

    _bridge = Signal(str)

    def install(self) -> None:
        self._previous_sys = sys.excepthook
        self._previous_threading = threading.excepthook
        sys.excepthook = self._sys_hook
        threading.excepthook = self._thread_hook

    def uninstall(self) -> None:
        if self._previous_sys is not None:
            sys.excepthook = self._previous_sys
        if self._previous_threading is not None:
            threading.excepthook = self._previous_threading

    def report(
        self, kind: type[BaseException], error: BaseException, tb: TracebackType | None, where: str
    ) -> None:
        """Log the traceback, then show the message on the GUI thread; safe from any thread."""
        logger.critical(
            "Unexpected error in %s:\n%s",
            where,
            "".join(traceback.format_exception(kind, error, tb)),
        )
        message = f"{kind.__name__}: {error}"
        self._bridge.emit(message)

    def _sys_hook(
        self, kind: type[BaseException], error: BaseException, tb: TracebackType | None
    ) -> None:
        if issubclass(kind, KeyboardInterrupt):
            if self._previous_sys is not None:
                self._previous_sys(kind, error, tb)
            return
        self.report(kind, error, tb, "the main thread")

    def _thread_hook(self, args: threading.ExceptHookArgs) -> None:
        if args.exc_value is None:
            return
        name = args.thread.name if args.thread is not None else "a thread"
        self.report(args.exc_type, args.exc_value, args.exc_traceback, f"thread {name}")

    @Slot(str)
    def _show(self, message: str) -> None:
        self.error_reported.emit(message)
        if not self.show_dialogs:
            return
        if self.dialog is not None and self.dialog.isVisible():
            self.more_errors += 1
            self.dialog.setInformativeText(
                self._details(f"{plural(self.more_errors, 'more error')} since.")
            )
            return
        self.more_errors = 0
        dialog = QMessageBox(self.parent_widget)
        dialog.setIcon(QMessageBox.Icon.Critical)
        dialog.setWindowTitle("Verbatim: unexpected error")
        dialog.setText(
            "Something went wrong that Verbatim did not expect. Your jobs are still listed; "
            "you can keep working, but saving your exports now would be wise."
        )
        dialog.setInformativeText(self._details(message))
        dialog.setAccessibleName("Unexpected error")
        dialog.setModal(False)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose, False)
        self.dialog = dialog
        dialog.show()

    def _details(self, message: str) -> str:
        where = f"\n\nDetails are in the log: {self.log_file}" if self.log_file else ""
        return message + where
