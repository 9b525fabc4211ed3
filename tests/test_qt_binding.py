"""Guards against a Qt binding that corrupts reference counts (PySide6 6.12.0 did, on emit).

With that release every ``Signal.emit()`` lowered the refcount of ``True`` by one, so a long
session aborted with "Fatal Python error: bool_dealloc". pyproject.toml excludes it; this test
fails if a release with the same fault is ever installed.
"""

from __future__ import annotations

import sys

from PySide6.QtCore import QObject, QStringListModel, Qt, Signal


class _Emitter(QObject):
    progress = Signal(str, float)
    changed = Signal(str)
    payload = Signal(object)


def test_emitting_signals_keeps_reference_counts(qapp):
    emitter = _Emitter()
    received: list[object] = []
    emitter.progress.connect(lambda job, value: received.append(value))
    emitter.payload.connect(received.append)
    before_true, before_none = sys.getrefcount(True), sys.getrefcount(None)
    for _ in range(500):
        emitter.progress.emit("job", 0.5)
        emitter.changed.emit("job")
        emitter.payload.emit(None)
    assert len(received) == 1000
    assert abs(sys.getrefcount(True) - before_true) < 50
    assert abs(sys.getrefcount(None) - before_none - 500) < 50  # the 500 Nones in `received`


def test_reading_empty_model_data_keeps_reference_counts(qapp):
    model = QStringListModel(["a"])
    before = sys.getrefcount(None)
    for _ in range(500):
        model.index(0, 0).data(Qt.ItemDataRole.ToolTipRole)
        model.index(5, 5).data()
    assert abs(sys.getrefcount(None) - before) < 50
