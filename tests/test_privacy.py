""" "Opens no network connection", checked the way an outsider would: at the system-call level.

Each face runs in a child process under ``strace``, which sees what native code does too
(onnxruntime's telemetry uploader is C++; patching Python's ``socket`` cannot see it). The child
gets a fresh HOME and XDG folders and none of the variables that would hide a leak: the CI flags
onnxruntime reads to switch its telemetry off by itself, and the switches Verbatim sets (the
child must set them on its own).
"""

from __future__ import annotations

import faulthandler
import logging
import logging.handlers
import os
import re
import shutil
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from desktop_app.core import logs
from desktop_app.core.exporters import export
from desktop_app.core.job_store import JobStore
from desktop_app.core.jobs import Job
from desktop_app.core.logs import setup_logging
from desktop_app.core.privacy import TELEMETRY_OFF
from desktop_app.core.recording import WavRecorder, new_recording_path
from desktop_app.core.transcriber import TranscriptionOptions
from desktop_app.core.transcript import Segment, Transcript

REPO = Path(__file__).resolve().parent.parent
#: The system calls that create a socket or send anything through one, and execve: the trace of
#: every run holds at least one line, the proof that tracing worked.
TRACED_CALLS = "execve,socket,connect,sendto,sendmsg"
#: Variables onnxruntime takes as "running in CI" and then stays quiet: a child that inherits
#: one would hide the very leak this test looks for.
CI_VARIABLES = (
    "CI",
    "TF_BUILD",
    "GITHUB_ACTIONS",
    "GITLAB_CI",
    "CIRCLECI",
    "TRAVIS",
    "JENKINS_URL",
    "CODEBUILD_BUILD_ID",
    "BUILDKITE",
    "TEAMCITY_VERSION",
    "APPVEYOR",
    "BITBUCKET_BUILD_NUMBER",
    "SYSTEM_TEAMFOUNDATIONCOLLECTIONURI",
    "ORT_RUNNING_UNIT_TESTS",
    "HF_HUB_OFFLINE",  # the app itself must not need it to stay offline
    "DO_NOT_TRACK",
)
NETWORK_FAMILIES = re.compile(r"\b(AF_INET6?|AF_PACKET)\b")
UNIX_PATH = re.compile(r'sa_family=AF_UNIX, sun_path=@?"([^"]*)"')
#: Local sockets a face may use besides its own: the sound servers PortAudio asks for inputs
#: (the window lists microphones; dictation records). Local IPC, never the network.
SOUND_SERVERS = re.compile(r"(/pulse/native|/jack_[\w-]+|/pipewire-\d+)$")


def _strace() -> str:
    strace = shutil.which("strace")
    if strace is None:
        pytest.fail(
            "strace is not installed: the privacy tests watch system calls with it. Install it "
            "with scripts/setup.sh (or apt-get install strace)."
        )
    return strace


def refuse_untraced(stderr: str) -> None:
    """A system that forbids tracing (ptrace) must fail the test with a reason, not pass it."""
    if "ptrace" in stderr.lower() and "strace:" in stderr:
        pytest.fail(f"strace cannot trace processes here (ptrace is not permitted): {stderr}")


