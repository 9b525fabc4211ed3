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
    assert f"{missing}: FAILED" in result.stdout
    assert f"started {missing}" not in result.stdout, "a missing file never starts"


def test_a_missing_file_fails_before_any_work_and_leaves_no_output_folder(tmp_path):
    out = tmp_path / "new" / "out"
    result = cli("transcribe", str(tmp_path / "nope.wav"), "-o", str(out))
    assert result.returncode == 1
    assert result.stdout.splitlines()[0] == (
        f"{tmp_path / 'nope.wav'}: FAILED: nope.wav: the file does not exist (moved or deleted?)."
    )
    assert "started" not in result.stdout
    assert not (tmp_path / "new").exists(), "-o DIR is created only when something is written"


def test_existing_outputs_are_not_overwritten_without_asking(tmp_path, corpus):
    out = tmp_path / "o"
    out.mkdir()
    (out / "jfk.txt").write_text("my edited transcript")
    result = cli(
        "transcribe", str(corpus / "jfk.flac"), str(corpus / "LJ050-0131.wav"), "-o", str(out)
    )
    assert result.returncode == 1 and "--overwrite" in result.stderr
    assert f"1 output file(s) already exist: {out / 'jfk.txt'}; nothing was transcribed" in (
        result.stderr
    )
    assert result.stdout == "", "refused before any file started"
    assert sorted(p.name for p in out.iterdir()) == ["jfk.txt"]
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
        ({}, ["--model", "/no/such/model"], "--model /no/such/model is not allowed"),
        ({}, ["--workers", "0"], "verbatim-cli: --workers 0 is not allowed: expected a whole"),
        ({}, ["--workers", "２"], "--workers ２ is not allowed"),
        ({}, ["--beam-size", "٣"], "--beam-size ٣ is not allowed"),
        ({}, ["--language", "de"], "--language de is not allowed with the English-only model"),
        ({"MAX_CONCURRENT_WORKERS": "0"}, [], "MAX_CONCURRENT_WORKERS=0 is not allowed (environ"),
        ({"WHISPER_MODEL_SIZE": "m" * 300}, [], "WHISPER_MODEL_SIZE=mmm"),
        ({"WHISPER_MODEL_SIZE": "./" + "m" * 300}, [], "(File name too long)"),
        ({}, ["--model", "small"], "The model small is not available on this computer"),
    ],
)
def test_bad_configuration_exits_2_with_one_line(tmp_path, corpus, env, args, message):
    out = tmp_path / "out"
    result = cli("transcribe", str(corpus / "jfk.flac"), "-o", str(out), *args, env=env)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.stderr
    assert not out.exists(), "nothing is written"


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


FAST = {"WHISPER_BEAM_SIZE": "1"}


def test_skip_existing_resumes_a_batch_and_says_what_it_skipped(tmp_path, corpus):
    out = tmp_path / "o"
    out.mkdir()
    (out / "jfk.txt").write_text("my edited transcript")
    jfk, lj = corpus / "jfk.flac", corpus / "LJ050-0131.wav"
    result = cli(
        "transcribe", str(jfk), str(lj), "-o", str(out), "-f", "txt", "--skip-existing", env=FAST
    )
    assert result.returncode == 0, result.stderr
    assert f"{jfk}: skipped: its outputs exist (jfk.txt)" in result.stdout.splitlines()
    assert f"started {jfk}" not in result.stdout
    assert "2 file(s): 1 done, 0 failed, 0 cancelled, 1 skipped" in result.stdout
    assert (out / "jfk.txt").read_text() == "my edited transcript"
    assert (out / "LJ050-0131.txt").exists()
    both = cli("transcribe", str(lj), "--overwrite", "--skip-existing")
    assert both.returncode == 2 and "not allowed with argument" in both.stderr


