"""The user's folders for Verbatim's data, logs and settings (XDG on Linux, via platformdirs)."""

from __future__ import annotations

from pathlib import Path

import platformdirs

APP_DIR_NAME = "verbatim"


def data_dir() -> Path:
    return Path(platformdirs.user_data_dir(APP_DIR_NAME, appauthor=False))


def log_dir() -> Path:
    return Path(platformdirs.user_log_dir(APP_DIR_NAME, appauthor=False))


def config_dir() -> Path:
    return Path(platformdirs.user_config_dir(APP_DIR_NAME, appauthor=False))
