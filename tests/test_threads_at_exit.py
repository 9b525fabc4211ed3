"""The command line and the desktop app end with no thread of theirs alive, in a fresh
interpreter as a user runs them: a thread still running Python code while the interpreter
finalizes can crash it after all the work is done (once seen as a fatal error at exit)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.processes import REPO

#: Runs ``main`` of the module, then lists the threads still alive besides the main thread
#: (Qt's pool threads, idle in C++ once their pool is done, and tqdm's monitor, a daemon that
#: faster-whisper's progress bar starts once per process, are the libraries' own); then the
#: interpreter exits as it does for a user.
CHECK = """
import os, sys, threading
from {module} import main
code = main({argv!r})
left = [
    thread.name
    for thread in threading.enumerate()
    if thread is not threading.main_thread()
    and not isinstance(thread, threading._DummyThread)
    and not thread.name.startswith("tqdm_monitor")
]
print("THREADS LEFT", left, flush=True)
if left:
    os._exit(3)  # a thread left behind would hold the exit until the test's timeout
sys.exit(code)
"""


def run_main(module: str, argv: list[str], home: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO), "QT_QPA_PLATFORM": "offscreen"}
    for var in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME"):
        env[var] = str(home / var.lower())
    return subprocess.run(
        [sys.executable, "-c", CHECK.format(module=module, argv=argv)],
        capture_output=True,
        text=True,
        timeout=240,
        env=env,
    )


@pytest.mark.parametrize(
    ("module", "args"),
    [
        ("desktop_app.cli", ["transcribe", "{clip}", "--output-dir", "{out}"]),
        ("desktop_app.app", ["{clip}", "--quit-when-done"]),
    ],
    ids=["command line", "window"],
)
def test_no_thread_is_left_when_main_returns(tmp_path, corpus, module, args) -> None:
    argv = [arg.format(clip=corpus / "jfk.flac", out=tmp_path / "out") for arg in args]
    result = run_main(module, argv, tmp_path / "home")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "THREADS LEFT []" in result.stdout, result.stdout[-2000:]
    assert "Fatal Python error" not in result.stderr
