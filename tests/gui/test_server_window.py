"""The window's "Serve on this computer": the server on the window's own queue, over real HTTP."""

from __future__ import annotations

import threading
from pathlib import Path

import httpx
import numpy as np
import pytest
from PySide6.QtWidgets import QApplication, QLabel, QPushButton

from desktop_app.gui.job_model import Column
from desktop_app.gui.settings_dialog import SettingsDialog
from desktop_app.gui.status_bar import capacity_text
from desktop_app.job_queue import Capacity
from desktop_app.saved_settings import load_saved
from tests.fakes import FakeEngine
from tests.gui.test_dialog_text import cut_texts
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


def settings_as_opened(window, monkeypatch) -> SettingsDialog:
    """The dialog the window's Settings action opens (not run modally: its exec is replaced)."""
    opened: list[SettingsDialog] = []

    def record(dialog: SettingsDialog) -> int:
        opened.append(dialog)
        return SettingsDialog.DialogCode.Rejected

    monkeypatch.setattr(SettingsDialog, "exec", record)
    window.open_settings()
    (dialog,) = opened
    return dialog


def copy_button(dialog: SettingsDialog, name: str) -> QPushButton:
    (button,) = [b for b in dialog.findChildren(QPushButton) if b.accessibleName() == name]
    return button


def test_settings_show_the_address_and_the_generated_token_to_copy(make_window, qtbot, monkeypatch):
    """Off loopback the server needs a token: the window generates one once, saves it with the
    settings, and Settings shows it with the address, each with a button to copy it."""
    window = make_window(FakeEngine())
    off_loopback = window.settings.replace(api_port=0, api_host="0.0.0.0")
    with qtbot.waitSignal(window.api_server.started, timeout=60_000) as blocker:
        window.api_server.apply(True, off_loopback)
    address = window.api_server.address
    assert address is not None and address.url == blocker.args[0]
    token = address.token
    assert len(token) >= 32 and load_saved()["api_token"] == token
    dialog = settings_as_opened(window, monkeypatch)
    qtbot.addWidget(dialog)
    dialog.show()
    assert dialog.server_address is not None and dialog.server_token is not None
    assert (dialog.server_address.text(), dialog.server_token.text()) == (address.url, token)
    assert dialog.server_address.accessibleName() == "Server address"
    assert dialog.server_token.accessibleName() == "Access token"
    assert dialog.server_token.isReadOnly()
    assert cut_texts(dialog) == []
    copy_button(dialog, "Copy access token").click()
    assert QApplication.clipboard().text() == token
    copy_button(dialog, "Copy server address").click()
    assert QApplication.clipboard().text() == address.url
    with httpx.Client(base_url=address.url, timeout=60) as client:
        assert client.get("/api/v1/capacity").status_code == 401
        allowed = client.get("/api/v1/capacity", headers={"Authorization": f"Bearer {token}"})
        assert allowed.status_code == 200
    # Applied again from settings read before the token was saved: the same token, no restart.
    stops: list[bool] = []
    window.api_server.stopped.connect(lambda: stops.append(True))
    window.api_server.apply(True, off_loopback)
    window.api_server.stop()  # after the apply: work runs in the order it was asked for
    QApplication.processEvents()
    assert stops == [True] and not window.api_server.serving
    with qtbot.waitSignal(window.api_server.started, timeout=60_000):
        window.api_server.apply(True, off_loopback)
    assert window.api_server.address is not None
    assert window.api_server.address.token == token


def test_settings_on_loopback_show_the_address_and_that_no_token_is_needed(
    make_window, qtbot, monkeypatch
):
    window = make_window(FakeEngine())
    assert settings_as_opened(window, monkeypatch).serving_box is None  # not serving
    with qtbot.waitSignal(window.api_server.started, timeout=60_000) as blocker:
        window.api_server.apply(True, window.settings.replace(api_port=0))
    dialog = settings_as_opened(window, monkeypatch)
    qtbot.addWidget(dialog)
    dialog.show()
    assert dialog.server_address is not None
    assert dialog.server_address.text() == blocker.args[0]
    assert dialog.server_token is None
    assert dialog.serving_box is not None
    assert "No access token needed" in " ".join(
        label.text() for label in dialog.serving_box.findChildren(QLabel)
    )
    assert cut_texts(dialog) == []
