"""A small test session that ``tests/test_test_session.py`` runs in a subprocess, to show that a
session cleans up after itself and keeps its output quiet. Its name keeps it out of the suite's
own collection (``python_files`` is ``test_*.py``); it is collected only when named.

Each test notes what it made in the file ``VERBATIM_SAMPLE_REPORT`` (outside the session's
temporary folder), so the caller can check that it is gone afterwards.
"""

from __future__ import annotations

import json
import os
import signal
import tempfile
from pathlib import Path

from PySide6.QtCore import QStringListModel, QTimer


def note(key: str, value: object) -> None:
    with open(os.environ["VERBATIM_SAMPLE_REPORT"], "a", encoding="utf-8") as report:
        report.write(json.dumps({key: value}) + "\n")


def test_writes_temporary_files(tmp_path: Path) -> None:
    (tmp_path / "transcript.txt").write_text("kept until the session ends", encoding="utf-8")
    tempfile.mkdtemp(prefix="forgotten-")  # a test that does not clean up after itself
    note("tmp_path", str(tmp_path))


def test_uses_the_virtual_microphone(virtual_mic: Path) -> None:
    note("pulseaudio", int((virtual_mic.parent / "pid").read_text()))


def test_model_updates_arrive_after_the_test(qapp, qtmodeltester) -> None:
    model = QStringListModel(["one", "two"])
    qtmodeltester.check(model, force_py=True)
    # Delivered only after the test body, as a job queue's last updates are.
    QTimer.singleShot(0, lambda: model.setStringList(["three"]))


def test_fails_on_purpose() -> None:
    raise AssertionError("a failing test must not keep the session from cleaning up")


def test_interrupted(virtual_mic: Path) -> None:
    """Says it runs, then waits for the caller's Ctrl+C (SIGINT)."""
    note("pulseaudio", int((virtual_mic.parent / "pid").read_text()))
    # As at a terminal, even when started from a background job (which ignores SIGINT).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    os.write(int(os.environ["VERBATIM_SAMPLE_READY_FD"]), b"ready\n")
    signal.pause()
