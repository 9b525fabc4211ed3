"""One writer per job store: the lock on the store itself, whatever happens to the socket."""

from __future__ import annotations

import os
import re
import signal
import stat
import subprocess
import sys

import pytest

from desktop_app.core.job_store import JobStore, JobStoreError, StoreLock, StoreLockedError
from tests.processes import REPO, run_python

OPEN_FOR_WRITING = """
import sys
from desktop_app.core.job_store import JobStore, JobStoreError
try:
    JobStore(sys.argv[1]).close()
except JobStoreError as error:
    print(error)
    sys.exit(3)
"""


def open_elsewhere(path) -> subprocess.CompletedProcess[str]:
    return run_python(OPEN_FOR_WRITING.replace("sys.argv[1]", repr(str(path))))


def test_a_second_process_cannot_write_a_store_another_one_writes(tmp_path):
    path = tmp_path / "jobs.sqlite3"
    store = JobStore(path)
    try:
        refused = open_elsewhere(path)
        assert refused.returncode == 3, refused.stderr
        assert "already running" in refused.stdout and str(path) in refused.stdout
        reader = JobStore(path, read_only=True)  # verbatim-cli jobs reads beside the window
        assert reader.load_jobs() == []
        reader.close()
    finally:
        store.close()
    assert open_elsewhere(path).returncode == 0, "closing the store releases its lock"


def test_the_lock_is_reentrant_within_a_process_and_released_by_the_last_holder(tmp_path):
    path = tmp_path / "jobs.sqlite3"
    early = StoreLock.acquire(path)  # what the window's start-up takes first
    store = JobStore(path)  # the store the window opens later, in the same process
    store.close()
    assert open_elsewhere(path).returncode == 3, "the start-up's hold is still there"
    early.release()
    early.release()  # harmless
    assert open_elsewhere(path).returncode == 0


def test_a_killed_owner_leaves_no_lock_behind(tmp_path):
    path = tmp_path / "jobs.sqlite3"
    code = (
        "import sys\n"
        "from desktop_app.core.job_store import JobStore\n"
        f"store = JobStore({str(path)!r})\n"
        "print('open', flush=True)\n"
        "sys.stdin.read()\n"
    )
    with subprocess.Popen(
        [sys.executable, "-c", code],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    ) as owner:
        assert owner.stdout is not None
        assert owner.stdout.readline().strip() == "open"
        with pytest.raises(StoreLockedError, match="already running"):
            StoreLock.acquire(path)
        owner.send_signal(signal.SIGKILL)
        owner.wait(timeout=30)
    StoreLock.acquire(path).release()


def test_a_file_where_the_data_folder_should_be_is_a_sentence_not_a_traceback(tmp_path):
    blocker = tmp_path / "verbatim"
    blocker.write_text("not a folder")
    blocker.chmod(0o644)
    with pytest.raises(JobStoreError, match=re.escape(str(blocker))):
        JobStore(blocker / "jobs.sqlite3")
    assert stat.S_IMODE(blocker.stat().st_mode) == 0o644, "the file in the way is left as it was"
