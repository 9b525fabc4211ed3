"""Test set-up: headless Qt, isolated user folders, the real corpus, no dangling work, and a
test run that leaves nothing behind (no folder, no sound server, no stray output)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Generator, Iterator
from pathlib import Path

# Before anything imports Qt or platformdirs: headless, and never the real user's folders.
os.environ["QT_QPA_PLATFORM"] = "offscreen"
#: The temporary folder the run was given (``scripts/test.sh`` gives each run its own).
SYSTEM_TEMP = Path(tempfile.gettempdir())
#: Everything this session writes lives here: the user folders, the temporary files of the tests
#: and of every program they start (TMPDIR), the virtual microphone. Removed when the session ends.
_HOME = Path(tempfile.mkdtemp(prefix="verbatim-tests-"))
for _var, _sub in (
    ("XDG_DATA_HOME", "data"),
    ("XDG_CONFIG_HOME", "config"),
    ("XDG_CACHE_HOME", "cache"),
    ("XDG_STATE_HOME", "state"),
    ("TMPDIR", "tmp"),
):
    (_HOME / _sub).mkdir()
    os.environ[_var] = str(_HOME / _sub)
tempfile.tempdir = os.environ["TMPDIR"]  # gettempdir() has cached the old value
#: The session's own sound server (the ``virtual_mic`` fixture starts it), set before anything
#: loads PortAudio: the tests never reach, nor autospawn, the user's own PulseAudio.
_PULSE = _HOME / "pulse"
os.environ["PULSE_SERVER"] = f"unix:{_PULSE / 'native'}"
# Settings from the developer's shell must not change what the tests see.
from desktop_app.core.settings import SETTINGS  # noqa: E402

for _spec in SETTINGS:
    os.environ.pop(_spec.env, None)
os.environ["HF_HUB_OFFLINE"] = "1"

import pytest  # noqa: E402

from tests import corpus as speech  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
CORPUS = speech.CORPUS


def _terminated(signum: int, frame: object) -> None:
    """SIGTERM (``timeout``, a CI runner ending the job) ends the session as Ctrl+C does, so
    the fixtures' finalizers and :func:`pytest_unconfigure` still clean up: killed that way, a
    bare ``pytest`` run used to leave its whole folder behind."""
    raise KeyboardInterrupt


signal.signal(signal.SIGTERM, _terminated)


def pytest_unconfigure(config: pytest.Config) -> None:
    """Remove the session's folder, also after failures and Ctrl+C (pytest ends through here);
    ``scripts/test.sh`` removes it too if the process is killed outright."""
    shutil.rmtree(_HOME, ignore_errors=True)
    if _HOME.exists():
        sys.stderr.write(f"The test session could not remove {_HOME}.\n")


@pytest.hookimpl(wrapper=True, trylast=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, object, object]:
    """Deliver the Qt events a test left posted while its output is still captured.

    pytest-qt delivers them right after the test, outside output capture, so whatever they
    print reached the terminal (``qtmodeltester``'s Python checker prints a line per check when a
    queue's last updates reach its model). Exceptions they raise still fail the test.
    """
    try:
        return (yield)
    finally:
        from PySide6.QtCore import QCoreApplication

        app = QCoreApplication.instance()
        if app is not None:
            app.processEvents()


@pytest.fixture
def system_tmp_path() -> Iterator[Path]:
    """A fresh folder directly in the run's temporary folder, removed after the test: for checks
    run as another user (the session's own folder is private to this user) and for Unix socket
    paths, which must stay short."""
    folder = Path(tempfile.mkdtemp(prefix="verbatim-", dir=SYSTEM_TEMP))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def virtual_mic() -> Iterator[Path]:
    """A private PulseAudio server with a virtual microphone (``scripts/virtual_mic.sh``), for
    this session only; yields the FIFO that feeds the microphone.

    PortAudio in this process reaches it through ``PULSE_SERVER`` (set above); the user's own sound
    server (or another test run's) is never touched, and the server is stopped when the session
    ends.
    """
    if shutil.which("pulseaudio") is None:
        pytest.skip(
            "pulseaudio is not installed: apt-get install pulseaudio pulseaudio-utils "
            "libasound2-plugins libportaudio2 (scripts/setup.sh does)"
        )
    server = subprocess.Popen(
        ["bash", str(REPO / "scripts" / "virtual_mic.sh"), str(_PULSE)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        fifo = server.stdout.readline().strip()  # printed once the server is ready
        if not fifo:
            assert server.stderr is not None
            pytest.fail(f"The virtual microphone did not start: {server.stderr.read().strip()}")
        yield Path(fifo)
    finally:
        server.terminate()
        server.communicate(timeout=60)


@pytest.fixture(scope="session")
def corpus() -> Path:
    if not (CORPUS / "references.tsv").is_file():
        pytest.fail(f"The speech corpus is missing at {CORPUS} (set VERBATIM_CORPUS).")
    return CORPUS


@pytest.fixture(scope="session")
def references(corpus: Path) -> dict[str, str]:
    return speech.references(corpus)


@pytest.fixture(scope="session")
def whisper_engine():
    """One real engine (bundled tiny.en) shared by the tests that need real transcription."""
    from desktop_app.core.transcriber import WhisperEngine

    engine = WhisperEngine(cpu_threads=1, num_workers=2, max_file_size_bytes=500 * 2**20)
    engine.preload("tiny.en")
    return engine


#: Process-wide daemon threads that libraries start once and keep (tqdm's monitor is started by
#: faster-whisper's progress bar); Qt's own pool threads are checked by the queue tests instead.
LIBRARY_DAEMONS = ("QThread", "Dummy", "tqdm_monitor")


@pytest.fixture(autouse=True)
def _no_dangling_threads() -> Iterator[None]:
    """A test ends with no thread alive that it started (house rule 14)."""
    before = set(threading.enumerate())
    yield
    for thread in set(threading.enumerate()) - before:
        if thread.daemon and thread.name.startswith(LIBRARY_DAEMONS):
            continue
        thread.join(timeout=10)
        if thread.is_alive():
            pytest.fail(f"thread {thread.name!r} is still alive after the test")
