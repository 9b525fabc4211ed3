"""One ordered writer thread: the job store's disk I/O, off the threads that change job state.

The queue changes a job under its lock, and the GUI thread takes that lock to read snapshots. A
synced SQLite commit made under it (a job's end is fsynced) made every table paint wait on the
disk. Now a change enqueues an immutable write record under the lock (cheap), and this thread
applies the records one at a time, in the order they were made: the store sees the changes in
the order the queue made them, as before.

A record may carry an acknowledgement (``then``), run on this thread right after its write:
the queue announces a stored segment, or a job's end, only once it is stored, so what a face was
told survives a crash exactly as when the writes were made in place.

The thread is long-lived: it starts with the first record and waits for the next ones until its
owner calls :meth:`StoreWriter.close` (the queue's ``shutdown``), which applies what is left and
joins it. A thread per burst of records (the first design) was started by a worker holding the
queue's lock, and ``Thread.start`` waits for the new thread to run, which on a busy computer is a
wait for the GIL behind every other thread: the GUI thread, reading snapshots under that lock,
waited with it. The thread is not a daemon, and its owner joins it, so none outlives the
interpreter (a thread still running Python code during finalization can crash it).
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class StoreWrite:
    """One write, with the data it needs already frozen (copies taken when it was made);
    without ``apply`` (a queue without a store) only an announcement kept in order."""

    apply: Callable[[], object] | None  # what it returns is not used
    then: Callable[[], None] | None = None


class StoreWriter:
    """Applies :class:`StoreWrite` records in submission order on one thread."""

    def __init__(self, name: str = "store-writer") -> None:
        self._name = name
        self._records: deque[StoreWrite] = deque()
        self._changed = threading.Condition()
        self._thread: threading.Thread | None = None
        self._closing = False  # the thread ends once no record is left
        self._busy = False  # a record taken and not yet applied and acknowledged
        self._unwritten = 0  # records with a write, submitted and not yet applied
        #: What ended the writer for good: not an ``Exception`` (those are logged, and the
        #: records after them run) but the likes of a simulated process death in a test.
        self.died: BaseException | None = None

    def submit(self, record: StoreWrite) -> None:
        """Queue a record; never waits on the disk. The first record starts the thread. After
        :meth:`close` (the owner is stopping) a record still gets written, by a thread that
        ends as soon as no record is left: nothing keeps running that nobody will join."""
        with self._changed:
            if self.died is not None:
                return
            self._records.append(record)
            if record.apply is not None:
                self._unwritten += 1
            if self._thread is None:
                # Not a daemon even when a daemon (a Qt pool thread) submits: its owner joins it.
                self._thread = threading.Thread(target=self._run, name=self._name, daemon=False)
                self._thread.start()
            else:
                self._changed.notify_all()

    @property
    def idle(self) -> bool:
        """True when every submitted write has been applied (its acknowledgement may still be
        under way: a receiver of the last one sees ``idle``)."""
        with self._changed:
            return self._unwritten == 0

    @property
    def running(self) -> bool:
        """Whether the thread is alive (started and not yet closed)."""
        with self._changed:
            return self._thread is not None

    def drain(self, timeout: float | None = None) -> bool:
        """Wait until every record submitted so far is applied and acknowledged (restore,
        the command line, tests); the thread stays, waiting for more.

        Never called on the GUI thread while work runs: that is the wait this class removes.
        Returns False if ``timeout`` (seconds) passed first.
        """
        with self._changed:
            if self._thread is threading.current_thread():
                return False  # an acknowledgement cannot wait for the records behind it
            return self._changed.wait_for(
                lambda: not self._records and not self._busy, timeout=timeout
            )

    def close(self, timeout: float | None = None) -> bool:
        """Apply every record submitted so far, end the thread and join it (shutdown).

        Returns False if ``timeout`` (seconds) passed first, or when called from the thread
        itself (it cannot join itself).
        """
        with self._changed:
            thread = self._thread
            if thread is None:
                return True
            if thread is threading.current_thread():
                return False
            self._closing = True
            self._changed.notify_all()
        thread.join(timeout)
        return not thread.is_alive()

    def _run(self) -> None:
        while True:
            with self._changed:
                self._changed.wait_for(lambda: self._records or self._closing)
                if not self._records:
                    self._thread = None
                    self._changed.notify_all()
                    return
                record = self._records.popleft()
                self._busy = True
            if record.apply is not None:
                try:
                    self._apply(record.apply, "A job store write failed")
                except BaseException as death:  # ends the writer, as documented
                    self._die(death)
                    return
                with self._changed:
                    self._unwritten -= 1  # ``idle`` may be true while it is acknowledged
            if record.then is not None:
                self._apply(record.then, "Acknowledging a job store write failed")
            with self._changed:
                self._busy = False
                if not self._records:
                    self._changed.notify_all()  # drain() waits for this moment

    def _die(self, death: BaseException) -> None:
        """Nothing more is written, as after the process died mid-write: the records still
        waiting, and any submitted later, are dropped (their announcements too)."""
        logger.critical("The job store writer stopped: %r", death)
        with self._changed:
            self.died = death
            self._records.clear()
            self._unwritten = 0
            self._busy = False
            self._thread = None
            self._changed.notify_all()

    @staticmethod
    def _apply(step: Callable[[], object], failure: str) -> None:
        """A failing step is logged; the records after it still run."""
        try:
            step()
        except Exception:
            logger.exception(failure)
