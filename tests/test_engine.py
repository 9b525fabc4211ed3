"""The engine on real speech with the bundled model: accuracy, streaming segments, cancellation."""

from __future__ import annotations

import logging
import re
import threading
from pathlib import Path

import jiwer
import numpy as np
import pytest

from desktop_app.core.audio import load_audio
from desktop_app.core.errors import JobCancelled, ModelError
from desktop_app.core.model import (
    ModelProvider,
    bundled_model_path,
    describe_model,
    model_credit,
    model_title,
    resolve_model,
)
from desktop_app.core.transcriber import TranscriptionOptions

WER_LIMITS = {"jfk.flac": 0.10, "LJ050-0131.wav": 0.20}


def normalise(text: str) -> str:
    return " ".join(re.sub(r"[^a-z0-9' ]+", " ", text.lower()).split())


def wer(reference: str, hypothesis: str) -> float:
    return float(jiwer.wer(normalise(reference), normalise(hypothesis)))


def _run(engine, path: Path, options: TranscriptionOptions | None = None, **callbacks):
    events: dict[str, list] = {"segments": [], "progress": [], "duration": []}
    transcript = engine.transcribe(
        path,
        options or TranscriptionOptions(),
        on_segment=events["segments"].append,
        on_progress=events["progress"].append,
        is_cancelled=callbacks.get("is_cancelled", lambda: False),
        on_duration=events["duration"].append,
    )
    return transcript, events


@pytest.mark.parametrize("name", sorted(WER_LIMITS))
def test_real_speech_is_transcribed_accurately(whisper_engine, corpus, references, name):
    transcript, events = _run(whisper_engine, corpus / name)
    error = wer(references[name], transcript.text)
    assert error <= WER_LIMITS[name], f"WER {error:.1%} for {name}: {transcript.text!r}"
    assert transcript.language == "en"
    assert events["segments"] == transcript.segments, "segments are delivered as decoded"
    assert events["duration"] == [pytest.approx(transcript.duration)]
    progress = events["progress"]
    assert progress == sorted(progress) and progress[-1] == 1.0
    assert all(0.0 <= p <= 1.0 for p in progress)


def test_word_timestamps_are_ordered_and_inside_segments(whisper_engine, corpus):
    transcript, _ = _run(whisper_engine, corpus / "jfk.flac")
    for segment in transcript.segments:
        assert segment.words, "word timestamps are on by default"
        assert "".join(w.text for w in segment.words).strip() == segment.text
        starts = [w.start for w in segment.words]
        assert starts == sorted(starts)
        assert segment.start - 0.5 <= segment.words[0].start
        assert segment.words[-1].end <= segment.end + 0.5


def test_speech_after_long_silence_is_kept(whisper_engine, corpus, references, tmp_path):
    """VAD on: a 6 s pause must not make the model drop what follows it.

    Two different clips: the same clip twice made a text that repeats itself, which trips
    Whisper's compression-ratio check, and the decode fell back to random sampling (the
    verdict then changed from run to run)."""
    from tests.media import write_wav

    first, second = load_audio(corpus / "jfk.flac"), load_audio(corpus / "LJ050-0131.wav")
    gap = np.zeros(16000 * 6, dtype=np.float32)
    path = write_wav(tmp_path / "pause.wav", np.concatenate([first, gap, second]))
    transcript, _ = _run(whisper_engine, path)
    both = references["jfk.flac"] + " " + references["LJ050-0131.wav"]
    assert wer(both, transcript.text) <= 0.10, transcript.text
    assert transcript.segments[-1].end > 11 + 6 + 4, "times are in the original audio"


def test_resume_from_a_point_offsets_times(whisper_engine, corpus):
    full, _ = _run(whisper_engine, corpus / "jfk.flac")
    resumed, _ = _run(whisper_engine, corpus / "jfk.flac", TranscriptionOptions(start_at=8.0))
    assert resumed.segments and resumed.segments[0].start >= 8.0
    assert "ask what you can do for your country" in normalise(resumed.text)
    assert "fellow americans" not in normalise(resumed.text)
    assert len(resumed.text) < len(full.text)


def test_cancel_stops_within_one_segment(whisper_engine, corpus, tmp_path):
    from tests.media import write_wav

    speech = load_audio(corpus / "jfk.flac")
    long_file = write_wav(tmp_path / "long.wav", np.tile(speech, 6))  # 66 s, many segments
    cancel = threading.Event()
    seen: list = []

    def on_segment(segment):
        seen.append(segment)
        cancel.set()  # the user presses Cancel as the first segment appears

    with pytest.raises(JobCancelled):
        whisper_engine.transcribe(
            long_file,
            TranscriptionOptions(),
            on_segment=on_segment,
            on_progress=lambda _: None,
            is_cancelled=cancel.is_set,
        )
    assert len(seen) == 1


def test_cancel_before_decoding_starts(whisper_engine, corpus):
    with pytest.raises(JobCancelled):
        _run(whisper_engine, corpus / "jfk.flac", is_cancelled=lambda: True)


def test_model_is_loaded_once_and_shared(corpus, caplog):
    provider = ModelProvider(cpu_threads=1, num_workers=2)
    with caplog.at_level(logging.INFO, logger="desktop_app.core.model"):
        assert provider.get("tiny.en") is provider.get("tiny.en")
    assert provider.loaded("tiny.en")
    # The log names the model by its own name, never by the package that carries its files.
    loading = [r.getMessage() for r in caplog.records if r.levelno >= logging.INFO]
    assert loading == ["Loading Whisper tiny.en (OpenAI, MIT licence) (2 workers x 1 threads)"]


def test_a_model_name_never_loads_a_same_named_folder_here(tmp_path, monkeypatch):
    """A ./tiny.en folder in the working directory must not replace the bundled model."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "tiny.en").mkdir()
    (tmp_path / "tiny.en" / "model.bin").write_bytes(b"planted")
    bundled = bundled_model_path()
    assert bundled is not None and resolve_model("tiny.en") == bundled
    assert resolve_model("./tiny.en") == Path("tiny.en"), "an explicit path is still a path"


def test_models_are_named_by_their_authors_not_their_packaging():
    assert describe_model("tiny.en") == "Whisper tiny.en (OpenAI, MIT licence)"
    assert model_title("small") == "Whisper small"
    assert model_title("distil-large-v3") == "Distil-Whisper large-v3"
    assert "Hugging Face" in describe_model("distil-large-v3")
    assert model_credit("/models/mine") is None


def test_missing_model_folder_is_a_clear_error(tmp_path):
    with pytest.raises(ModelError, match=r"does not exist or has no model\.bin"):
        resolve_model(str(tmp_path / "no-such-model"))


def test_model_not_downloaded_says_how_to_get_it():
    with pytest.raises(ModelError, match="verbatim-cli models download small"):
        resolve_model("small")


def test_damaged_model_is_a_clear_error(tmp_path):
    (tmp_path / "model.bin").write_bytes(b"not a model")
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(ModelError, match="could not be loaded"):
        ModelProvider(cpu_threads=1, num_workers=1).get(str(tmp_path))
