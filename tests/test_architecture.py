"""House rule 1: the engine under desktop_app.core never imports Qt."""

from __future__ import annotations

import pkgutil

import desktop_app.core
from tests.processes import run_python


def test_core_imports_no_qt_module():
    modules = [
        f"desktop_app.core.{info.name}" for info in pkgutil.iter_modules(desktop_app.core.__path__)
    ]
    assert len(modules) >= 8
    code = (
        "import sys, importlib\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        "qt = sorted(m for m in sys.modules if m.startswith(('PySide6', 'shiboken6', 'PyQt')))\n"
        "print(','.join(qt))\n"
    )
    result = run_python(code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "", f"Qt modules imported by the core: {result.stdout}"
