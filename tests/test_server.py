"""The local server over real HTTP on a free loopback port, with the real server and queue.

A fake engine with a gate stands in for the model where the queue's logic is tested; the real
model transcribes the corpus where the transcript matters.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from desktop_app.core.job_store import JobStore
from desktop_app.core.jobs import Job, JobState
from desktop_app.core.settings import load_settings
from desktop_app.core.transcriber import TranscriptionOptions
from desktop_app.core.transcript import Segment, Transcript
from desktop_app.job_queue import JobQueue
from desktop_app.server.errors import ErrorCode
from desktop_app.server.runner import ApiServer
from tests.fakes import FakeEngine
from tests.media import write_wav

Started = tuple[ApiServer, JobQueue, httpx.Client]


@pytest.fixture
def short_wav(tmp_path: Path) -> Path:
    """A quarter second of a tone: real audio that the server's probe accepts."""
    samples = 0.1 * np.sin(np.arange(4000) * 2 * np.pi * 440 / 16000).astype(np.float32)
    return write_wav(tmp_path / "tone.wav", samples)


@pytest.fixture
def serve(qapp, tmp_path: Path) -> Iterator[Callable[..., Started]]:
    """Start a server over a new queue; every one started is stopped at the end."""
    started: list[Started] = []

    def start(engine: Any = None, workers: int = 2, queue_size: int = 3, **changes: Any) -> Started:
        settings = load_settings(environ={}).replace(
            api_port=0, max_concurrent_workers=workers, max_queue_size=queue_size, **changes
        )
        queue = JobQueue(
            engine if engine is not None else FakeEngine(),
            max_workers=workers,
            max_queue_size=queue_size,
        )
        server = ApiServer(queue, settings, upload_dir=tmp_path / "uploads")
        server.start()
        client = httpx.Client(base_url=f"http://127.0.0.1:{server.port}", timeout=60)
        started.append((server, queue, client))
        return server, queue, client

    yield start
    for server, queue, client in started:
        client.close()
        server.stop()
        queue.shutdown()


def upload(client: httpx.Client, path: Path, name: str | None = None, **fields: str):
    with path.open("rb") as file:
        return client.post(
            "/api/v1/transcribe/batch",
            files={"audio_file": (name or path.name, file, "application/octet-stream")},
            data=fields,
        )


def uploads_left(server: ApiServer) -> list[Path]:
    return sorted(server.config.upload_dir.rglob("*"))


def test_capacity_has_exactly_the_original_fields(serve):
    _, _, client = serve(workers=2, queue_size=3)
    response = client.get("/api/v1/capacity")
    assert response.status_code == 200
    assert response.json() == {
        "active_jobs": 0,
        "queued_jobs": 0,
        "max_workers": 2,
        "max_queue_size": 3,
        "available_capacity": 3,
        "at_capacity": False,
    }


def test_twenty_concurrent_uploads_accept_exactly_five_and_refuse_fifteen(serve, short_wav):
    gate = threading.Event()
    engine = FakeEngine(gate=gate)
    server, queue, client = serve(engine=engine, workers=2, queue_size=3)
    with ThreadPoolExecutor(20) as pool:
        responses = list(pool.map(lambda i: upload(client, short_wav, f"clip{i}.wav"), range(20)))
    accepted = [r for r in responses if r.status_code == 202]
    refused = [r for r in responses if r.status_code == 503]
    assert (len(accepted), len(refused)) == (5, 15)
    full = {
        "active_jobs": 2,
        "queued_jobs": 3,
        "max_workers": 2,
        "max_queue_size": 3,
        "available_capacity": 0,
        "at_capacity": True,
    }
    for response in refused:
        body = response.json()
        assert set(body) == {"error"}
        assert set(body["error"]) == {"code", "message", "details"}
        assert body["error"]["code"] == "AT_CAPACITY"
        assert body["error"]["details"] == full
        assert int(response.headers["Retry-After"]) >= 1
    assert client.get("/api/v1/capacity").json() == full
    ids = {r.json()["job_id"] for r in accepted}
    assert ids == {job.id for job in queue.jobs()}
    # Only the accepted uploads are kept on disk, one folder each.
    assert len([p for p in uploads_left(server) if p.is_file()]) == 5
    gate.set()
    for job_id in ids:
        poll_until_finished(client, job_id)
    assert client.get("/api/v1/capacity").json()["active_jobs"] == 0
    assert sorted(engine.calls) == sorted(job.path for job in queue.jobs())  # none twice


