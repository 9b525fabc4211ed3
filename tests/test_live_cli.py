"""``verbatim-cli listen`` end to end in a subprocess, a recording replayed as the microphone."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import wave
from pathlib import Path

import jiwer
import pytest

REPO = Path(__file__).resolve().parent.parent


def normalise(text: str) -> str:
    import re

    return " ".join(re.sub(r"[^a-z0-9' ]+", " ", text.lower()).split())


def listen(*args: str) -> subprocess.Popen[str]:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.Popen(
        [sys.executable, "-m", "desktop_app.cli", "listen", *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=REPO,
    )


def test_listen_json_streams_events_and_keeps_the_recording(
    corpus: Path, references: dict[str, str], tmp_path: Path
) -> None:
    output = tmp_path / "dictation.wav"
    process = listen(
        "--json",
        "--replay",
        str(corpus / "LJ050-0131.wav"),
        "--replay-speed",
        "4",
        "--output",
        str(output),
    )
    with process:
        assert process.stdout is not None and process.stderr is not None
        stdout = process.stdout.read()  # stdin stays open: the end of the replay stops it
        stderr = process.stderr.read()
        process.wait(timeout=60)
    assert process.returncode == 0, stderr
    events = [json.loads(line) for line in stdout.splitlines()]
    assert events, stderr
    assert {e["type"] for e in events} == {"partial", "final"}
    for event in events:
        assert set(event) == {"type", "text", "start", "end", "emitted_at", "words"}
        assert 0 <= event["start"] <= event["end"] <= 7.8
        # Each final carries its words' timings: a client can align text with audio.
        if event["type"] == "final":
            assert " ".join(w["text"] for w in event["words"]) == event["text"].strip()
            for word in event["words"]:
                assert event["start"] - 0.01 <= word["start"] <= word["end"] <= event["end"] + 0.01
                assert 0 <= word["probability"] <= 1
    finals = " ".join(e["text"] for e in events if e["type"] == "final")
    assert jiwer.wer(normalise(references["LJ050-0131.wav"]), normalise(finals)) <= 0.2, finals
    assert events[-1] == {**events[-1], "type": "partial", "text": ""}
    with wave.open(str(output)) as recorded:
        assert recorded.getnframes() == pytest.approx(7.66 * 16000, abs=1600)
    assert str(output) in stderr


def test_listen_stops_on_sigint_after_flushing(corpus: Path, tmp_path: Path) -> None:
    output = tmp_path / "interrupted.wav"
    with listen("--json", "--replay", str(corpus / "jfk.flac"), "--output", str(output)) as process:
        assert process.stdout is not None
        json.loads(process.stdout.readline())  # the first event: at least a 0.5 s chunk heard
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 0, stderr
    with wave.open(str(output)) as recorded:
        seconds = recorded.getnframes() / 16000
    assert 0.4 < seconds < 11.0, "Ctrl+C must stop capturing, keeping what was heard"
    assert "saved to" in stderr
    last = json.loads(stdout.splitlines()[-1])
    assert last["type"] == "partial" and last["text"] == "", "the tentative tail ends cleared"


def test_listen_stops_when_stdin_closes_after_flushing(corpus: Path, tmp_path: Path) -> None:
    output = tmp_path / "eof.wav"
    with listen("--json", "--replay", str(corpus / "jfk.flac"), "--output", str(output)) as process:
        assert process.stderr is not None and process.stdout is not None
        assert "Listening" in process.stderr.readline()
        first = json.loads(process.stdout.readline())  # at least a 0.5 s chunk was heard
        stdout, stderr = process.communicate(timeout=60)  # closes stdin: end of input
    assert process.returncode == 0, stderr
    with wave.open(str(output)) as recorded:
        seconds = recorded.getnframes() / 16000
    assert 0.4 < seconds < 11.0
    lines = [first] + [json.loads(line) for line in stdout.splitlines()]
    assert any(line["type"] == "final" for line in lines), "captured speech must be confirmed"
    assert lines[-1]["type"] == "partial" and lines[-1]["text"] == ""


def test_devices_lists_inputs_or_says_why_not() -> None:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    done = subprocess.run(
        [sys.executable, "-m", "desktop_app.cli", "devices"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    if done.returncode == 0:
        assert "input" in done.stdout.lower() or "default" in done.stdout.lower()
    else:
        assert "PortAudio" in done.stderr and "Traceback" not in done.stderr


def test_listen_with_standard_input_already_closed_fails_and_records_nothing(
    corpus: Path, tmp_path: Path
) -> None:
    """``listen < /dev/null`` used to exit 0 at once with an empty recording."""
    output = tmp_path / "nothing.wav"
    replay = ["--replay", str(corpus / "jfk.flac"), "--output", str(output)]
    done = subprocess.run(
        [sys.executable, "-m", "desktop_app.cli", "listen", *replay],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        env=dict(os.environ, PYTHONPATH=str(REPO)),
        timeout=120,
        check=False,
    )
    assert done.returncode == 1
    assert done.stderr.startswith(
        "verbatim-cli: nothing was recorded: standard input was closed before listening began"
    ), done.stderr
    assert len(done.stderr.splitlines()) == 1 and done.stdout == ""
    assert not output.exists()


def test_listen_ends_quietly_when_its_output_is_closed(corpus: Path, tmp_path: Path) -> None:
    """``listen --json | head -1``: stop, keep the recording, no BrokenPipeError traceback."""
    output = tmp_path / "kept.wav"
    replay = ["--replay", str(corpus / "jfk.flac"), "--replay-speed", "4", "--output", str(output)]
    read_end, write_end = os.pipe()
    os.close(read_end)  # no reader at all: the first event cannot be written
    try:
        process = subprocess.Popen(
            [sys.executable, "-m", "desktop_app.cli", "listen", "--json", *replay],
            stdin=subprocess.PIPE,  # kept open: only the closed output may stop it
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            env=dict(os.environ, PYTHONPATH=str(REPO)),
        )
    finally:
        os.close(write_end)
    with process:
        assert process.stderr is not None
        stderr = process.stderr.read()
        process.wait(timeout=60)
    assert process.returncode == 1, stderr
    assert "Traceback" not in stderr and "BrokenPipe" not in stderr
    assert f"saved to {output}" in stderr
    with wave.open(str(output)) as recorded:
        assert recorded.getnframes() > 0
