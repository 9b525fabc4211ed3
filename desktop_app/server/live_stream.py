"""``/api/v1/transcribe/stream``: live dictation over a WebSocket, the Live tab's session with a
socket for a microphone.

The client sends binary frames of 16 kHz mono signed 16-bit little-endian PCM; the server sends
the same ``partial``/``final`` JSON events as ``verbatim-cli listen --json``, from the same
:class:`~desktop_app.core.live.LiveSession` and streaming policy (``STREAM_MIN_CHUNK_SIZE``,
``STREAM_MAX_BUFFER_SIZE``). A text frame ``end`` asks for the end: the tail is transcribed and
confirmed, its finals sent, then ``{"type": "job", ...}`` and the socket closes. A client that
just closes the socket loses no words either: the tail is still confirmed, and either way the
session becomes a finished job (its recording kept in the uploads folder), listed and exportable
like any other.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from typing import Any

import numpy as np
from fastapi import FastAPI, WebSocket, WebSocketDisconnect

from desktop_app.core.audio_sources import AudioSource
from desktop_app.core.live import LiveSession, create_transcriber
from desktop_app.core.recording import WavRecorder
from desktop_app.core.streaming import StreamEvent
from desktop_app.core.transcriber import TranscriptionOptions
from desktop_app.server.app import API, ApiState
from desktop_app.server.errors import ApiError, ErrorCode, refuse_websocket

logger = logging.getLogger(__name__)

END_MESSAGE = "end"


class SocketSource(AudioSource):
    """An audio source fed by the socket's frames instead of a microphone callback."""

    name = "WebSocket stream"

    def __init__(self) -> None:
        super().__init__()
        self._carry = b""  # an odd byte left from a frame, completed by the next

    def start(self) -> None:
        self.started_at = time.time()

    def feed(self, frame: bytes) -> None:
        data = self._carry + frame
        usable = len(data) - len(data) % 2
        self._carry = data[usable:]
        if usable:
            samples = np.frombuffer(data[:usable], dtype="<i2").astype(np.float32) / 32768.0
            self._put(samples)

    def stop(self) -> None:
        self._done.set()


def add_stream_route(app: FastAPI, state: ApiState) -> None:
    @app.websocket(f"{API}/transcribe/stream")
    async def transcribe_stream(socket: WebSocket) -> None:
        client = socket.client.host if socket.client else ""
        if not state.streams.acquire(client):
            # Counted before the answer, so a client that reads the metrics next sees it.
            state.metrics.refused(ErrorCode.TOO_MANY_STREAMS)
            await refuse_websocket(
                socket.scope,
                socket.receive,
                socket.send,
                ApiError(
                    ErrorCode.TOO_MANY_STREAMS,
                    f"At most {state.config.settings.api_max_streams} live streams per client "
                    "(API_MAX_STREAMS): close one first.",
                    headers={"Retry-After": "1"},
                ),
            )
            return
        state.metrics.stream_opened()
        try:
            await _serve_stream(socket, state)
        finally:
            state.metrics.stream_closed()
            state.streams.release(client)


async def _serve_stream(socket: WebSocket, state: ApiState) -> None:
    await socket.accept()
    settings = state.config.settings
    loop = asyncio.get_running_loop()
    transcriber = await state.off_loop(create_transcriber, settings)
    folder = state.config.upload_dir / uuid.uuid4().hex
    state.receiving.add(folder)
    try:
        folder.mkdir(parents=True)
        source = SocketSource()
        events: asyncio.Queue[StreamEvent | None] = asyncio.Queue()

        def on_event(event: StreamEvent) -> None:  # on the session's processing thread
            loop.call_soon_threadsafe(events.put_nowait, event)

        session = LiveSession(
            source,
            transcriber,
            recorder=WavRecorder(folder / "stream.wav"),
            model_name=settings.whisper_model_size,
            on_event=on_event,
        )
        session.start()
        connected = True

        async def send_events() -> None:
            nonlocal connected
            while (event := await events.get()) is not None:
                if connected:
                    try:
                        await socket.send_json(event.to_json_dict())
                    except Exception:  # the client went away: the job still gets every word
                        connected = False

        sender = asyncio.create_task(send_events())
        try:
            connected = await _receive(socket, source)
        finally:
            source.stop()
            await state.off_loop(session.wait)
            events.put_nowait(None)
            await sender
        result = session.result
        assert result is not None
        job_json: dict[str, Any] | None = None
        if result.captured_seconds > 0:
            job = await state.off_loop(
                lambda: state.queue.add_finished(
                    folder / "stream.wav",
                    result.transcript,
                    TranscriptionOptions.from_settings(settings),
                    started_at=source.started_at,
                )
            )
            job_json = {"type": "job", "job_id": job.id, "url": f"{API}/jobs/{job.id}"}
        if connected:
            with contextlib.suppress(Exception):
                if job_json is not None:
                    await socket.send_json(job_json)
                await socket.close()
    finally:
        state.receiving.discard(folder)


async def _receive(socket: WebSocket, source: SocketSource) -> bool:
    """Feed frames to the source until ``end`` (True: the client still listens) or the socket
    closes (False)."""
    while True:
        try:
            message = await socket.receive()
        except WebSocketDisconnect:
            return False
        if message["type"] == "websocket.disconnect":
            return False
        if message.get("bytes"):
            source.feed(message["bytes"])
        elif (message.get("text") or "").strip() == END_MESSAGE:
            return True
