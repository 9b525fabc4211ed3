"""The layer contract, checked on the real imports.

The engine under ``desktop_app.core`` imports no Qt (house rule 1) and nothing above it; the job
queue imports no face; the composition root builds objects for the faces without importing one;
the window (``gui``) and the command line (``cli``) never import each other. Imports inside
functions, under ``TYPE_CHECKING`` and by ``importlib.import_module("...")`` count as much as
the ones at the top of a file, because they run all the same (or, for type hints, tie the layers
just as tightly).
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import inspect
import pkgutil
import types
from pathlib import Path

import desktop_app
import desktop_app.core
from tests.processes import run_python

PACKAGE = "desktop_app"

#: The layer of each module, by name prefix (the longest prefix that matches wins).
LAYERS = {
    "desktop_app": "root",  # the package itself: the name and version
    "desktop_app.core": "core",
    "desktop_app.saved_settings": "shared",
    "desktop_app.icon_files": "shared",
    "desktop_app.job_queue": "queue",
    "desktop_app.composition": "composition",
    "desktop_app.server": "server",
    "desktop_app.gui": "gui",
    "desktop_app.cli": "cli",
    "desktop_app.app": "app",
    "desktop_app.__main__": "app",
}

#: What each layer may import (besides itself). A layer added to LAYERS must be given here.
ALLOWED = {
    "root": set(),
    "core": {"root"},
    "shared": {"root", "core"},
    "queue": {"root", "core", "shared"},
    "composition": {"root", "core", "shared", "queue"},
    "server": {"root", "core", "shared", "queue"},
    "gui": {"root", "core", "shared", "queue", "composition", "server"},
    "cli": {"root", "core", "shared", "queue", "composition", "server"},
    "app": {"root", "core", "shared", "queue", "composition", "gui"},
}


def layer_of(module: str) -> str:
    matches = [prefix for prefix in LAYERS if module == prefix or module.startswith(prefix + ".")]
    assert matches, f"{module} is in no layer: add it to LAYERS in tests/test_architecture.py"
    return LAYERS[max(matches, key=len)]


def all_modules() -> list[str]:
    """Every module of the package, found on disk (so a module nothing imports yet counts)."""
    names = [PACKAGE]
    for info in pkgutil.walk_packages(desktop_app.__path__, prefix=f"{PACKAGE}."):
        names.append(info.name)
    return sorted(names)


def source_path(module: str) -> Path:
    spec = importlib.util.find_spec(module)
    assert spec is not None and spec.origin is not None, module
    return Path(spec.origin)


def _is_module(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def imports_in_source(source: str, module: str, is_package: bool = False) -> set[str]:
    """The package's modules that any import statement in ``source`` names, wherever it stands
    (module level, function body, ``if TYPE_CHECKING``), plus ``import_module("...")`` calls
    with a literal name. ``from a.b import c`` names ``a.b.c`` when that is a module."""
    package = module if is_package else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            found.add(target)
            for alias in node.names:
                if _is_module(f"{target}.{alias.name}"):
                    found.add(f"{target}.{alias.name}")
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute | ast.Name)
            and (node.func.attr if isinstance(node.func, ast.Attribute) else node.func.id)
            == "import_module"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            found.add(node.args[0].value)
    return {name for name in found if name == PACKAGE or name.startswith(f"{PACKAGE}.")}


def imports_in_globals(module: types.ModuleType) -> set[str]:
    """The package's modules that the loaded module holds: modules bound to its names, and the
    modules where the classes and functions it holds were defined. A package's own submodules
    are left out: Python binds each one to its package when it is imported, from anywhere."""
    found: set[str] = set()
    for value in vars(module).values():
        if isinstance(value, types.ModuleType):
            if not value.__name__.startswith(f"{module.__name__}."):
                found.add(value.__name__)
        elif inspect.isclass(value) or inspect.isfunction(value):
            found.add(value.__module__)
    return {name for name in found if name == PACKAGE or name.startswith(f"{PACKAGE}.")}


def violations(imports: dict[str, set[str]]) -> list[str]:
    problems = []
    for module, targets in sorted(imports.items()):
        layer = layer_of(module)
        for target in sorted(targets):
            # The package root holds only the name and version; importing a submodule makes
            # Python import its parent packages, which is no dependency of the importer.
            if target == PACKAGE:
                continue
            other = layer_of(target)
            if other != layer and other not in ALLOWED[layer]:
                problems.append(f"{module} ({layer}) imports {target} ({other})")
    return problems


def real_imports() -> dict[str, set[str]]:
    """Import every module (except ``__main__`` ones, which run the program) and collect
    what each one imports, from its source and from its loaded globals."""
    imports: dict[str, set[str]] = {}
    for name in all_modules():
        path = source_path(name)
        found = imports_in_source(
            path.read_text(encoding="utf-8"), name, is_package=path.name == "__init__.py"
        )
        if not name.endswith(".__main__"):
            found |= imports_in_globals(importlib.import_module(name))
        found.discard(name)
        imports[name] = found
    return imports


def test_every_module_keeps_the_layer_contract():
    imports = real_imports()
    assert len(imports) >= 40
    assert "desktop_app.gui.live_panel" in imports["desktop_app.gui.main_window"]  # lazy import
    assert violations(imports) == []


def test_the_scan_sees_imports_wherever_they_stand():
    source = (
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n"
        "    from desktop_app.gui.errors import ErrorReporter\n"
        "def later():\n"
        "    from desktop_app import job_queue\n"
        "    import desktop_app.cli\n"
        "    return importlib.import_module('desktop_app.composition')\n"
        "from ..core import jobs\n"
    )
    found = imports_in_source(source, "desktop_app.core.example")
    assert found >= {
        "desktop_app.gui.errors",
        "desktop_app.job_queue",
        "desktop_app.cli",
        "desktop_app.composition",
        "desktop_app.core.jobs",
    }
    assert violations({"desktop_app.core.example": found}) == [
        "desktop_app.core.example (core) imports desktop_app.cli (cli)",
        "desktop_app.core.example (core) imports desktop_app.composition (composition)",
        "desktop_app.core.example (core) imports desktop_app.gui.errors (gui)",
        "desktop_app.core.example (core) imports desktop_app.job_queue (queue)",
    ]


def test_the_globals_show_what_a_loaded_module_holds():
    module = types.ModuleType("desktop_app.cli.example")
    module.JobQueue = importlib.import_module("desktop_app.job_queue").JobQueue  # type: ignore[attr-defined]
    assert imports_in_globals(module) == {"desktop_app.job_queue"}


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


def module_level_assignments(name: str) -> list[str]:
    """The modules of the package that assign ``name`` at their top level."""
    found = []
    for module in all_modules():
        tree = ast.parse(source_path(module).read_text(encoding="utf-8"))
        for node in tree.body:
            targets = (
                node.targets if isinstance(node, ast.Assign) else [getattr(node, "target", None)]
            )
            if any(isinstance(target, ast.Name) and target.id == name for target in targets):
                found.append(module)
    return found


def calls_to(function: str) -> list[str]:
    """The modules of the package that call ``function`` (by name or as an attribute)."""
    found = []
    for module in all_modules():
        tree = ast.parse(source_path(module).read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and (
                (isinstance(node.func, ast.Name) and node.func.id == function)
                or (isinstance(node.func, ast.Attribute) and node.func.attr == function)
            ):
                found.append(module)
                break
    return found


def test_one_sample_rate():
    assert module_level_assignments("SAMPLE_RATE") == ["desktop_app.core.audio"]


def test_one_preferences_store():
    """The saved settings and the window's preferences share one INI file, opened in one place."""
    assert calls_to("QSettings") == ["desktop_app.saved_settings"]


def test_transcription_options_default_to_the_settings_defaults():
    from desktop_app.core.settings import load_settings
    from desktop_app.core.transcriber import TranscriptionOptions

    defaults = load_settings(environ={}, saved={})
    assert TranscriptionOptions() == TranscriptionOptions.from_settings(defaults)
