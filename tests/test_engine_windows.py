"""Long files in windows: real speech across window boundaries, with 20 s windows for speed.

The recording alternates the two corpus clips with pauses of 1-3 s, so that the places where
speech really is are known; a window cut through a word, a wrong time offset or a lost or doubled
stretch at a boundary shows up in the words found in each clip's time span.
"""

from __future__ import annotations

import io
import itertools
import threading
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import av
import numpy as np
import pytest

from desktop_app.core.audio import SAMPLE_RATE, load_audio, probe
from desktop_app.core.errors import JobCancelled
from desktop_app.core.transcriber import (
    TranscriptionOptions,
    WhisperEngine,
    quiet_cut,
)
from desktop_app.core.transcript import Segment, Transcript
from tests.media import write_wav
from tests.test_engine import wer

WINDOW = 20.0
CLIP_ORDER = ("jfk.flac", "LJ050-0131.wav") * 3
PAUSES = (1.0, 1.5, 2.0, 1.2, 2.5, 1.0, 3.0)  # before each clip, and after the last
# A cut at exactly 20 s would fall inside the first LJ clip (13.5-21.2 s).
CLIP_WER_LIMITS = {"jfk.flac": 0.10, "LJ050-0131.wav": 0.20}


@dataclass(frozen=True)
class Clip:
    name: str
    start: float
    end: float


@dataclass
class Run:
    transcript: Transcript
    segments: list[Segment]
    progress: list[float]
    durations: list[float]
    calls: list[dict]  # what each window handed to faster-whisper


@pytest.fixture(scope="module")
def long_speech(tmp_path_factory, corpus) -> tuple[Path, list[Clip]]:
    """A 68 s recording of the corpus clips between pauses of faint noise, and where each is."""
    audio = {name: load_audio(corpus / name) for name in set(CLIP_ORDER)}
    parts, clips, at = [], [], 0.0
    for index, name in enumerate(CLIP_ORDER):
        parts.append(np.zeros(int(PAUSES[index] * SAMPLE_RATE), np.float32))
        at += PAUSES[index]
        parts.append(audio[name])
        clips.append(Clip(name, at, at + audio[name].size / SAMPLE_RATE))
        at = clips[-1].end
    parts.append(np.zeros(int(PAUSES[-1] * SAMPLE_RATE), np.float32))
    samples = np.concatenate(parts)
    samples += np.random.default_rng(1).normal(0, 0.001, samples.size).astype(np.float32)
    path = write_wav(tmp_path_factory.mktemp("long") / "long.wav", samples)
    return path, clips


class SpyModel:
    """The real model, recording what each window asks of it."""

    def __init__(self, model, calls: list[dict]) -> None:
        self.model = model
        self.calls = calls

    def transcribe(self, audio: np.ndarray, **options):
        self.calls.append({"samples": audio.size, **options})
        return self.model.transcribe(audio, **options)


def transcribe(engine, path: Path, options=None, is_cancelled=lambda: False) -> Run:
    calls: list[dict] = []
    model = SpyModel(engine.models.get("tiny.en"), calls)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(engine, "window_seconds", WINDOW)
        patch.setattr(engine.models, "get", lambda spec: model)
        segments: list[Segment] = []
        progress: list[float] = []
        durations: list[float] = []
        transcript = engine.transcribe(
            path,
            options or TranscriptionOptions(),
            on_segment=segments.append,
            on_progress=progress.append,
            is_cancelled=is_cancelled,
            on_duration=durations.append,
        )
    return Run(transcript, segments, progress, durations, calls)


@pytest.fixture(scope="module")
def windowed(whisper_engine, long_speech) -> Run:
    return transcribe(whisper_engine, long_speech[0])


def words_in(segments: list[Segment], clip: Clip) -> str:
    """The words whose middle lies in ``clip`` (0.5 s of slack either side; pauses are 1 s+)."""
    return "".join(
        w.text
        for s in segments
        for w in s.words
        if clip.start - 0.5 <= (w.start + w.end) / 2 <= clip.end + 0.5
    )


