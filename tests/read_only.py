"""Read-only files and folders for tests, for root too (whom permission bits do not stop)."""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest


@contextlib.contextmanager
def read_only(path: Path) -> Iterator[Path]:
    """``path`` cannot be written (nor, for a folder, have entries made) inside the block.

    Root ignores permission bits, so for root the immutable attribute does it; where that is not
    possible either, the test is skipped rather than passing for the wrong reason.
    """
    mode = path.stat().st_mode & 0o777
    path.chmod(0o555 if path.is_dir() else 0o444)
    immutable = False
    try:
        if os.access(path, os.W_OK):
            done = subprocess.run(["chattr", "+i", str(path)], capture_output=True, check=False)
            if done.returncode:
                pytest.skip(f"cannot make {path} read-only for this user")
            immutable = True
        yield path
    finally:
        if immutable:
            subprocess.run(["chattr", "-i", str(path)], capture_output=True, check=False)
        path.chmod(mode)
