"""The job table's view: the list of jobs, with a helpful empty state instead of a blank grid."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QPainter, QPaintEvent
from PySide6.QtWidgets import QTableView

from desktop_app.gui.shortcuts import Shortcut


def empty_text() -> str:
    """What the empty list says, with the keys as this platform names them."""
    return (
        "Drop audio or video files here\n\n"
        f"or press {Shortcut.ADD_FILES.text} to add files, "
        f"{Shortcut.ADD_FOLDER.text} to add a folder.\n"
        "Folders are searched for audio and video files."
    )


class JobTableView(QTableView):
    """The job table, with a helpful empty state instead of a blank grid."""

    def paintEvent(self, event: QPaintEvent) -> None:
        super().paintEvent(event)
        model = self.model()
        if model is not None and model.rowCount() == 0:
            painter = QPainter(self.viewport())
            painter.setPen(self.palette().placeholderText().color())
            font = painter.font()
            font.setPointSizeF(font.pointSizeF() * 1.2)
            painter.setFont(font)
            painter.drawText(
                self.viewport().rect(),
                int(Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap),
                empty_text(),
            )
            painter.end()