def rms(samples: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(samples, dtype=np.float64))))


def cut_times(run: Run, start: float = 0.0) -> list[float]:
    ends = np.cumsum([call["samples"] for call in run.calls]) / SAMPLE_RATE + start
    return [float(t) for t in ends[:-1]]


def test_windows_end_in_pauses_not_in_speech(windowed, long_speech):
    _, clips = long_speech
    cuts = cut_times(windowed)
    assert len(cuts) >= 3, "a 68 s file in 20 s windows"
    assert all(call["samples"] <= WINDOW * SAMPLE_RATE for call in windowed.calls)
    for cut in cuts:
        inside = [c.name for c in clips if c.start < cut < c.end]
        assert not inside, f"window cut at {cut:.2f} s inside {inside}"


def test_every_clip_is_transcribed_once_at_its_own_time(windowed, long_speech, references):
    _, clips = long_speech
    for clip in clips:
        text = words_in(windowed.transcript.segments, clip)
        error = wer(references[clip.name], text)
        assert error <= CLIP_WER_LIMITS[clip.name], f"{clip}: WER {error:.0%} for {text!r}"
    words = [w for s in windowed.transcript.segments for w in s.words]
    stray = [
        w
        for w in words
        if not any(c.start - 0.5 <= (w.start + w.end) / 2 <= c.end + 0.5 for c in clips)
    ]
    assert not stray, f"words where nobody speaks: {stray}"
    whole = " ".join(references[c.name] for c in clips)
    assert wer(whole, windowed.transcript.text) <= 0.08, windowed.transcript.text


def test_times_are_absolute_and_ordered(windowed, long_speech):
    path, clips = long_speech
    segments = windowed.transcript.segments
    assert segments == windowed.segments, "segments are delivered as decoded"
    starts = [w.start for s in segments for w in s.words]
    assert starts == sorted(starts)
    assert [s.start for s in segments] == sorted(s.start for s in segments)
    assert all(a.end <= b.start + 0.5 for a, b in itertools.pairwise(segments))
    assert segments[0].start >= clips[0].start - 0.5
    assert clips[-1].end - 1.0 <= segments[-1].end <= clips[-1].end + 0.5
    assert windowed.transcript.duration == pytest.approx(load_audio(path).size / SAMPLE_RATE)


def test_progress_and_duration_reported_as_before(windowed):
    progress = windowed.progress
    assert progress == sorted(progress) and progress[-1] == 1.0
    assert all(0.0 <= p <= 1.0 for p in progress)
    assert len([p for p in progress if p < 0.5]) >= 2, "progress moves during the file"
    assert windowed.durations == [pytest.approx(windowed.transcript.duration)]


def test_every_window_gets_the_first_windows_language_and_the_users_prompt(windowed):
    """English-only tiny.en reports "en"; after the first window it is passed on explicitly."""
    assert windowed.calls[0]["language"] is None, "auto: the first window detects"
    assert all(call["language"] == "en" for call in windowed.calls[1:])
    assert all(call["initial_prompt"] is None for call in windowed.calls)
    assert windowed.transcript.language == "en"


