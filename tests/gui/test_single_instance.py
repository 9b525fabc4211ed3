"""One Verbatim per user and data folder: a second start hands its files to the first."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import uuid
from pathlib import Path

from PySide6.QtCore import QDir

from desktop_app.core.jobs import JobState
from desktop_app.gui.single_instance import SingleInstance, server_name
from tests.fakes import FakeEngine

REPO = Path(__file__).resolve().parents[2]


def _unique_name() -> str:
    return f"verbatim-test-{uuid.uuid4().hex[:12]}"


def test_the_socket_is_in_the_private_runtime_folder_named_after_the_data_folder(
    tmp_path, monkeypatch
):
    runtime = tmp_path / "run"
    runtime.mkdir(mode=0o700)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime))
    assert Path(server_name(tmp_path / "a")).parent == runtime
    assert server_name(tmp_path / "a") != server_name(tmp_path / "b")
    assert server_name(tmp_path / "a") == server_name(tmp_path / "a")
    assert len(os.fsencode(server_name(tmp_path))) < 108  # a Unix socket path's limit


def test_a_second_instance_hands_its_files_to_the_first(qtbot, tmp_path):
    name = _unique_name()
    first = SingleInstance(name)
    assert first.listen()
    try:
        assert not SingleInstance(name).listen()  # a live server is never taken over
        files = [tmp_path / "one.wav", tmp_path / "twö ünïcode.mp3"]
        with qtbot.waitSignal(first.files_received, timeout=10_000) as blocker:
            assert SingleInstance(name).send(files)
        assert blocker.args[0] == [str(path) for path in files]
    finally:
        first.close()
    assert not SingleInstance(name).send([tmp_path / "x.wav"], timeout_ms=500)


def test_a_stale_server_of_a_crashed_instance_is_replaced(qtbot, tmp_path):
    name = _unique_name()
    # What a crash leaves: the socket file, with nobody listening on it.
    path = os.path.join(QDir.tempPath(), name)
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(path)
    stale.close()
    assert os.path.exists(path)
    assert not SingleInstance(name).send([], timeout_ms=500)

    instance = SingleInstance(name)
    try:
        assert instance.listen()
        with qtbot.waitSignal(instance.files_received, timeout=10_000):
            assert SingleInstance(name).send([tmp_path / "a.wav"])
    finally:
        instance.close()


def test_the_window_queues_handed_files_like_a_drop_with_one_refusal(make_window, qtbot, tmp_path):
    gate = threading.Event()
    window = make_window(FakeEngine(gate=gate), workers=1, queue_size=1)
    files = [tmp_path / f"handed{i}.wav" for i in range(3)]
    for path in files:
        path.write_bytes(b"x")
    notices: list[str] = []
    window.notice_shown.connect(notices.append)
    with qtbot.waitSignal(window.files_added, timeout=10_000) as blocker:
        window.open_files_from_elsewhere([str(path) for path in files])
    outcome = blocker.args[0]
    assert (len(outcome.accepted), len(outcome.refused)) == (2, 1)
    assert len(notices) == 1 and "Added 2 of 3 files; 1 refused" in notices[0]
    assert window.isVisible()
    gate.set()
    qtbot.waitUntil(lambda: all(j.state is JobState.DONE for j in window.queue.jobs()))


def test_verbatim_file_with_a_window_running_hands_over_and_exits_0(qtbot, corpus):
    """End to end: ``python -m desktop_app FILE`` in a second process, this test as the first."""
    instance = SingleInstance()  # named after this test's data folder, as the child computes
    assert instance.listen()
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    try:
        with qtbot.waitSignal(instance.files_received, timeout=60_000) as blocker:
            child = subprocess.Popen(
                [sys.executable, "-m", "desktop_app", str(corpus / "jfk.flac")],
                cwd=REPO,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
            )
        qtbot.waitUntil(lambda: child.poll() is not None, timeout=30_000)
        output, _ = child.communicate()
        assert child.returncode == 0, output.decode(errors="replace")
        assert blocker.args[0] == [str(corpus / "jfk.flac")]
    finally:
        if child.poll() is None:
            child.kill()
            child.communicate()
        instance.close()