def poll_until_finished(client: httpx.Client, job_id: str, timeout_s: float = 300) -> dict:
    """Poll the job as a client would, until it has finished (a busy machine may take long)."""
    import time

    deadline = time.monotonic() + timeout_s
    while True:
        job = client.get(f"/api/v1/jobs/{job_id}").json()
        if JobState(job["state"]).finished:
            return job
        assert time.monotonic() < deadline, f"job {job_id} did not finish: {job}"
        threading.Event().wait(0.05)


def test_oversize_upload_is_refused_with_413_and_nothing_left(serve, tmp_path):
    server, queue, client = serve(max_file_size_mb=1)
    big = tmp_path / "big.wav"
    big.write_bytes(b"\0" * (2 * 2**20))
    response = upload(client, big)
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "FILE_TOO_LARGE"
    assert "MAX_FILE_SIZE_MB" in response.json()["error"]["message"]
    assert uploads_left(server) == []
    assert queue.jobs() == []


def test_a_file_that_is_not_audio_is_refused_naming_it(serve, tmp_path):
    server, queue, client = serve()
    garbage = tmp_path / "notes.wav"
    garbage.write_bytes(b"this is not audio at all\n" * 100)
    response = upload(client, garbage)
    assert response.status_code == 415
    error = response.json()["error"]
    assert error["code"] == "NOT_AUDIO"
    assert error["message"].startswith("notes.wav: ")
    assert uploads_left(server) == []
    assert queue.jobs() == []


def test_a_request_without_a_file_is_refused_clearly(serve):
    _, _, client = serve()
    response = client.post("/api/v1/transcribe/batch", data={"language": "en"})
    assert response.status_code == 422
    assert "audio_file" in response.json()["error"]["message"]


@pytest.mark.parametrize(
    "name",
    ["../../etc/passwd.wav", "/tmp/abs.wav", "..\\..\\win.wav", "a\x00b.wav", ".hidden.wav"],
)
def test_path_like_upload_names_stay_inside_their_folder(serve, short_wav, name):
    server, queue, client = serve()
    response = upload(client, short_wav, name)
    assert response.status_code == 202, response.text
    (job,) = queue.jobs()
    assert job.path.parent.parent == server.config.upload_dir
    assert job.path.is_file()
    assert "/" not in job.name and "\\" not in job.name and "\0" not in job.name


