"""A real wheel (what ``pip install .`` builds) carries the icons and desktop files as data under
``share/``, and the window installed from it finds its icon there, away from the source tree.

The wheel is built offline with this environment's setuptools (``--no-build-isolation``): the test
extra asks for the version that pyproject.toml's build-system names.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import pytest

from desktop_app import __version__

REPO = Path(__file__).resolve().parent.parent
SETUPTOOLS_NEEDED = 77
#: Folders of resources/ that a wheel installs under <prefix>/share/ as they are.
SHARED_FOLDERS = ("applications", "icons", "metainfo")


def _setuptools_major() -> int:
    try:
        return int(version("setuptools").split(".")[0])
    except (PackageNotFoundError, ValueError):
        return 0


def _quiet_pip_env() -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    env.update(PIP_DISABLE_PIP_VERSION_CHECK="1", PIP_NO_INPUT="1")
    return env


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The project's wheel, built from a copy of the tree so the build leaves nothing in it."""
    if _setuptools_major() < SETUPTOOLS_NEEDED:
        pytest.skip(
            f"building the wheel offline needs setuptools>={SETUPTOOLS_NEEDED} in this "
            "environment; pip install -e '.[test]' installs it"
        )
    source = tmp_path_factory.mktemp("source")
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, source / name)
    for name in ("desktop_app", "resources"):
        shutil.copytree(REPO / name, source / name, ignore=ignore)
    out = tmp_path_factory.mktemp("wheelhouse")
    command = [sys.executable, "-m", "pip", "wheel", str(source), "--no-deps", "--no-index"]
    command += ["--no-build-isolation", "--quiet", "--wheel-dir", str(out)]
    result = subprocess.run(
        command, capture_output=True, text=True, timeout=180, check=False, env=_quiet_pip_env()
    )
    assert result.returncode == 0, result.stdout + result.stderr
    [built] = out.glob("verbatim-*.whl")
    return built


def _expected_data_files() -> set[str]:
    prefix = f"verbatim-{__version__}.data/data/share/"
    resources = REPO / "resources"
    return {
        prefix + path.relative_to(resources).as_posix()
        for folder in SHARED_FOLDERS
        for path in (resources / folder).rglob("*")
        if path.is_file()
    }


def test_wheel_installs_icons_desktop_entry_and_metainfo_under_share(wheel: Path) -> None:
    app_id = "io.github.verbatim.Verbatim"
    expected = _expected_data_files()
    share = f"verbatim-{__version__}.data/data/share/"
    assert {
        *(f"{share}icons/hicolor/{size}x{size}/apps/{app_id}.png" for size in (16, 48, 256)),
        f"{share}icons/hicolor/scalable/apps/{app_id}.svg",
        f"{share}applications/{app_id}.desktop",
        f"{share}metainfo/{app_id}.metainfo.xml",
    } <= expected
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        record = archive.read(f"verbatim-{__version__}.dist-info/RECORD").decode()
    data = {name for name in names if ".data/" in name}
    assert data == expected  # every desktop file, and nothing else (no screenshot)
    recorded = {line.split(",")[0] for line in record.splitlines()}
    assert expected <= recorded
    assert "desktop_app/icon_files.py" in names


def test_window_installed_from_the_wheel_finds_its_icon(wheel: Path, tmp_path: Path) -> None:
    """Installed into a fresh environment (its dependencies borrowed from this one) and run from a
    folder outside the repository, ``app_icon()`` reads the PNGs from <prefix>/share."""
    env_dir = tmp_path / "env"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(env_dir)], check=True)
    python = env_dir / "bin" / "python"
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    # PySide6 and the rest come from this environment's path, after the fresh one's own
    # site-packages; never a folder holding the source package (the repository, which the test
    # runner puts on the path). A .venv inside the clone, as CI makes, is borrowed.
    borrowed = [
        entry
        for entry in sys.path
        if entry and Path(entry).is_dir() and not (Path(entry) / "desktop_app").is_dir()
    ]
    Path(purelib, "borrowed.pth").write_text("\n".join(borrowed) + "\n", encoding="utf-8")
    install = [sys.executable, "-m", "pip", "--python", str(python), "install", str(wheel)]
    install += ["--no-deps", "--no-index", "--quiet"]
    result = subprocess.run(
        install, capture_output=True, text=True, timeout=120, check=False, env=_quiet_pip_env()
    )
    assert result.returncode == 0, result.stdout + result.stderr

    probe = (
        "import json, sys\n"
        "from PySide6.QtGui import QGuiApplication\n"
        "app = QGuiApplication([])\n"
        "import desktop_app\n"
        "from desktop_app.gui.main_window import app_icon\n"
        "from desktop_app.icon_files import icon_files\n"
        "icon = app_icon()\n"
        "print(json.dumps({'package': desktop_app.__file__, 'prefix': sys.prefix,\n"
        "    'null': icon.isNull(), 'sizes': sorted(s.width() for s in icon.availableSizes()),\n"
        "    'files': sorted(str(p) for p in icon_files().values())}))\n"
    )
    run_dir = tmp_path / "elsewhere"
    run_dir.mkdir()
    env = {**_quiet_pip_env(), "QT_QPA_PLATFORM": "offscreen"}
    result = subprocess.run(
        [str(python), "-c", probe],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=run_dir,
        env=env,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert Path(report["package"]).is_relative_to(env_dir)  # not the source tree
    assert not report["null"]
    assert report["sizes"] == [16, 32, 48, 64, 128, 256]
    share = env_dir / "share" / "icons" / "hicolor"
    assert all(Path(file).is_relative_to(share) for file in report["files"])
