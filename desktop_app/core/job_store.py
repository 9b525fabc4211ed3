"""The job store: every job and every decoded segment, kept in SQLite so that nothing is lost.

Why SQLite: a crash or a ``kill -9`` in the middle of a transcription must leave each finished
transcript intact and each running job resumable from its last decoded segment. SQLite's
write-ahead log gives atomic small transactions (one per segment), readers that never block the
writer (``verbatim-cli jobs`` while the window runs), and a file that survives power cuts.

Durability: commits use ``synchronous=NORMAL`` (no fsync per segment; a process crash loses
nothing, a power cut may lose the last few segments, which a resume decodes again), while the
commit that finishes a job is made with ``synchronous=FULL`` so a finished transcript is on disk
before the job is shown as done.

Threads: one connection guarded by one lock. The queue writes from pool threads whose lives Qt
decides, so per-thread connections would leak; the writes are tiny and never contend for long.

Paths are stored as bytes (``os.fsencode``) so that a file name that is not valid UTF-8 survives
the round trip; every SQL statement takes its values as parameters.

One writer per store: a writing :class:`JobStore` holds the store's :class:`StoreLock` (an
``flock`` on ``jobs.sqlite3.lock`` beside it) for as long as it is open, so two windows can never
transcribe the same stored jobs, whatever happens to the single-instance socket. The kernel
drops the lock when the process dies, so a crash never leaves it behind. The store, its WAL and
its folder are private (0600 files, 0700 folder): transcripts are nobody else's business.
"""

from __future__ import annotations

import dataclasses
import fcntl
import json
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from desktop_app.core.errors import VerbatimError
from desktop_app.core.jobs import Job, JobState
from desktop_app.core.paths import (
    create_private,
    data_dir,
    make_private,
    open_private,
    private_dir,
)
from desktop_app.core.transcriber import TranscriptionOptions
from desktop_app.core.transcript import Segment, Transcript, Word

logger = logging.getLogger(__name__)

STORE_FILE_NAME = "jobs.sqlite3"
#: SQLite's companions of the store file: created with the store's mode, moved aside with it.
STORE_COMPANIONS = ("-wal", "-shm")
#: Seconds a writer waits for another process's transaction before giving up with a clear error.
BUSY_TIMEOUT_S = 5.0
#: Progress is persisted at most this often per job; segments (the real progress) always are.
PROGRESS_INTERVAL_S = 1.0

_V1 = (
    """
    CREATE TABLE jobs (
        id TEXT PRIMARY KEY,
        path BLOB NOT NULL,
        options TEXT NOT NULL,
        state TEXT NOT NULL,
        progress REAL NOT NULL DEFAULT 0,
        error TEXT NOT NULL DEFAULT '',
        duration REAL,
        language TEXT NOT NULL DEFAULT '',
        transcript TEXT,
        created_at REAL NOT NULL,
        started_at REAL,
        finished_at REAL,
        attempts INTEGER NOT NULL DEFAULT 0,
        resumed INTEGER NOT NULL DEFAULT 0,
        position INTEGER NOT NULL,
        queue_rank REAL
    )
    """,
    "CREATE INDEX jobs_position ON jobs (position)",
    """
    CREATE TABLE segments (
        job_id TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
        idx INTEGER NOT NULL,
        start REAL NOT NULL,
        end REAL NOT NULL,
        text TEXT NOT NULL,
        words TEXT NOT NULL DEFAULT '[]',
        PRIMARY KEY (job_id, idx)
    ) WITHOUT ROWID
    """,
)

Migration = Callable[[sqlite3.Connection], None]


def _statements(*sql: str) -> Migration:
    def migrate(connection: sqlite3.Connection) -> None:
        for statement in sql:
            connection.execute(statement)

    return migrate


#: ``MIGRATIONS[n]`` takes a store from schema version ``n`` to ``n + 1``; append, never edit.
MIGRATIONS: list[Migration] = [_statements(*_V1)]


class JobStoreError(VerbatimError):
    """The job store cannot be used (locked by another process, or from a newer Verbatim)."""


class StoreLockedError(JobStoreError):
    """Another process (another Verbatim window) holds the store's lock."""


