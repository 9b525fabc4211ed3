"""Change one job's model, language, task or beam size before it runs again.

A file that came out badly with the fast English-only model deserves a second try with a larger
or multilingual one, without changing the default for every later file. The fields and the check
are those of the settings dialog (the same :class:`~desktop_app.core.settings.SettingSpec` and
:func:`~desktop_app.core.settings.load_settings`), so a combination the settings refuse (say
``tiny.en`` with ``de``) is refused here with the same sentence.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Slot
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLayout,
    QVBoxLayout,
    QWidget,
)

from desktop_app.core.errors import ConfigError
from desktop_app.core.settings import SPECS_BY_NAME, load_settings
from desktop_app.core.transcriber import TranscriptionOptions
from desktop_app.gui.settings_dialog import (
    LABELS,
    explain,
    field_value,
    offer_translate,
    readable_width,
    set_field_value,
    spec_field,
)

#: Setting name -> the TranscriptionOptions field it fills.
JOB_FIELDS = {
    "whisper_model_size": "model",
    "language": "language",
    "task": "task",
    "beam_size": "beam_size",
}


class JobOptionsDialog(QDialog):
    """Edits the options of one or more jobs; :meth:`options_for` gives each job's result."""

    def __init__(
        self,
        options: TranscriptionOptions,
        job_count: int = 1,
        action: str = "Apply",
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Job options" if job_count == 1 else f"Options of {job_count} jobs")
        self.setAccessibleName("Job options")
        self.fields: dict[str, QWidget] = {}
        intro = QLabel(
            "These apply to the selected job only; the defaults for new files stay in Settings."
            if job_count == 1
            else f"These apply to the {job_count} selected jobs only."
        )
        intro.setWordWrap(True)
        intro.setMinimumWidth(readable_width(intro))  # not a narrow column of short lines
        form = QFormLayout()
        for name, option in JOB_FIELDS.items():
            spec = SPECS_BY_NAME[name]
            field = spec_field(spec, getattr(options, option), self.validate, self._on_text)
            field.setAccessibleName(LABELS[name].replace("&", ""))
            self.fields[name] = field
            label = QLabel(LABELS[name])
            label.setBuddy(field)
            explain(label, field, spec)
            form.addRow(label, field)
        self.problem = QLabel()
        self.problem.setObjectName("jobOptionsProblem")
        self.problem.setStyleSheet("color: #b3261e;")
        self.problem.setWordWrap(True)
        self.problem.setAccessibleName("Options problem")
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        ok = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        ok.setText(action)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        for button in self.buttons.buttons():
            button.setAccessibleName(button.text().replace("&", ""))
        layout = QVBoxLayout(self)
        # Grow when a problem sentence appears, instead of squeezing the fields.
        layout.setSizeConstraint(QLayout.SizeConstraint.SetMinimumSize)
        self.problem.setMinimumWidth(readable_width(self.problem))
        layout.addWidget(intro)
        layout.addLayout(form)
        layout.addWidget(self.problem)
        layout.addWidget(self.buttons)
        self._on_text("")

    def _value(self, name: str) -> Any:
        return field_value(self.fields[name])

    def set_value(self, name: str, value: Any) -> None:
        """Set a field as a user would (tests and keyboard automation use it)."""
        set_field_value(self.fields[name], value)

    @Slot(str)
    def _on_text(self, _text: str) -> None:
        task = self.fields["task"]
        assert isinstance(task, QComboBox)
        offer_translate(task, str(self._value("whisper_model_size")))
        self.validate()

    @Slot()
    def validate(self) -> str:
        """Check as start-up checks settings; show the sentence and block OK while wrong.

        The environment plays no part: these are this job's own choices, not defaults.
        """
        if not hasattr(self, "buttons"):
            return ""
        try:
            load_settings(environ={}, saved={name: self._value(name) for name in JOB_FIELDS})
            problem = ""
        except ConfigError as error:
            problem = str(error)
        self.problem.setText(problem)
        self.problem.setVisible(bool(problem))
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(not problem)
        return problem

    def options_for(self, original: TranscriptionOptions) -> TranscriptionOptions:
        """``original`` with the dialog's choices; what it had beyond them (VAD, prompt) stays."""
        return original.with_changes(
            **{option: self._value(name) for name, option in JOB_FIELDS.items()}
        )
