"""Keeping the resident memory of parallel transcriptions bounded (glibc only; no-ops elsewhere).

glibc gives each thread that allocates its own malloc arena, and its mmap threshold grows with
the largest block freed (up to 32 MB), so audio and feature buffers of finished jobs stay in the
heaps. Measured on the throughput benchmark's 8 files with 4 workers on tiny.en: 689 MB peak RSS
by default, 617-654 MB with 2 arenas, 542-575 MB with 2 arenas and a fixed 4 MB mmap threshold
(buffers that large go straight back to the system when freed), at the same speed within noise
(2 workers: 474 MB against 493 MB). Both must be set before worker threads exist.

Python's own side: :func:`collector_paused` keeps the cycle collector from rescanning a bulk of
long-lived objects again and again while it is built (the job list of a long-time user).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import logging
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

logger = logging.getLogger(__name__)

M_ARENA_MAX = -8
M_MMAP_THRESHOLD = -3
ARENAS = 2
MMAP_THRESHOLD_BYTES = 4 * 1024 * 1024


def _libc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return None


def limit_malloc_arenas(arenas: int = ARENAS) -> bool:
    """Cap glibc's malloc arenas and fix its mmap threshold; call once at start-up, before any
    worker thread. Returns whether glibc accepted both."""
    libc = _libc()
    if libc is None or not hasattr(libc, "mallopt"):
        return False
    ok = bool(libc.mallopt(M_ARENA_MAX, arenas))
    ok = bool(libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)) and ok
    logger.debug("malloc: %d arenas, %d-byte mmap threshold: %s", arenas, MMAP_THRESHOLD_BYTES, ok)
    return ok


def release_free_memory() -> None:
    """Hand freed heap pages back to the system, e.g. after a job's audio buffers are dropped."""
    libc = _libc()
    if libc is not None and hasattr(libc, "malloc_trim"):
        libc.malloc_trim(0)


_gc_guard = threading.Lock()
_gc_pauses = 0
_gc_resume = False  # whether the collector was on when the first pause began


@contextmanager
def collector_paused() -> Iterator[None]:
    """Pause Python's cycle collector while a bounded bulk of long-lived objects is built.

    Why: opening 100,000 stored jobs makes about a million objects; each young-generation
    collection on the way scans what was just made and the full ones rescan everything,
    which cost a third of the opening's CPU time. Nothing made in the pause is garbage, and
    the collector runs as before afterwards. Pauses nest and may overlap across threads: the
    collector resumes when the last one ends, if it was on when the first began.
    """
    global _gc_pauses, _gc_resume
    with _gc_guard:
        if _gc_pauses == 0:
            _gc_resume = gc.isenabled()
            gc.disable()
        _gc_pauses += 1
    try:
        yield
    finally:
        with _gc_guard:
            _gc_pauses -= 1
            if _gc_pauses == 0 and _gc_resume:
                gc.enable()
