"""Where the window finds its icon: the source tree, a PyInstaller bundle, a wheel's ``share/``."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from desktop_app import icon_files as icons
from desktop_app.icon_files import APP_ID, ICON_SIZES, icon_files, icon_path

REPO = Path(__file__).resolve().parent.parent


def _install_icons(root: Path, sizes: tuple[int, ...] = ICON_SIZES) -> dict[int, Path]:
    """PNG files (real ones, copied from the repository) laid out as under ``share/``."""
    made = {}
    for size in sizes:
        path = icon_path(root, size)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(icon_path(REPO / "resources", size).read_bytes())
        made[size] = path
    return made


@pytest.fixture
def installed_elsewhere(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """The package runs from a folder without ``resources/`` (as from site-packages), not frozen,
    in an environment whose prefix is a fresh folder: returns that prefix."""
    site_packages = tmp_path / "site-packages"
    site_packages.mkdir()
    prefix = tmp_path / "prefix"
    prefix.mkdir()
    monkeypatch.setattr(icons, "PACKAGE_PARENT", site_packages)
    monkeypatch.setattr(sys, "prefix", str(prefix))
    monkeypatch.delattr(sys, "_MEIPASS", raising=False)
    return prefix


def test_the_source_tree_has_every_size_and_is_searched() -> None:
    assert REPO / "resources" in icons.data_roots()
    found = icon_files()
    assert found == {size: icon_path(REPO / "resources", size) for size in ICON_SIZES}
    svg = REPO / "resources/icons/hicolor/scalable/apps" / f"{APP_ID}.svg"
    assert svg.is_file()


def test_a_wheel_install_is_found_under_the_prefix_share(installed_elsewhere: Path) -> None:
    expected = _install_icons(installed_elsewhere / "share")
    assert installed_elsewhere / "share" in icons.data_roots()
    assert icon_files() == expected


def test_a_bundle_is_searched_before_the_prefix(
    installed_elsewhere: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _install_icons(installed_elsewhere / "share")
    bundle = tmp_path / "bundle"
    expected = _install_icons(bundle / "resources", sizes=(32, 256))
    monkeypatch.setattr(sys, "_MEIPASS", str(bundle), raising=False)
    assert icons.data_roots()[0] == bundle / "resources"
    assert icon_files() == expected  # all from the bundle: sizes of two installs are never mixed


def test_no_icon_anywhere_gives_nothing(installed_elsewhere: Path, tmp_path: Path) -> None:
    assert icon_files([tmp_path / "nowhere", installed_elsewhere / "share"]) == {}


def test_app_icon_uses_the_files_found(installed_elsewhere: Path, qapp) -> None:
    from PySide6.QtCore import QSize

    from desktop_app.gui.main_window import app_icon

    _install_icons(installed_elsewhere / "share", sizes=(16, 48))
    icon = app_icon()
    assert not icon.isNull()
    assert set(icon.availableSizes()) == {QSize(16, 16), QSize(48, 48)}
