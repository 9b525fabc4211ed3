"""The store writer: one long-lived thread, records applied in order, joined on close."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from desktop_app.core.store_writer import StoreWrite, StoreWriter
from desktop_app.job_queue import JobQueue
from tests.fakes import FakeEngine


def writers_alive() -> list[threading.Thread]:
    return [thread for thread in threading.enumerate() if thread.name == "store-writer"]


def test_records_are_applied_in_order_by_one_thread_across_bursts() -> None:
    """A burst that follows an idle moment reuses the thread: starting one per burst made a
    worker wait, under the queue's lock, for the new thread to get the GIL."""
    writer = StoreWriter()
    applied: list[int] = []
    threads: list[threading.Thread] = []

    def write(number: int) -> None:
        applied.append(number)
        threads.append(threading.current_thread())

    for burst in range(3):
        for number in range(burst * 10, burst * 10 + 10):
            writer.submit(StoreWrite(lambda number=number: write(number)))
        assert writer.drain(10)
        assert writer.running  # idle, and still there for the next burst
    assert applied == list(range(30))
    assert len(set(threads)) == 1
    assert writer.close(10)
    assert not threads[0].is_alive()


def test_close_applies_what_is_left_and_joins_the_thread() -> None:
    writer = StoreWriter()
    gate = threading.Event()
    announced: list[str] = []
    writer.submit(StoreWrite(lambda: gate.wait(10)))
    writer.submit(StoreWrite(lambda: None, lambda: announced.append("stored")))
    gate.set()
    assert writer.close(10)
    assert announced == ["stored"]
    assert not writer.running
    assert writers_alive() == []


def test_a_record_after_close_is_written_by_a_thread_that_does_not_stay() -> None:
    """A job cancelled by the shutdown is announced after the writer was closed: its thread
    must end by itself, or a script that closed its queue would never exit."""
    writer = StoreWriter()
    applied: list[str] = []
    writer.submit(StoreWrite(lambda: applied.append("first")))
    assert writer.close(10)
    last = threading.Event()
    writer.submit(StoreWrite(lambda: applied.append("second"), last.set))
    assert last.wait(10)
    for thread in writers_alive():
        thread.join(10)  # ends without a close
    assert applied == ["first", "second"]
    assert not writer.running
    assert writer.close(10)


def test_an_acknowledgement_cannot_drain_or_close_its_own_writer() -> None:
    writer = StoreWriter()
    answers: list[bool] = []
    writer.submit(StoreWrite(None, lambda: answers.extend([writer.drain(1), writer.close(1)])))
    assert writer.close(10)
    assert answers == [False, False]


def test_a_death_drops_the_rest_and_ends_the_thread() -> None:
    writer = StoreWriter()
    applied: list[str] = []

    def die() -> None:
        raise SystemExit("simulated process death")

    gate = threading.Event()
    writer.submit(StoreWrite(lambda: gate.wait(10)))
    writer.submit(StoreWrite(die))
    writer.submit(StoreWrite(lambda: applied.append("after")))
    gate.set()
    assert writer.close(10)
    assert isinstance(writer.died, SystemExit)
    assert applied == []
    writer.submit(StoreWrite(lambda: applied.append("later")))  # dropped, no thread started
    assert not writer.running


@pytest.mark.parametrize("stored", [False, True])
def test_queue_shutdown_joins_its_writer(qtbot, tmp_path: Path, stored: bool) -> None:
    """The command line exits, and the window's interpreter ends, right after the queue's
    shutdown: no writer thread may be left to run during finalization."""
    from desktop_app.core.job_store import JobStore

    store = JobStore(tmp_path / "jobs.sqlite3") if stored else None
    queue = JobQueue(FakeEngine(segments=3), max_workers=1, max_queue_size=2, store=store)
    job = queue.submit(Path("/audio/a.wav")).job
    assert job is not None
    qtbot.waitUntil(lambda: job.state.finished, timeout=10_000)
    assert writers_alive()  # the thread outlives the burst...
    assert queue.shutdown(10_000)
    assert writers_alive() == []  # ...and not its queue
    if store is not None:
        store.close()
