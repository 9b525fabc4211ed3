"""The notice strip above the job list: a message that is seen and never blocks the user."""

from __future__ import annotations

from PySide6.QtCore import Qt, Slot
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QMessageBox, QToolButton, QWidget


class NoticeBar(QFrame):
    """A non-modal message strip above the list: seen, readable, and never blocks the user.

    A message about many files names only a few; "Show Details…" opens the full list, in a
    message box whose details the user can select and copy.
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("noticeBar")
        self.setStyleSheet(
            "#noticeBar { background: #fff4ce; border: 1px solid #e0c060; border-radius: 4px; }"
            "#noticeBar QLabel { color: #3d3000; }"
        )
        self.label = QLabel()
        self.label.setWordWrap(True)
        self.label.setAccessibleName("Notice")
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        close = QToolButton()
        close.setText("✕")
        close.setAutoRaise(True)
        close.setToolTip("Dismiss this message")
        close.setAccessibleName("Dismiss message")
        close.clicked.connect(self.hide)
        self.details_button = QToolButton()
        self.details_button.setText("Show Details…")
        self.details_button.setAccessibleName("Show details")
        self.details_button.setToolTip("List every file this message is about, to read or copy")
        self.details_button.clicked.connect(self.show_details)
        self.details = ""
        self.details_box: QMessageBox | None = None
        layout = QHBoxLayout(self)
        layout.setContentsMargins(8, 4, 4, 4)
        layout.addWidget(self.label, 1)
        layout.addWidget(self.details_button, 0, Qt.AlignmentFlag.AlignTop)
        layout.addWidget(close, 0, Qt.AlignmentFlag.AlignTop)
        self.hide()

    def show_message(self, text: str, details: str = "") -> None:
        self.label.setText(text)
        self.details = details
        self.details_button.setVisible(bool(details))
        self.show()

    @Slot()
    def show_details(self) -> None:
        """The message with every file under "Show Details" (selectable), window-modal but not
        blocking, so the list keeps updating behind it."""
        if self.details_box is None:  # one box, kept and reused: nothing to track on deletion
            self.details_box = QMessageBox(
                QMessageBox.Icon.Information, "Files not added", "", parent=self
            )
            self.details_box.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.details_box.setText(self.text())
        self.details_box.setDetailedText(self.details)
        self.details_box.open()

    def text(self) -> str:
        return self.label.text()
