"""The composition root: the one place that builds the application's objects.

Every face (the window, the command line, later the HTTP server) gets its settings, job store,
engine and job queue from here instead of building its own, so that how they are made, and what
happens when one of them cannot be made, is decided once. The faces receive the objects; they
build none of them.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from desktop_app.core.errors import ConfigError
from desktop_app.core.job_store import JobStore, JobStoreError, default_store_path
from desktop_app.core.settings import Settings, load_settings
from desktop_app.core.transcriber import Engine, WhisperEngine
from desktop_app.job_queue import JobQueue
from desktop_app.saved_settings import load_saved, save

logger = logging.getLogger(__name__)


@dataclass
class Application:
    """The objects one running Verbatim works with, and what went wrong while making them.

    ``owns_queue`` and ``owns_store`` say whether the queue and the store were made here, so
    closing the application stops them; a queue or store handed in is its giver's to stop.
    """

    settings: Settings
    environ: Mapping[str, str]
    queue: JobQueue
    store: JobStore | None
    owns_queue: bool
    owns_store: bool
    #: Sentences for the user: bad settings replaced by the defaults, no job store this session.
    settings_problem: str = ""
    store_problem: str = ""
    _queue_stopped: bool = field(default=False, init=False, repr=False)
    # The HTTP server, once there is one, is built in compose() and kept here.

    def apply_settings(
        self, values: Mapping[str, Any], environ: Mapping[str, str] | None = None
    ) -> Settings:
        """Save ``values``, reload the settings with the environment (default: the one it
        started with) on top, and apply the limits to the running queue and engine now; every
        face changes settings this way.

        :raises ConfigError: the saved values with the environment are not valid settings
            (saved all the same, as the user asked; nothing is applied).
        """
        save(dict(values))
        new = load_settings(self.environ if environ is None else environ, load_saved())
        self.queue.set_limits(
            max_workers=new.max_concurrent_workers, max_queue_size=new.max_queue_size
        )
        engine = self.queue.engine
        if hasattr(engine, "max_file_size_bytes"):
            engine.max_file_size_bytes = new.max_file_size_bytes
        if hasattr(engine, "max_audio_seconds"):
            engine.max_audio_seconds = new.max_audio_seconds
        self.settings = new
        return new

    @property
    def preloads_model(self) -> bool:
        """Whether the engine loads its model ahead (one that loads as it goes is ready)."""
        return callable(getattr(self.queue.engine, "preload", None))

    def preload_model(self, model: str) -> None:
        """Load ``model`` now, so the first job starts without the wait (slow: a face calls
        this off its GUI thread).

        :raises Exception: the engine's own error for a model that cannot load.
        """
        if self.preloads_model:
            self.queue.engine.preload(model)  # type: ignore[attr-defined]

    def shutdown(
        self, settle: Callable[[], object] = lambda: None, timeout_ms: int = 30_000
    ) -> None:
        """Stop in the order that keeps every job: no new check of the whole store; the face's
        own work in flight finishes (``settle``: a restore still loading, the last edits);
        the queue stops, keeping unfinished jobs for the next start; what that stop released
        finishes (``settle`` again); then the store closes. Every thread started on the way is
        joined by then, so none is left running while the interpreter exits."""
        if self.queue.store is not None:
            self.queue.store.stop_check()
        settle()
        self.stop_queue(timeout_ms)
        settle()
        self.close(timeout_ms)

    def stop_queue(self, timeout_ms: int = 30_000) -> None:
        """Stop the queue built here, keeping unfinished jobs stored for the next start (the
        store stays open: work still finishing, such as a restore, may yet read it)."""
        if self.owns_queue and not self._queue_stopped:
            self._queue_stopped = True
            self.queue.shutdown(timeout_ms, keep_unfinished=True)

    def close(self, timeout_ms: int = 30_000) -> None:
        """Stop what was built here: the queue, then the store."""
        self.stop_queue(timeout_ms)
        if self.owns_store and self.store is not None:
            self.store.close()


def startup_settings(environ: Mapping[str, str]) -> tuple[Settings, str]:
    """The settings from the environment and the saved settings; when they are bad, the
    defaults and a sentence saying so (a window must still open to let the user fix them)."""
    try:
        return load_settings(environ, load_saved()), ""
    except ConfigError as error:
        logger.warning("Settings problem at start-up: %s", error)
        return load_settings(
            environ={}, saved={}
        ), f"{error} Using the defaults until this is fixed."


def build_engine(settings: Settings) -> WhisperEngine:
    return WhisperEngine.from_settings(settings)


def build_queue(settings: Settings, engine: Engine, store: JobStore | None = None) -> JobQueue:
    return JobQueue(
        engine,
        max_workers=settings.max_concurrent_workers,
        max_queue_size=settings.max_queue_size,
        store=store,
    )


def compose(
    settings: Settings | None = None,
    *,
    engine: Engine | None = None,
    queue: JobQueue | None = None,
    store: JobStore | None = None,
    persist: bool = True,
    environ: Mapping[str, str] | None = None,
    settings_problem: str = "",
) -> Application:
    """Build what is not given: settings from ``environ`` (default: the process environment)
    and the saved settings; the job store in the user's data folder (``persist=False``: none);
    the Whisper engine; the queue. A given ``queue`` is used as it is, with its own store.
    ``settings_problem`` says why given settings are the defaults (see startup_settings)."""
    environ = os.environ if environ is None else environ
    if settings is None:
        settings, settings_problem = startup_settings(environ)
    if settings_problem:
        logger.warning("Settings problem at start-up: %s", settings_problem)
    if queue is not None:
        return Application(settings, environ, queue, queue.store, False, False, settings_problem)
    store_problem = ""
    owns_store = store is None and persist
    if owns_store:
        try:
            store = JobStore(default_store_path())
        except JobStoreError as error:
            logger.warning("No job store this session: %s", error)
            store_problem = f"{error} Jobs of this session will not be kept."
    queue = build_queue(settings, engine or build_engine(settings), store)
    return Application(
        settings, environ, queue, store, True, owns_store, settings_problem, store_problem
    )
