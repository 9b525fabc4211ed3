"""Capacity and model state, always visible in the status bar.

The figures are the queue's own :class:`~desktop_app.job_queue.Capacity`, so what the user reads
is exactly what decides whether the next file is accepted.
"""

from __future__ import annotations

from PySide6.QtCore import Slot
from PySide6.QtWidgets import QLabel, QWidget

from desktop_app.job_queue import Capacity

NORMAL_STYLE = "QLabel { padding: 0 6px; }"
FULL_STYLE = (
    "QLabel { padding: 0 6px; color: white; background: #b3261e; border-radius: 3px; "
    "font-weight: bold; }"
)


def capacity_text(capacity: Capacity) -> str:
    """One line: busy workers, queued files, free places, and a loud note when nothing fits."""
    text = (
        f"Workers {capacity.active}/{capacity.max_workers} busy · "
        f"Queue {capacity.queued}/{capacity.max_queue_size} · "
        f"{capacity.accepts} free place{'' if capacity.accepts == 1 else 's'}"
    )
    if capacity.at_capacity:
        text += " · AT CAPACITY"
    return text


class CapacityLabel(QLabel):
    """Shows a :class:`Capacity`; red when the queue refuses new files."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("capacityLabel")
        self.setAccessibleName("Queue capacity")
        self.setStyleSheet(NORMAL_STYLE)

    @Slot(object)
    def show_capacity(self, capacity: Capacity) -> None:
        self.setText(capacity_text(capacity))
        style = FULL_STYLE if capacity.at_capacity else NORMAL_STYLE
        if style != self.styleSheet():  # re-polishing per queued file would cost a drop dearly
            self.setStyleSheet(style)
        self.setToolTip(
            capacity.refusal()
            if capacity.at_capacity
            else "Files that can be added now: free workers plus free queue places. "
            "Change the limits in Settings (Ctrl+,)."
        )
        self.setAccessibleDescription(self.text())


class ModelStateLabel(QLabel):
    """ "Loading model…", then ready, or the error with what to do."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("modelStateLabel")
        self.setAccessibleName("Model state")
        self.setStyleSheet(NORMAL_STYLE)

    def show_loading(self, model: str) -> None:
        self.setText(f"Loading model {model}…")
        self.setStyleSheet(NORMAL_STYLE)
        self.setToolTip("Files added now wait until the model is ready.")

    def show_ready(self, model: str) -> None:
        self.setText(f"Model {model} ready")
        self.setStyleSheet(NORMAL_STYLE)
        self.setToolTip("")

    def show_error(self, message: str) -> None:
        self.setText("Model not available")
        self.setStyleSheet(FULL_STYLE)
        self.setToolTip(message)
