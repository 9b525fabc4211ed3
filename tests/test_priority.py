"""Batch work runs at a lower CPU priority than the window and live dictation (Linux)."""

from __future__ import annotations

import ast
import sys
import threading
from pathlib import Path

import pytest

from desktop_app.core.priority import BATCH_NICENESS, thread_niceness
from desktop_app.job_queue import JobQueue
from tests.fakes import FakeEngine
from tests.processes import run_python

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux niceness")


class NicenessProbe(FakeEngine):
    def __init__(self) -> None:
        super().__init__(segments=1)
        self.seen: list[int | None] = []

    def transcribe(self, path, options, **callbacks):
        self.seen.append(thread_niceness())
        return super().transcribe(path, options, **callbacks)


def test_queue_workers_run_at_batch_priority_and_the_caller_does_not(qtbot):
    engine = NicenessProbe()
    queue = JobQueue(engine, max_workers=2, max_queue_size=5)
    before = thread_niceness()
    for index in range(3):
        queue.submit(Path(f"clip{index}.wav"))
    qtbot.waitUntil(queue.is_idle, timeout=10_000)
    assert queue.shutdown(10_000)
    assert engine.seen == [BATCH_NICENESS] * 3
    assert thread_niceness() == before, "the calling (GUI) thread keeps its priority"
    assert threading.current_thread() is threading.main_thread()


def test_batch_model_decoding_threads_inherit_batch_priority():
    code = (
        "import os, threading\n"
        "from desktop_app.core.transcriber import WhisperEngine\n"
        "before = set(os.listdir('/proc/self/task'))\n"
        "engine = WhisperEngine(cpu_threads=1, num_workers=2)\n"
        "engine.preload('tiny.en')  # keep the engine: its model's threads live with it\n"
        "new = set(os.listdir('/proc/self/task')) - before\n"
        "def nice(t):\n"
        "    try:\n"
        "        return open(f'/proc/self/task/{t}/stat').read().rsplit(')', 1)[1].split()[16]\n"
        "    except OSError:\n"
        "        return None\n"
        "print(sorted(n for n in map(nice, new) if n is not None))\n"
        "print(nice(threading.get_native_id()))\n"
    )
    result = run_python(code)
    assert result.returncode == 0, result.stderr
    model_threads, main_thread = result.stdout.split("\n")[:2]
    niceness = ast.literal_eval(model_threads)
    assert niceness and set(niceness) == {str(BATCH_NICENESS)}, result.stdout
    assert main_thread == "0"
