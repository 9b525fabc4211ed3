"""``verbatim-cli serve`` in a subprocess with the real model: the transcript matches the CLI's,
SIGTERM stops it cleanly, one process per store, and a SIGKILL with jobs running loses and
duplicates nothing after a restart."""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest

from desktop_app.core.audio import load_audio
from tests.media import write_wav
from tests.test_cli import cli

REPO = Path(__file__).resolve().parent.parent
#: One worker, so the child's decoding threads match the CLI's and the results are the same.
ENV = {"MAX_CONCURRENT_WORKERS": "1"}


class Serve:
    """One ``verbatim-cli serve`` child on a free port, with its own user folders."""

    def __init__(self, home: Path, command: list[str] | None = None) -> None:
        self.env = {
            **os.environ,
            **ENV,
            "API_RATE_LIMIT": "1000000",  # the tests poll often; the limit has its own test
            "PYTHONPATH": str(REPO),
            "XDG_DATA_HOME": str(home / "data"),
            "XDG_CONFIG_HOME": str(home / "config"),
            "XDG_STATE_HOME": str(home / "state"),
        }
        self.process = subprocess.Popen(
            command or [sys.executable, "-m", "desktop_app.cli", "serve", "--port", "0"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=self.env,
        )
        self.lines: list[str] = []
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line)
            if line.startswith("Press Ctrl+C"):
                break
        served = [line for line in self.lines if line.startswith("Serving Verbatim on ")]
        assert served, f"serve did not start: {self.lines} {self.process.stderr.read()}"  # type: ignore[union-attr]
        self.url = served[0].split()[3]
        self.client = httpx.Client(base_url=self.url, timeout=60)
        self._rest = threading.Thread(target=self._read_rest, daemon=True)
        self._rest.start()

    def _read_rest(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line)

    def stop(self, sig: int = signal.SIGTERM) -> int:
        self.client.close()
        if self.process.poll() is None:
            self.process.send_signal(sig)
        code = self.process.wait(timeout=120)
        self._rest.join(timeout=10)
        self.process.stderr.close()  # type: ignore[union-attr]
        self.process.stdout.close()  # type: ignore[union-attr]
        return code


@pytest.fixture
def serving(tmp_path: Path) -> Iterator[list[Serve]]:
    children: list[Serve] = []
    yield children
    for child in children:
        child.stop(signal.SIGKILL)


def start(children: list[Serve], home: Path, command: list[str] | None = None) -> Serve:
    children.append(Serve(home, command))
    return children[-1]


def upload(serve: Serve, path: Path) -> str:
    with path.open("rb") as file:
        response = serve.client.post(
            "/api/v1/transcribe/batch", files={"audio_file": (path.name, file)}
        )
    assert response.status_code == 202, response.text
    return response.json()["job_id"]


def wait_for(serve: Serve, condition, what: str, timeout_s: float = 300):
    """Poll the API until ``condition(jobs)`` holds (a busy machine may take long)."""
    deadline = time.monotonic() + timeout_s
    while True:
        jobs = {job["id"]: job for job in serve.client.get("/api/v1/jobs").json()["jobs"]}
        details = {job_id: serve.client.get(f"/api/v1/jobs/{job_id}").json() for job_id in jobs}
        if condition(details):
            return details
        assert serve.process.poll() is None, "serve ended"
        assert time.monotonic() < deadline, f"timed out waiting until {what}: {jobs}"
        threading.Event().wait(0.25)


def test_uploaded_corpus_clip_gives_the_same_srt_as_the_cli(tmp_path, corpus, serving):
    serve = start(serving, tmp_path / "home")
    job_id = upload(serve, corpus / "jfk.flac")
    wait_for(serve, lambda jobs: jobs[job_id]["state"] == "done", "the job is done")
    served = serve.client.get(f"/api/v1/jobs/{job_id}/transcript", params={"format": "srt"})
    assert served.status_code == 200
    assert served.headers["content-type"].startswith("application/x-subrip")
    result = cli("transcribe", str(corpus / "jfk.flac"), "-f", "srt", "-o", str(tmp_path), env=ENV)
    assert result.returncode == 0, result.stderr
    assert served.text == (tmp_path / "jfk.srt").read_text(encoding="utf-8")
    assert serve.stop() == 0  # SIGTERM: a clean exit
    assert any(line.startswith("Stopping") for line in serve.lines)