class StoreLock:
    """The right to write one store, held by one process at a time (see the module docstring).

    Re-entrant within a process: the window's start-up takes it before anything else, and the
    store it opens later takes it again; the lock is released when the last holder releases it.
    """

    _held: ClassVar[dict[Path, tuple[StoreLock, int]]] = {}
    _guard: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, path: Path, handle: Any) -> None:
        self.path = path
        self._handle = handle

    @classmethod
    def acquire(cls, store_path: Path) -> StoreLock:
        """:raises StoreLockedError: another process holds it; never waits."""
        path = Path(f"{Path(store_path).absolute()}.lock")
        with cls._guard:
            held = cls._held.get(path)
            if held is not None:
                cls._held[path] = (held[0], held[1] + 1)
                return held[0]
            try:
                private_dir(path.parent)
                handle = open_private(path, "a+b")
            except OSError as error:
                raise JobStoreError(
                    f"The job store's folder {path.parent} cannot be used: "
                    f"{error.strerror or error}. Make sure it is a folder you can write to."
                ) from None
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.close()
                raise StoreLockedError(
                    f"Verbatim is already running with the job store {store_path} (another "
                    "window holds it). Use that window, or close it and start again."
                ) from None
            except OSError as error:  # a file system without locks (some network shares)
                logger.warning("Cannot lock the job store %s: %s", store_path, error)
            lock = cls(path, handle)
            cls._held[path] = (lock, 1)
            return lock

    def release(self) -> None:
        """Give up one hold; the last one unlocks. Safe to call more often than acquired."""
        with self._guard:
            held = self._held.get(self.path)
            if held is None or held[0] is not self:
                return
            if held[1] > 1:
                self._held[self.path] = (self, held[1] - 1)
                return
            del self._held[self.path]
            self._handle.close()  # closing the descriptor drops the flock


@dataclass(frozen=True)
class StoredJobs:
    """What :meth:`JobStore.load` finds: jobs in list order, and queued ids in run order."""

    jobs: list[Job]
    pending_ids: list[str]


def default_store_path() -> Path:
    return data_dir() / STORE_FILE_NAME


def _text(value: str) -> str:
    """SQLite text must be UTF-8: a non-UTF-8 file name inside a message becomes ``\\udcxx``."""
    return value.encode("utf-8", "backslashreplace").decode("utf-8")


# JSON columns keep json's default ASCII escapes: any text, even a lone surrogate standing for a
# non-UTF-8 byte of a file name, then round-trips exactly through SQLite's UTF-8 text.
def _options_json(options: TranscriptionOptions) -> str:
    return json.dumps(dataclasses.asdict(options), sort_keys=True)


def _options_from_json(raw: str) -> TranscriptionOptions:
    """Unknown keys (from a newer version) are dropped, missing ones take their defaults."""
    data = json.loads(raw)
    known = {f.name for f in dataclasses.fields(TranscriptionOptions)}
    return TranscriptionOptions(**{k: v for k, v in data.items() if k in known})


def _words_json(segment: Segment) -> str:
    return json.dumps([[w.start, w.end, w.text, w.probability] for w in segment.words])


