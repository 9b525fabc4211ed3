"""Paints the progress column as a native progress bar, reading the model's progress role."""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, QPersistentModelIndex
from PySide6.QtGui import QPainter
from PySide6.QtWidgets import (
    QApplication,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionProgressBar,
    QStyleOptionViewItem,
)

from desktop_app.core.jobs import JobState
from desktop_app.gui.job_model import JobRole


class ProgressDelegate(QStyledItemDelegate):
    """A delegate rather than an index widget: thousands of rows cost no widgets at all."""

    def paint(
        self,
        painter: QPainter,
        option: QStyleOptionViewItem,
        index: QModelIndex | QPersistentModelIndex,
    ) -> None:
        progress = index.data(JobRole.PROGRESS)
        if progress is None:
            super().paint(painter, option, index)
            return
        state = index.data(JobRole.STATE)
        # Selection background first, so a selected row still looks selected behind the bar.
        style = option.widget.style() if option.widget is not None else QApplication.style()
        style.drawPrimitive(QStyle.PrimitiveElement.PE_PanelItemViewItem, option, painter)
        bar = QStyleOptionProgressBar()
        bar.rect = option.rect.adjusted(3, 4, -3, -4)
        bar.minimum = 0
        bar.maximum = 100
        bar.progress = round(float(progress) * 100)
        bar.text = f"{bar.progress}%" if state != JobState.FAILED.value else "failed"
        bar.textVisible = True
        bar.state = option.state | QStyle.StateFlag.State_Horizontal
        style.drawControl(QStyle.ControlElement.CE_ProgressBar, bar, painter)
