"""The suite runs with no Python handler for Qt's messages.

Qt's own threads log: the player's FFmpeg thread warns about a file it cannot open ("Could not
open media"). PySide6 6.11 calls a Python message handler from such a thread after waiting for
the GIL, without checking that the handler is still installed; one removed meanwhile is called
as NULL and the test process dies with SIGSEGV (CI stop 21, in a window's teardown; one run in
three of the window tests here). pytest-qt installed its capture before every test and removed it
after, so ``--no-qt-log`` is in pyproject.toml: Qt writes to stderr instead, which pytest still
captures per test and prints with a failure.
"""

from __future__ import annotations

from PySide6.QtCore import qInstallMessageHandler


def test_no_python_message_handler_is_installed_while_a_test_runs() -> None:
    installed = qInstallMessageHandler(None)
    if installed is not None:  # put it back, so the run goes on as it was
        qInstallMessageHandler(installed)
    assert installed is None, f"a Python Qt message handler is installed: {installed!r}"
