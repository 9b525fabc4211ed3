"""The HTTP API: the original service's endpoints over the one job queue.

Handlers run on the server's event loop thread and never block it: anything that touches the
disk or takes the queue's lock (submit, cancel, probing the upload, reading a job, rendering a
transcript) runs on the server's executor. ``/capacity`` reads the queue's published figures,
which need neither, so it is answered at once however busy the workers and the store are.

Handlers read jobs only as :class:`~desktop_app.core.jobs.JobSnapshot`: a worker changes a live
job while it runs, and a snapshot's fields agree with each other (state, progress, segments). A
restored job's transcript is read from the store by ``JobQueue.snapshot`` outside the queue's
lock, on the executor.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import shutil
from collections.abc import AsyncIterator, Callable
from concurrent.futures import Executor
from contextlib import asynccontextmanager
from enum import Enum
from pathlib import Path
from typing import Any, TypeVar

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse, PlainTextResponse
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Receive, Scope, Send

from desktop_app import __version__
from desktop_app.core.audio import probe
from desktop_app.core.errors import ConfigError, InputError, ModelError
from desktop_app.core.exporters import render
from desktop_app.core.jobs import JobSnapshot, JobState
from desktop_app.core.settings import KNOWN_MODEL_NAMES
from desktop_app.core.transcriber import TranscriptionOptions
from desktop_app.job_queue import JobQueue, SubmitResult
from desktop_app.server.config import AT_CAPACITY_RETRY_AFTER_S, ServerConfig, is_upload
from desktop_app.server.errors import ApiError, ErrorCode, error_response, refuse_websocket
from desktop_app.server.limits import RateLimiter, StreamSlots, retry_after
from desktop_app.server.metrics import CONTENT_TYPE, Metrics
from desktop_app.server.uploads import FILE_FIELD, ReceivedUpload, receive_upload

logger = logging.getLogger(__name__)

API = "/api/v1"
#: How often the server forgets old finished jobs (when it owns the clean-up) and removes the
#: uploads no job refers to any more.
CLEANUP_INTERVAL_S = 60.0
T = TypeVar("T")


class TranscriptFormat(str, Enum):
    TXT = "txt"
    SRT = "srt"
    VTT = "vtt"
    JSON = "json"

    @property
    def media_type(self) -> str:
        return {
            TranscriptFormat.TXT: "text/plain; charset=utf-8",
            TranscriptFormat.SRT: "application/x-subrip; charset=utf-8",
            TranscriptFormat.VTT: "text/vtt; charset=utf-8",
            TranscriptFormat.JSON: "application/json",
        }[self]


_UPLOAD_SCHEMA: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": [FILE_FIELD],
                    "properties": {
                        FILE_FIELD: {"type": "string", "format": "binary"},
                        "language": {"type": "string", "description": "code such as en, or auto"},
                        "task": {"type": "string", "enum": ["transcribe", "translate"]},
                        "model": {"type": "string", "description": "a model on this computer"},
                        "output_formats": {
                            "type": "string",
                            "description": "comma-separated: txt, srt, vtt, json",
                        },
                    },
                }
            }
        },
    }
}


class ApiState:
    """What the handlers share: the queue, the configuration and the server's bookkeeping."""

    def __init__(
        self,
        queue: JobQueue,
        config: ServerConfig,
        executor: Executor,
        *,
        clean_up_jobs: bool,
    ) -> None:
        self.queue = queue
        self.config = config
        self.executor = executor
        self.clean_up_jobs = clean_up_jobs
        self.metrics = Metrics()
        self.rate = RateLimiter(config.settings.api_rate_limit)
        self.streams = StreamSlots(config.settings.api_max_streams)
        self.receiving: set[Path] = set()  # upload folders being written now

    async def off_loop(self, function: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self.executor, function, *args)

    def is_upload(self, job: JobSnapshot) -> bool:
        return is_upload(job.path, self.config.upload_dir)

    async def snapshot(self, job_id: str, *, with_text: bool = False) -> JobSnapshot:
        """The job as it is now, read on the executor; 404 when there is no such job."""
        job = await self.off_loop(lambda: self.queue.snapshot(job_id, with_text=with_text))
        if job is None:
            raise ApiError(ErrorCode.NOT_FOUND, f"There is no job {job_id!r}.")
        return job

    def sweep_uploads(self) -> list[Path]:
        """Remove upload folders that no job refers to (a job forgotten by the clean-up or
        removed, an upload cut short by a crash); returns what was removed."""
        upload_dir = self.config.upload_dir
        if not upload_dir.is_dir():
            return []
        jobs = self.queue.snapshots(with_text=False)
        used = {job.path.parent for job in jobs} | set(self.receiving)
        removed = [folder for folder in upload_dir.iterdir() if folder not in used]
        for folder in removed:
            if folder.is_dir():
                shutil.rmtree(folder, ignore_errors=True)
            else:
                folder.unlink(missing_ok=True)
        if removed:
            logger.info("Removed %d upload(s) no job refers to", len(removed))
        return removed

    def clean_up(self) -> None:
        if self.clean_up_jobs:
            self.queue.cleanup(self.config.settings.job_cleanup_max_age_hours)
        self.sweep_uploads()