def test_resume_in_the_second_window(whisper_engine, long_speech, windowed, references):
    path, clips = long_speech
    start_at = clips[1].start - 0.4  # the first LJ clip, inside the second window
    assert cut_times(windowed)[0] < start_at < cut_times(windowed)[1]
    resumed = transcribe(whisper_engine, path, TranscriptionOptions(start_at=start_at))
    assert resumed.transcript.segments[0].start >= start_at
    for clip in clips[1:]:
        text = words_in(resumed.transcript.segments, clip)
        assert wer(references[clip.name], text) <= CLIP_WER_LIMITS[clip.name], (clip, text)
    assert not words_in(resumed.transcript.segments, clips[0])
    # Its first window lies in speech to its last 10 s: the cut must find a pause between words.
    samples = load_audio(path)
    cuts = cut_times(resumed, start_at)
    assert [c.name for c in clips if c.start < cuts[0] < c.end] == ["jfk.flac"]
    for cut in cuts:
        for clip in (c for c in clips if c.start < cut < c.end):
            speech = samples[int(clip.start * SAMPLE_RATE) : int(clip.end * SAMPLE_RATE)]
            around = samples[int((cut - 0.15) * SAMPLE_RATE) : int((cut + 0.15) * SAMPLE_RATE)]
            assert rms(around) < 0.1 * rms(speech), f"cut at {cut:.2f} s is not in a pause"
    assert resumed.transcript.duration == pytest.approx(windowed.transcript.duration)
    assert resumed.durations == [pytest.approx(windowed.transcript.duration)]
    assert resumed.progress[0] >= start_at / resumed.transcript.duration


def test_cancel_in_a_later_window_stops_at_the_next_segment(whisper_engine, long_speech):
    path, _ = long_speech
    cancel = threading.Event()
    delivered: list[Segment] = []
    calls: list[dict] = []

    def on_segment(segment: Segment) -> None:
        delivered.append(segment)
        if segment.start > WINDOW:  # the user presses Cancel during the second window or later
            cancel.set()

    model = SpyModel(whisper_engine.models.get("tiny.en"), calls)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(whisper_engine, "window_seconds", WINDOW)
        patch.setattr(whisper_engine.models, "get", lambda spec: model)
        with pytest.raises(JobCancelled):
            whisper_engine.transcribe(
                path,
                TranscriptionOptions(),
                on_segment=on_segment,
                on_progress=lambda _: None,
                is_cancelled=cancel.is_set,
            )
    assert delivered[-1].start > WINDOW and not any(s.start > WINDOW for s in delivered[:-1])
    window_starts = np.cumsum([0] + [call["samples"] for call in calls]) / SAMPLE_RATE
    assert window_starts[-2] <= delivered[-1].start <= window_starts[-1], (
        "no window is started after the one that was cancelled"
    )


# ------------------------------------------------------------------ without the model
class FakeModel:
    """Says a window's number in each window that is not silent; detects "de" in the first."""

    def __init__(self, silent_windows: tuple[int, ...] = ()) -> None:
        self.calls: list[dict] = []
        self.silent_windows = silent_windows

    def transcribe(self, audio: np.ndarray, **options):
        index = len(self.calls)
        self.calls.append({"samples": audio.size, **options})
        seconds = audio.size / SAMPLE_RATE
        segments = []
        if index not in self.silent_windows:
            text = f" window {index} " + "word " * 20
            segments.append(SimpleNamespace(start=0.5, end=seconds - 0.5, text=text, words=[]))
        language = options["language"] or ("de" if index == 0 else "fr")
        return iter(segments), SimpleNamespace(language=language, language_probability=0.9)


def fake_engine(monkeypatch, model: FakeModel) -> WhisperEngine:
    engine = WhisperEngine(cpu_threads=1, num_workers=1, window_seconds=WINDOW)
    monkeypatch.setattr(engine.models, "get", lambda spec: model)
    return engine


def transcribe_fake(engine: WhisperEngine, path: Path, **changes: object) -> Transcript:
    return engine.transcribe(
        path,
        TranscriptionOptions().with_changes(**changes),
        on_segment=lambda _: None,
        on_progress=lambda _: None,
        is_cancelled=lambda: False,
    )


def test_language_is_kept_from_the_first_window_with_speech(monkeypatch, long_speech):
    model = FakeModel(silent_windows=(0,))
    transcript = transcribe_fake(fake_engine(monkeypatch, model), long_speech[0])
    languages = [call["language"] for call in model.calls]
    assert languages[:2] == [None, None], "a silent first window settles nothing"
    assert set(languages[2:]) == {"fr"}, "the first window with speech settles it"
    assert transcript.language == "fr"


