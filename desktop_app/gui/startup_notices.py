"""What the user must hear as the window opens: settings replaced by the defaults, a job store
that cannot be used (in a dialog as well: nothing of this session will be kept), a damaged job
store moved aside."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox, QWidget

from desktop_app import APP_NAME
from desktop_app.composition import Application


def show_startup_problems(
    application: Application, notify: Callable[[str], None], parent: QWidget
) -> QMessageBox | None:
    """Tell of what went wrong while ``application`` was made; returns the store's dialog
    when there is one (window-modal, not blocking: the window works, only without keeping its
    jobs)."""
    problem = f"{application.settings_problem} {application.store_problem}".strip()
    if problem:
        notify(problem)
    if application.store_problem:
        dialog = QMessageBox(
            QMessageBox.Icon.Warning,
            f"{APP_NAME} cannot keep its jobs",
            application.store_problem,
            QMessageBox.StandardButton.Ok,
            parent,
        )
        dialog.setWindowModality(Qt.WindowModality.WindowModal)
        dialog.open()
        return dialog
    store = application.queue.store
    if store is not None and store.moved_aside is not None:
        notify(
            "The job store was damaged, so Verbatim moved it to "
            f"{store.moved_aside} and started a new one: the jobs it held are not "
            "listed. Keep that file for a bug report, or delete it."
        )
    return None
