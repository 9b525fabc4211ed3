"""The live WebSocket stream with the real model: corpus speech at real-time pace gives finals
within the live WER bound, and a socket closed early still becomes a job with its last words."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from desktop_app.core.audio import load_audio
from desktop_app.core.jobs import JobState
from desktop_app.core.settings import load_settings
from desktop_app.job_queue import JobQueue
from desktop_app.server.errors import ErrorCode
from desktop_app.server.runner import ApiServer
from tests.fakes import FakeEngine
from tests.test_engine import wer

CHUNK_SECONDS = 0.1


@pytest.fixture
def server(qapp, tmp_path: Path) -> Iterator[ApiServer]:
    settings = load_settings(environ={}).replace(api_port=0, api_max_streams=1)
    queue = JobQueue(FakeEngine(), max_workers=1, max_queue_size=1)
    api = ApiServer(queue, settings, upload_dir=tmp_path / "uploads")
    api.start()
    yield api
    api.stop()
    queue.shutdown()


def pcm_chunks(path: Path, seconds: float | None = None) -> list[bytes]:
    audio = load_audio(path)
    if seconds is not None:
        audio = audio[: int(seconds * 16000)]
    pcm = (np.clip(audio, -1, 1) * 32767).astype("<i2").tobytes()
    step = int(CHUNK_SECONDS * 16000) * 2
    return [pcm[i : i + step] for i in range(0, len(pcm), step)]


def stream_url(server: ApiServer) -> str:
    return f"ws://127.0.0.1:{server.port}/api/v1/transcribe/stream"


def test_streamed_speech_gives_the_listen_events_and_becomes_a_job(server, corpus, references):
    pace = threading.Event()
    with connect(stream_url(server), open_timeout=120) as socket:
        for chunk in pcm_chunks(corpus / "LJ050-0131.wav"):
            socket.send(chunk)
            pace.wait(CHUNK_SECONDS)  # real-time pace, as a microphone would send
        socket.send("end")
        messages = []
        try:
            while True:
                messages.append(json.loads(socket.recv(timeout=300)))
        except ConnectionClosed:
            pass
    *events, last = messages
    assert last["type"] == "job"
    assert {event["type"] for event in events} <= {"partial", "final"}
    for event in events:
        assert set(event) == {"type", "text", "start", "end", "emitted_at", "words"}
    finals = " ".join(event["text"] for event in events if event["type"] == "final")
    assert wer(references["LJ050-0131.wav"], finals) <= 0.2, finals
    job = server.state.queue.job(last["job_id"])
    assert job is not None and job.state is JobState.DONE
    assert job.path.parent.parent == server.config.upload_dir and job.path.is_file()
    assert wer(references["LJ050-0131.wav"], job.transcript.text) <= 0.2


def test_closing_the_socket_early_still_keeps_the_last_words(server, corpus, qtbot):
    with connect(stream_url(server), open_timeout=120) as socket:
        for chunk in pcm_chunks(corpus / "jfk.flac", seconds=4.5):
            socket.send(chunk)
    queue = server.state.queue
    qtbot.waitUntil(lambda: len(queue.jobs()) == 1, timeout=300_000)
    (job,) = queue.jobs()
    assert "fellow americans" in job.transcript.text.lower(), job.transcript.text


def test_a_second_stream_from_one_client_is_refused_with_429(server):
    with connect(stream_url(server), open_timeout=120) as first:
        with pytest.raises(InvalidStatus) as refused:
            connect(stream_url(server), open_timeout=120)
        response = refused.value.response
        assert response.status_code == 429
        assert json.loads(response.body)["error"]["code"] == "TOO_MANY_STREAMS"
        assert server.state.metrics.refusals(ErrorCode.TOO_MANY_STREAMS) == 1
        first.send("end")
        with pytest.raises(ConnectionClosed):
            while True:
                first.recv(timeout=60)


def test_a_stream_off_loopback_needs_the_token(qapp, tmp_path):
    settings = load_settings(environ={}).replace(api_port=0, api_host="0.0.0.0", api_token="tok")
    queue = JobQueue(FakeEngine(), max_workers=1, max_queue_size=1)
    api = ApiServer(queue, settings, upload_dir=tmp_path / "uploads")
    api.start()
    try:
        with pytest.raises(InvalidStatus) as refused:
            connect(stream_url(api), open_timeout=60)
        assert refused.value.response.status_code == 401
        with connect(stream_url(api) + "?token=tok", open_timeout=120) as allowed:
            allowed.send("end")
            with pytest.raises(ConnectionClosed):
                while True:
                    allowed.recv(timeout=60)
    finally:
        api.stop()
        queue.shutdown()