def test_a_non_utf8_upload_name_is_stored_safely(serve, short_wav):
    server, queue, client = serve()
    boundary = "verbatimboundary"
    body = (
        f"--{boundary}\r\n".encode()
        + b'Content-Disposition: form-data; name="audio_file"; filename="caf\xe9 \xff.wav"\r\n'
        + b"Content-Type: audio/wav\r\n\r\n"
        + short_wav.read_bytes()
        + f"\r\n--{boundary}--\r\n".encode()
    )
    response = client.post(
        "/api/v1/transcribe/batch",
        content=body,
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    assert response.status_code == 202, response.text
    (job,) = queue.jobs()
    assert job.path.parent.parent == server.config.upload_dir
    assert job.name.encode("utf-8")  # valid text: the bad bytes were replaced
    assert job.name.endswith(".wav")


def test_bad_options_are_refused_naming_the_field(serve, short_wav):
    server, queue, client = serve()
    response = upload(client, short_wav, output_formats="srt,doc")
    assert response.status_code == 422
    assert "doc" in response.json()["error"]["message"]
    response = upload(client, short_wav, language="de")  # the English-only bundled model
    assert response.status_code == 422
    assert "WHISPER_LANGUAGE" in response.json()["error"]["message"]
    assert uploads_left(server) == [] and queue.jobs() == []


def test_jobs_cancel_move_to_top_and_remove(serve, short_wav):
    gate = threading.Event()
    _, queue, client = serve(engine=FakeEngine(gate=gate), workers=1, queue_size=3)
    ids = [upload(client, short_wav, f"c{i}.wav").json()["job_id"] for i in range(3)]
    listed = client.get("/api/v1/jobs").json()["jobs"]
    assert [job["id"] for job in listed] == ids
    assert {job["source"] for job in listed} == {"api"}
    assert client.post(f"/api/v1/jobs/{ids[2]}/move-to-top").status_code == 200
    assert queue.pending_ids() == [ids[2], ids[1]]
    assert client.post(f"/api/v1/jobs/{ids[0]}/move-to-top").status_code == 409
    cancelled = client.delete(f"/api/v1/jobs/{ids[1]}")
    assert cancelled.status_code == 200
    assert queue.job(ids[1]).state is JobState.CANCELLED
    assert client.get("/api/v1/jobs/nope").status_code == 404
    gate.set()
    poll_until_finished(client, ids[0])
    poll_until_finished(client, ids[2])
    folder = queue.job(ids[0]).path.parent
    removed = client.delete(f"/api/v1/jobs/{ids[0]}").json()
    assert removed == {"job_id": ids[0], "removed": True}
    assert not folder.exists()  # the upload goes with its job
    text = client.get(f"/api/v1/jobs/{ids[2]}/transcript", params={"format": "txt"})
    assert text.status_code == 200 and "segment 0 of c2.wav" in text.text
    assert client.get(f"/api/v1/jobs/{ids[1]}/transcript").status_code == 409
    bad = client.get(f"/api/v1/jobs/{ids[2]}/transcript", params={"format": "doc"})
    assert bad.status_code == 422


def test_health_openapi_and_docs_are_served(serve):
    _, _, client = serve()
    assert client.get("/api/v1/health").json()["status"] == "ok"
    paths = client.get("/openapi.json").json()["paths"]
    assert "/api/v1/transcribe/batch" in paths and "/api/v1/capacity" in paths
    assert client.get("/docs").status_code == 200


def test_the_port_in_use_is_a_clear_error(qapp, tmp_path):
    from desktop_app.server.runner import ServerError

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        settings = load_settings(environ={}).replace(api_port=taken.getsockname()[1])
        queue = JobQueue(FakeEngine(), max_workers=1, max_queue_size=1)
        server = ApiServer(queue, settings, upload_dir=tmp_path / "uploads")
        with pytest.raises(ServerError, match="API_PORT"):
            server.start()
        server.stop()


def raw_upload_start(port: int, announced: int) -> socket.socket:
    """A client that announces ``announced`` bytes of upload and sends only the beginning."""
    boundary = "trickle"
    head = (
        f"--{boundary}\r\n"
        'Content-Disposition: form-data; name="audio_file"; filename="slow.wav"\r\n\r\n'
    ).encode()
    connection = socket.create_connection(("127.0.0.1", port))
    connection.sendall(
        b"POST /api/v1/transcribe/batch HTTP/1.1\r\nHost: x\r\n"
        + f"Content-Type: multipart/form-data; boundary={boundary}\r\n".encode()
        + f"Content-Length: {announced}\r\n\r\n".encode()
        + head
        + b"RIFF" * 1000
    )
    return connection


def test_a_client_that_drops_mid_upload_leaves_no_job_and_no_file(serve, qtbot):
    server, queue, _ = serve()
    connection = raw_upload_start(server.port, 10 * 2**20)
    qtbot.waitUntil(lambda: len(uploads_left(server)) == 2)  # its folder and its file
    connection.close()
    metrics = server.state.metrics
    qtbot.waitUntil(lambda: metrics.refusals(ErrorCode.CLIENT_DISCONNECTED) == 1, timeout=30_000)
    assert uploads_left(server) == []
    assert queue.jobs() == []


def test_a_trickling_client_does_not_hold_up_the_others(serve, short_wav, qtbot):
    server, queue, client = serve()
    slow = raw_upload_start(server.port, 10 * 2**20)
    try:
        qtbot.waitUntil(lambda: len(uploads_left(server)) == 2)
        assert client.get("/api/v1/capacity").status_code == 200
        response = upload(client, short_wav)
        assert response.status_code == 202
        slow.sendall(b"more")  # still being read, still not a job
        assert [job.id for job in queue.jobs()] == [response.json()["job_id"]]
    finally:
        slow.close()


def test_too_many_requests_get_429_with_retry_after_and_are_counted(serve):
    _, _, client = serve(api_rate_limit=3)
    assert [client.get("/api/v1/capacity").status_code for _ in range(3)] == [200] * 3
    refused = client.get("/api/v1/capacity")
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "RATE_LIMITED"
    assert int(refused.headers["Retry-After"]) >= 1
    metrics = client.get("/metrics")  # not an API call: scrapers are not limited
    assert metrics.status_code == 200
    assert 'verbatim_refusals_total{reason="RATE_LIMITED"} 1' in metrics.text


def test_off_loopback_every_request_needs_the_token(serve):
    _, _, client = serve(api_host="0.0.0.0", api_token="s3cret-token")
    refused = client.get("/api/v1/capacity")
    assert refused.status_code == 401
    assert refused.json()["error"]["code"] == "UNAUTHORIZED"
    assert refused.headers["WWW-Authenticate"] == "Bearer"
    wrong = client.get("/api/v1/capacity", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    good = client.get("/api/v1/capacity", headers={"Authorization": "Bearer s3cret-token"})
    assert good.status_code == 200


def test_off_loopback_without_a_token_the_server_does_not_start(qapp, tmp_path):
    from desktop_app.server.runner import ServerError

    settings = load_settings(environ={}).replace(api_port=0, api_host="0.0.0.0")
    queue = JobQueue(FakeEngine(), max_workers=1, max_queue_size=1)
    server = ApiServer(queue, settings, upload_dir=tmp_path / "uploads")
    with pytest.raises(ServerError, match="API_TOKEN"):
        server.start()
    server.stop()


def test_cors_only_for_the_configured_origins(serve):
    _, _, plain = serve()
    preflight = {
        "Origin": "http://app.example",
        "Access-Control-Request-Method": "POST",
    }
    assert (
        "access-control-allow-origin"
        not in plain.options("/api/v1/capacity", headers=preflight).headers
    )
    _, _, allowed = serve(api_cors_origins="http://app.example")
    answer = allowed.options("/api/v1/capacity", headers=preflight)
    assert answer.headers["access-control-allow-origin"] == "http://app.example"


def test_metrics_count_finished_jobs_and_their_audio(serve, short_wav):
    _, _, client = serve(engine=FakeEngine(segments=3))
    job_id = upload(client, short_wav).json()["job_id"]
    poll_until_finished(client, job_id)
    text = client.get("/metrics").text
    assert 'verbatim_jobs_finished_total{state="done"} 1' in text
    assert "verbatim_audio_seconds_total 3.000" in text
    assert "verbatim_processing_seconds_count 1" in text
    assert "verbatim_active_jobs 0" in text


class WatchedQueue(JobQueue):
    """A queue that notes which threads read its live jobs (``job``/``jobs``)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.live_reads: list[str] = []

    def _note(self) -> None:
        name = threading.current_thread().name
        if name.startswith("verbatim-api"):  # the server's loop and its executor
            self.live_reads.append(name)

    def job(self, job_id: str) -> Job | None:
        self._note()
        return super().job(job_id)

    def jobs(self) -> list[Job]:
        self._note()
        return super().jobs()


def test_the_handlers_read_jobs_only_as_snapshots(qapp, tmp_path, short_wav):
    """A worker changes a live job while it runs; the server must read frozen snapshots."""
    gate = threading.Event()
    queue = WatchedQueue(FakeEngine(gate=gate), max_workers=1, max_queue_size=3)
    settings = load_settings(environ={}).replace(api_port=0)
    server = ApiServer(queue, settings, upload_dir=tmp_path / "uploads", clean_up_jobs=True)
    server.start()
    try:
        with httpx.Client(base_url=server.url, timeout=60) as client:
            ids = [upload(client, short_wav, f"c{i}.wav").json()["job_id"] for i in range(3)]
            assert client.post(f"/api/v1/jobs/{ids[2]}/move-to-top").status_code == 200
            assert client.delete(f"/api/v1/jobs/{ids[1]}").json()["state"] == "cancelled"
            assert len(client.get("/api/v1/jobs").json()["jobs"]) == 3
            gate.set()
            done = poll_until_finished(client, ids[0])
            assert done["segments"][0]["text"] == "segment 0 of c0.wav"
            assert client.get(f"/api/v1/jobs/{ids[0]}/transcript").status_code == 200
            assert "verbatim_active_jobs" in client.get("/metrics").text
            assert client.delete(f"/api/v1/jobs/{ids[0]}").json()["removed"] is True
            assert client.get(f"/api/v1/jobs/{ids[0]}").status_code == 404
    finally:
        server.stop()
        queue.shutdown()
    assert queue.live_reads == []


def test_a_restored_jobs_transcript_is_read_off_the_loop_and_outside_the_queue_lock(
    qapp, tmp_path, monkeypatch
):
    """A restored job reads its transcript from the store when first asked: disk I/O, which
    must happen neither on the server's loop (every request waits for it) nor under the queue's
    lock (the window's GUI thread waits for that)."""
    store_path = tmp_path / "jobs.sqlite3"
    job = Job(path=tmp_path / "talk.wav", options=TranscriptionOptions())
    job.state, job.progress, job.language = JobState.DONE, 1.0, "en"
    job.segments = [Segment(0.0, 1.5, "Restored words.")]
    job.transcript = Transcript(list(job.segments), "en", 0.9, 1.5, "tiny.en", str(job.path))
    job.started_at = job.finished_at = job.created_at
    writer = JobStore(store_path)
    writer.add_job(job)
    writer.close()
    store = JobStore(store_path)
    queue = JobQueue(FakeEngine(), max_workers=1, max_queue_size=1, store=store)
    queue.restore()
    reads: list[tuple[str, bool]] = []
    read_segments = JobStore.read_segments

    def noting_reads(self: JobStore, job_id: str) -> list[Segment]:
        reads.append((threading.current_thread().name, queue._lock._is_owned()))  # type: ignore[attr-defined]
        return read_segments(self, job_id)

    monkeypatch.setattr(JobStore, "read_segments", noting_reads)
    settings = load_settings(environ={}).replace(api_port=0)
    server = ApiServer(queue, settings, upload_dir=tmp_path / "uploads")
    server.start()
    try:
        with httpx.Client(base_url=server.url, timeout=60) as client:
            detail = client.get(f"/api/v1/jobs/{job.id}").json()
            srt = client.get(f"/api/v1/jobs/{job.id}/transcript", params={"format": "srt"})
    finally:
        server.stop()
        queue.shutdown()
        store.close()
    assert [segment["text"] for segment in detail["segments"]] == ["Restored words."]
    assert "Restored words." in srt.text
    assert reads, "the transcript was read from the store when first asked"
    for thread, under_queue_lock in reads:
        assert thread.startswith("verbatim-api_"), f"read on {thread}, not the executor"
        assert not under_queue_lock


def test_capacity_is_answered_while_the_queue_lock_is_held(serve, short_wav):
    """The queue's lock is held while a worker records a segment and while the store commits;
    ``/capacity`` (on the server's loop, where every request waits for it) must not wait for it."""
    gate = threading.Event()
    _, queue, client = serve(engine=FakeEngine(gate=gate), workers=1, queue_size=2)
    assert upload(client, short_wav).status_code == 202
    held, release = threading.Event(), threading.Event()
    gave_up = threading.Event()

    def hold_the_lock() -> None:
        with queue._lock:
            held.set()
            if not release.wait(60):
                gave_up.set()

    holder = threading.Thread(target=hold_the_lock)
    holder.start()
    try:
        held.wait()
        answer = client.get("/api/v1/capacity", timeout=120)
        answered_while_held = not gave_up.is_set()
    finally:
        release.set()
        holder.join()
        gate.set()
    assert answered_while_held, "/capacity waited for the queue's lock"
    assert answer.json()["active_jobs"] == 1
