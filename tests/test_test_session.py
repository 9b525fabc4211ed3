"""A test session leaves nothing behind, also when a test fails or the run is interrupted: no
temporary folder, no sound server, and no stray output on the terminal."""

from __future__ import annotations

import json
import os
import resource
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SAMPLE = "tests/sample_session.py"
INTERRUPTED = 2  # pytest's exit code


def sample_session(temp: Path, report: Path, *args: str, **popen: object) -> subprocess.Popen:
    """Run ``tests/sample_session.py`` with ``temp`` as its temporary folder (TMPDIR)."""
    env = {**os.environ, "TMPDIR": str(temp), "VERBATIM_SAMPLE_REPORT": str(report)}
    env.update(popen.pop("env", {}))  # type: ignore[arg-type]
    return subprocess.Popen(
        [sys.executable, "-m", "pytest", SAMPLE, "-p", "no:cacheprovider", "-q", *args],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        **popen,  # type: ignore[arg-type]
    )


def noted(report: Path) -> dict[str, object]:
    lines = report.read_text(encoding="utf-8").splitlines() if report.exists() else []
    return {key: value for line in lines for key, value in json.loads(line).items()}


def is_running(pid: int) -> bool:
    """Whether ``pid`` is a live process (a zombie awaiting its parent has stopped)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def assert_left_nothing(temp: Path, made: dict[str, object]) -> None:
    assert sorted(path.name for path in temp.iterdir()) == []
    if shutil.which("pulseaudio"):
        assert isinstance(made["pulseaudio"], int)
        assert not is_running(made["pulseaudio"])


def test_a_session_with_a_failure_leaves_nothing_behind_and_prints_no_noise(
    system_tmp_path: Path, tmp_path: Path
) -> None:
    report = tmp_path / "report.jsonl"
    session = sample_session(system_tmp_path, report, "-k", "not interrupted")
    output, _ = session.communicate(timeout=600)
    assert session.returncode == pytest.ExitCode.TESTS_FAILED, output
    assert "1 failed" in output and "a failing test must not" in output
    made = noted(report)
    assert Path(str(made["tmp_path"])).is_relative_to(system_tmp_path)
    assert_left_nothing(system_tmp_path, made)
    assert "modeltest" not in output  # qtmodeltester's notes stay in the captured output


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["Ctrl+C", "SIGTERM"])
def test_an_interrupted_session_leaves_nothing_behind(
    system_tmp_path: Path, tmp_path: Path, stop: signal.Signals
) -> None:
    if not shutil.which("pulseaudio"):
        pytest.skip("pulseaudio is not installed; the interrupted test waits with its server up")
    report = tmp_path / "report.jsonl"
    read_end, write_end = os.pipe()
    session = sample_session(
        system_tmp_path,
        report,
        "-k",
        "interrupted",
        env={"VERBATIM_SAMPLE_READY_FD": str(write_end)},
        pass_fds=(write_end,),
    )
    os.close(write_end)
    with os.fdopen(read_end) as ready:
        assert ready.readline() == "ready\n"  # empty if the session ended before the test ran
    session.send_signal(stop)
    output, _ = session.communicate(timeout=600)
    assert session.returncode == INTERRUPTED, output
    assert_left_nothing(system_tmp_path, noted(report))


def no_core_dump() -> None:
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def test_a_crash_after_the_logging_tests_still_prints_where_it_happened(
    system_tmp_path: Path, tmp_path: Path
) -> None:
    """A test that sets up the app's logging must leave pytest's fault handler alone: it once
    pointed the process's crash dumps at a ``faults.log`` in a folder removed after the test, so
    a later crash in CI printed no traceback at all."""
    crash = tmp_path / "test_crash_late.py"
    crash.write_text("import faulthandler\n\n\ndef test_crash():\n    faulthandler._sigsegv()\n")
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            "-q",
            "-c",
            str(REPO / "pyproject.toml"),
            "--rootdir",
            str(REPO),
            "tests/test_privacy.py::test_the_log_and_its_rotations_are_private",
            str(crash),
        ],
        cwd=REPO,
        env={**os.environ, "TMPDIR": str(system_tmp_path)},
        capture_output=True,
        text=True,
        timeout=600,
        preexec_fn=no_core_dump,
    )
    assert run.returncode == -signal.SIGSEGV, run.stdout + run.stderr
    assert "Fatal Python error: Segmentation fault" in run.stderr
    assert "test_crash_late.py" in run.stderr