class Traced:
    """A child process of this checkout with its own HOME, XDG and runtime folders, under strace."""

    def __init__(self, root: Path) -> None:
        self.home = root / "home"
        self.runtime = root / "run"
        self.trace = root / "trace.txt"
        self.runtime.mkdir(mode=0o700, parents=True)
        self.home.mkdir()
        hidden = set(CI_VARIABLES) | set(TELEMETRY_OFF)
        self.env = {
            name: value
            for name, value in os.environ.items()
            if name not in hidden and not name.startswith(("XDG_", "ORT_"))
        }
        self.env.update(
            HOME=str(self.home),
            XDG_DATA_HOME=str(self.home / ".local" / "share"),
            XDG_CONFIG_HOME=str(self.home / ".config"),
            XDG_CACHE_HOME=str(self.home / ".cache"),
            XDG_STATE_HOME=str(self.home / ".local" / "state"),
            XDG_RUNTIME_DIR=str(self.runtime),
            PYTHONPATH=str(REPO),
            QT_QPA_PLATFORM="offscreen",
        )

    def command(self, *args: str) -> list[str]:
        return [
            _strace(),
            "-f",
            "-qq",
            "-e",
            f"trace={TRACED_CALLS}",
            "-o",
            str(self.trace),
            "--",
            sys.executable,
            *args,
        ]

    def run(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            self.command(*args),
            capture_output=True,
            text=True,
            env=self.env,
            cwd=self.home,
            timeout=timeout,
        )
        refuse_untraced(done.stderr)
        return done

    def check(self) -> None:
        """No network socket, no connection but local sockets of ours, no telemetry files."""
        lines = self.trace.read_text(errors="replace").splitlines()
        assert any("execve(" in line for line in lines), "strace recorded nothing"
        network = [line for line in lines if NETWORK_FAMILIES.search(line)]
        assert network == [], "network system calls:\n" + "\n".join(network[:20])
        foreign = [
            line
            for line in lines
            if (match := UNIX_PATH.search(line))
            and not match.group(1).startswith(str(self.runtime))
            and not SOUND_SERVERS.search(match.group(1))
        ]
        assert foreign == [], "connections to local services (a resolver?):\n" + "\n".join(
            foreign[:20]
        )
        written = sorted(
            str(path.relative_to(self.home))
            for path in self.home.rglob("*")
            if path.is_file()
            and "verbatim" not in path.relative_to(self.home).parts
            # The sound server's client cookie: PortAudio reaching PulseAudio (the Live tab's
            # inputs), a local service like those SOUND_SERVERS allows above.
            and path.relative_to(self.home).parts[:2] != (".config", "pulse")
        )
        assert written == [], f"files written outside Verbatim's own folders: {written}"


def test_the_cli_loads_the_model_and_transcribes_without_any_network_call(tmp_path, corpus):
    traced = Traced(tmp_path)
    out = tmp_path / "out"
    done = traced.run(
        "-m", "desktop_app.cli", "transcribe", str(corpus / "jfk.flac"), "-o", str(out), "-f", "txt"
    )
    assert done.returncode == 0, done.stderr
    assert "country" in (out / "jfk.txt").read_text().lower()
    traced.check()


def test_live_dictation_makes_no_network_call(tmp_path, corpus):
    traced = Traced(tmp_path)
    recording = tmp_path / "dictation.wav"
    command = traced.command(
        "-m",
        "desktop_app.cli",
        "listen",
        "--json",
        "--replay",
        str(corpus / "LJ050-0131.wav"),
        "--replay-speed",
        "4",
        "--output",
        str(recording),
    )
    with subprocess.Popen(
        command,
        stdin=subprocess.PIPE,  # kept open: the end of the replay stops the dictation
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=traced.env,
        cwd=traced.home,
    ) as process:
        assert process.stdout is not None and process.stderr is not None
        events = process.stdout.read()
        stderr = process.stderr.read()
        process.wait(timeout=300)
    refuse_untraced(stderr)
    assert process.returncode == 0, stderr
    assert '"final"' in events, stderr
    assert recording.stat().st_size > 44
    traced.check()


def test_the_window_transcribes_a_file_without_any_network_call(tmp_path, corpus):
    traced = Traced(tmp_path)
    done = traced.run("-m", "desktop_app", "--quit-when-done", str(corpus / "jfk.flac"))
    assert done.returncode == 0, done.stderr
    traced.check()
    store = traced.home / ".local" / "share" / "verbatim" / "jobs.sqlite3"
    assert store.is_file(), "the window ran and stored its job"


# ----------------------------------------------------------------- private files (0600 / 0700)
@pytest.fixture
def usual_umask() -> Iterator[None]:
    """The umask most systems give users, which makes new files world-readable (0644)."""
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_job_store_its_wal_and_its_folder_are_private(tmp_path, usual_umask):
    folder = tmp_path / "data" / "verbatim"
    store = JobStore(folder / "jobs.sqlite3")
    try:
        store.add_job(Job(path=tmp_path / "talk.wav", options=TranscriptionOptions()))
        files = [folder / name for name in ("jobs.sqlite3", "jobs.sqlite3-wal", "jobs.sqlite3-shm")]
        assert {path.name: oct(mode(path)) for path in files} == {
            path.name: oct(0o600) for path in files
        }
        assert oct(mode(folder)) == oct(0o700)
        assert oct(mode(folder.parent)) == oct(0o700), "a folder Verbatim creates is private"
    finally:
        store.close()


