"""Audio input: every bad input gets its own typed error with a sentence naming the file."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from desktop_app.core import errors
from desktop_app.core.audio import find_media_files, load_audio, probe
from tests.media import encode_audio, video_with_audio, wav_header_claiming, write_wav


def _file(name: str, data: bytes | str):
    def make(folder: Path) -> Path:
        path = folder / name
        if isinstance(data, str):
            path.write_text(data)
        else:
            path.write_bytes(data)
        return path

    return make


def _folder(folder: Path) -> Path:
    (folder / "folder.wav").mkdir()
    return folder / "folder.wav"


@pytest.mark.parametrize(
    ("make", "error", "words"),
    [
        (lambda d: d / "missing.wav", errors.InputMissingError, "does not exist"),
        (_folder, errors.NotAFileError, "folder"),
        (_file("empty.wav", b""), errors.EmptyAudioError, "empty"),
        (_file("random.wav", os.urandom(40_000)), errors.NotDecodableError, "cannot be decoded"),
        (_file("random.mp3", os.urandom(40_000)), errors.NotDecodableError, "cannot be decoded"),
        (_file("notes.mp3", "notes\n" * 50), errors.NotDecodableError, "cannot be decoded"),
        (
            lambda d: write_wav(d / "zero.wav", np.zeros(0, dtype=np.float32)),
            errors.EmptyAudioError,
            "no audio",
        ),
    ],
    ids=["missing", "folder", "empty", "random-wav", "random-mp3", "text-mp3", "zero-length-wav"],
)
def test_bad_inputs_get_their_own_clear_error(tmp_path, make, error, words):
    path = make(tmp_path)
    with pytest.raises(error) as raised:
        load_audio(path)
    message = str(raised.value)
    assert message.startswith(path.name + ":"), message
    assert words in message
    assert "Traceback" not in message


def test_video_without_audio_track(tmp_path, corpus):
    path = video_with_audio(corpus / "jfk.flac", tmp_path / "mute.mp4", with_audio=False)
    with pytest.raises(errors.NoAudioStreamError, match=r"mute\.mp4: .*no audio track"):
        load_audio(path)


def test_video_audio_track_is_decoded(tmp_path, corpus):
    path = video_with_audio(corpus / "jfk.flac", tmp_path / "talk.mp4")
    info = probe(path)
    assert info.has_video
    assert load_audio(path).size / 16000 == pytest.approx(11.0, abs=0.2)


def test_truncated_mp3_decodes_what_is_there(tmp_path, corpus):
    full = encode_audio(corpus / "jfk.flac", tmp_path / "full.mp3")
    cut = tmp_path / "cut.mp3"
    cut.write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    seconds = load_audio(cut).size / 16000
    assert 3.0 < seconds < 8.0


def test_wav_header_claiming_4_gb_decodes_the_real_samples(tmp_path):
    path = wav_header_claiming(tmp_path / "liar.wav", 0xFFFF_FFFF - 36)
    assert load_audio(path).size == 800


def test_too_large_is_refused_before_decoding(tmp_path):
    path = tmp_path / "huge.wav"
    with path.open("wb") as sparse:
        sparse.truncate(3 * 2**20)
    with pytest.raises(errors.InputTooLargeError, match=r"huge\.wav: .*over the 2 MB limit"):
        load_audio(path, max_size_bytes=2 * 2**20)


def test_symlink_loop(tmp_path):
    loop = tmp_path / "loop.wav"
    loop.symlink_to(loop)
    with pytest.raises(errors.InputUnreadableError, match="symbolic link loop"):
        load_audio(loop)


def test_no_read_permission(corpus, system_tmp_path):
    folder = system_tmp_path  # another user can reach it (tmp_path's parents are private)
    folder.chmod(0o755)
    path = folder / "secret.flac"
    path.write_bytes((corpus / "jfk.flac").read_bytes())
    path.chmod(0)
    code = (
        "import sys\n"
        "from desktop_app.core.audio import load_audio\n"
        "from desktop_app.core.errors import InputUnreadableError\n"
        "try:\n    load_audio(sys.argv[1])\n"
        "except InputUnreadableError as e:\n    print(e)\n"
    )
    command = [sys.executable, "-c", code, str(path)]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    if os.geteuid() == 0:  # root reads anything: check as an ordinary user instead
        as_nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
        probe = subprocess.run(
            [*as_nobody, sys.executable, "-c", "import desktop_app.core.audio"],
            capture_output=True,
            env=env,
            timeout=60,
        )
        if probe.returncode != 0:
            pytest.skip("the checkout is not readable by an unprivileged user to run this check")
        command = [*as_nobody, *command]
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=60)
    assert result.stdout.strip() == "secret.flac: the file cannot be read: permission denied."


def test_unusual_rates_and_channels_are_resampled(tmp_path):
    tone = np.sin(np.linspace(0, 2 * np.pi * 440, 8000 * 2)).astype(np.float32) * 0.3
    low = write_wav(tmp_path / "phone.wav", tone, rate=8000)
    assert load_audio(low).size == pytest.approx(32000, abs=50)
    six = np.repeat(np.sin(np.linspace(0, 900, 96000)).astype(np.float32)[:, None] * 0.3, 6, 1)
    surround = write_wav(tmp_path / "surround.wav", six.reshape(-1), rate=96000, channels=6)
    assert load_audio(surround).size == pytest.approx(16000, abs=50)


def test_folders_are_searched_recursively_for_media_only(tmp_path):
    (tmp_path / "a" / "b").mkdir(parents=True)
    for name in ("a/one.MP3", "a/b/two.wav", "a/b/three.mkv", "a/readme.txt", "a/b/.cover.jpg"):
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "a" / "b" / "back").symlink_to(tmp_path / "a")  # a loop must not recurse forever
    found = [p.relative_to(tmp_path).as_posix() for p in find_media_files([tmp_path])]
    assert found == ["a/b/three.mkv", "a/b/two.wav", "a/one.MP3"]
    explicit = tmp_path / "a" / "readme.txt"
    assert list(find_media_files([explicit])) == [explicit], "named files are kept for an error"


# ----------------------------------------------------------------------------- bounded work
@pytest.mark.parametrize("rate", [1, 999, 384_001, 1_000_000])
def test_an_absurd_sample_rate_is_refused_before_decoding(tmp_path, rate):
    """A 352 KB WAV claiming 1 Hz decoded to 48.9 hours of audio: days of CPU for nothing."""
    from desktop_app.core.audio import AudioStream

    path = write_wav(tmp_path / "claims.wav", np.zeros(176_000, dtype=np.float32), rate=rate)
    with pytest.raises(errors.UnsupportedAudioError) as refused:
        probe(path)
    message = str(refused.value)
    assert message.startswith("claims.wav: ") and f"sample rate of {rate:,} Hz" in message
    with pytest.raises(errors.UnsupportedAudioError):
        AudioStream(path)  # opening a stream probes: nothing is decoded


@pytest.mark.parametrize("rate", [1_000, 8_000, 384_000])
def test_real_sample_rates_are_accepted(tmp_path, rate):
    path = write_wav(tmp_path / "ok.wav", np.zeros(rate // 10, dtype=np.float32), rate=rate)
    assert probe(path).duration == pytest.approx(0.1, abs=0.01)


def test_decoding_stops_at_the_duration_limit(corpus):
    """The bound holds on what is decoded, not on what the header says (a liar header or a
    container without a duration cannot slip past it), and decoding stops right there."""
    from desktop_app.core.audio import SAMPLE_RATE, AudioStream

    stream = AudioStream(corpus / "jfk.flac", max_seconds=2.0)
    decoded = 0
    with pytest.raises(errors.InputTooLargeError) as refused:
        for block in stream.blocks():
            decoded += block.size
    assert "jfk.flac: the audio lasts over" in str(refused.value)
    assert "MAX_AUDIO_DURATION_HOURS" in str(refused.value)
    assert decoded <= 2.0 * SAMPLE_RATE < stream.decoded_samples < 3.0 * SAMPLE_RATE
    with pytest.raises(errors.InputTooLargeError):
        load_audio(corpus / "jfk.flac", max_seconds=2.0)
    assert load_audio(corpus / "jfk.flac", max_seconds=12.0).size > 10 * SAMPLE_RATE


def test_the_duration_limit_is_a_declared_setting():
    from desktop_app.core.settings import SPECS_BY_NAME, load_settings
    from desktop_app.core.transcriber import WhisperEngine

    spec = SPECS_BY_NAME["max_audio_duration_hours"]
    assert (spec.env, spec.default) == ("MAX_AUDIO_DURATION_HOURS", 24.0)
    settings = load_settings({"MAX_AUDIO_DURATION_HOURS": "1.5"})
    assert settings.max_audio_seconds == 5400
    assert WhisperEngine.from_settings(settings).max_audio_seconds == 5400
    with pytest.raises(errors.ConfigError, match="MAX_AUDIO_DURATION_HOURS=0 is not allowed"):
        load_settings({"MAX_AUDIO_DURATION_HOURS": "0"})
