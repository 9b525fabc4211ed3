"""Batch work yields the CPU to live dictation and to the window (Linux thread niceness).

Batch jobs run at a lower priority (nice 10) than the rest of the process: when a dictation or
the window needs a core, the kernel gives it to them first, and when they are idle the batch jobs
still use every core. This costs the batch nothing on an otherwise idle machine, unlike taking a
worker away while recording. On Linux, niceness is per thread and inherited by threads created
afterwards, so CTranslate2's decoding threads inherit it from the thread that loads the batch
model. Elsewhere these functions do nothing.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from collections.abc import Callable
from typing import TypeVar

logger = logging.getLogger(__name__)

BATCH_NICENESS = 10
T = TypeVar("T")


def lower_current_thread_priority(niceness: int = BATCH_NICENESS) -> bool:
    """Give the calling thread (and threads it creates later) a lower CPU priority."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        thread_id = threading.get_native_id()
        current = os.getpriority(os.PRIO_PROCESS, thread_id)
        if current < niceness:
            os.setpriority(os.PRIO_PROCESS, thread_id, niceness)
        return True
    except OSError as exc:
        logger.debug("Could not lower the thread priority: %s", exc)
        return False


def thread_niceness() -> int | None:
    if not sys.platform.startswith("linux"):
        return None
    return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())


def run_at_batch_priority(function: Callable[[], T]) -> T:
    """Run ``function`` in a short-lived low-priority thread, so threads it starts inherit that."""
    result: list[T] = []
    error: list[BaseException] = []

    def target() -> None:
        lower_current_thread_priority()
        try:
            result.append(function())
        except BaseException as exc:  # re-raised in the caller's thread
            error.append(exc)

    thread = threading.Thread(target=target, name="batch-model-loader")
    thread.start()
    thread.join()
    if error:
        raise error[0]
    return result[0]