def test_a_chosen_language_is_passed_to_every_window(monkeypatch, long_speech):
    model = FakeModel()
    transcribe_fake(fake_engine(monkeypatch, model), long_speech[0], language="es")
    assert {call["language"] for call in model.calls} == {"es"}


def test_users_prompt_reaches_every_window_and_a_carried_tail_follows_it(monkeypatch, long_speech):
    from desktop_app.core import transcriber

    model = FakeModel()
    engine = fake_engine(monkeypatch, model)
    transcribe_fake(engine, long_speech[0], initial_prompt="Kennedy, Oswald.")
    assert {call["initial_prompt"] for call in model.calls} == {"Kennedy, Oswald."}

    monkeypatch.setattr(transcriber, "PROMPT_CARRY_CHARS", 200)
    model.calls.clear()
    transcript = transcribe_fake(engine, long_speech[0], initial_prompt="Kennedy, Oswald.")
    assert model.calls[0]["initial_prompt"] == "Kennedy, Oswald."
    for index, call in enumerate(model.calls[1:], start=1):
        user, _, carried = call["initial_prompt"].partition(". ")
        assert user == "Kennedy, Oswald"
        so_far = " ".join(s.text for s in transcript.segments[:index])
        assert (" " + so_far).endswith(" " + carried), "the tail starts at a word"
        assert len(carried) <= 200 and (len(carried) > 150 or carried == so_far)
        assert carried.endswith(transcript.segments[index - 1].text)
    model.calls.clear()
    transcribe_fake(engine, long_speech[0])
    assert model.calls[0]["initial_prompt"] is None
    assert model.calls[1]["initial_prompt"].startswith("window 0 word")


def test_window_times_are_offset_by_what_came_before(monkeypatch, long_speech):
    model = FakeModel()
    transcript = transcribe_fake(fake_engine(monkeypatch, model), long_speech[0], start_at=3.0)
    starts = 3.0 + np.cumsum([0] + [c["samples"] for c in model.calls[:-1]]) / SAMPLE_RATE
    assert [s.start for s in transcript.segments] == pytest.approx(starts + 0.5, abs=1e-3)


class _Pipe(io.RawIOBase):
    """A file the muxer cannot seek back in, as a browser's recorder streams it."""

    def __init__(self, target) -> None:
        self.target = target

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        return self.target.write(data)


def webm_without_duration(source: Path, destination: Path) -> Path:
    samples = load_audio(source)
    with destination.open("wb") as raw, av.open(_Pipe(raw), "w", format="webm") as container:
        stream = container.add_stream("libopus", rate=48000, layout="mono")
        frame = av.AudioFrame.from_ndarray(samples.reshape(1, -1), format="flt", layout="mono")
        frame.sample_rate = SAMPLE_RATE
        resampler = av.AudioResampler(format="flt", layout="mono", rate=48000)
        for part in [*resampler.resample(frame), *resampler.resample(None)]:
            container.mux(stream.encode(part))
        container.mux(stream.encode(None))
    return destination


def test_without_a_declared_duration_progress_is_estimated_and_duration_told_at_the_end(
    monkeypatch, long_speech, tmp_path
):
    path = webm_without_duration(long_speech[0], tmp_path / "recording.webm")
    assert probe(path).duration is None
    model = FakeModel()
    progress: list[float] = []
    durations: list[float] = []
    transcript = fake_engine(monkeypatch, model).transcribe(
        path,
        TranscriptionOptions(),
        on_segment=lambda _: None,
        on_progress=progress.append,
        is_cancelled=lambda: False,
        on_duration=durations.append,
    )
    assert len(model.calls) >= 3
    assert durations == [pytest.approx(transcript.duration)]
    assert transcript.duration == pytest.approx(68.2, abs=0.1)
    assert progress == sorted(progress) and progress[-1] == 1.0
    during = progress[:-1]
    assert 0.0 < during[0] < 0.5 and max(during) < 1.0
    first_window_end = model.calls[0]["samples"] / SAMPLE_RATE
    assert during[1] == pytest.approx(first_window_end / transcript.duration, abs=0.1)


