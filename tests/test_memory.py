"""The glibc arena cap is applied where glibc is present (the 4-worker memory target needs it)."""

from __future__ import annotations

import platform

import pytest

from tests.processes import run_python


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="the cap is a glibc feature")
def test_arena_cap_is_accepted_and_trim_runs():
    code = (
        "from desktop_app.core.memory import limit_malloc_arenas, release_free_memory\n"
        "assert limit_malloc_arenas() is True\n"
        "release_free_memory()\n"
        "print('ok')\n"
    )
    result = run_python(code, timeout=60)
    assert result.stdout.strip() == "ok", result.stderr
