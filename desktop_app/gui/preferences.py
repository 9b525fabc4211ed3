"""Window-only preferences (auto-export), kept beside the shared settings in the same INI file.

They are not in :data:`desktop_app.core.settings.SETTINGS` because the command line has its own
``--format``/``--output-dir`` options and no use for them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from desktop_app.core.exporters import FORMATS
from desktop_app.saved_settings import open_store

GROUP = "window"


@dataclass
class Preferences:
    auto_export: bool = False
    auto_export_folder: str = ""
    auto_export_formats: list[str] = field(default_factory=lambda: ["txt", "srt"])
    export_folder: str = ""
    export_formats: list[str] = field(default_factory=lambda: ["srt"])
    #: Serve the HTTP API on the window's queue (API_HOST, API_PORT), like verbatim-cli serve.
    serve_api: bool = False

    @classmethod
    def load(cls) -> Preferences:
        store = open_store()
        store.beginGroup(GROUP)
        defaults = cls()
        prefs = cls(
            auto_export=_as_bool(store.value("auto_export", defaults.auto_export)),
            auto_export_folder=str(store.value("auto_export_folder", "") or ""),
            auto_export_formats=_as_formats(
                store.value("auto_export_formats"), defaults.auto_export_formats
            ),
            export_folder=str(store.value("export_folder", "") or ""),
            export_formats=_as_formats(store.value("export_formats"), defaults.export_formats),
            serve_api=_as_bool(store.value("serve_api", defaults.serve_api)),
        )
        store.endGroup()
        return prefs

    def save(self) -> None:
        store = open_store()
        store.beginGroup(GROUP)
        store.setValue("auto_export", self.auto_export)
        store.setValue("auto_export_folder", self.auto_export_folder)
        store.setValue("auto_export_formats", ",".join(self.auto_export_formats))
        store.setValue("export_folder", self.export_folder)
        store.setValue("export_formats", ",".join(self.export_formats))
        store.setValue("serve_api", self.serve_api)
        store.endGroup()
        store.sync()

    def auto_export_dir(self) -> Path | None:
        """The auto-export folder, or None for "beside each source file"."""
        return Path(self.auto_export_folder).expanduser() if self.auto_export_folder else None


def _as_bool(value: object) -> bool:
    # INI files give strings back; QSettings does not know the type we stored.
    return str(value).strip().lower() in ("1", "true", "yes", "on")


def _as_formats(value: object, default: list[str]) -> list[str]:
    if value is None:
        return list(default)
    items = value if isinstance(value, list) else str(value).split(",")
    chosen = [str(item).strip().lower() for item in items if str(item).strip().lower() in FORMATS]
    return chosen or list(default)
