"""One Verbatim per user and data folder: a second start hands its files to the first."""

from __future__ import annotations

import os
import re
import resource
import shutil
import signal
import socket
import sqlite3
import stat
import subprocess
import sys
import tempfile
import threading
import uuid
from contextlib import closing
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QDir

from desktop_app.app import EXIT_ALREADY_RUNNING
from desktop_app.core.errors import VerbatimError
from desktop_app.core.job_store import StoreLock
from desktop_app.core.jobs import JobState
from desktop_app.gui.single_instance import SingleInstance, server_name
from tests.fakes import FakeEngine
from tests.media import write_wav

REPO = Path(__file__).resolve().parents[2]


def _unique_name() -> str:
    return f"verbatim-test-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def tmp_path(system_tmp_path: Path) -> Path:
    """Every test here uses a folder directly in the run's temporary folder: a Unix socket's
    path must stay under 108 bytes, and the other-user checks must be able to reach it."""
    return system_tmp_path


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


# ----------------------------------------------------------------- hostile local clients
def test_bad_messages_are_dropped_and_the_server_keeps_working(qtbot, tmp_path):
    """Deeply nested JSON made the parser raise into Qt (the "unexpected error" dialog)."""
    name = _unique_name()
    instance = SingleInstance(name)
    assert instance.listen()
    received: list[list[str]] = []
    instance.files_received.connect(received.append)
    path = os.path.join(QDir.tempPath(), name)
    try:
        for message in (
            b"[" * 50_000 + b"\n",
            b'{"files": "abc"}\n',
            b'{"files": [1, 2]}\n',
            b"[1, 2]\n",
            b"\xff\xfe\n",
        ):
            client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            client.connect(path)
            client.sendall(message)
            client.setblocking(False)
            qtbot.waitUntil(lambda client=client: _closed_by_server(client), timeout=10_000)
            client.close()
        assert received == []
        with qtbot.waitSignal(instance.files_received, timeout=10_000):
            assert SingleInstance(name).send([tmp_path / "after.wav"])
    finally:
        instance.close()


def _closed_by_server(client: socket.socket) -> bool:
    try:
        return client.recv(16) == b""
    except BlockingIOError:
        return False
    except ConnectionResetError:
        return True


FLOOD = """
import resource, socket, sys
_soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # the lowered limit is the server's
path, count, done = sys.argv[1], int(sys.argv[2]), sys.argv[3]
clients = []
try:
    for _ in range(count):
        client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        client.connect(path)
        clients.append(client)
except OSError as error:
    print("stopped after", len(clients), error)
open(done, "w").close()
sys.stdin.read()
"""


def test_the_server_survives_a_flood_of_idle_connections(qtbot, tmp_path):
    """Qt closes and deletes a server whose accept() fails; running out of descriptors did it
    (~1,060 connections with the usual limit of 1,024, here scaled to a lowered limit)."""
    name = _unique_name()
    instance = SingleInstance(name)
    assert instance.listen()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    open_now = len(os.listdir("/proc/self/fd"))
    resource.setrlimit(resource.RLIMIT_NOFILE, (open_now + 200, hard))
    done = tmp_path / "flooded"
    try:
        with subprocess.Popen(
            [sys.executable, "-c", FLOOD, os.path.join(QDir.tempPath(), name), "400", str(done)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        ) as flood:
            qtbot.waitUntil(done.exists, timeout=120_000)
            resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
            assert instance.server is not None and instance.server.isListening()
            with qtbot.waitSignal(instance.files_received, timeout=10_000) as blocker:
                assert SingleInstance(name).send([tmp_path / "after.wav"])
            assert blocker.args[0] == [str(tmp_path / "after.wav")]
            output, _ = flood.communicate("", timeout=30)
        assert "stopped" not in output, output
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
        instance.close()


# ----------------------------------------------------------------- another user on the computer
needs_root = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("setpriv") is None,
    reason="needs root and setpriv to act as a second user",
)
NOBODY = 65534
AS_NOBODY = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]


