"""The settings dialog, built from the one declaration of each setting.

Every field comes from a :class:`~desktop_app.core.settings.SettingSpec`: its widget follows the
spec's type, range and choices, its tooltip is the spec's description, and the values are checked
by the same :func:`~desktop_app.core.settings.load_settings` as the environment, so the dialog
cannot accept what start-up would refuse. Settings fixed by an environment variable are shown
but locked, saying which variable wins.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Mapping
from typing import Any

from PySide6.QtCore import Slot
from PySide6.QtGui import QGuiApplication, QStandardItemModel
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from desktop_app.core.errors import ConfigError
from desktop_app.core.exporters import FORMATS
from desktop_app.core.settings import (
    KNOWN_MODEL_NAMES,
    SPECS_BY_NAME,
    Settings,
    SettingSpec,
    load_settings,
    model_is_english_only,
)
from desktop_app.gui.api_serving import ServingAddress
from desktop_app.gui.preferences import Preferences

#: The settings a desktop user tunes, in the order shown; the rest stay environment-only.
DIALOG_SETTINGS = (
    "whisper_model_size",
    "language",
    "task",
    "max_concurrent_workers",
    "max_queue_size",
    "max_file_size_mb",
    "vad_filter",
    "beam_size",
)

#: The keyboard mnemonic of each setting's label (Alt+letter): the label itself is the spec's.
MNEMONICS = {
    "whisper_model_size": "M",
    "language": "L",
    "task": "T",
    "max_concurrent_workers": "W",
    "max_queue_size": "Q",
    "max_file_size_mb": "f",
    "vad_filter": "s",
    "beam_size": "B",
}


def _with_mnemonic(label: str, key: str) -> str:
    at = label.index(key)
    return f"{label[:at]}&{label[at:]}"


LABELS = {name: _with_mnemonic(SPECS_BY_NAME[name].label, key) for name, key in MNEMONICS.items()}
#: Wrapped sentences (an intro, a problem) get at least this many average characters per line,
#: so that a dialog never shrinks them into a narrow column.
READABLE_LINE_CHARS = 60

COMMON_LANGUAGES = ("auto", "en", "de", "fr", "es", "it", "nl", "pt", "pl", "ja", "zh")


def _plain(label: str) -> str:
    return label.replace("&", "")


def readable_width(widget: QWidget) -> int:
    """A comfortable line length in ``widget``'s font, in pixels."""
    return widget.fontMetrics().averageCharWidth() * READABLE_LINE_CHARS


def fit_text(edit: QLineEdit, text: str) -> None:
    """Make ``edit`` wide enough to show the whole of ``text``."""
    metrics = edit.fontMetrics()
    # QLineEdit's size hint is 17 "x" plus its frame and margins; swap the 17 "x" for the text.
    extra = metrics.horizontalAdvance(text) - 17 * metrics.horizontalAdvance("x")
    edit.setMinimumWidth(edit.sizeHint().width() + max(0, extra))


def fit_placeholder(edit: QLineEdit) -> None:
    """Make ``edit`` wide enough for its whole placeholder ("Beside each source file"), which
    otherwise is cut off to "Beside each sour…" and no longer says what an empty field means."""
    fit_text(edit, edit.placeholderText())


def explain(label: QLabel, field: QWidget, spec: SettingSpec, note: str = "") -> None:
    """Put the spec's description on the label as well as the field: a user points at the name
    they do not understand ("Beam size"), not only at the box beside it. The text is the one
    declaration's, so the dialog, the README and the command line's help say the same."""
    text = spec.description + (f" {note}" if note else "")
    tip = f"<p>{html.escape(text, quote=False)}</p>"  # rich text, so Qt wraps a long tip into lines
    for widget in (label, field):
        widget.setToolTip(tip)
        widget.setWhatsThis(tip)
    field.setAccessibleDescription(spec.description)


def spec_field(
    spec: SettingSpec,
    value: Any,
    on_change: Callable[[], object],
    on_text_changed: Callable[[str], object],
) -> QWidget:
    """The widget for one setting, following its spec's type, range and choices.

    Shared with the job options dialog, so a job's model or language is edited exactly as the
    default is.
    """
    if spec.type is bool:
        box = QCheckBox()
        box.setChecked(bool(value))
        box.toggled.connect(on_change)
        return box
    if spec.type is int:
        spin = QSpinBox()
        spin.setRange(int(spec.minimum or 0), int(spec.maximum or 1_000_000))
        spin.setValue(int(value))
        if spec.unit:
            spin.setSuffix(f" {spec.unit}")
        spin.valueChanged.connect(on_change)
        return spin
    combo = QComboBox()
    if spec.choices:
        combo.addItems(list(spec.choices))
    else:
        combo.setEditable(True)
        names = KNOWN_MODEL_NAMES if spec.name == "whisper_model_size" else COMMON_LANGUAGES
        combo.addItems(list(names))
    combo.setCurrentText(str(value))
    combo.currentTextChanged.connect(on_text_changed)
    return combo