class JobStore:
    """Jobs and their segments in one SQLite file; safe to call from any thread."""

    def __init__(self, path: Path | None = None, *, read_only: bool = False) -> None:
        """``read_only`` (``verbatim-cli jobs``) reads beside the window, without its lock.

        :raises StoreLockedError: not read-only, and another process writes this store.
        """
        self.path = Path(path) if path is not None else default_store_path()
        self._lock = threading.RLock()
        self._last_progress: dict[str, float] = {}
        self._store_lock = None if read_only else StoreLock.acquire(self.path)
        try:
            self._connection = self._open()
        except BaseException:
            if self._store_lock is not None:
                self._store_lock.release()
            raise

    # ----------------------------------------------------------------- opening
    def _open(self) -> sqlite3.Connection:
        private_dir(self.path.parent)
        try:
            return self._connect_and_migrate()
        except sqlite3.OperationalError as exc:
            if "locked" in str(exc) or "busy" in str(exc):
                raise JobStoreError(
                    f"The job store {self.path} is locked by another program (is Verbatim "
                    "already running?). Close it and start again."
                ) from None
            raise JobStoreError(f"The job store {self.path} cannot be opened: {exc}.") from None
        except sqlite3.DatabaseError as exc:
            # Not a database, or damaged: keep the evidence, start fresh, never loop on it.
            aside = self._move_aside()
            logger.warning(
                "The job store %s was damaged (%s); moved it to %s and started a new one",
                self.path,
                exc,
                aside,
            )
            try:
                return self._connect_and_migrate()
            except sqlite3.Error as again:
                raise JobStoreError(
                    f"The job store {self.path} cannot be created: {again}."
                ) from None

    def _connect_and_migrate(self) -> sqlite3.Connection:
        # SQLite creates the WAL and shared-memory files with the store's mode: 0600 for all.
        create_private(self.path)
        for suffix in ("", *STORE_COMPANIONS):
            make_private(Path(f"{self.path}{suffix}"))
        connection = sqlite3.connect(
            self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False
        )
        try:
            connection.execute("PRAGMA foreign_keys = ON")
            check = connection.execute("PRAGMA quick_check").fetchone()
            if check is None or check[0] != "ok":
                raise sqlite3.DatabaseError(f"integrity check failed: {check}")
            connection.execute("PRAGMA journal_mode = WAL")
            connection.execute("PRAGMA synchronous = NORMAL")
            self._migrate(connection)
        except BaseException:
            connection.close()
            raise
        return connection

    def _migrate(self, connection: sqlite3.Connection) -> None:
        version = int(connection.execute("PRAGMA user_version").fetchone()[0])
        if version > len(MIGRATIONS):
            raise JobStoreError(
                f"The job store {self.path} was written by a newer Verbatim (schema {version}, "
                f"this version knows {len(MIGRATIONS)}). Update Verbatim to open it."
            )
        for target in range(version + 1, len(MIGRATIONS) + 1):
            connection.execute("BEGIN IMMEDIATE")
            try:
                MIGRATIONS[target - 1](connection)
                # PRAGMA takes no parameters; ``target`` is an int we computed.
                connection.execute(f"PRAGMA user_version = {int(target)}")
                connection.execute("COMMIT")
            except BaseException:
                connection.execute("ROLLBACK")
                raise
            logger.info("Job store %s migrated to schema %d", self.path, target)

    def _move_aside(self) -> Path:
        aside = self.path.with_name(f"{self.path.name}.corrupt-{time.strftime('%Y%m%d-%H%M%S')}")
        for suffix in ("", *STORE_COMPANIONS):
            source = Path(f"{self.path}{suffix}")
            if source.exists():
                os.replace(source, Path(f"{aside}{suffix}"))
        return aside

    def close(self) -> None:
        with self._lock:
            self._connection.close()
            if self._store_lock is not None:
                self._store_lock.release()
                self._store_lock = None

    @property
    def schema_version(self) -> int:
        with self._lock:
            return int(self._connection.execute("PRAGMA user_version").fetchone()[0])

    @contextmanager
    def _transaction(self, *, durable: bool = False) -> Iterator[sqlite3.Connection]:
        with self._lock:
            connection = self._connection
            if durable:
                connection.execute("PRAGMA synchronous = FULL")
            connection.execute("BEGIN IMMEDIATE")
            try:
                yield connection
                connection.execute("COMMIT")
            except BaseException:
                connection.execute("ROLLBACK")
                raise
            finally:
                if durable:
                    connection.execute("PRAGMA synchronous = NORMAL")

    # ----------------------------------------------------------------- writing
    def add_job(self, job: Job) -> None:
        """Insert a new job at the end of the list (and of the queue, if it is queued), with
        any segments it already has (a finished live dictation)."""
        self.add_jobs([job])

    def add_jobs(self, jobs: list[Job]) -> None:
        """:meth:`add_job` for many jobs in one transaction: a drop of a hundred files costs
        one commit instead of a hundred on the thread that submits them."""
        if not jobs:
            return
        options_json: dict[int, str] = {}  # a dropped batch shares one options object
        with self._transaction(durable=any(job.state.finished for job in jobs)) as db:
            for job in jobs:
                key = id(job.options)
                if key not in options_json:
                    options_json[key] = _options_json(job.options)
                self._insert_job(db, job, options_json[key])

    def _insert_job(self, db: sqlite3.Connection, job: Job, options_json: str) -> None:
        position = db.execute("SELECT COALESCE(MAX(position), 0) + 1 FROM jobs").fetchone()[0]
        rank = self._next_rank(db) if job.state is JobState.QUEUED else None
        columns = {
            "id": job.id,
            "path": os.fsencode(job.path),
            "created_at": job.created_at,
            "position": position,
            "queue_rank": rank,
            **self._changing_columns(job, options_json),
        }
        names = ", ".join(columns)  # names are ours, never user input; values are parameters
        marks = ", ".join("?" * len(columns))
        db.execute(
            f"INSERT OR REPLACE INTO jobs ({names}) VALUES ({marks})", tuple(columns.values())
        )
        db.execute("DELETE FROM segments WHERE job_id = ?", (job.id,))
        db.executemany(
            "INSERT INTO segments (job_id, idx, start, end, text, words) VALUES (?, ?, ?, ?, ?, ?)",
            [
                (job.id, index, s.start, s.end, s.text, _words_json(s))
                for index, s in enumerate(job.segments)
            ],
        )

    def update_job(self, job: Job) -> None:
        """Persist a job's state, options, timings and error (not its place or segments).

        The commit that records a finished job is durable (fsync), see the module docstring.
        """
        with self._transaction(durable=job.state.finished) as db:
            self._write_job(db, job)
        self._last_progress.pop(job.id, None)

    def update_progress(self, job_id: str, fraction: float, *, force: bool = False) -> bool:
        """Persist progress at most every :data:`PROGRESS_INTERVAL_S` per job; True if written."""
        now = time.monotonic()
        if not force and now - self._last_progress.get(job_id, -PROGRESS_INTERVAL_S) < (
            PROGRESS_INTERVAL_S
        ):
            return False
        self._last_progress[job_id] = now
        with self._transaction() as db:
            db.execute("UPDATE jobs SET progress = ? WHERE id = ?", (fraction, job_id))
        return True

    def append_segment(self, job_id: str, index: int, segment: Segment) -> None:
        """Store one decoded segment in its own transaction, so a crash keeps it."""
        with self._transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO segments (job_id, idx, start, end, text, words) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (job_id, index, segment.start, segment.end, segment.text, _words_json(segment)),
            )

    def requeue(self, job: Job) -> None:
        """A job is queued again (retry, or restored after a crash) at the end of the queue.

        Its segments are cleared unless it resumes from them.
        """
        with self._transaction() as db:
            if not job.resumed:
                db.execute("DELETE FROM segments WHERE job_id = ?", (job.id,))
            db.execute("UPDATE jobs SET queue_rank = ? WHERE id = ?", (self._next_rank(db), job.id))
            self._write_job(db, job)

    def move_to_top(self, job_id: str, order: list[str]) -> None:
        """The job runs next; ``order`` is the whole list as it is now shown."""
        with self._transaction() as db:
            first = db.execute("SELECT MIN(queue_rank) FROM jobs").fetchone()[0]
            db.execute(
                "UPDATE jobs SET queue_rank = ? WHERE id = ?",
                ((first if first is not None else 0.0) - 1.0, job_id),
            )
            db.executemany(
                "UPDATE jobs SET position = ? WHERE id = ?",
                [(index, jid) for index, jid in enumerate(order, start=1)],
            )

    def delete_job(self, job_id: str) -> None:
        with self._transaction() as db:
            db.execute("DELETE FROM jobs WHERE id = ?", (job_id,))
        self._last_progress.pop(job_id, None)

    def cleanup(self, max_age_hours: float, now: float | None = None) -> list[str]:
        """Delete finished jobs that finished more than ``max_age_hours`` ago (0 keeps all).

        Returns their ids. Exported files are not the store's and are never touched.
        """
        if max_age_hours <= 0:
            return []
        cutoff = (time.time() if now is None else now) - max_age_hours * 3600
        finished = [s.value for s in JobState if s.finished]
        marks = ", ".join("?" for _ in finished)
        with self._transaction() as db:
            ids = [
                row[0]
                for row in db.execute(
                    f"SELECT id FROM jobs WHERE state IN ({marks}) AND finished_at < ?",
                    (*finished, cutoff),
                )
            ]
            db.executemany("DELETE FROM jobs WHERE id = ?", [(i,) for i in ids])
        if ids:
            logger.info("Cleaned up %d finished job(s) older than %g h", len(ids), max_age_hours)
        return ids

    # ----------------------------------------------------------------- reading
    def load(self) -> StoredJobs:
        """Every stored job in list order with its segments (and transcript, when done).

        A row that cannot be read (say, written by a damaged copy) is skipped with a warning
        rather than stopping the whole list from loading.
        """
        with self._lock:
            rows = self._connection.execute(
                "SELECT id, path, options, state, progress, error, duration, language, "
                "transcript, created_at, started_at, finished_at, attempts, resumed, "
                "queue_rank FROM jobs ORDER BY position, created_at"
            ).fetchall()
            segment_rows = self._connection.execute(
                "SELECT job_id, start, end, text, words FROM segments ORDER BY job_id, idx"
            ).fetchall()
        segments: dict[str, list[Segment]] = {}
        for job_id, start, end, text, words in segment_rows:
            try:
                parsed = tuple(Word(*w) for w in json.loads(words))
            except (ValueError, TypeError):
                parsed = ()
            segments.setdefault(job_id, []).append(Segment(start, end, text, parsed))
        jobs: list[Job] = []
        ranks: list[tuple[float, float, str]] = []
        for row in rows:
            try:
                job, rank, meta = self._job_from_row(row)
            except (ValueError, TypeError, KeyError) as exc:
                logger.warning("Skipped an unreadable job %r in the job store: %s", row[0], exc)
                continue
            job.segments = segments.get(job.id, [])
            if job.state is JobState.DONE:
                # Values as stored, not re-typed: an int probability stays an int, so the
                # transcript exports byte for byte as it did before the restart.
                job.transcript = Transcript(
                    segments=list(job.segments),
                    language=meta["language"],
                    language_probability=meta.get("language_probability", 0.0),
                    duration=meta["duration"],
                    model=meta["model"],
                    source=meta.get("source", str(job.path)),
                )
            jobs.append(job)
            if job.state is JobState.RUNNING:  # started before anything still queued
                ranks.append((float("-inf"), job.started_at or 0.0, job.id))
            elif job.state is JobState.QUEUED:
                ranks.append((rank if rank is not None else float("inf"), 0.0, job.id))
        return StoredJobs(jobs, [job_id for _, _, job_id in sorted(ranks)])

    def load_jobs(self) -> list[Job]:
        return self.load().jobs

    def count(self) -> int:
        with self._lock:
            return int(self._connection.execute("SELECT COUNT(*) FROM jobs").fetchone()[0])

    # ----------------------------------------------------------------- helpers
    def _write_job(self, db: sqlite3.Connection, job: Job) -> None:
        columns = self._changing_columns(job, _options_json(job.options))
        assignments = ", ".join(f"{name} = ?" for name in columns)
        db.execute(f"UPDATE jobs SET {assignments} WHERE id = ?", (*columns.values(), job.id))

    def _changing_columns(self, job: Job, options_json: str) -> dict[str, object]:
        """The columns a job's life changes: written whole at insert, and again at each update."""
        return {
            "options": options_json,
            "state": job.state.value,
            "progress": job.progress,
            "error": _text(job.error),
            "duration": job.duration,
            "language": job.language,
            "transcript": self._transcript_json(job),
            "started_at": job.started_at,
            "finished_at": job.finished_at,
            "attempts": job.attempts,
            "resumed": int(job.resumed),
        }

    @staticmethod
    def _next_rank(db: sqlite3.Connection) -> float:
        return float(db.execute("SELECT COALESCE(MAX(queue_rank), 0) + 1 FROM jobs").fetchone()[0])

    @staticmethod
    def _transcript_json(job: Job) -> str | None:
        """The transcript's details; its segments live in their own table."""
        if job.transcript is None:
            return None
        meta = job.transcript.to_dict()
        for bulky in ("segments", "text"):
            meta.pop(bulky, None)
        return json.dumps(meta, default=str)

    @staticmethod
    def _job_from_row(row: tuple[Any, ...]) -> tuple[Job, float | None, dict[str, Any]]:
        (
            job_id,
            path,
            options,
            state,
            progress,
            error,
            duration,
            language,
            transcript,
            created_at,
            started_at,
            finished_at,
            attempts,
            resumed,
            rank,
        ) = row
        job = Job(
            path=Path(os.fsdecode(bytes(path))),
            options=_options_from_json(options),
            id=str(job_id),
            state=JobState(state),
            progress=float(progress),
            error=str(error),
            duration=duration,
            language=str(language),
            created_at=float(created_at),
            started_at=started_at,
            finished_at=finished_at,
            attempts=int(attempts),
            resumed=bool(resumed),
        )
        meta = json.loads(transcript) if transcript else {}
        meta.setdefault("language", job.language)
        meta.setdefault("duration", job.duration or 0.0)
        meta.setdefault("model", job.options.model)
        return job, rank, meta
