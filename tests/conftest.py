"""Test set-up: headless Qt, isolated user folders, the real corpus, no dangling work."""

from __future__ import annotations

import os
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

# Before anything imports Qt or platformdirs: headless, and never the real user's folders.
os.environ["QT_QPA_PLATFORM"] = "offscreen"
_HOME = Path(tempfile.mkdtemp(prefix="verbatim-tests-"))
for _var, _sub in (
    ("XDG_DATA_HOME", "data"),
    ("XDG_CONFIG_HOME", "config"),
    ("XDG_CACHE_HOME", "cache"),
    ("XDG_STATE_HOME", "state"),
):
    os.environ[_var] = str(_HOME / _sub)
# Settings from the developer's shell must not change what the tests see.
from desktop_app.core.settings import SETTINGS  # noqa: E402

for _spec in SETTINGS:
    os.environ.pop(_spec.env, None)
os.environ["HF_HUB_OFFLINE"] = "1"

import pytest  # noqa: E402

from tests import corpus as speech  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
CORPUS = speech.CORPUS


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