def field_value(field: QWidget) -> Any:
    """The value a field made by :func:`spec_field` holds now."""
    if isinstance(field, QCheckBox):
        return field.isChecked()
    if isinstance(field, QSpinBox):
        return field.value()
    assert isinstance(field, QComboBox)
    return field.currentText().strip()


def set_field_value(field: QWidget, value: Any) -> None:
    """Set a field made by :func:`spec_field` as a user would."""
    if isinstance(field, QCheckBox):
        field.setChecked(bool(value))
    elif isinstance(field, QSpinBox):
        field.setValue(int(value))
    elif isinstance(field, QComboBox):
        field.setCurrentText(str(value))


def offer_translate(task: QComboBox, model: str) -> None:
    """Translate is offered only where the model can translate (multilingual models)."""
    english_only = model_is_english_only(model)
    index = task.findText("translate")
    items = task.model()
    item = items.item(index) if isinstance(items, QStandardItemModel) else None
    if item is not None:
        item.setEnabled(not english_only)
    if english_only and task.currentText() == "translate":
        task.setCurrentText("transcribe")


class SettingsDialog(QDialog):
    """Edits the saved settings and the window preferences; :meth:`values` gives the result."""

    def __init__(
        self,
        settings: Settings,
        environ: Mapping[str, str],
        preferences: Preferences,
        parent: QWidget | None = None,
        *,
        serving: ServingAddress | None = None,
    ) -> None:
        """``serving``: where the window serves now, shown with its access token so that the
        user can set up another program (None: not serving)."""
        super().__init__(parent)
        self.setWindowTitle("Verbatim settings")
        self.setAccessibleName("Settings")
        self.environ = environ
        self.fields: dict[str, QWidget] = {}
        form = QFormLayout()
        for name in DIALOG_SETTINGS:
            spec = SPECS_BY_NAME[name]
            field = self._make_field(spec, getattr(settings, name))
            field.setAccessibleName(_plain(LABELS[name]))
            label = QLabel(LABELS[name])
            label.setBuddy(field)
            if environ.get(spec.env, "").strip():
                field.setEnabled(False)
                explain(
                    label, field, spec, f"Set by the environment variable {spec.env}, which wins."
                )
            else:
                explain(label, field, spec, f"(Environment variable: {spec.env})")
            self.fields[name] = field
            form.addRow(label, field)

        self.auto_export = QCheckBox("Export every finished job &automatically")
        self.auto_export.setAccessibleName("Auto-export")
        self.auto_export.setChecked(preferences.auto_export)
        self.auto_folder = QLineEdit(preferences.auto_export_folder)
        self.auto_folder.setPlaceholderText("Beside each source file")
        self.auto_folder.setAccessibleName("Auto-export folder")
        fit_placeholder(self.auto_folder)
        browse = QPushButton("Br&owse…")
        browse.setAccessibleName("Choose auto-export folder")
        browse.clicked.connect(self._browse)
        self.auto_formats: dict[str, QCheckBox] = {}
        formats_row = QHBoxLayout()
        for fmt in FORMATS:
            box = QCheckBox(fmt.upper())
            box.setAccessibleName(f"Auto-export {fmt.upper()}")
            box.setChecked(fmt in preferences.auto_export_formats)
            self.auto_formats[fmt] = box
            formats_row.addWidget(box)
        folder_row = QHBoxLayout()
        folder_row.addWidget(self.auto_folder, 1)
        folder_row.addWidget(browse)
        auto_box = QGroupBox("Auto-export")
        auto_form = QFormLayout(auto_box)
        auto_form.addRow(self.auto_export)
        auto_form.addRow("Folder", folder_row)
        auto_form.addRow("Formats", formats_row)

        self.serve_api = QCheckBox("Ser&ve on this computer (HTTP API for other programs)")
        self.serve_api.setAccessibleName("Serve on this computer")
        self.serve_api.setChecked(preferences.serve_api)
        self.serve_api.setToolTip(
            f"Other programs on this computer can send audio to http://{settings.api_host}:"
            f"{settings.api_port}/api/v1 (API_HOST, API_PORT) and share this window's queue."
        )

        self.problem = QLabel()
        self.problem.setObjectName("settingsProblem")
        self.problem.setStyleSheet("color: #b3261e;")
        self.problem.setWordWrap(True)
        self.problem.setMinimumWidth(readable_width(self.problem))
        self.problem.setAccessibleName("Settings problem")
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        for button in self.buttons.buttons():
            button.setAccessibleName(button.text().replace("&", ""))

        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(auto_box)
        layout.addWidget(self.serve_api)
        self.serving_box: QGroupBox | None = None
        self.server_address: QLineEdit | None = None
        self.server_token: QLineEdit | None = None
        if serving is not None:
            self.serving_box = self._serving_box(serving)
            layout.addWidget(self.serving_box)
        layout.addWidget(self.problem)
        layout.addWidget(self.buttons)
        self._update_task_choices()
        self.validate()

    def _serving_box(self, serving: ServingAddress) -> QGroupBox:
        """The address and token another program needs, each with a button to copy it."""
        box = QGroupBox("Serving now")
        box.setAccessibleName("Serving now")
        form = QFormLayout(box)
        self.server_address = self._copyable(serving.url, "Server address", form)
        if serving.token:
            self.server_token = self._copyable(serving.token, "Access token", form)
            note = QLabel("Other programs send it as the header: Authorization: Bearer TOKEN")
        else:
            note = QLabel("No access token needed: only programs on this computer can connect.")
        note.setWordWrap(True)
        note.setMinimumWidth(readable_width(note))
        form.addRow(note)
        return box

    def _copyable(self, text: str, name: str, form: QFormLayout) -> QLineEdit:
        field = QLineEdit(text)
        field.setReadOnly(True)
        field.setAccessibleName(name)
        fit_text(field, text)  # an address or a token is copied whole: show it whole
        copy = QPushButton("Copy")
        copy.setAccessibleName(f"Copy {name.lower()}")
        copy.clicked.connect(lambda: QGuiApplication.clipboard().setText(text))
        row = QHBoxLayout()
        row.addWidget(field, 1)
        row.addWidget(copy)
        label = QLabel(name)
        label.setBuddy(field)
        form.addRow(label, row)
        return field

    # ----------------------------------------------------------------- fields
    def _make_field(self, spec: SettingSpec, value: Any) -> QWidget:
        return spec_field(spec, value, self.validate, self._on_text_changed)

    def _field_value(self, name: str) -> Any:
        return field_value(self.fields[name])

    def set_value(self, name: str, value: Any) -> None:
        """Set a field as a user would (tests and keyboard automation use it)."""
        set_field_value(self.fields[name], value)

    @Slot(str)
    def _on_text_changed(self, _text: str) -> None:
        self._update_task_choices()
        self.validate()

    def _update_task_choices(self) -> None:
        task = self.fields["task"]
        assert isinstance(task, QComboBox)
        offer_translate(task, str(self._field_value("whisper_model_size")))

    @Slot()
    def _browse(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Auto-export folder")
        if folder:
            self.auto_folder.setText(folder)

    # ----------------------------------------------------------------- results
    def values(self) -> dict[str, Any]:
        """The dialog's settings, keyed by setting name (only those the environment leaves free)."""
        return {
            name: self._field_value(name)
            for name in DIALOG_SETTINGS
            if not self.environ.get(SPECS_BY_NAME[name].env, "").strip()
        }

    def preferences(self) -> Preferences:
        prefs = Preferences.load()
        prefs.auto_export = self.auto_export.isChecked()
        prefs.auto_export_folder = self.auto_folder.text().strip()
        prefs.auto_export_formats = [f for f, box in self.auto_formats.items() if box.isChecked()]
        prefs.serve_api = self.serve_api.isChecked()
        return prefs

    @Slot()
    def validate(self) -> str:
        """Check the values as start-up would; show the problem and block OK while there is one."""
        if not hasattr(self, "buttons"):
            return ""
        try:
            load_settings(environ=self.environ, saved=self.values())
            problem = ""
        except ConfigError as error:
            problem = str(error)
        self.problem.setText(problem)
        self.problem.setVisible(bool(problem))
        ok = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        ok.setEnabled(not problem)
        return problem
