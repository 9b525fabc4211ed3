"""Where the window's icon files are, however Verbatim was installed. No Qt here, so it is testable.

The icons and the desktop files are kept laid out as under ``share/`` on Linux
(``icons/hicolor/NxN/apps/<app id>.png``, ``applications/``, ``metainfo/``), so each install
carries them unchanged:

- a source checkout or an editable install: ``resources/`` at the top of the repository;
- the PyInstaller bundle: ``resources/`` in the bundle (``sys._MEIPASS``, next to the package);
- a wheel: ``<prefix>/share/``, where pyproject.toml installs them as data files (``~/.local/share``
  for ``pip install --user``), which is also where desktops look for them.
"""

from __future__ import annotations

import sys
import sysconfig
from collections.abc import Iterable
from pathlib import Path

APP_ID = "io.github.verbatim.Verbatim"
ICON_SIZES = (16, 32, 48, 64, 128, 256)
#: The folder that holds the ``desktop_app`` package: the repository, or the bundle's folder.
PACKAGE_PARENT = Path(__file__).resolve().parent.parent


def icon_path(root: Path, size: int) -> Path:
    """The PNG of ``size`` pixels in a ``share/``-like folder."""
    return root / "icons" / "hicolor" / f"{size}x{size}" / "apps" / f"{APP_ID}.png"


def data_roots() -> list[Path]:
    """Folders laid out like ``share/`` that may hold the icons, the running copy's own first."""
    roots: list[Path] = []
    bundle = getattr(sys, "_MEIPASS", None)
    if bundle:
        roots.append(Path(bundle) / "resources")
    roots.append(PACKAGE_PARENT / "resources")
    # A wheel's data files go to the install scheme's "data" path: the environment's prefix, or
    # the user base for --user installs (on Debian's system Python, /usr/local rather than /usr).
    prefixes = [sys.prefix, sysconfig.get_path("data")]
    user_scheme = sysconfig.get_preferred_scheme("user")
    prefixes.append(sysconfig.get_path("data", user_scheme))
    roots.extend(Path(prefix) / "share" for prefix in prefixes if prefix)
    return list(dict.fromkeys(roots))


def icon_files(roots: Iterable[Path] | None = None) -> dict[int, Path]:
    """The icon's PNG for each size, all from the first root that has any, so installs never mix."""
    for root in data_roots() if roots is None else roots:
        found = {size: icon_path(root, size) for size in ICON_SIZES}
        found = {size: path for size, path in found.items() if path.is_file()}
        if found:
            return found
    return {}
