"""verbatim-cli end to end in a subprocess: real model, real files, outputs, exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import srt

from tests.test_engine import normalise, wer

REPO = Path(__file__).resolve().parent.parent


def cli(*args: str, env: dict[str, str] | None = None, timeout: float = 180):
    script = Path(sys.executable).parent / "verbatim-cli"
    command = [str(script)] if script.exists() else [sys.executable, "-m", "desktop_app.cli"]
    full_env = {**os.environ, "PYTHONPATH": str(REPO), **(env or {})}
    return subprocess.run(
        [*command, *args], capture_output=True, text=True, env=full_env, timeout=timeout
    )


def test_version_and_help():
    from desktop_app import __version__

    result = cli("--version")
    assert result.returncode == 0 and __version__ in result.stdout
    result = cli("--help")
    assert result.returncode == 0
    assert "transcribe" in result.stdout and "MAX_QUEUE_SIZE" in result.stdout
    gui = subprocess.run(
        [sys.executable, "-m", "desktop_app", "--version"],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        timeout=60,
    )
    assert gui.returncode == 0 and __version__ in gui.stdout


def test_folder_to_every_format(tmp_path, corpus, references):
    out = tmp_path / "out"
    result = cli(
        "transcribe",
        str(corpus),
        "-f",
        "srt",
        "-f",
        "vtt",
        "-f",
        "json",
        "-f",
        "txt",
        "--output-dir",
        str(out),
    )
    assert result.returncode == 0, result.stderr
    assert "2 file(s): 2 done, 0 failed" in result.stdout
    for name in ("jfk", "LJ050-0131"):
        assert {p.name for p in out.glob(name + ".*")} == {
            f"{name}.{ext}" for ext in ("srt", "vtt", "json", "txt")
        }
    subtitles = list(srt.parse((out / "jfk.srt").read_text(encoding="utf-8")))
    text = " ".join(s.content.replace("\n", " ") for s in subtitles)
    assert wer(references["jfk.flac"], text) <= 0.10, text
    data = json.loads((out / "LJ050-0131.json").read_text(encoding="utf-8"))
    assert data["segments"][0]["words"], "JSON carries word timestamps"
    assert wer(references["LJ050-0131.wav"], data["text"]) <= 0.20


def test_outputs_go_next_to_the_input_by_default(tmp_path, corpus):
    source = tmp_path / "speech.flac"
    source.write_bytes((corpus / "jfk.flac").read_bytes())
    result = cli("transcribe", str(source))
    assert result.returncode == 0, result.stderr
    assert "ask not what your country" in normalise((tmp_path / "speech.txt").read_text())
    assert (tmp_path / "speech.srt").exists()


def test_failed_file_gives_exit_1_and_one_line_per_failure(tmp_path, corpus):
    bad = tmp_path / "broken.mp3"
    bad.write_bytes(os.urandom(20_000))
    missing = tmp_path / "gone.wav"
    result = cli(
        "transcribe",
        str(corpus / "jfk.flac"),
        str(bad),
        str(missing),
        "-o",
        str(tmp_path / "o"),
        "-f",
        "txt",
    )
    assert result.returncode == 1
    failures = [line for line in result.stderr.splitlines() if line.startswith("FAILED ")]
    assert sorted(failures) == sorted(
        [
            f"FAILED {bad}: broken.mp3: cannot be decoded: it is not an audio or video file, "
            "or it is damaged.",
            f"FAILED {missing}: gone.wav: the file does not exist (moved or deleted?).",
        ]
    ), result.stderr
    assert "Traceback" not in result.stderr
    assert (tmp_path / "o" / "jfk.txt").exists(), "the good file still completes"


def test_existing_outputs_are_not_overwritten_without_asking(tmp_path, corpus):
    out = tmp_path / "o"
    out.mkdir()
    (out / "jfk.txt").write_text("my edited transcript")
    result = cli("transcribe", str(corpus / "jfk.flac"), "-o", str(out), "-f", "txt")
    assert result.returncode == 1 and "--overwrite" in result.stderr
    assert (out / "jfk.txt").read_text() == "my edited transcript"
    result = cli("transcribe", str(corpus / "jfk.flac"), "-o", str(out), "-f", "txt", "--overwrite")
    assert result.returncode == 0
    assert "country" in (out / "jfk.txt").read_text()


@pytest.mark.parametrize(
    ("env", "args", "message"),
    [
        ({"MAX_QUEUE_SIZE": "-3"}, [], "MAX_QUEUE_SIZE=-3 is not allowed"),
        ({"LOG_LEVEL": "LOUD"}, [], "LOG_LEVEL=LOUD is not allowed"),
        ({"MAX_CONCURRENT_WORKERS": "abc"}, [], "MAX_CONCURRENT_WORKERS=abc is not allowed"),
        ({}, ["--model", "/no/such/model"], "WHISPER_MODEL_SIZE=/no/such/model is not allowed"),
        ({}, ["--workers", "0"], "MAX_CONCURRENT_WORKERS=0 is not allowed (command line)"),
    ],
)
def test_bad_configuration_exits_2_with_one_line(tmp_path, corpus, env, args, message):
    result = cli("transcribe", str(corpus / "jfk.flac"), "-o", str(tmp_path), *args, env=env)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.stderr
    assert not list(tmp_path.iterdir()), "nothing is written"


def test_many_files_with_a_small_queue_all_complete(tmp_path, corpus):
    """A batch waits for places instead of refusing: 6 files through a queue of 1."""
    inputs = tmp_path / "in"
    inputs.mkdir()
    for index in range(6):
        (inputs / f"clip{index}.wav").write_bytes((corpus / "LJ050-0131.wav").read_bytes())
    result = cli(
        "transcribe",
        str(inputs),
        "-f",
        "txt",
        "-o",
        str(tmp_path / "o"),
        "--workers",
        "2",
        env={"MAX_QUEUE_SIZE": "1", "WHISPER_BEAM_SIZE": "1"},
    )
    assert result.returncode == 0, result.stderr
    assert "6 file(s): 6 done, 0 failed" in result.stdout
    assert len(list((tmp_path / "o").glob("*.txt"))) == 6


def test_no_media_found_is_an_error(tmp_path):
    result = cli("transcribe", str(tmp_path))
    assert result.returncode == 1 and "no audio or video files" in result.stderr
