"""The job table's view: the list of jobs, with a helpful empty state instead of a blank grid."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QPainter, QPaintEvent
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableView

from desktop_app.gui.job_model import Column, JobTableModel
from desktop_app.gui.progress_delegate import ProgressDelegate
from desktop_app.gui.shortcuts import Shortcut


def empty_text() -> str:
    """What the empty list says, with the keys as this platform names them."""
    return (
        "Drop audio or video files here\n\n"
        f"or press {Shortcut.ADD_FILES.text} to add files, "
        f"{Shortcut.ADD_FOLDER.text} to add a folder.\n"
        "Folders are searched for audio and video files."
    )


#: The columns a user may resize, and their first widths in pixels (the file name stretches).
COLUMN_WIDTHS = (
    (Column.DURATION, 70),
    (Column.STATE, 140),  # room for "Running (resumed)"
    (Column.PROGRESS, 130),
    (Column.ELAPSED, 70),
    (Column.REMAINING, 80),
    (Column.MODEL, 130),
)


class JobTableView(QTableView):
    """The job table, with a helpful empty state instead of a blank grid."""

    def __init__(self, model: JobTableModel) -> None:
        """Rows are selected whole, progress is painted as bars, and a right click asks for
        a context menu (``customContextMenuRequested``)."""
        super().__init__()
        self.setModel(model)
        self.setObjectName("jobTable")
        self.setAccessibleName("Jobs")
        self.setAccessibleDescription(
            "The files being transcribed. Select one to read its transcript."
        )
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.setItemDelegateForColumn(Column.PROGRESS, ProgressDelegate(self))
        self.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.verticalHeader().hide()
        self.setAlternatingRowColors(True)
        self.setWordWrap(False)
        self.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        header = self.horizontalHeader()
        header.setSectionResizeMode(Column.FILE, QHeaderView.ResizeMode.Stretch)
        for column, width in COLUMN_WIDTHS:
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.Interactive)
            self.setColumnWidth(column, width)
        header.setMinimumSectionSize(60)

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
