"""Only one process serves a given job store: two servers on one store would each restore and
run the same unfinished jobs. An advisory ``flock`` on a file beside the store says who serves
it; the kernel drops it when the process ends, even by SIGKILL, so a crash never leaves it held.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from desktop_app.core.errors import VerbatimError

LOCK_SUFFIX = ".serve-lock"


class StoreInUseError(VerbatimError):
    """Another process already serves this job store."""


class StoreLock:
    def __init__(self, store_path: Path) -> None:
        self.path = store_path.with_name(store_path.name + LOCK_SUFFIX)
        self._fd: int | None = None

    def acquire(self) -> None:
        """:raises StoreInUseError: another process holds it, naming its process id."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode("ascii", "replace").strip() or "another process"
            os.close(fd)
            raise StoreInUseError(
                f"The job store {self.path.with_suffix('')} is already served by process "
                f"{holder} (another verbatim-cli serve?). Stop it first, or serve another "
                "data folder (XDG_DATA_HOME)."
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing drops the lock
            self._fd = None