@pytest.fixture
def open_folder(system_tmp_path: Path) -> Path:
    """A folder every user can enter, as /tmp is: where a squatter can meet us."""
    system_tmp_path.chmod(0o777)
    return system_tmp_path


SQUATTER = """
import os, socket, sys
server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
server.bind(sys.argv[1])
os.chmod(sys.argv[1], 0o777)
server.listen(1)
print("ready", flush=True)
connection, _ = server.accept()
received = b""
while chunk := connection.recv(65536):
    received += chunk
print(repr(received), flush=True)
"""


@needs_root
def test_files_are_never_handed_to_a_socket_of_another_user(qtbot, tmp_path, open_folder):
    path = str(open_folder / "verbatim-squatted")
    with subprocess.Popen(
        [*AS_NOBODY, "/usr/bin/python3", "-c", SQUATTER, path],
        stdout=subprocess.PIPE,
        text=True,
    ) as squatter:
        assert squatter.stdout is not None
        assert squatter.stdout.readline().strip() == "ready"
        assert not SingleInstance(path).send([tmp_path / "secret-meeting.wav"], timeout_ms=10_000)
        output, _ = squatter.communicate(timeout=30)
    assert output.strip() == "b''", "the other user received the file list"


INTRUDER = """
import socket, sys
client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
client.connect(sys.argv[1])
try:
    client.sendall(b'{"files": ["/home/victim/evil.wav"]}\\n')
    print(repr(client.recv(16)), flush=True)
except OSError as error:
    print("refused:", error, flush=True)
"""


@needs_root
def test_the_server_refuses_a_peer_of_another_user(qtbot, open_folder):
    path = str(open_folder / "verbatim-server")
    instance = SingleInstance(path)
    assert instance.listen()
    os.chmod(path, 0o777)  # even if the socket's own mode let others in
    received: list[list[str]] = []
    instance.files_received.connect(received.append)
    try:
        with subprocess.Popen(
            [*AS_NOBODY, "/usr/bin/python3", "-c", INTRUDER, path],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        ) as intruder:
            qtbot.waitUntil(lambda: intruder.poll() is not None, timeout=30_000)
            output, _ = intruder.communicate()
        assert received == [], "a file list from another user was accepted"
        assert "b'ok" not in output, output
    finally:
        instance.close()


@needs_root
def test_a_fallback_socket_folder_created_by_another_user_is_refused(tmp_path, monkeypatch):
    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    squatted = tmp_path / f"verbatim-{os.getuid()}"
    squatted.mkdir(mode=0o777)
    os.chown(squatted, NOBODY, NOBODY)
    with pytest.raises(VerbatimError, match=re.escape(str(squatted))):
        server_name()


def test_the_runtime_folder_falls_back_to_a_private_one_of_ours(tmp_path, monkeypatch):
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o755)
    shared.chmod(0o755)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(shared))  # open to others: not what XDG promises
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    folder = Path(server_name()).parent
    assert folder == tmp_path / f"verbatim-{os.getuid()}"
    info = folder.stat()
    assert (stat.S_IMODE(info.st_mode), info.st_uid) == (0o700, os.getuid())


# ----------------------------------------------------------------- whole starts, as a user's
def app_environment(root: Path) -> dict[str, str]:
    """``verbatim`` in a child process with its own data and runtime folders."""
    runtime = root / "run"
    runtime.mkdir(mode=0o700)
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", XDG_RUNTIME_DIR=str(runtime))
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    for variable, folder in (
        ("XDG_DATA_HOME", "data"),
        ("XDG_CONFIG_HOME", "config"),
        ("XDG_CACHE_HOME", "cache"),
        ("XDG_STATE_HOME", "state"),
    ):
        env[variable] = str(root / folder)
    return env


def stored_paths(store: Path) -> list[str]:
    """What the store holds now, read as ``verbatim-cli jobs`` does (beside the window)."""
    try:
        with closing(sqlite3.connect(f"file:{store}?mode=ro", uri=True)) as db:
            return [os.fsdecode(row[0]) for row in db.execute("SELECT path FROM jobs")]
    except sqlite3.Error:
        return []  # not created yet


