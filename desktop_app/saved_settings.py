"""Settings the user saved (in the settings dialog), stored with QSettings in an INI file.

Both faces read them, so ``verbatim-cli`` honours what the window saved; the precedence is
command line > environment > saved > default (see :mod:`desktop_app.core.settings`).
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QSettings

from desktop_app.core.paths import config_dir
from desktop_app.core.settings import SETTINGS


def open_store() -> QSettings:
    """The one INI file of saved settings and the window's preferences
    (:mod:`desktop_app.gui.preferences`, in their own group)."""
    return QSettings(str(config_dir() / "settings.ini"), QSettings.Format.IniFormat)


def load_saved() -> dict[str, Any]:
    store = open_store()
    return {spec.name: store.value(spec.name) for spec in SETTINGS if store.contains(spec.name)}


def save(values: dict[str, Any]) -> None:
    """Store the given values; ``None`` removes a saved value (back to the default)."""
    store = open_store()
    for name, value in values.items():
        if value is None:
            store.remove(name)
        else:
            store.setValue(name, value)
    store.sync()