class Gate:
    """Access token and request rate, checked before any handler, for HTTP and WebSocket."""

    def __init__(self, app: ASGIApp, state: ApiState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        refusal = self.check(scope)
        if refusal is None:
            await self.app(scope, receive, send)
            return
        self.state.metrics.refused(refusal.code)
        if scope["type"] == "http":
            await error_response(refusal)(scope, receive, send)
        else:
            await refuse_websocket(scope, receive, send, refusal)

    def check(self, scope: Scope) -> ApiError | None:
        config = self.state.config
        if config.token_required and not self._has_token(scope):
            return ApiError(
                ErrorCode.UNAUTHORIZED,
                "This server needs its access token: send the header "
                "'Authorization: Bearer TOKEN' (the token verbatim-cli serve printed, API_TOKEN).",
                headers={"WWW-Authenticate": "Bearer"},
            )
        if str(scope.get("path", "")).startswith(API):
            client = scope.get("client")
            wait = self.state.rate.take(client[0] if client else "")
            if wait > 0:
                return ApiError(
                    ErrorCode.RATE_LIMITED,
                    f"Too many requests: at most {config.settings.api_rate_limit} a minute "
                    "(API_RATE_LIMIT). Wait for the Retry-After seconds.",
                    headers={"Retry-After": retry_after(wait)},
                )
        return None

    def _has_token(self, scope: Scope) -> bool:
        expected = self.state.config.settings.api_token.encode()
        if not expected:
            return False
        for name, value in scope.get("headers", []):
            if name == b"authorization" and value.startswith(b"Bearer "):
                return hmac.compare_digest(value[7:].strip(), expected)
        if scope["type"] == "websocket":  # browsers cannot set headers on a WebSocket
            for pair in scope.get("query_string", b"").split(b"&"):
                name, _, value = pair.partition(b"=")
                if name == b"token":
                    return hmac.compare_digest(value, expected)
        return False


def job_summary(state: ApiState, job: JobSnapshot) -> dict[str, Any]:
    return {
        "id": job.id,
        "file": job.name,
        "source": "api" if state.is_upload(job) else "app",
        "state": job.state.value,
        "progress": round(job.progress, 4),
        "error": job.error,
        "duration": job.duration,
        "language": job.language,
        "created_at": job.created_at,
        "started_at": job.started_at,
        "finished_at": job.finished_at,
        "url": f"{API}/jobs/{job.id}",
    }


def job_detail(state: ApiState, job: JobSnapshot) -> dict[str, Any]:
    return {
        **job_summary(state, job),
        "segments": [
            {"start": segment.start, "end": segment.end, "text": segment.text}
            for segment in job.segments
        ],
    }


def _options(state: ApiState, upload: ReceivedUpload) -> tuple[TranscriptionOptions, list[str]]:
    """The job's options from the form's fields, validated like the settings they override."""
    fields = {name: values[-1] for name, values in upload.fields.items() if values}
    known = {"language", "task", "model", "output_formats"}
    unknown = sorted(set(fields) - known)
    if unknown:
        raise ApiError(
            ErrorCode.BAD_REQUEST,
            f"Unknown form field(s): {', '.join(unknown)}; allowed: {FILE_FIELD}, "
            f"{', '.join(sorted(known))}.",
        )
    changes: dict[str, str] = {}
    for field, setting in (("language", "language"), ("task", "task")):
        if fields.get(field):
            changes[setting] = fields[field]
    model = fields.get("model")
    if model:
        if model not in KNOWN_MODEL_NAMES:
            raise ApiError(
                ErrorCode.BAD_REQUEST,
                f"model {model!r} is not allowed: expected one of {', '.join(KNOWN_MODEL_NAMES)}.",
            )
        changes["whisper_model_size"] = model
    try:
        settings = state.config.settings.replace(**changes)
    except ConfigError as exc:
        raise ApiError(ErrorCode.BAD_REQUEST, str(exc)) from None
    formats: list[str] = []
    for name in (fields.get("output_formats") or "").replace(" ", "").split(","):
        if not name:
            continue
        if name not in {fmt.value for fmt in TranscriptFormat}:
            raise ApiError(
                ErrorCode.BAD_REQUEST,
                f"output format {name!r} is not allowed: expected txt, srt, vtt or json.",
            )
        formats.append(name)
    return TranscriptionOptions.from_settings(settings), formats or ["txt"]


def _check_model(model: str) -> None:
    from desktop_app.core.model import resolve_model

    try:
        resolve_model(model)
    except ModelError as exc:
        raise ApiError(ErrorCode.BAD_REQUEST, str(exc)) from None


def create_app(state: ApiState) -> FastAPI:
    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        async def clean_up_regularly() -> None:
            while True:
                await state.off_loop(state.clean_up)
                await asyncio.sleep(CLEANUP_INTERVAL_S)

        task = asyncio.create_task(clean_up_regularly())
        try:
            yield
        finally:
            task.cancel()

    app = FastAPI(
        title="Verbatim",
        version=__version__,
        description="Offline speech-to-text on this computer: the job queue of Verbatim.",
        lifespan=lifespan,
    )
    cors = state.config.cors_origins
    if cors:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(cors),
            allow_methods=["GET", "POST", "DELETE"],
            allow_headers=["Authorization", "Content-Type"],
        )
    app.add_middleware(Gate, state=state)
    app.state.api = state

    @app.exception_handler(ApiError)
    async def _api_error(_request: Request, error: ApiError) -> JSONResponse:
        state.metrics.refused(error.code)
        return error_response(error)

    @app.exception_handler(RequestValidationError)
    async def _validation(_request: Request, error: RequestValidationError) -> JSONResponse:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in item.get('loc', ()))}: {item.get('msg', '')}"
            for item in error.errors()
        )
        return await _api_error(_request, ApiError(ErrorCode.BAD_REQUEST, problems))

    @app.get(f"{API}/health")
    async def health() -> dict[str, Any]:
        return {"status": "ok", "version": __version__}

    @app.get(f"{API}/capacity")
    async def capacity() -> dict[str, int | bool]:
        """On the loop, at once: the queue publishes its figures without a lock."""
        return state.queue.capacity().as_dict()

    @app.post(f"{API}/transcribe/batch", status_code=202, openapi_extra=_UPLOAD_SCHEMA)
    async def transcribe_batch(request: Request) -> JSONResponse:
        """Queue an uploaded file; 503 AT_CAPACITY when the queue is full."""
        config = state.config
        upload_dir = config.upload_dir
        try:
            upload = await receive_upload(
                request.headers.get("content-type", ""),
                request.stream(),
                upload_dir,
                config.settings.max_file_size_bytes,
            )
        except ClientDisconnect:
            state.metrics.refused(ErrorCode.CLIENT_DISCONNECTED)
            logger.info("A client went away mid-upload; nothing was kept")
            return JSONResponse({}, status_code=ErrorCode.CLIENT_DISCONNECTED.status)
        state.receiving.add(upload.folder)
        try:
            return await _queue_upload(upload)
        except BaseException:
            upload.discard()
            raise
        finally:
            state.receiving.discard(upload.folder)

    async def _queue_upload(upload: ReceivedUpload) -> JSONResponse:
        path = upload.path
        assert path is not None
        options, formats = _options(state, upload)
        if options.model != state.config.settings.whisper_model_size:
            await state.off_loop(_check_model, options.model)
        try:
            await state.off_loop(probe, path)
        except InputError as exc:
            raise ApiError(ErrorCode.NOT_AUDIO, f"{upload.client_name}: {exc.problem}") from None

        def submit() -> tuple[SubmitResult, JobSnapshot | None]:
            result = state.queue.submit(path, options)
            job = result.job
            return result, None if job is None else state.queue.snapshot(job.id, with_text=False)

        result, job = await state.off_loop(submit)
        if result.job is None:
            raise ApiError(
                ErrorCode.AT_CAPACITY,
                result.reason,
                state.queue.capacity().as_dict(),
                headers={"Retry-After": str(AT_CAPACITY_RETRY_AFTER_S)},
            )
        job_id = result.job.id  # an id never changes; the state is the snapshot's
        url = f"{API}/jobs/{job_id}"
        logger.info(
            "Queued upload %s as job %s (%d bytes)", upload.client_name, job_id, upload.size
        )
        # No snapshot: the job already finished and was removed (by another client, the window).
        status = job.state if job is not None else JobState.DONE
        return JSONResponse(
            {
                "job_id": job_id,
                "status": status.value,
                "file": upload.client_name,
                "url": url,
                "transcripts": {fmt: f"{url}/transcript?format={fmt}" for fmt in formats},
            },
            status_code=202,
            headers={"Location": url},
        )

    @app.get(f"{API}/jobs")
    async def jobs() -> dict[str, Any]:
        listed = await state.off_loop(lambda: state.queue.snapshots(with_text=False))
        return {"jobs": [job_summary(state, job) for job in listed]}

    @app.get(f"{API}/jobs/{{job_id}}")
    async def job(job_id: str) -> dict[str, Any]:
        return job_detail(state, await state.snapshot(job_id, with_text=True))

    @app.get(f"{API}/jobs/{{job_id}}/transcript")
    async def transcript(job_id: str, format: TranscriptFormat = TranscriptFormat.TXT) -> Response:
        job = await state.snapshot(job_id, with_text=True)
        finished = job.transcript
        if finished is None:
            raise ApiError(
                ErrorCode.CONFLICT,
                f"Job {job_id} has no transcript yet (it is {job.state.value}).",
                {"state": job.state.value},
            )
        text = await state.off_loop(render, finished, format.value)
        stem = Path(job.name).stem.encode("ascii", "replace").decode().replace('"', "_") or "job"
        return PlainTextResponse(
            text,
            media_type=format.media_type,
            headers={"Content-Disposition": f'inline; filename="{stem}.{format.value}"'},
        )

    @app.delete(f"{API}/jobs/{{job_id}}")
    async def delete_job(job_id: str) -> dict[str, Any]:
        """Cancel a queued or running job; forget a finished one (and its upload)."""
        job = await state.snapshot(job_id)
        if job.state.finished:
            removed = await state.off_loop(state.queue.remove, job_id)
            if removed:
                await state.off_loop(state.sweep_uploads)
            return {"job_id": job_id, "removed": removed}
        await state.off_loop(state.queue.cancel, job_id)
        job = await state.snapshot(job_id)  # a queued job is cancelled now, a running one soon
        return {"job_id": job_id, "cancel_requested": True, "state": job.state.value}

    @app.post(f"{API}/jobs/{{job_id}}/move-to-top")
    async def move_to_top(job_id: str) -> dict[str, Any]:
        """Make a queued job the next to run (the original's priority)."""
        await state.snapshot(job_id)  # 404 for no such job, 409 below for one not queued
        if not await state.off_loop(state.queue.move_to_top, job_id):
            raise ApiError(ErrorCode.CONFLICT, f"Job {job_id} is not queued, so it cannot move.")
        return {"job_id": job_id, "queue_position": 0}

    @app.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        listed = await state.off_loop(lambda: state.queue.snapshots(with_text=False))
        text = state.metrics.render(state.queue.capacity(), listed)
        return Response(text, media_type=CONTENT_TYPE)

    from desktop_app.server.live_stream import add_stream_route  # it needs ApiState from here

    add_stream_route(app, state)
    return app