def test_ten_simultaneous_starts_open_one_window_and_ctrl_c_closes_it(qtbot, tmp_path):
    """Two windows on one store transcribed its jobs twice (2 of 10 rounds); Ctrl+C in the
    terminal did not stop the window."""
    env = app_environment(tmp_path)
    store = tmp_path / "data" / "verbatim" / "jobs.sqlite3"
    files = [write_wav(tmp_path / f"start{i}.wav", np.zeros(8000, np.float32)) for i in range(10)]
    starts = [
        subprocess.Popen(
            [sys.executable, "-m", "desktop_app", "--timings", str(tmp_path / f"t{i}.json"), path],
            cwd=REPO,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for i, path in enumerate(map(str, files))
    ]
    try:
        qtbot.waitUntil(lambda: sum(s.poll() is None for s in starts) <= 1, timeout=150_000)
        owners = [start for start in starts if start.poll() is None]
        assert len(owners) == 1, "exactly one start keeps running: the one window"
        for start in starts:
            if start is not owners[0]:
                output, _ = start.communicate()
                assert start.returncode == 0, output
        qtbot.waitUntil(lambda: len(stored_paths(store)) == len(files), timeout=60_000)
        assert sorted(stored_paths(store)) == sorted(map(str, files)), "each file once"

        owners[0].send_signal(signal.SIGINT)
        qtbot.waitUntil(lambda: owners[0].poll() is not None, timeout=60_000)
        output, _ = owners[0].communicate()
        assert owners[0].returncode == 0, output
        assert "Traceback" not in output, output
    finally:
        for start in starts:
            if start.poll() is None:
                start.kill()
            start.wait()
            if start.stdout is not None:
                start.stdout.close()
    timings = sorted(path.name for path in tmp_path.glob("t*.json"))
    assert len(timings) == 1, f"one window was shown and closed normally: {timings}"
    assert len(stored_paths(store)) == len(files), "closing kept every job"


def test_a_crashed_window_leaves_no_socket_behind_once_verbatim_starts_again(qtbot, tmp_path):
    """Stale sockets piled up after crashes: the next start takes the place of its own."""
    env = app_environment(tmp_path)
    runtime = Path(env["XDG_RUNTIME_DIR"])

    def sockets() -> list[Path]:  # PulseAudio keeps a folder there too
        return sorted(runtime.glob("verbatim-*"))

    def start() -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [sys.executable, "-m", "desktop_app"],
            cwd=REPO,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    crashed = start()
    try:
        qtbot.waitUntil(lambda: bool(sockets()), timeout=60_000)
    finally:
        crashed.kill()  # what a crash leaves: the socket, with nobody listening
        crashed.wait()
    left = sockets()
    assert len(left) == 1
    again = start()
    try:
        qtbot.waitUntil(
            lambda: SingleInstance(str(left[0])).send([], timeout_ms=1000), timeout=60_000
        )
        assert sockets() == left, "the same socket again, no second one"
        again.send_signal(signal.SIGINT)
        qtbot.waitUntil(lambda: again.poll() is not None, timeout=60_000)
    finally:
        if again.poll() is None:
            again.kill()
        again.wait()
    assert again.returncode == 0
    assert sockets() == [], "a window closed normally removes its socket"


def test_a_start_that_finds_the_store_owned_but_no_window_answering_says_so(qtbot, tmp_path):
    """The store's owner does not answer (hung, or its socket gone): no second window opens,
    and the start says why instead (on stderr; a message box when started from a desktop)."""
    env = app_environment(tmp_path)
    owner = StoreLock.acquire(tmp_path / "data" / "verbatim" / "jobs.sqlite3")
    try:
        start = subprocess.run(
            [sys.executable, "-m", "desktop_app", "--quit-when-done", str(tmp_path / "a.wav")],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=240,
        )
    finally:
        owner.release()
    assert start.returncode == EXIT_ALREADY_RUNNING, start.stderr
    assert "Verbatim is already running" in start.stderr
    assert not (tmp_path / "state" / "verbatim" / "log").exists(), "no window was started"
