"""Asks which formats and which folder; the writing itself happens off the GUI thread."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Slot
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from desktop_app.core.exporters import FORMATS
from desktop_app.gui.settings_dialog import fit_placeholder

FORMAT_NAMES = {
    "txt": "Plain text (.txt)",
    "srt": "SubRip subtitles (.srt)",
    "vtt": "WebVTT subtitles (.vtt)",
    "json": "JSON with word timings (.json)",
}


class ExportDialog(QDialog):
    """Choose formats and a folder for ``count`` transcripts."""

    def __init__(
        self,
        count: int,
        formats: list[str],
        folder: str,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Export transcripts")
        self.setAccessibleName("Export transcripts")
        intro = QLabel(f"Export {count} transcript{'' if count == 1 else 's'} as:")
        self.format_boxes: dict[str, QCheckBox] = {}
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        for fmt in FORMATS:
            box = QCheckBox(FORMAT_NAMES.get(fmt, fmt.upper()))
            box.setAccessibleName(f"Export {fmt.upper()}")
            box.setChecked(fmt in formats)
            box.toggled.connect(self._update_ok)
            self.format_boxes[fmt] = box
            layout.addWidget(box)
        self.folder = QLineEdit(folder)
        self.folder.setPlaceholderText("Beside each source file")
        self.folder.setAccessibleName("Export folder")
        fit_placeholder(self.folder)
        browse = QPushButton("&Browse…")
        browse.setAccessibleName("Choose export folder")
        browse.clicked.connect(self._browse)
        row = QHBoxLayout()
        row.addWidget(self.folder, 1)
        row.addWidget(browse)
        form = QFormLayout()
        label = QLabel("&Folder")
        label.setBuddy(self.folder)
        form.addRow(label, row)
        layout.addLayout(form)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setText("&Export")
        for button in self.buttons.buttons():
            button.setAccessibleName(button.text().replace("&", ""))
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout.addWidget(self.buttons)
        self._update_ok()

    def formats(self) -> list[str]:
        return [fmt for fmt, box in self.format_boxes.items() if box.isChecked()]

    def output_dir(self) -> Path | None:
        text = self.folder.text().strip()
        return Path(text).expanduser() if text else None

    @Slot()
    def _update_ok(self) -> None:
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(bool(self.formats()))

    @Slot()
    def _browse(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Export folder", self.folder.text())
        if folder:
            self.folder.setText(folder)
