"""``verbatim-cli serve``: the local HTTP API, headless, on the same job queue and store as the
window.

The queue is composed as ``verbatim-cli transcribe`` composes it, plus the window's job store:
stored jobs are restored first (a crash's running jobs resume after their last stored segment),
then the server starts. Ctrl+C or SIGTERM stops the server and leaves the unfinished jobs in the
store exactly as they are, so the next start resumes them.
"""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path
from typing import TextIO

from PySide6.QtCore import QCoreApplication, QTimer

from desktop_app.cli import ExitCode
from desktop_app.core.job_store import JobStore, StoreLock, default_store_path
from desktop_app.core.settings import Settings
from desktop_app.core.transcriber import Engine, WhisperEngine
from desktop_app.job_queue import JobQueue
from desktop_app.server.config import ensure_token
from desktop_app.server.runner import ApiServer


def run_serve(args: argparse.Namespace, settings: Settings, out: TextIO | None = None) -> int:
    return serve(settings, out)


def serve(settings: Settings, out: TextIO | None = None, engine: Engine | None = None) -> int:
    """Serve until Ctrl+C or SIGTERM. ``engine`` replaces the model only in tests (a fake
    engine with a controllable speed, to kill the process mid-job in seconds, not minutes)."""
    out = out if out is not None else sys.stdout  # read at call time
    settings = ensure_token(settings)
    store_path = default_store_path()
    # One process per store: the store's own lock, which the window holds too, so serve is
    # refused beside a window (or another serve) on the same data folder.
    lock = StoreLock.acquire(store_path)
    try:
        return _serve(settings, store_path, out, engine)
    finally:
        lock.release()


def _serve(settings: Settings, store_path: Path, out: TextIO, engine: Engine | None) -> int:
    app = QCoreApplication.instance() or QCoreApplication([])
    if engine is None:
        whisper = WhisperEngine.from_settings(settings)
        whisper.preload(settings.whisper_model_size)
        engine = whisper
    store = JobStore(store_path)
    queue = JobQueue(
        engine,
        max_workers=settings.max_concurrent_workers,
        max_queue_size=settings.max_queue_size,
        store=store,
    )
    server: ApiServer | None = None
    try:
        restored = queue.restore(settings.job_cleanup_max_age_hours)
        server = ApiServer(queue, settings, clean_up_jobs=True)
        server.start()
        print(f"Serving Verbatim on {server.url} (API docs: {server.url}/docs)", file=out)
        if restored:
            print(f"Restored {len(restored)} job(s) from {store.path}", file=out)
        if server.config.token_required:
            print(f"Access token (Authorization: Bearer ...): {settings.api_token}", file=out)
        print("Press Ctrl+C to stop.", file=out, flush=True)
        stop = lambda *_: QCoreApplication.quit()  # noqa: E731
        previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
        # Python runs signal handlers only between bytecodes: wake up regularly while Qt waits.
        heartbeat = QTimer()
        heartbeat.timeout.connect(lambda: None)
        heartbeat.start(200)
        try:
            app.exec()
        finally:
            heartbeat.stop()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        print("Stopping: unfinished jobs stay stored and resume at the next start.", file=out)
    finally:
        if server is not None:
            server.stop()
        queue.shutdown(keep_unfinished=True)
        store.close()
    return ExitCode.OK