# ------------------------------------------------------------------ the cut
def _bursts(pattern: list[tuple[float, bool]]) -> np.ndarray:
    """Loud noise (speech) and faint noise (a pause) of the given lengths in seconds."""
    rng = np.random.default_rng(3)
    return np.concatenate(
        [rng.normal(0, 0.2 if loud else 0.002, int(s * SAMPLE_RATE)) for s, loud in pattern]
    ).astype(np.float32)


def test_cut_is_in_the_middle_of_the_pause_near_the_end():
    # 20 s of speech with two short pauses in the last 10 s: the cut falls in the quieter one.
    audio = _bursts([(12, True), (0.6, False), (3, True), (0.7, False), (3.7, True)])
    audio[int(15.6 * SAMPLE_RATE) : int(16.3 * SAMPLE_RATE)] *= 0.5
    cut = quiet_cut(audio, 10 * SAMPLE_RATE, SAMPLE_RATE // 2) / SAMPLE_RATE
    assert 15.6 + 0.2 <= cut <= 16.3 - 0.2


def test_a_pause_before_the_search_span_is_not_used():
    audio = _bursts([(5, True), (2, False), (13, True)])
    cut = quiet_cut(audio, 10 * SAMPLE_RATE, SAMPLE_RATE // 2)
    assert cut >= 10 * SAMPLE_RATE


def test_of_equal_pauses_the_latest_is_taken():
    audio = np.zeros(20 * SAMPLE_RATE, dtype=np.float32)
    assert quiet_cut(audio, 10 * SAMPLE_RATE, SAMPLE_RATE // 2) > 19 * SAMPLE_RATE


def test_audio_shorter_than_a_pause_is_not_cut():
    audio = np.ones(SAMPLE_RATE // 4, dtype=np.float32)
    assert quiet_cut(audio, 10 * SAMPLE_RATE, SAMPLE_RATE // 2) == audio.size


class TailModel:
    """Reads what it is told: (start, end, text, temperature) in the window's own seconds."""

    def __init__(self, reads: list[tuple[float, float, str, float]]) -> None:
        self.reads = reads

    def transcribe(self, audio: np.ndarray, **options):
        segments = [
            SimpleNamespace(start=s, end=e, text=t, words=[], temperature=temp)
            for s, e, t, temp in self.reads
        ]
        return iter(segments), SimpleNamespace(language="en", language_probability=1.0)


def kept_reads(monkeypatch, reads: list[tuple[float, float, str, float]]) -> list[str]:
    """The texts the engine keeps of one 7.66 s window (LJ050-0131's length) read as told."""
    audio = np.zeros(int(7.66 * SAMPLE_RATE), np.float32)
    engine = fake_engine(monkeypatch, TailModel(reads))  # type: ignore[arg-type]
    return [s.text for s in engine.transcribe_array(audio, TranscriptionOptions()).segments]


def test_a_fallback_read_of_the_windows_last_moment_is_not_kept(monkeypatch):
    # LJ050-0131.wav, as read once in the suite: faster-whisper decoded the 0.08 s after the last
    # timestamp alone, its greedy read failed, and a sampled fallback added " Thank you."
    reads = [
        (0.0, 6.08, " unless a system is established for the frequent formal review", 0.0),
        (6.08, 7.54, " of activities there under. In this regard.", 0.0),
        (7.54, 7.62, " Thank you.", 0.4),
    ]
    assert kept_reads(monkeypatch, reads)[-1] == "of activities there under. In this regard."


def test_a_sure_read_at_the_end_and_a_fallback_read_of_longer_audio_are_kept(monkeypatch):
    reads = [
        (0.0, 5.0, " first words", 0.0),
        (5.0, 7.3, " read by fallback", 0.6),
        (7.45, 7.62, " yes.", 0.0),
    ]
    assert kept_reads(monkeypatch, reads) == ["first words", "read by fallback", "yes."]
