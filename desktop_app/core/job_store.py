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

Damage: opening checks only what it reads (a file that is not a database fails at once and is
moved aside). SQLite's full integrity check reads the whole file, 0.5 s of CPU and seconds of disk
for 100,000 jobs, so it is not on the opening path: the window runs :meth:`JobStore.check_integrity`
in the background once its list is up, and a read that meets damage says so too. Either leaves a
mark beside the store (the store is in use and cannot be moved then), and the next opening checks
in full, moves the store aside and tells the user where.
"""

from __future__ import annotations

import dataclasses
import fcntl
import json
import logging
import operator
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, NamedTuple

from desktop_app.core.errors import VerbatimError
from desktop_app.core.jobs import Job, JobSnapshot, JobState, KeptResult
from desktop_app.core.memory import collector_paused
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
#: Beside the store once damage was found in it while in use: the next opening checks it in full.
DAMAGE_MARK_SUFFIX = ".damaged"
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


#: Version 2: the next and first queue places (``MAX``/``MIN(queue_rank)``, asked at every
#: submit, retry and move to the top) are read from an index instead of a scan of every job ever
#: stored, which made restoring 16,000 queued jobs take 46 s.
_V2 = ("CREATE INDEX IF NOT EXISTS jobs_queue_rank ON jobs (queue_rank)",)

# What a finished job still owes or keeps, beside the job (so loading the job list never reads it):
# the result kept while a finished job is transcribed again, and the auto-export files owed by a
# job stored as done, written in the same transaction as the job's completion.
_V3_KEPT_AND_OWED = (
    """
    CREATE TABLE kept_results (
        job_id TEXT PRIMARY KEY REFERENCES jobs (id) ON DELETE CASCADE,
        options TEXT NOT NULL,
        transcript TEXT NOT NULL,
        started_at REAL,
        finished_at REAL
    )
    """,
    """
    CREATE TABLE owed_exports (
        job_id TEXT PRIMARY KEY REFERENCES jobs (id) ON DELETE CASCADE,
        formats TEXT NOT NULL,
        folder BLOB
    )
    """,
)

#: Version 4: proofreading. A job's ``segments`` hold what the user sees and exports, edits
#: included, so every face (window, auto-export, ``verbatim-cli jobs``, the HTTP API) reads the
#: edited text without knowing about edits; the machine's own segments are kept here from the
#: first edit on, for "Revert segment" and "Revert all", until a new transcription replaces them.
_V4_MACHINE_SEGMENTS = (
    """
    CREATE TABLE machine_segments (
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

#: ``MIGRATIONS[n]`` takes a store from schema version ``n`` to ``n + 1``; append, never edit.
MIGRATIONS: list[Migration] = [
    _statements(*_V1),
    _statements(*_V2),
    _statements(*_V3_KEPT_AND_OWED),
    _statements(*_V4_MACHINE_SEGMENTS),
]


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
                    f"Verbatim is already running with the job store {store_path} (a window, "
                    "or verbatim-cli serve, holds it). Use that one, or close it and start again."
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


class StoreFolderError(JobStoreError):
    """The folder that should hold the job store cannot be made or written (a setup problem)."""


class DamagedStoreError(JobStoreError):
    """A read met damage in the store; the message says what happens to it and what to do."""


@dataclass(frozen=True)
class OwedExport:
    """Files a job stored as done still owes: its auto-export, until the export is written.

    Stored in the same transaction that stores the job as done, and cleared once the export has
    been attempted and its outcome shown, so a crash in between never loses the export.
    """

    job_id: str
    formats: tuple[str, ...]
    folder: Path | None  # None: beside the source file


@dataclass(frozen=True)
class StoredJobs:
    """What :meth:`JobStore.load` finds: jobs in list order, and queued ids in run order."""

    jobs: list[Job]
    pending_ids: list[str]


#: Guards the moment a :class:`StoredJob` swaps in what it read; never held during disk I/O.
_SWAP_LOCK = threading.Lock()


class _Unread(NamedTuple):
    """What a :class:`StoredJob` needs to read its segments and rebuild its transcript later,
    captured when its row was loaded (the job's own fields may change before then)."""

    store: JobStore
    done: bool
    language: str  # the defaults below: as stored, for a transcript whose details lack them
    duration: float
    model: str
    path: bytes

    def transcript(self, segments: list[Segment], transcript_json: str | None) -> Transcript:
        meta = json.loads(transcript_json) if transcript_json else {}
        # Values as stored, not re-typed: an int probability stays an int, so the
        # transcript exports byte for byte as it did before the restart.
        return Transcript(
            segments=list(segments),
            language=meta.get("language", self.language),
            language_probability=meta.get("language_probability", 0.0),
            duration=meta.get("duration", self.duration),
            model=meta.get("model", self.model),
            source=meta.get("source", os.fsdecode(self.path)),
        )


#: The fields a :class:`StoredJob` fills from its row; any other field of :class:`Job` takes
#: its declared default.
_ROW_FIELDS = frozenset(
    {
        "path",
        "options",
        "id",
        "state",
        "progress",
        "error",
        "segments",
        "transcript",
        "duration",
        "language",
        "created_at",
        "started_at",
        "finished_at",
        "attempts",
        "resumed",
        "cancel_requested",
    }
)
_OTHER_FIELDS = [f for f in dataclasses.fields(Job) if f.name not in _ROW_FIELDS]
#: Those of them with a plain default, set in one step; those made by a factory, one call each.
_PLAIN_DEFAULTS = {f.name: f.default for f in _OTHER_FIELDS if f.default is not dataclasses.MISSING}
_FACTORY_DEFAULTS = [
    (f.name, f.default_factory)
    for f in _OTHER_FIELDS
    if f.default is dataclasses.MISSING and f.default_factory is not dataclasses.MISSING
]
_STATES = {state.value: state for state in JobState}
#: The job columns :meth:`JobStore.load` reads, in the order :meth:`JobStore._stored_jobs`
#: unpacks them: never ``transcript`` (read when first used).
_LOAD_COLUMNS = (
    "id, path, options, state, progress, error, duration, language, created_at, started_at, "
    "finished_at, attempts, resumed, queue_rank, position"
)
_new = object.__new__
_tuple_new = tuple.__new__


def _stored_path(raw: bytes) -> Path:
    return Path(os.fsdecode(raw))


class StoredJob(Job):
    """A job read back from the store, made in full only as far as it is used.

    Why: the list needs only the job rows. Reading every transcript at start cost 37 s and
    2.4 GB for 100,000 finished jobs; a job's text is wanted only when it is shown, exported,
    resumed or retried. So its segments and transcript are read from the store on first use
    (reading *or* assigning either reads them first, so a StoredJob behaves exactly like a
    :class:`Job` that held them all along). Its ``path`` stays the stored bytes until a
    ``Path`` is asked for (parsing 100,000 paths was half the cost of opening them), and its
    ``cancel_requested`` event is made when first asked for. Its list row
    (:meth:`snapshot`) makes no ``Path`` either.
    """

    @property
    def path(self) -> Path:
        path = self.__dict__["path"]
        if type(path) is bytes:
            path = self.__dict__["path"] = _stored_path(path)
        return path

    @path.setter
    def path(self, value: Path) -> None:
        self.__dict__["path"] = value

    @property
    def cancelling(self) -> bool:
        event: threading.Event | None = self.__dict__.get("cancel_requested")
        return event is not None and event.is_set()  # no event yet: never asked

    @property
    def cancel_requested(self) -> threading.Event:
        event: threading.Event | None = self.__dict__.get("cancel_requested")
        if event is None:
            with _SWAP_LOCK:  # one event, or a cancel could flag one the worker never sees
                event = self.__dict__.get("cancel_requested")
                if event is None:
                    self._own_fields()  # whoever holds the event can change ``cancelling``
                    event = self.__dict__["cancel_requested"] = threading.Event()
        return event

    @cancel_requested.setter
    def cancel_requested(self, value: threading.Event) -> None:
        self.__dict__["cancel_requested"] = value

    @property
    def segments(self) -> list[Segment]:
        self._read()
        return self.__dict__["segments"]

    @segments.setter
    def segments(self, value: list[Segment]) -> None:
        self._read()
        self.__dict__["segments"] = value

    @property
    def transcript(self) -> Transcript | None:
        unread: _Unread | None = self.__dict__.get("_unread")
        if unread is not None and not unread.done:
            return None  # only a finished job has one: no need to read its segments to know
        self._read()
        return self.__dict__["transcript"]

    @transcript.setter
    def transcript(self, value: Transcript | None) -> None:
        self._read()
        self.__dict__["transcript"] = value

    @property
    def is_read(self) -> bool:
        """Whether the segments and transcript are in memory (for tests and benchmarks)."""
        return self.__dict__.get("_unread") is None

    def __setattr__(self, name: str, value: Any) -> None:
        if "_as_loaded" in self.__dict__:
            with _SWAP_LOCK:
                self._own_fields()
        super().__setattr__(name, value)

    def _own_fields(self) -> None:
        """Copy on write (call with ``_SWAP_LOCK`` held): the dictionary made at load may be
        its list rows' too (see :meth:`snapshot`), and they must never see a change."""
        fields = self.__dict__
        if "_as_loaded" in fields:
            owned = dict(fields)
            del owned["_as_loaded"]
            object.__setattr__(self, "__dict__", owned)

    def snapshot(self, *, with_text: bool = True) -> JobSnapshot:
        """As :meth:`Job.snapshot`. A list row (``with_text=False``) of a job not changed
        since it was loaded shares the job's dictionary as loaded (a :class:`StoredSnapshot`,
        the job copies it before any change); of another whose path is still the stored
        bytes, it keeps them too. No ``Path``, no dataclass ``__init__``, and for 100,000
        restored jobs no second dictionary each: those cost more than reading the rows."""
        fields = self.__dict__
        if with_text or type(fields["path"]) is not bytes:
            return super().snapshot(with_text=with_text)
        made = _new(StoredSnapshot)
        if "_as_loaded" in fields:
            _object_setattr(made, "__dict__", fields)  # no frozen-dataclass check per row
            return made
        made.__dict__.update(
            zip(_SNAPSHOT_COPIED, _snapshot_values(fields), strict=True),
            segments=(),
            transcript=None,
            cancelling=self.cancelling,
            has_text=False,
        )
        return made

    def _read(self) -> None:
        unread: _Unread | None = self.__dict__.get("_unread")
        if unread is None:
            return
        # Outside the lock: it is disk I/O.
        try:
            segments = unread.store.read_segments(self.id)
            transcript = (
                unread.transcript(segments, unread.store.read_transcript_json(self.id))
                if unread.done
                else None
            )
        except DamagedStoreError as exc:
            # Its text is in a damaged part of the store: the job shows none rather than a
            # traceback wherever it is shown; the window's check tells the user what to do.
            logger.warning("The text of job %s cannot be read: %s", self.id, exc)
            segments, transcript = [], None
        with _SWAP_LOCK:
            if self.__dict__.get("_unread") is unread:  # another thread may have been first
                self._own_fields()
                self.__dict__["segments"] = segments
                self.__dict__["transcript"] = transcript
                self.__dict__["_unread"] = None


#: ``object``'s attribute setter, for a new object's ``__dict__`` in bulk code.
_object_setattr = object.__setattr__


class StoredSnapshot(JobSnapshot):
    """A list row's snapshot of a :class:`StoredJob` whose ``Path`` was never asked for: it
    keeps the stored bytes and makes the ``Path`` when first used (the rows a view paints).

    One of a job unchanged since it was loaded shares that job's dictionary as loaded, which
    holds no text: a row's text-less fields are these.
    """

    segments = ()
    transcript = None
    cancelling = False
    has_text = False

    @property
    def path(self) -> Path:
        path = self.__dict__["path"]
        if type(path) is bytes:
            path = self.__dict__["path"] = _stored_path(path)  # frozen to everyone else
        return path


#: The :class:`JobSnapshot` fields a text-less snapshot copies from the job as they are.
_SNAPSHOT_COPIED = tuple(
    f.name
    for f in dataclasses.fields(JobSnapshot)
    if f.name not in ("segments", "transcript", "cancelling", "has_text")
)
_snapshot_values = operator.itemgetter(*_SNAPSHOT_COPIED)


#: A loaded row's place in the list: ``position``, then ``created_at``.
_LIST_ORDER = operator.itemgetter(14, 8)


def _rank(rank: float | None) -> float:
    """A queued job's stored place; one without (an older store) queues after the rest."""
    return float("inf") if rank is None else float(rank)


def default_store_path() -> Path:
    return data_dir() / STORE_FILE_NAME


def describe_write_failure(path: Path, error: BaseException) -> str:
    """What the user reads when the store cannot be written: what happened, what it means,
    what to do. Shared by the faces, so the window and the command line say the same."""
    problem = str(error) or type(error).__name__
    lowered = problem.lower()
    if "full" in lowered:
        advice = "free some disk space"
    elif "readonly" in lowered or "read-only" in lowered or "permission" in lowered:
        advice = f"make {path} and its folder writable"
    else:
        advice = f"check the disk and the permissions of {path.parent}"
    return (
        f"Verbatim cannot save its jobs to {path} ({problem}). Transcription goes on, but the "
        f"jobs and transcripts of this session will not survive a restart until this is fixed: "
        f"{advice}. Verbatim saves everything again as soon as it can."
    )


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


_OWED_INSERT = "INTO owed_exports (job_id, formats, folder) VALUES (?, ?, ?)"
#: The columns ``segments`` and ``machine_segments`` share, in order.
_SEGMENT_COLUMNS = "job_id, idx, start, end, text, words"


def _segment_from_row(start: float, end: float, text: str, words: str) -> Segment:
    try:
        parsed = tuple(Word(*w) for w in json.loads(words))
    except (ValueError, TypeError):
        parsed = ()
    return Segment(start, end, text, parsed)


def _owed_row(owed: OwedExport) -> tuple[str, str, bytes | None]:
    folder = None if owed.folder is None else os.fsencode(owed.folder)
    return (owed.job_id, json.dumps(list(owed.formats)), folder)


def _transcript_from_json(raw: str) -> Transcript:
    """Values as stored, not re-typed (an int stays an int), so a kept transcript that comes
    back exports byte for byte as it did before."""
    data = json.loads(raw)
    return Transcript(
        segments=[
            Segment(s["start"], s["end"], s["text"], tuple(Word(**w) for w in s.get("words", ())))
            for s in data.get("segments", [])
        ],
        language=data.get("language", ""),
        language_probability=data.get("language_probability", 0.0),
        duration=data.get("duration", 0.0),
        model=data.get("model", ""),
        source=data.get("source", ""),
    )


class ListedJob(NamedTuple):
    """One stored job as a listing shows it: the row's own values, no job object."""

    id: str
    path: bytes  # as the file system's bytes: any file name survives
    state: JobState
    progress: float
    error: str
    resumed: bool
    attempts: int
    created_at: float
    finished_at: float | None
    segments: int  # stored segments, when counted (else 0)


#: Jobs a :meth:`JobStore.listing` chunk holds: one write of output per chunk, memory bounded.
LISTING_CHUNK = 1000


def _options_readable(raw: str) -> bool:
    try:
        _options_from_json(raw)
    except (ValueError, TypeError, KeyError):
        return False
    return True


class JobStore:
    """Jobs and their segments in one SQLite file; safe to call from any thread."""

    def __init__(self, path: Path | None = None, *, read_only: bool = False) -> None:
        """``read_only`` (``verbatim-cli jobs``) reads beside the window, without its lock, and
        never creates, migrates or moves anything: a damaged store raises
        :class:`DamagedStoreError` and stays where it is.

        :raises StoreLockedError: not read-only, and another process writes this store.
        """
        self.path = Path(path) if path is not None else default_store_path()
        self.read_only = read_only
        #: Where a damaged store was moved at opening (the faces tell the user); else None.
        self.moved_aside: Path | None = None
        self._lock = threading.RLock()
        self._last_progress: dict[str, float] = {}
        self._store_lock: StoreLock | None = None
        if read_only:
            self._connection = self._open_read_only()
        else:
            self._make_folder()  # a folder problem is a StoreFolderError, before the lock
            self._store_lock = StoreLock.acquire(self.path)
            try:
                self._connection = self._open()
            except BaseException:
                self._store_lock.release()
                self._store_lock = None
                raise
        # Lazy reads of one job's segments (often on the GUI thread) use their own read-only
        # connection and lock, so they never wait behind a writer's commit.
        self._read_lock = threading.Lock()
        self._reader: sqlite3.Connection | None = None
        self._checking: sqlite3.Connection | None = None  # the integrity check's, while it runs
        self._check_stopped = False
        self._closed = False

    # ----------------------------------------------------------------- opening
    def _open(self) -> sqlite3.Connection:
        self._make_folder()
        try:
            connection = self._connect_and_migrate()
            self._clear_damage_mark()  # checked in full and sound (it was marked by mistake)
            return connection
        except sqlite3.OperationalError as exc:
            if "locked" in str(exc) or "busy" in str(exc):
                raise JobStoreError(
                    f"The job store {self.path} is locked by another program (is Verbatim "
                    "already running?). Close it and start again."
                ) from None
            if not os.access(self.path.parent, os.W_OK | os.X_OK):
                raise StoreFolderError(self._folder_problem("it is not writable")) from None
            raise JobStoreError(f"The job store {self.path} cannot be opened: {exc}.") from None
        except sqlite3.DatabaseError as exc:
            # Not a database, or damaged: keep the evidence, start fresh, never loop on it.
            aside = self.moved_aside = self._move_aside()
            logger.warning(
                "The job store %s was damaged (%s); moved it to %s and started a new one",
                self.path,
                exc,
                aside,
            )
            try:
                connection = self._connect_and_migrate()
            except sqlite3.Error as again:
                raise JobStoreError(
                    f"The job store {self.path} cannot be created: {again}."
                ) from None
            self._clear_damage_mark()
            return connection

    def _make_folder(self) -> None:
        folder = self.path.parent
        try:
            private_dir(folder)
        except (FileExistsError, NotADirectoryError):
            raise StoreFolderError(
                self._folder_problem("a file is in the way of it (or of a folder above it)")
            ) from None
        except OSError as exc:
            raise StoreFolderError(self._folder_problem(exc.strerror or str(exc))) from None

    def _folder_problem(self, problem: str) -> str:
        folder = self.path.parent
        return (
            f"Verbatim cannot keep its jobs in the folder {folder}: {problem}. Make that folder "
            f"(and {folder.parent}) a writable folder, or set XDG_DATA_HOME to one, then start "
            "Verbatim again."
        )

    def _open_read_only(self) -> sqlite3.Connection:
        try:
            connection = sqlite3.connect(
                f"{self.path.resolve().as_uri()}?mode=ro",
                uri=True,
                timeout=BUSY_TIMEOUT_S,
                isolation_level=None,
                check_same_thread=False,
            )
        except sqlite3.Error as exc:
            raise JobStoreError(f"The job store {self.path} cannot be read: {exc}.") from None
        try:
            # Reads the header: a file that is not a database fails here; other damage is found
            # by the read that meets it (see the module docstring).
            version = int(connection.execute("PRAGMA user_version").fetchone()[0])
        except sqlite3.OperationalError as exc:
            connection.close()
            raise JobStoreError(f"The job store {self.path} cannot be read: {exc}.") from None
        except sqlite3.DatabaseError as exc:
            connection.close()
            raise DamagedStoreError(self._found_damaged(str(exc))) from None
        if version > len(MIGRATIONS):
            connection.close()
            raise JobStoreError(
                f"The job store {self.path} was written by a newer Verbatim (schema {version}, "
                f"this version knows {len(MIGRATIONS)}). Update Verbatim to read it."
            )
        return connection

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
            if self.damage_mark.exists():  # damage found while in use: check in full now
                check = connection.execute("PRAGMA quick_check").fetchone()
                if check is None or check[0] != "ok":
                    raise sqlite3.DatabaseError(f"integrity check failed: {check}")
            # Reads the header: a file that is not a database fails here and is moved aside.
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

    @property
    def damage_mark(self) -> Path:
        """The mark left beside a store found damaged while in use (see the module docstring)."""
        return Path(f"{self.path}{DAMAGE_MARK_SUFFIX}")

    def _clear_damage_mark(self) -> None:
        try:
            self.damage_mark.unlink(missing_ok=True)
        except OSError as exc:
            logger.warning("Cannot remove %s: %s", self.damage_mark, exc)

    def _found_damaged(self, detail: str) -> str:
        """Damage met while in use: mark the store (unless only reading it) so the next opening
        moves it aside, and return the sentence the user reads."""
        logger.warning("The job store %s is damaged: %s", self.path, detail)
        if self.read_only:
            return (
                f"The job store {self.path} is damaged ({detail}). It was left as it is; the "
                "Verbatim window moves a damaged store aside and starts a new one."
            )
        try:
            create_private(self.damage_mark)
        except OSError as exc:
            logger.warning("Cannot mark the job store %s as damaged: %s", self.path, exc)
        return (
            f"The job store {self.path} is damaged ({detail}). The jobs listed are those Verbatim "
            "could read: export the transcripts you need. At its next start Verbatim moves the "
            "damaged store aside (keeping it) and starts a new one."
        )

    def check_integrity(self) -> str | None:
        """SQLite's quick check of the whole store: None when it is sound, else what the user
        reads (and the store is marked, so its next opening moves it aside).

        It reads every page, so the window runs it in the background after its list is up, on
        its own read-only connection: it takes none of this store's locks and never blocks a
        write. :meth:`stop_check` (and :meth:`close`) interrupt it; an interrupted or busy check
        reports nothing.
        """
        try:
            connection = sqlite3.connect(
                f"{self.path.resolve().as_uri()}?mode=ro",
                uri=True,
                timeout=BUSY_TIMEOUT_S,
                check_same_thread=False,
            )
        except sqlite3.Error as exc:
            logger.warning("Could not check the job store %s: %s", self.path, exc)
            return None
        self._checking = connection
        try:
            if self._check_stopped:  # stopped before it began: stop_check found nothing to stop
                return None
            row = connection.execute("PRAGMA quick_check").fetchone()
            detail = None if row is not None and row[0] == "ok" else str(row and row[0])
        except sqlite3.OperationalError as exc:  # interrupted by close(), or busy: not damage
            logger.info("The job store's check stopped: %s", exc)
            return None
        except sqlite3.DatabaseError as exc:
            detail = str(exc)
        finally:
            self._checking = None
            connection.close()
        return None if detail is None else self._found_damaged(detail)

    def stop_check(self) -> None:
        """Interrupt :meth:`check_integrity`, under way or about to start, for good: closing
        the window must not wait seconds for it."""
        self._check_stopped = True  # first: a check starting now sees it, or is seen below
        checking = self._checking
        if checking is not None:
            with suppress(sqlite3.Error):  # it may have ended (and closed) meanwhile
                checking.interrupt()

    def close(self) -> None:
        self.stop_check()
        with self._lock, self._read_lock:
            self._closed = True  # a later read says so (JobStoreError), not sqlite3's error
            self._connection.close()
            if self._reader is not None:
                self._reader.close()
                self._reader = None
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

    def relocate(self, job_id: str, path: Path) -> None:
        """The job's recording is now at ``path`` (the user located a moved file); the rest of
        the job, its transcript included, stays as it is."""
        with self._transaction() as db:
            db.execute("UPDATE jobs SET path = ? WHERE id = ?", (os.fsencode(path), job_id))

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

        Its segments are cleared unless it resumes from them. A finished job run again keeps
        its previous result (``job.kept``) in the same transaction, so no moment exists at which
        the store holds neither the old transcript nor a finished new one.
        """
        self.requeue_all([job])

    def requeue_all(self, jobs: list[Job]) -> None:
        """:meth:`requeue` for many jobs, in this order, in one transaction.

        Why one: restoring a queue requeued job by job, so a kill part-way stored the requeued
        ones *behind* the rest, a rotated order kept for good; and each requeue cost a commit.
        Now the whole new order is stored, or none of it.
        """
        if not jobs:
            return
        options_json: dict[int, str] = {}  # restored jobs share a few options objects
        columns = []
        for job in jobs:
            key = id(job.options)
            if key not in options_json:
                options_json[key] = _options_json(job.options)
            columns.append(self._changing_columns(job, options_json[key]))
        with self._transaction() as db:
            db.executemany(
                "DELETE FROM segments WHERE job_id = ?", [(j.id,) for j in jobs if not j.resumed]
            )
            for job in jobs:
                if job.kept is not None:
                    self._write_kept(db, job.id, job.kept)
            first = self._next_rank(db)
            assignments = ", ".join(f"{name} = ?" for name in columns[0])
            db.executemany(
                f"UPDATE jobs SET queue_rank = ?, {assignments} WHERE id = ?",
                [
                    (first + offset, *values.values(), job.id)
                    for offset, (values, job) in enumerate(zip(columns, jobs, strict=True))
                ],
            )

    def finish_job(
        self, job: Job, owed: OwedExport | None = None, *, segments_replaced: bool = False
    ) -> None:
        """Store a job's end durably, in one transaction with what its end changes.

        The export it owes (``owed``) is stored with it, so a crash right after this commit still
        writes the export at the next start. Its kept result is dropped: the job now holds either
        the new transcript or, after a failed re-run, the kept one again, whose segments
        (``segments_replaced``) replace those of the failed run.
        """
        with self._transaction(durable=job.state.finished) as db:
            self._write_job(db, job)
            db.execute("DELETE FROM kept_results WHERE job_id = ?", (job.id,))
            if segments_replaced:
                self._write_segments(db, job)
            elif job.state is JobState.DONE:  # a new transcription: earlier edits are not its
                db.execute("DELETE FROM machine_segments WHERE job_id = ?", (job.id,))
            if owed is not None:
                db.execute(f"INSERT OR REPLACE {_OWED_INSERT}", _owed_row(owed))
        self._last_progress.pop(job.id, None)

    def save_edits(self, job_id: str, first: int, old_stop: int, rows: list[Segment]) -> bool:
        """Store an edit of a finished job: its segments ``first`` to ``old_stop`` (exclusive)
        are now ``rows``, the later ones move up or down; one transaction, keeping the
        machine's own segments the first time. Only the changed rows are written: rewriting a
        2-hour transcript at each edit held the interpreter long enough to stall the window.

        False (nothing written) when the job is no longer done, say re-transcribed in the
        meantime, so a late edit never lands on another transcription.
        """
        with self._transaction() as db:
            state = db.execute("SELECT state FROM jobs WHERE id = ?", (job_id,)).fetchone()
            if state is None or state[0] != JobState.DONE.value:
                return False
            db.execute(
                f"INSERT OR IGNORE INTO machine_segments ({_SEGMENT_COLUMNS}) "
                f"SELECT {_SEGMENT_COLUMNS} FROM segments WHERE job_id = ?",
                (job_id,),
            )
            db.execute(
                "DELETE FROM segments WHERE job_id = ? AND idx >= ? AND idx < ?",
                (job_id, first, old_stop),
            )
            shift = first + len(rows) - old_stop
            if shift:  # through negative places, so no two rows ever share one on the way
                db.execute(
                    "UPDATE segments SET idx = -1 - (idx + ?) WHERE job_id = ? AND idx >= ?",
                    (shift, job_id, old_stop),
                )
                db.execute(
                    "UPDATE segments SET idx = -1 - idx WHERE job_id = ? AND idx < 0", (job_id,)
                )
            db.executemany(
                f"INSERT INTO segments ({_SEGMENT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)",
                [
                    (job_id, first + offset, s.start, s.end, s.text, _words_json(s))
                    for offset, s in enumerate(rows)
                ],
            )
        return True

    def discard_edits(self, job_id: str) -> bool:
        """Revert all: the machine's segments are the job's again, and no longer kept apart.
        False when the job has no edits (nothing changes)."""
        with self._transaction() as db:
            kept = db.execute(
                "SELECT COUNT(*) FROM machine_segments WHERE job_id = ?", (job_id,)
            ).fetchone()[0]
            if not kept:
                return False
            db.execute("DELETE FROM segments WHERE job_id = ?", (job_id,))
            db.execute(
                f"INSERT INTO segments ({_SEGMENT_COLUMNS}) "
                f"SELECT {_SEGMENT_COLUMNS} FROM machine_segments WHERE job_id = ?",
                (job_id,),
            )
            db.execute("DELETE FROM machine_segments WHERE job_id = ?", (job_id,))
        return True

    def settle_export(self, job_id: str) -> None:
        """The export a job owed was attempted and its outcome shown: it is owed no more."""
        with self._transaction() as db:
            db.execute("DELETE FROM owed_exports WHERE job_id = ?", (job_id,))

    def rewrite(self, jobs: list[Job], pending_ids: list[str], owed: list[OwedExport]) -> None:
        """Replace everything stored with ``jobs`` (in list order), in one transaction.

        After writes failed (a full disk, a read-only file) the store no longer matches what the
        queue holds; once it can be written again, this makes it match exactly: list order,
        queue order (``pending_ids``), segments, kept results and owed exports.
        """
        # A one-page write first: while the disk is still full or the file read-only, each
        # attempt costs that, not the whole store written into the log and rolled back.
        with self._transaction() as db:
            version = int(db.execute("PRAGMA user_version").fetchone()[0])
            db.execute(f"PRAGMA user_version = {version}")  # an int we read; no parameters here
        ranks = {job_id: rank for rank, job_id in enumerate(pending_ids, start=1)}
        listed = {job.id for job in jobs}
        with self._transaction(durable=True) as db:
            # The machine's segments of edited jobs exist only here: kept across the rewrite.
            machine = db.execute(f"SELECT {_SEGMENT_COLUMNS} FROM machine_segments").fetchall()
            db.execute("DELETE FROM jobs")  # segments, kept results and owed exports cascade
            for position, job in enumerate(jobs, start=1):
                columns = {
                    "id": job.id,
                    "path": os.fsencode(job.path),
                    "created_at": job.created_at,
                    "position": position,
                    "queue_rank": ranks.get(job.id),
                    **self._changing_columns(job, _options_json(job.options)),
                }
                names = ", ".join(columns)  # ours, never user input; values are parameters
                marks = ", ".join("?" * len(columns))
                db.execute(f"INSERT INTO jobs ({names}) VALUES ({marks})", tuple(columns.values()))
                self._write_segments(db, job)
                if job.kept is not None:
                    self._write_kept(db, job.id, job.kept)
            rows = [_owed_row(debt) for debt in owed if debt.job_id in listed]
            db.executemany(f"INSERT {_OWED_INSERT}", rows)
            db.executemany(
                f"INSERT INTO machine_segments ({_SEGMENT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)",
                [row for row in machine if row[0] in listed],
            )

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
        self.delete_jobs([job_id])

    def delete_jobs(self, job_ids: list[str]) -> None:
        """Forget these jobs in one transaction: a clean-up of thousands is one commit."""
        with self._transaction() as db:
            db.executemany("DELETE FROM jobs WHERE id = ?", [(job_id,) for job_id in job_ids])
        for job_id in job_ids:
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
        """Every stored job in list order; each one's segments and transcript are read from
        the store when first used (see :class:`StoredJob`), so this reads the job rows only.

        A row that cannot be read (say, written by a damaged copy) is skipped with a warning
        rather than stopping the whole list from loading.
        """
        with collector_paused():
            with self._lock, self._reading():
                rows = self._connection.execute(f"SELECT {_LOAD_COLUMNS} FROM jobs").fetchall()
            rows.sort(key=_LIST_ORDER)  # cheaper here than SQLite's index walk plus sort
            jobs, ranks = self._stored_jobs(rows)
        return StoredJobs(jobs, [job_id for *_, job_id in sorted(ranks)])

    def _stored_jobs(
        self, rows: list[tuple[Any, ...]]
    ) -> tuple[list[Job], list[tuple[int, float, float, str]]]:
        """A :class:`StoredJob` per row, its dictionary filled in one step, and the queue
        places of the unfinished ones: a dataclass ``__init__``, a call per field or a
        ``Path`` per row was the bulk of opening 100,000 jobs. The row's values are SQLite's
        own (its column types make them ``str``/``float``/``int``); the state and the options
        are checked, being what a damaged row gets wrong."""
        options: dict[str, TranscriptionOptions] = {}  # jobs share their options' few forms
        jobs: list[Job] = []
        ranks: list[tuple[int, float, float, str]] = []
        for row in rows:
            (
                job_id,
                path,
                options_json,
                state,
                progress,
                error,
                duration,
                language,
                created_at,
                started_at,
                finished_at,
                attempts,
                resumed,
                rank,
                _position,
            ) = row
            try:
                job_options = options.get(options_json)
                if job_options is None:
                    job_options = options[options_json] = _options_from_json(options_json)
                job_state = _STATES[state]
                if type(path) is not bytes:
                    raise TypeError(f"its path is {type(path).__name__}, not bytes")
            except (ValueError, TypeError, KeyError) as exc:
                logger.warning("Skipped an unreadable job %r in the job store: %s", job_id, exc)
                continue
            resumed = bool(resumed)
            job = _new(StoredJob)
            # object's own __setattr__: StoredJob's copy-on-write check is a Python call per row.
            fields = {
                **_PLAIN_DEFAULTS,
                "id": job_id,
                "path": path,
                "options": job_options,
                "state": job_state,
                "progress": progress,
                "error": error,
                "duration": duration,
                "language": language,
                "created_at": created_at,
                "started_at": started_at,
                "finished_at": finished_at,
                "attempts": attempts,
                "resumed": resumed,
                "cancel_requested": None,
                "_as_loaded": True,  # shared with its list rows until it changes (StoredJob)
                # A tuple's own constructor: the named tuple's is a Python call per row.
                "_unread": _tuple_new(
                    _Unread,
                    (
                        self,
                        job_state is JobState.DONE,
                        language,
                        duration or 0.0,
                        job_options.model,
                        path,
                    ),
                ),
            }
            for name, factory in _FACTORY_DEFAULTS:
                fields[name] = factory()
            _object_setattr(job, "__dict__", fields)
            jobs.append(job)
            # Running jobs started before anything still queued; each group keeps its order.
            if job_state is JobState.RUNNING:
                ranks.append((0, _rank(rank), started_at or 0.0, job_id))
            elif job_state is JobState.QUEUED:
                ranks.append((1, _rank(rank), 0.0, job_id))
        return jobs, ranks

    def listing(self, *, count_segments: bool = False) -> Iterator[list[ListedJob]]:
        """Every stored job as a plain record, in list order, a chunk at a time, straight from
        one query: ``verbatim-cli jobs`` prints 100,000 jobs without making a job object (or
        holding them all) first. ``count_segments`` counts each job's stored segments (one
        pass over their table, never decoding their text). A row :meth:`load` would skip is
        skipped here too, so every face lists the same jobs.

        One statement is one read transaction: the chunks agree with each other even while
        the window writes. Damage met on the way raises :class:`DamagedStoreError` then.
        """
        # Counted in the segments' own order: a count per listed job walked that table in
        # random order, a page read per job (2 s of CPU for 100,000 jobs, against 0.6 s).
        counts = self.segment_counts() if count_segments else {}
        sql = (
            "SELECT id, path, options, state, progress, error, resumed, attempts, created_at, "
            "finished_at FROM jobs ORDER BY position, created_at"
        )
        readable: dict[str, bool] = {}  # options text -> whether load() can read it
        cursor: sqlite3.Cursor | None = None
        while True:
            with self._lock, self._reading():
                if cursor is None:
                    cursor = self._connection.execute(sql)
                rows = cursor.fetchmany(LISTING_CHUNK)
            if not rows:
                return
            chunk = []
            for job_id, path, options, state, *values in rows:
                job_state = _STATES.get(state)
                ok = readable.get(options)
                if ok is None:
                    ok = readable[options] = _options_readable(options)
                if job_state is None or not ok or type(path) is not bytes:
                    logger.warning("Skipped an unreadable job %r in the job store", job_id)
                    continue
                progress, error, resumed, attempts, created_at, finished_at = values
                # A tuple's own constructor: the named tuple's is a Python call per row.
                chunk.append(
                    _tuple_new(
                        ListedJob,
                        (
                            job_id,
                            path,
                            job_state,
                            progress,
                            error,
                            bool(resumed),
                            attempts,
                            created_at,
                            finished_at,
                            counts.get(job_id, 0),
                        ),
                    )
                )
            yield chunk

    @contextmanager
    def _reading(self) -> Iterator[None]:
        """A read that meets damage raises :class:`DamagedStoreError` saying what to do (and
        marks the store, see the module docstring); a busy or locked store is not damage."""
        try:
            yield
        except sqlite3.OperationalError:
            raise
        except sqlite3.DatabaseError as exc:
            raise DamagedStoreError(self._found_damaged(str(exc))) from None

    def _read_connection(self) -> sqlite3.Connection:
        """The lazy reads' own read-only connection (call with ``_read_lock`` held)."""
        if self._closed:
            raise JobStoreError(
                f"The job store {self.path} is closed; its transcripts cannot be read."
            )
        if self._reader is None:
            self._reader = sqlite3.connect(
                f"{self.path.resolve().as_uri()}?mode=ro",
                uri=True,
                timeout=BUSY_TIMEOUT_S,
                check_same_thread=False,
            )
        return self._reader

    def read_segments(self, job_id: str) -> list[Segment]:
        """One job's stored segments, in order: one indexed read, never a writer's lock."""
        with self._read_lock, self._reading():
            rows = (
                self._read_connection()
                .execute(
                    "SELECT start, end, text, words FROM segments WHERE job_id = ? ORDER BY idx",
                    (job_id,),
                )
                .fetchall()
            )
        segments = []
        for start, end, text, words in rows:
            try:
                parsed = tuple(Word(*w) for w in json.loads(words))
            except (ValueError, TypeError):
                parsed = ()
            segments.append(Segment(start, end, text, parsed))
        return segments

    def read_transcript_json(self, job_id: str) -> str | None:
        """A finished job's transcript details (language, model...), read when first used."""
        with self._read_lock, self._reading():
            row = (
                self._read_connection()
                .execute("SELECT transcript FROM jobs WHERE id = ?", (job_id,))
                .fetchone()
            )
        return None if row is None else row[0]

    def read_machine_segments(self, job_id: str) -> list[Segment] | None:
        """The machine's own segments of an edited job; None when the job has no edits."""
        with self._read_lock:
            rows = (
                self._read_connection()
                .execute(
                    "SELECT start, end, text, words FROM machine_segments WHERE job_id = ? "
                    "ORDER BY idx",
                    (job_id,),
                )
                .fetchall()
            )
        return [_segment_from_row(*row) for row in rows] if rows else None

    def edited_job_ids(self) -> set[str]:
        """Jobs whose transcript the user has edited (one small indexed read)."""
        with self._read_lock:
            rows = (
                self._read_connection()
                .execute("SELECT DISTINCT job_id FROM machine_segments")
                .fetchall()
            )
        return {str(row[0]) for row in rows}

    def segment_counts(self) -> dict[str, int]:
        """How many segments each job has stored, without reading them (for listings)."""
        with self._lock, self._reading():
            return dict(
                self._connection.execute(
                    "SELECT job_id, COUNT(*) FROM segments GROUP BY job_id"
                ).fetchall()
            )

    def load_jobs(self) -> list[Job]:
        return self.load().jobs

    def kept_results(self) -> dict[str, KeptResult]:
        """Job id -> the result kept while that job is transcribed again (see ``requeue``)."""
        with self._lock:
            rows = self._connection.execute(
                "SELECT job_id, options, transcript, started_at, finished_at FROM kept_results"
            ).fetchall()
        kept: dict[str, KeptResult] = {}
        for job_id, options, transcript, started_at, finished_at in rows:
            try:
                kept[str(job_id)] = KeptResult(
                    _transcript_from_json(transcript),
                    _options_from_json(options),
                    started_at,
                    finished_at,
                )
            except (ValueError, TypeError, KeyError) as exc:
                logger.warning("Skipped an unreadable kept result of job %r: %s", job_id, exc)
        return kept

    def owed_exports(self) -> list[OwedExport]:
        """The exports jobs stored as done still owe, oldest first."""
        with self._lock:
            rows = self._connection.execute(
                "SELECT owed_exports.job_id, formats, folder FROM owed_exports "
                "JOIN jobs ON jobs.id = owed_exports.job_id ORDER BY jobs.position"
            ).fetchall()
        owed: list[OwedExport] = []
        for job_id, formats, folder in rows:
            try:
                chosen = tuple(str(fmt) for fmt in json.loads(formats))
            except (ValueError, TypeError) as exc:
                logger.warning("Skipped an unreadable owed export of job %r: %s", job_id, exc)
                continue
            where = None if folder is None else Path(os.fsdecode(bytes(folder)))
            owed.append(OwedExport(str(job_id), chosen, where))
        return owed

    def count(self) -> int:
        with self._lock:
            return int(self._connection.execute("SELECT COUNT(*) FROM jobs").fetchone()[0])

    # ----------------------------------------------------------------- helpers
    @staticmethod
    def _write_segments(db: sqlite3.Connection, job: Job) -> None:
        db.execute("DELETE FROM segments WHERE job_id = ?", (job.id,))
        db.executemany(
            "INSERT INTO segments (job_id, idx, start, end, text, words) VALUES (?, ?, ?, ?, ?, ?)",
            [
                (job.id, index, s.start, s.end, s.text, _words_json(s))
                for index, s in enumerate(job.segments)
            ],
        )

    @staticmethod
    def _write_kept(db: sqlite3.Connection, job_id: str, kept: KeptResult) -> None:
        db.execute(
            "INSERT OR REPLACE INTO kept_results "
            "(job_id, options, transcript, started_at, finished_at) VALUES (?, ?, ?, ?, ?)",
            (
                job_id,
                _options_json(kept.options),
                json.dumps(kept.transcript.to_dict(), default=str),
                kept.started_at,
                kept.finished_at,
            ),
        )

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