def test_colliding_names_get_distinct_outputs_and_inputs_are_never_overwritten(tmp_path, corpus):
    """monday/intro and tuesday/intro into one folder; a WAV named talk.srt exported as SRT."""
    (tmp_path / "rec" / "monday").mkdir(parents=True)
    (tmp_path / "rec" / "tuesday").mkdir()
    monday, tuesday = (
        tmp_path / "rec" / "monday" / "intro.flac",
        tmp_path / "rec" / "tuesday" / "intro.wav",
    )
    monday.write_bytes((corpus / "jfk.flac").read_bytes())
    tuesday.write_bytes((corpus / "LJ050-0131.wav").read_bytes())
    talk = tmp_path / "talk.srt"
    talk.write_bytes((corpus / "jfk.flac").read_bytes())
    out = tmp_path / "out"
    result = cli(
        "transcribe",
        str(monday),
        str(tuesday),
        "-o",
        str(out),
        "-f",
        "txt",
        "--overwrite",
        env=FAST,
    )
    assert result.returncode == 0, result.stderr
    assert "country" in (out / "monday" / "intro.txt").read_text()
    assert "country" not in (out / "tuesday" / "intro.txt").read_text()
    assert not (out / "intro.txt").exists()
    result = cli("transcribe", str(talk), "-f", "srt", "--overwrite", env=FAST)
    assert result.returncode == 0, result.stderr
    assert talk.read_bytes() == (corpus / "jfk.flac").read_bytes(), "the input is untouched"
    assert "country" in (tmp_path / "talk.srt.srt").read_text()
    assert "-> talk.srt.srt" in result.stdout


def test_a_searched_folder_keeps_its_subfolders_in_the_output_folder(tmp_path, corpus):
    (tmp_path / "rec" / "a").mkdir(parents=True)
    (tmp_path / "rec" / "a" / "clip.wav").write_bytes((corpus / "LJ050-0131.wav").read_bytes())
    out = tmp_path / "out"
    result = cli("transcribe", str(tmp_path / "rec"), "-o", str(out), "-f", "txt", env=FAST)
    assert result.returncode == 0, result.stderr
    assert [p.relative_to(out).as_posix() for p in sorted(out.rglob("*.txt"))] == ["a/clip.txt"]


CLI_MODULE = (sys.executable, "-m", "desktop_app.cli")


def _closed_pipe() -> int:
    """A pipe with no reader left: the first write to it fails, whatever the timing."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    return write_end


@pytest.mark.parametrize("args", [["jobs", "--json"], ["jobs"], ["models", "list"], ["--help"]])
def test_a_closed_standard_output_ends_quietly(args):
    """verbatim-cli jobs --json | head: no BrokenPipeError traceback, no "unexpected error"."""
    write_end = _closed_pipe()
    try:
        result = subprocess.run(
            [*CLI_MODULE, *args],
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONPATH": str(REPO)},
            timeout=120,
        )
    finally:
        os.close(write_end)
    assert result.stderr == ""
    assert result.returncode == (0 if args == ["--help"] else 1)


def test_a_closed_standard_output_does_not_stop_a_batch(tmp_path, corpus):
    write_end = _closed_pipe()
    try:
        result = subprocess.run(
            [*CLI_MODULE, "transcribe", str(corpus / "jfk.flac"), "-o", str(tmp_path)],
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONPATH": str(REPO), **FAST},
            timeout=180,
        )
    finally:
        os.close(write_end)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr and "BrokenPipe" not in result.stderr
    assert "country" in (tmp_path / "jfk.txt").read_text(), "the files are the product"


def test_models_list_names_the_model_not_its_package():
    result = cli("models", "list")
    assert result.returncode == 0, result.stderr
    assert (
        result.stdout == "tiny.en\tWhisper tiny.en (OpenAI, MIT licence)\tbundled with Verbatim\n"
    )


def test_an_output_folder_that_cannot_be_made_is_refused_before_any_work(tmp_path, corpus):
    (tmp_path / "afile").write_text("not a folder")
    result = cli("transcribe", str(corpus / "jfk.flac"), "-o", str(tmp_path / "afile" / "out"))
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr == (
        f"verbatim-cli: --output-dir {tmp_path / 'afile' / 'out'} cannot be used: "
        f"{tmp_path / 'afile'} is a file, not a folder.\n"
    )


def test_an_input_name_the_system_refuses_is_a_failed_file_not_a_traceback(tmp_path):
    result = cli("transcribe", str(tmp_path / ("n" * 300 + ".wav")))
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "the file cannot be read (File name too long)." in result.stdout
