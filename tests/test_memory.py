"""The glibc arena cap is applied where glibc is present (the 4-worker memory target needs it)."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="the cap is a glibc feature")
def test_arena_cap_is_accepted_and_trim_runs():
    code = (
        "from desktop_app.core.memory import limit_malloc_arenas, release_free_memory\n"
        "assert limit_malloc_arenas() is True\n"
        "release_free_memory()\n"
        "print('ok')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert result.stdout.strip() == "ok", result.stderr