def test_a_second_serve_on_the_same_store_is_refused(tmp_path, serving):
    start(serving, tmp_path / "home")
    second = subprocess.run(
        [sys.executable, "-m", "desktop_app.cli", "serve", "--port", "0"],
        capture_output=True,
        text=True,
        env=serving[0].env,
        timeout=120,
    )
    assert second.returncode == 1
    assert "Verbatim is already running with the job store" in second.stderr
    assert "Traceback" not in second.stderr


def test_serve_is_refused_while_the_window_runs_on_the_data_folder(tmp_path):
    """The window holds its store's lock for its life (as ``app.py`` takes it); serve needs it."""
    from desktop_app.core.job_store import StoreLock
    from desktop_app.core.paths import APP_DIR_NAME

    home = tmp_path / "home"
    store = home / "data" / APP_DIR_NAME / "jobs.sqlite3"
    window = StoreLock.acquire(store)
    try:
        env = {**os.environ, "PYTHONPATH": str(REPO), "XDG_DATA_HOME": str(home / "data")}
        refused = subprocess.run(
            [sys.executable, "-m", "desktop_app.cli", "serve", "--port", "0"],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
        )
    finally:
        window.release()
    assert refused.returncode == 1
    assert "Verbatim is already running with the job store" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert not store.exists()


@pytest.mark.slow
@pytest.mark.timeout(1800)  # a 34 s file twice on a loaded machine: minutes per 30 s window
def test_sigkill_with_jobs_running_then_restart_resumes_them_once(tmp_path, corpus, serving):
    jfk = load_audio(corpus / "jfk.flac")
    gap = np.zeros(4000, dtype=np.float32)
    long = write_wav(tmp_path / "long.wav", np.concatenate([np.concatenate([jfk, gap])] * 3))
    home = tmp_path / "home"
    serve = start(serving, home)
    long_id = upload(serve, long)
    short_id = upload(serve, corpus / "LJ050-0131.wav")
    before = wait_for(
        serve,
        lambda jobs: jobs[long_id]["state"] == "running" and len(jobs[long_id]["segments"]) >= 2,
        "the long job has stored segments",
        timeout_s=900,
    )
    kept = before[long_id]["segments"]
    serve.stop(signal.SIGKILL)

    again = start(serving, home)  # the kernel dropped the store lock with the process
    assert any(line.startswith("Restored 2 job(s)") for line in again.lines)
    after = wait_for(
        again,
        lambda jobs: all(job["state"] == "done" for job in jobs.values()),
        "both jobs are done",
        timeout_s=900,
    )
    assert set(after) == {long_id, short_id}, "the same jobs, none added, none lost"
    segments = after[long_id]["segments"]
    assert segments[: len(kept)] == kept, "stored segments kept as they were"
    for previous, following in itertools.pairwise(segments):
        assert following["start"] >= previous["end"], f"repeat: {previous} / {following}"
    text = " ".join(segment["text"] for segment in segments).lower()
    assert text.count("country") >= 2
    assert again.stop() == 0


# ``verbatim-cli serve``'s own code (store lock, restore, signals, server) over a fake engine
# that takes 4 s a file, so that the kill comes mid-job in seconds on any machine.
FAKE_SERVE = """
import sys
from desktop_app.cli.serve import serve
from desktop_app.core.settings import load_settings
from tests.fakes import FakeEngine
settings = load_settings().replace(api_port=0, max_concurrent_workers=1, max_queue_size=5)
sys.exit(serve(settings, engine=FakeEngine(segments=40, segment_seconds=0.1)))
"""


def test_sigkill_of_serve_then_restart_runs_every_job_once(tmp_path, serving, corpus):
    home = tmp_path / "home"
    command = [sys.executable, "-c", FAKE_SERVE]
    serve = start(serving, home, command)
    ids = [upload(serve, corpus / "LJ050-0131.wav") for _ in range(3)]
    wait_for(
        serve,
        lambda jobs: jobs[ids[0]]["state"] == "running" and len(jobs[ids[0]]["segments"]) >= 2,
        "the first job has stored segments",
    )
    serve.stop(signal.SIGKILL)

    again = start(serving, home, command)
    assert any(line.startswith("Restored 3 job(s)") for line in again.lines), again.lines
    after = wait_for(
        again,
        lambda jobs: len(jobs) == 3 and all(job["state"] == "done" for job in jobs.values()),
        "every job is done",
    )
    assert sorted(after) == sorted(ids), "the same jobs, none added, none lost"
    uploads = {Path(job["file"]).name for job in after.values()}
    assert uploads == {"LJ050-0131.wav"}
    assert again.stop() == 0
