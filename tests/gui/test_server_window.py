"""The window's "Serve on this computer": the server on the window's own queue, over real HTTP."""

from __future__ import annotations

import threading
from pathlib import Path

import httpx
import numpy as np
import pytest

from desktop_app.gui.job_model import Column
from desktop_app.gui.settings_dialog import SettingsDialog
from desktop_app.gui.status_bar import capacity_text
from desktop_app.job_queue import Capacity
from tests.fakes import FakeEngine
from tests.media import write_wav


@pytest.fixture
def tone(tmp_path: Path) -> Path:
    samples = 0.1 * np.sin(np.arange(4000) * 2 * np.pi * 440 / 16000).astype(np.float32)
    return write_wav(tmp_path / "tone.wav", samples)


def post(client: httpx.Client, path: Path) -> httpx.Response:
    with path.open("rb") as file:
        return client.post("/api/v1/transcribe/batch", files={"audio_file": (path.name, file)})


def test_api_jobs_share_the_window_queue_and_show_in_its_list(make_window, qtbot, tone):
    gate = threading.Event()
    window = make_window(FakeEngine(gate=gate), workers=1, queue_size=1)
    with qtbot.waitSignal(window.api_server.started, timeout=60_000) as blocker:
        window.api_server.apply(True, window.settings.replace(api_port=0))
    with httpx.Client(base_url=blocker.args[0], timeout=60) as client:
        first, second, third = post(client, tone), post(client, tone), post(client, tone)
        assert (first.status_code, second.status_code, third.status_code) == (202, 202, 503)
        assert third.json()["error"]["code"] == "AT_CAPACITY"
        served = client.get("/api/v1/capacity").json()
        assert served == window.queue.capacity().as_dict()
        expected = capacity_text(Capacity(1, 1, 1, 1))
        qtbot.waitUntil(lambda: window.capacity_label.text() == expected)
        row = window.model.row_of(first.json()["job_id"])
        assert window.model.index(row, Column.FILE).data() == "tone.wav (API)"
        gate.set()
        qtbot.waitUntil(window.queue.is_idle, timeout=30_000)
    window.shutdown()
    assert not window.api_server.serving


def test_the_setting_is_offered_in_the_dialog_and_kept(make_window, qtbot):
    window = make_window(FakeEngine())
    dialog = SettingsDialog(window.settings, {}, window.preferences, window)
    qtbot.addWidget(dialog)
    assert not dialog.serve_api.isChecked()
    dialog.serve_api.setChecked(True)
    assert dialog.preferences().serve_api