def test_a_store_left_world_readable_by_an_older_version_is_made_private(tmp_path, usual_umask):
    folder = tmp_path / "verbatim"
    JobStore(folder / "jobs.sqlite3").close()
    os.chmod(folder, 0o755)
    os.chmod(folder / "jobs.sqlite3", 0o644)
    JobStore(folder / "jobs.sqlite3").close()
    assert (oct(mode(folder)), oct(mode(folder / "jobs.sqlite3"))) == (oct(0o700), oct(0o600))


def test_the_log_and_its_rotations_are_private(tmp_path, monkeypatch, usual_umask):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    # The crash dump file is this test's, not the test process's: pytest's own fault handler
    # must keep writing to the terminal, not into a folder removed after this test.
    crash_files: list[object] = []
    monkeypatch.setattr(logs, "_fault_file", None)
    monkeypatch.setattr(faulthandler, "enable", lambda file: crash_files.append(file))
    root = logging.getLogger()
    level = root.level
    log_file = setup_logging("INFO")
    try:
        assert [getattr(file, "name", None) for file in crash_files] == [
            str(log_file.with_name("faults.log"))
        ]
        assert oct(mode(log_file.with_name("faults.log"))) == oct(0o600)
        handler = next(h for h in root.handlers if getattr(h, "_verbatim", False))
        assert isinstance(handler, logging.handlers.RotatingFileHandler)
        logging.getLogger("verbatim.test").info("transcribing secret-meeting.wav")
        handler.doRollover()  # the file after a rotation is created anew
        assert oct(mode(log_file)) == oct(0o600)
        assert oct(mode(log_file.with_name("verbatim.log.1"))) == oct(0o600)
        assert oct(mode(log_file.parent)) == oct(0o700)
    finally:
        for handler in [h for h in root.handlers if getattr(h, "_verbatim", False)]:
            root.removeHandler(handler)
            handler.close()
        root.setLevel(level)
        if logs._fault_file is not None:
            logs._fault_file.close()


def test_a_dictation_recording_is_private(tmp_path, monkeypatch, usual_umask):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    recorder = WavRecorder(new_recording_path())
    recorder.write(np.zeros(1600, dtype=np.float32))
    path = recorder.close()
    assert (oct(mode(path)), oct(mode(path.parent))) == (oct(0o600), oct(0o700))


def test_an_export_is_the_users_document_and_overwriting_keeps_its_mode(tmp_path, usual_umask):
    transcript = Transcript([Segment(0.0, 1.0, " Hello.")], language="en", duration=1.0)
    fresh = export(transcript, "txt", tmp_path / "new.txt")
    assert oct(mode(fresh)) == oct(0o644), "a new export gets the usual mode (umask 022)"
    shared = tmp_path / "shared.srt"
    shared.write_text("old")
    os.chmod(shared, 0o664)
    export(transcript, "srt", shared, overwrite=True)
    assert oct(mode(shared)) == oct(0o664), "--overwrite keeps the existing file's mode"
    assert "Hello" in shared.read_text()


#: A child that opens a job's recording in the playback panel and plays a second of it, then
#: quits: Qt Multimedia's FFmpeg backend (whose libavformat can speak network protocols) on
#: a local file.
PLAY_A_SECOND = """
import sys
from pathlib import Path
from PySide6.QtWidgets import QApplication
from desktop_app.gui.playback import PlaybackPanel
app = QApplication([])
panel = PlaybackPanel()
panel.open("job", Path(sys.argv[1]))
panel.play_from(0.0)
panel.position_changed.connect(lambda seconds: app.quit() if seconds >= 1.0 else None)
app.exec()
print("played", panel.seconds)
"""


def test_playing_a_recording_makes_no_network_call(tmp_path, corpus):
    traced = Traced(tmp_path)
    done = traced.run("-c", PLAY_A_SECOND, str(corpus / "jfk.flac"), timeout=120)
    assert done.returncode == 0, done.stderr
    assert "played" in done.stdout
    traced.check()
