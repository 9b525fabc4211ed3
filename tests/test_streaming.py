"""The streaming policy: LocalAgreement-2 rules on a scripted recognizer, then real speech."""

from __future__ import annotations

import itertools
import random
import re
import wave
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import jiwer
import numpy as np
import pytest

from desktop_app.core import live
from desktop_app.core.audio import load_audio
from desktop_app.core.audio_sources import ReplaySource
from desktop_app.core.live import LiveSession, create_transcriber, live_threads
from desktop_app.core.recording import WavRecorder
from desktop_app.core.settings import load_settings
from desktop_app.core.streaming import (
    SAMPLE_RATE,
    StreamEvent,
    StreamingTranscriber,
    WhisperRecognizer,
    cut_loops,
    join_words,
)
from desktop_app.core.transcriber import TranscriptionOptions
from desktop_app.core.transcript import Word
from desktop_app.core.voice_activity import StreamingSilero


def normalise(text: str) -> str:
    return " ".join(re.sub(r"[^a-z0-9' ]+", " ", text.lower()).split())


def wer(reference: str, hypothesis: str) -> float:
    return float(jiwer.wer(normalise(reference), normalise(hypothesis)))


def assert_never_revised(events: list[StreamEvent], final_text: str) -> None:
    """Confirmed text only grows: the finals, in order, are exactly the final text."""
    finals = [e for e in events if e.type == "final"]
    assert " ".join(e.text for e in finals) == final_text
    for before, after in itertools.pairwise(finals):
        assert after.start >= before.end - 0.2, (before, after)
        assert after.emitted_at >= before.emitted_at


# --------------------------------------------------------------------- scripted recognizer
CORPUS_FILES = ("jfk.flac", "LJ050-0131.wav")
SCRIPT = [Word(0.5 * i + 0.1, 0.5 * i + 0.4, f"w{i}") for i in range(40)]  # 20 s of words


class ScriptedRecognizer:
    """Hears the script's words that end inside the buffer; the last one heard is garbled once
    per pass (as a real model garbles a word cut mid-way), so agreement is what confirms."""

    def __init__(self, policy_ref: list[StreamingTranscriber]) -> None:
        self.policy_ref = policy_ref
        self.calls = 0
        self.buffer_lengths: list[float] = []

    def __call__(self, audio: np.ndarray, prompt: str) -> list[Word]:
        self.calls += 1
        policy = self.policy_ref[0]
        start = policy.buffer_start
        end = start + audio.size / SAMPLE_RATE
        self.buffer_lengths.append(audio.size / SAMPLE_RATE)
        heard = [w for w in SCRIPT if w.start >= start - 0.05 and w.end <= end]
        words = [Word(w.start - start, w.end - start, w.text) for w in heard]
        if words and self.calls % 2:
            last = words[-1]
            words[-1] = Word(last.start, last.end, last.text + "x")
        return words


def scripted_policy(**options: float | None) -> tuple[StreamingTranscriber, ScriptedRecognizer]:
    ref: list[StreamingTranscriber] = []
    recognizer = ScriptedRecognizer(ref)
    clock = iter(np.arange(0, 10_000, 0.01)).__next__
    policy = StreamingTranscriber(
        recognizer,
        speech_detector=None,
        clock=lambda: float(clock()),
        **options,  # type: ignore[arg-type]
    )
    ref.append(policy)
    return policy, recognizer


def feed_all(policy: StreamingTranscriber, seconds: float, block: float = 0.1) -> list[StreamEvent]:
    events: list[StreamEvent] = []
    for _ in range(int(seconds / block)):
        events += policy.feed(np.zeros(int(block * SAMPLE_RATE), np.float32))
    return events


def test_words_are_confirmed_only_when_two_passes_agree() -> None:
    policy, recognizer = scripted_policy(min_chunk_seconds=1.0)
    events = feed_all(policy, 3.0)
    assert recognizer.calls == 3
    # Every pass garbles the newest word differently, so it can never be confirmed yet.
    assert all(not w.text.endswith("x") for w in policy.confirmed)
    assert policy.confirmed, "earlier words were seen twice and must be confirmed"
    assert policy.confirmed[-1].end < 3.0
    assert policy.tentative and events[-1].type == "partial"
    assert events[-1].text == policy.tentative_text


def test_one_pass_settles_words_well_behind_the_frontier_but_never_the_last() -> None:
    policy, recognizer = scripted_policy(min_chunk_seconds=1.5, settled_seconds=0.6)
    feed_all(policy, 1.5)
    assert recognizer.calls == 1
    # w0 and w1 end by 0.9 s, 0.6 s before the buffer's end; w2 is the (garbled) frontier.
    assert policy.confirmed_text == "w0 w1"
    assert policy.tentative_text == "w2x"
    strict, _ = scripted_policy(min_chunk_seconds=1.5, settled_seconds=None)
    feed_all(strict, 1.5)
    assert strict.confirmed == [], "without settling, one pass confirms nothing"


def test_confirmed_text_is_never_revised_and_finish_confirms_the_tail() -> None:
    policy, _ = scripted_policy(min_chunk_seconds=0.5)
    events = feed_all(policy, 20.0)
    before_finish = policy.confirmed_text
    assert not before_finish.endswith("w39")
    events += policy.finish()
    assert_never_revised(events, policy.confirmed_text)
    assert policy.confirmed_text.startswith(before_finish)
    assert [w.text.rstrip("x") for w in policy.confirmed] == [w.text for w in SCRIPT]
    assert events[-1] == StreamEvent("partial", "", 20.0, 20.0, events[-1].emitted_at)


class StopsEarly:
    """A decoder that ends after at most four words (as beam search did on LJ050-0131's last
    words), over speech from 0 to ``speech_until`` seconds with a word every 0.5 s."""

    def __init__(self, policy_ref: list[StreamingTranscriber], speech_until: float) -> None:
        self.policy_ref = policy_ref
        self.speech_until = speech_until

    def _span(self, audio: np.ndarray) -> tuple[float, float]:
        """Where ``audio`` lies in the stream: it always ends at the buffer's end."""
        policy = self.policy_ref[0]
        end = policy.buffer_start + policy.buffer_seconds
        return end - audio.size / SAMPLE_RATE, end

    def __call__(self, audio: np.ndarray, prompt: str) -> list[Word]:
        start, end = self._span(audio)
        heard = [w for w in SCRIPT if start - 0.05 <= w.start and w.end <= end]
        heard = [w for w in heard if w.end <= self.speech_until][:4]
        return [Word(w.start - start, w.end - start, w.text) for w in heard]

    def speech(self, audio: np.ndarray, received: int) -> list[tuple[float, float]]:
        start, end = self._span(audio)
        end = min(self.speech_until, end) - start
        return [(0.0, end)] if end > 0 else []


def early_stopping_policy(speech_until: float, **options: float) -> StreamingTranscriber:
    ref: list[StreamingTranscriber] = []
    recognizer = StopsEarly(ref, speech_until)
    policy = StreamingTranscriber(recognizer, speech_detector=recognizer.speech, **options)
    ref.append(policy)
    return policy


def test_stop_reads_again_what_the_last_pass_did_not_read() -> None:
    policy = early_stopping_policy(5.0, min_chunk_seconds=60.0)
    feed_all(policy, 5.0)
    assert policy.passes == 0
    events = policy.finish()
    assert policy.confirmed_text == " ".join(f"w{i}" for i in range(10)), "Stop lost words"
    assert policy.passes == 3
    assert_never_revised(events, policy.confirmed_text)


def test_a_pause_does_not_trim_away_speech_the_model_did_not_read() -> None:
    policy = early_stopping_policy(5.0, min_chunk_seconds=0.5, settled_seconds=None)
    feed_all(policy, 8.0)  # 5 s of speech, then 3 s of silence: a pause
    assert policy.confirmed_text == " ".join(f"w{i}" for i in range(10))
    assert policy.buffer_start >= 5.0, "once all is read, the pause is trimmed"


def test_a_backlog_read_short_of_the_pause_is_kept_for_the_next_pass() -> None:
    """Passes fell far behind: 12 s of speech arrive at once and the reads (four words each,
    three re-reads) stop at 8 s; the pause must not trim away the speech after that."""
    policy = early_stopping_policy(12.0, min_chunk_seconds=0.5, settled_seconds=None)
    policy.feed(np.zeros(int(13.0 * SAMPLE_RATE), np.float32))
    feed_all(policy, 3.0)
    policy.finish()
    assert policy.confirmed_text == " ".join(f"w{i}" for i in range(24)), "speech was lost"


def test_a_confirmed_sentence_end_is_followed_by_a_capital() -> None:
    policy = StreamingTranscriber(lambda audio, prompt: [], speech_detector=None)
    policy.start()
    policy._confirm([Word(0.0, 0.5, "thereunder.")])
    events = policy._confirm([Word(0.6, 0.8, "in"), Word(0.8, 1.0, "this")])
    assert policy.confirmed_text == "thereunder. In this"
    assert events[0].text == "In this" and events[0].words[0].text == "In"
    policy._confirm([Word(1.0, 1.2, "regard")])
    assert policy.confirmed_text.endswith("In this regard")


def test_a_confirmed_word_never_starts_before_the_one_before_it_ends() -> None:
    """The aligner stretched "ask" back to 8.02 s over the confirmed "you" (7.24-8.26 s)."""
    policy = StreamingTranscriber(lambda audio, prompt: [], speech_detector=None)
    policy.start()
    policy._confirm([Word(7.24, 8.26, "you")])
    events = policy._confirm([Word(8.02, 8.66, "ask"), Word(8.66, 8.96, "what")])
    assert [(w.start, w.end) for w in policy.confirmed] == [
        (7.24, 8.26),
        (8.26, 8.66),
        (8.66, 8.96),
    ]
    assert events[0].start == 8.26


def test_buffer_is_trimmed_at_a_confirmed_boundary_and_stays_bounded() -> None:
    policy, recognizer = scripted_policy(
        min_chunk_seconds=0.5, max_buffer_seconds=5.0, soft_buffer_seconds=5.0
    )
    feed_all(policy, 20.0)
    assert max(recognizer.buffer_lengths) <= 5.0 + 0.5 + 1e-6
    assert policy.buffer_start > 10.0
    # Cut between two confirmed words (the script has no punctuation: in the widest pause).
    assert any(
        a.end <= policy.buffer_start <= b.start for a, b in itertools.pairwise(policy.confirmed)
    ), policy.buffer_start


def test_silence_costs_no_model_pass() -> None:
    ref: list[StreamingTranscriber] = []
    recognizer = ScriptedRecognizer(ref)
    policy = StreamingTranscriber(recognizer, speech_detector=lambda audio, received: [])
    ref.append(policy)
    feed_all(policy, 10.0)
    policy.finish()
    assert recognizer.calls == 0
    assert policy.buffer_seconds <= 1.0
    assert policy.confirmed_text == ""


def test_speech_after_a_pause_is_read_without_the_pause_before_it() -> None:
    """At 0.45-0.8 s per pass over 147 s of espeak-ng speech, the pass that cut the buffer at
    the pause before "It is a truth universally acknowledged" left the 1.3 s of silence after
    it, and speech began inside the next pass, so the model got the silence too. tiny.en
    stretched "it" over it at probability 0.11, which reads as a prompt that made the model
    skip speech, so every read until the next cut was read again without the prompt. The
    scripted model does what tiny.en did; the buffer now starts ``LEAD_IN_SECONDS`` (0.5 s)
    before the speech, as it does after silence that fills whole passes."""
    said = [*words_at("one two three.", 0.2), *words_at("four five six seven", 3.2)]
    reads: list[tuple[float, str]] = []
    ref: list[StreamingTranscriber] = []

    def hears(audio: np.ndarray, prompt: str) -> list[Word]:
        start = ref[0].buffer_start
        reads.append((round(start, 2), prompt))
        end = start + audio.size / SAMPLE_RATE
        words = [
            Word(w.start - start, w.end - start, w.text, 0.95)
            for w in said
            if w.start >= start - 0.05 and w.end <= end
        ]
        if words and prompt and words[0].start > 1.0:  # the first word over the silence
            words[0] = replace(words[0], start=0.0, probability=0.05)
        return words

    def speech(audio: np.ndarray, received: int) -> list[tuple[float, float]]:
        start = ref[0].buffer_start
        end = start + audio.size / SAMPLE_RATE
        stretches = [(0.2, 1.4), (3.2, 4.8)]
        return [
            (max(a, start) - start, min(b, end) - start)
            for a, b in stretches
            if a < end and b > start
        ]

    policy = StreamingTranscriber(
        hears, speech_detector=speech, min_chunk_seconds=1.0, settled_seconds=None
    )
    ref.append(policy)
    feed_all(policy, 3.0)  # the pass at 3.0 s finds the pause and cuts the buffer at 1.4 s
    assert policy.confirmed_text == "one two three."
    assert policy.buffer_start == pytest.approx(1.4)
    feed_all(policy, 3.0)
    policy.finish()
    after = [(start, prompt) for start, prompt in reads if start > 1.0]
    assert after and after[0][0] == pytest.approx(3.2 - 0.5), after
    assert all(prompt == "one two three." for _, prompt in after), after
    assert policy.confirmed_text == "one two three. Four five six seven"


class ScriptedReads:
    """Returns one scripted read per call (times relative to the buffer's start)."""

    def __init__(self, *reads: str | list[Word]) -> None:
        self.reads = [words_at(r) if isinstance(r, str) else r for r in reads]
        self.calls = 0

    def __call__(self, audio: np.ndarray, prompt: str) -> list[Word]:
        self.calls += 1
        return self.reads.pop(0) if self.reads else []


def words_at(text: str, start: float = 0.0, step: float = 0.4) -> list[Word]:
    """Words of ``text`` one after another, ``step`` seconds each, from ``start``."""
    return [Word(start + step * i, start + step * (i + 1), t) for i, t in enumerate(text.split())]


def unsure(text: str, probability: float, *unsure_words: str) -> list[Word]:
    """``text`` as words, those in ``unsure_words`` at ``probability``."""
    return [
        replace(w, probability=probability if w.text in unsure_words else 0.95)
        for w in words_at(text)
    ]


def by_agreement(*reads: list[Word]) -> StreamingTranscriber:
    """A policy over scripted reads that confirms by agreement only: no voice detection, no
    word settled alone, a pass per second of audio."""
    return StreamingTranscriber(
        ScriptedReads(*reads), speech_detector=None, min_chunk_seconds=1.0, settled_seconds=None
    )


def test_a_pause_confirms_only_what_a_second_read_agrees_on() -> None:
    """The pass that sees the voice stop misreads "fellow"; neither the previous pass nor the
    full window's re-read agrees, so it stays tentative until a later read agrees."""
    fitted = ScriptedReads(
        "and so",
        "and so my fellow",
        "and so my yellow Americans",  # the voice stopped at 2.1 s: this is the pause's pass
        "and so my fellow Americans",
    )
    full = ScriptedReads("and so my fellow Americans")
    policy = StreamingTranscriber(
        fitted,
        final_recognizer=full,
        speech_detector=lambda audio, received: [(0.0, min(2.1, audio.size / SAMPLE_RATE))],
        min_chunk_seconds=1.0,
        settled_seconds=None,
    )
    events = feed_all(policy, 3.0)
    assert full.calls == 1, "the reads disagreed: the full window read again"
    assert policy.confirmed_text == "and so my", "a misread confirmed by one read"
    assert policy.tentative_text == "fellow Americans"
    assert policy.buffer_start == 0.0, "the buffer keeps what is not confirmed yet"
    events += feed_all(policy, 1.0)
    assert policy.confirmed_text == "and so my fellow Americans"
    assert policy.tentative == [] and policy.buffer_start >= 2.1
    assert_never_revised(events, policy.confirmed_text)


def test_a_pause_whose_read_agrees_with_the_last_pass_needs_no_reread() -> None:
    fitted = ScriptedReads("and so", "and so my fellow Americans", "and so my fellow Americans")
    full = ScriptedReads()
    policy = StreamingTranscriber(
        fitted,
        final_recognizer=full,
        speech_detector=lambda audio, received: [(0.0, min(2.1, audio.size / SAMPLE_RATE))],
        min_chunk_seconds=1.0,
        settled_seconds=None,
    )
    feed_all(policy, 3.0)
    assert policy.confirmed_text == "and so my fellow Americans"
    assert full.calls == 0


def test_a_pause_reads_the_full_window_once_however_long_the_reads_disagree() -> None:
    """A full-window read costs three fitted passes: once per pause, then the pause's passes
    agree among themselves."""
    fitted = ScriptedReads(
        "and so",
        "and so my fellow",
        "and so my yellow Americans",  # the pause's first pass
        "and so my mellow Americans",
        "and so my mellow Americans",
    )
    full = ScriptedReads("and so my fellow Americans", "and so my fellow Americans")
    policy = StreamingTranscriber(
        fitted,
        final_recognizer=full,
        speech_detector=lambda audio, received: [(0.0, min(2.1, audio.size / SAMPLE_RATE))],
        min_chunk_seconds=1.0,
        settled_seconds=None,
    )
    feed_all(policy, 5.5)
    assert full.calls == 1
    assert policy.confirmed_text == "and so my mellow Americans"


def test_a_contested_word_at_a_pause_waits_for_the_speech_after_it() -> None:
    """As when a hog made jfk.flac's first pass 2.2 s long: the pass before the pause read "my",
    the pause's read and the full window's re-read both "am I" (unsure): the pause confirms
    nothing from "am" on; once speech resumes, two reads with the words after decide."""
    fitted = ScriptedReads(
        unsure("and so am I fellow", 0.3, "am"),
        unsure("and so my fellow Americans", 0.52, "my"),
        unsure("and so am I fellow Americans", 0.24, "am"),  # the voice stopped at 2.1 s
        unsure("and so am I fellow Americans", 0.24, "am"),  # the pause goes on
        unsure("and so am I fellow Americans ask", 0.24, "am"),  # speech resumed
        unsure("and so my fellow Americans ask not", 0.95, "my"),
        unsure("and so my fellow Americans ask not what", 0.95, "my"),
    )
    full = ScriptedReads(unsure("and so am I fellow Americans", 0.55, "am"))
    speech_end = iter([9.9, 9.9, 2.1, 2.1, 9.9, 9.9, 9.9]).__next__
    policy = StreamingTranscriber(
        fitted,
        final_recognizer=full,
        speech_detector=lambda audio, received: [(0.0, min(speech_end(), audio.size / 16000))],
        min_chunk_seconds=1.0,
        settled_seconds=None,
    )
    events = feed_all(policy, 4.0)
    assert full.calls == 1
    assert policy.confirmed_text == "and so", "the pause confirmed a contested 'am I'"
    events += feed_all(policy, 3.0)
    assert policy.confirmed_text.startswith("and so my fellow Americans ask"), policy.confirmed_text
    assert "am" not in policy.confirmed_text.split()
    assert_never_revised(events, policy.confirmed_text)


def test_a_word_every_read_was_unsure_of_waits_at_a_pause_for_the_speech_after_it() -> None:
    """Replayed at 0.6 s per pass, three reads of jfk.flac's "ask not" up to the pause after
    it said "asked" (probability 0.40-0.43), and the pause confirmed it: reads of the same
    audio agree on a guess as easily as on a word. Such a word waits, as a contested one does,
    for reads with the speech after it (which said "ask", 0.55-0.59)."""
    fitted = ScriptedReads(
        unsure("Americans asked", 0.40, "asked"),
        unsure("Americans asked not", 0.43, "asked"),  # the voice stopped at 2.0 s
        unsure("Americans asked not", 0.43, "asked"),  # the pause goes on
        unsure("Americans ask not what", 0.55, "ask"),  # speech resumed
        unsure("Americans ask not what your", 0.59, "ask"),
        unsure("Americans ask not what your country", 0.59, "ask"),
    )
    speech_end = iter([9.9, 2.0, 2.0, 9.9, 9.9, 9.9]).__next__
    policy = StreamingTranscriber(
        fitted,
        final_recognizer=ScriptedReads(unsure("Americans asked not", 0.41, "asked")),
        speech_detector=lambda audio, received: [(0.0, min(speech_end(), audio.size / 16000))],
        min_chunk_seconds=1.0,
        settled_seconds=None,
    )
    events = feed_all(policy, 3.0)
    assert policy.confirmed_text == "Americans", "the pause confirmed an unsure 'asked'"
    assert policy.tentative_text == "asked not"
    events += feed_all(policy, 3.0)
    assert policy.confirmed_text.startswith("Americans ask not what"), policy.confirmed_text
    assert "asked" not in policy.confirmed_text.split()
    assert_never_revised(events, policy.confirmed_text)


@pytest.mark.parametrize(
    ("before", "pause", "held", "settled"),
    [
        (
            unsure("and so my fellow", 0.6, "my"),
            unsure("and so am I fellow", 0.3, "am"),  # contested: the pass before read "my"
            "and so",
            "and so am I fellow",
        ),
        (
            unsure("Americans asked not", 0.4, "asked"),
            unsure("Americans asked not", 0.4, "asked"),  # guessed by every read
            "Americans",
            "Americans asked not",
        ),
    ],
    ids=["contested", "guessed"],
)
def test_a_long_pause_settles_its_held_words_by_agreement(
    before: list[Word], pause: list[Word], held: str, settled: str
) -> None:
    """No context comes after a long pause, and held words keep its silence in the buffer."""
    policy = StreamingTranscriber(
        ScriptedReads(before, pause, pause),  # the pause's first pass, then 4.4 s of silence
        speech_detector=lambda audio, received: [(0.0, min(1.6, audio.size / SAMPLE_RATE))],
        min_chunk_seconds=2.0,
        settled_seconds=None,
    )
    feed_all(policy, 4.0)
    assert policy.confirmed_text == held, "held while the pause is short"
    feed_all(policy, 2.0)
    assert policy.confirmed_text == settled
    assert policy.tentative == [] and policy.buffer_start >= 1.6


def test_a_contested_word_a_read_is_sure_of_is_confirmed_at_the_pause() -> None:
    fitted = ScriptedReads("and so my", "and so my yellow Americans", "and so my fellow Americans")
    policy = StreamingTranscriber(
        fitted,
        final_recognizer=ScriptedReads("and so my fellow Americans"),
        speech_detector=lambda audio, received: [(0.0, min(2.1, audio.size / SAMPLE_RATE))],
        min_chunk_seconds=1.0,
        settled_seconds=None,
    )
    feed_all(policy, 4.0)
    assert policy.confirmed_text == "and so my fellow Americans"


def test_a_long_sentence_is_trimmed_at_a_confirmed_clause_end() -> None:
    """A pass costs in proportion to the buffer: past twice ``soft_buffer_seconds`` with no
    sentence end confirmed, the buffer is cut after the last confirmed comma."""
    words = [
        Word(0.5 * i + 0.1, 0.5 * i + 0.4, f"w{i}" + ("," if i % 6 == 5 else "")) for i in range(40)
    ]
    policy, lengths = _scripted_buffer(words, passes=40)
    assert max(lengths) <= 2 * 4.0 + 0.5
    assert policy.buffer_start in {w.end for w in policy.confirmed if w.text.endswith(",")}
    policy.finish()
    assert policy.confirmed_text == join_words(words)


def test_a_pause_with_contested_words_is_not_cut_inside_their_sentence() -> None:
    """Replayed at 0.3-1.5 s per pass (seed 8), LJ050-0131's last pause came with a 12.4 s
    buffer. The pass before read "there under", the pause's reads "they're under.", so they
    waited, and the same pass cut the long sentence after its last confirmed clause. Stop read
    the 3.9 s left with no speech before it: "they are under". Held words keep their sentence
    in the buffer; the pause cuts it once they settle."""
    said = words_at("for the frequent formal review, of activities", step=0.45)
    endings = iter(
        [
            [Word(3.2, 3.55, "there", 0.55), Word(3.55, 3.9, "under", 0.99)],
            [Word(3.2, 3.6, "they're", 0.54), Word(3.6, 3.9, "under.", 0.99)],
        ]
    )
    ref: list[StreamingTranscriber] = []

    def hears(audio: np.ndarray, prompt: str) -> list[Word]:
        start = ref[0].buffer_start
        end = start + audio.size / SAMPLE_RATE
        words = [w for w in said if w.start >= start - 0.05 and w.end <= end]
        if end >= 3.9:
            ending = next(endings, None)
            if ending is None:  # Stop: the whole sentence settles the word, its end alone not
                ending = words_at("thereunder." if start < 1.0 else "they are under", 3.2, 0.23)
            words += ending
        return [Word(w.start - start, w.end - start, w.text, w.probability) for w in words]

    policy = StreamingTranscriber(
        hears,
        final_recognizer=ScriptedReads(
            [*said, Word(3.2, 3.6, "they're", 0.54), Word(3.6, 3.9, "under.", 0.99)]
        ),
        speech_detector=lambda audio, received: [
            (0.0, min(3.9 - ref[0].buffer_start, audio.size / SAMPLE_RATE))
        ],
        min_chunk_seconds=1.0,
        soft_buffer_seconds=2.0,
        settled_seconds=None,
    )
    ref.append(policy)
    feed_all(policy, 5.0)  # the pass at 5.0 s finds the voice stopped at 3.9 s
    assert policy.confirmed_text == "for the frequent formal review, of activities"
    assert policy.tentative_text == "they're under."
    assert policy.buffer_start == 0.0, "a pause holding contested words was cut inside them"
    policy.finish()
    assert policy.confirmed_text.endswith("of activities thereunder."), policy.confirmed_text


def test_the_buffer_stays_bounded_after_many_cuts() -> None:
    """Two sentence cuts, then a long sentence with commas only: the buffer is cut at a comma.

    The second cut lands at 9.81 s. Summed in seconds, the buffer's start came to
    9.809999999999999, so "w19." still counted as inside the buffer: each pass cut at it,
    removed nothing, and never reached the comma rule. The buffer grew to 20 s here (30 s
    on two minutes of speech, 3.5 CPU s a pass)."""
    words = [
        Word(
            round(0.5 * i + 0.01, 3),
            round(0.5 * i + 0.31, 3),
            f"w{i}" + ("." if i in (9, 19) else "," if i % 6 == 5 else ""),
        )
        for i in range(60)
    ]
    policy, lengths = _scripted_buffer(words, passes=60)
    assert max(lengths) <= 2 * 4.0 + 0.5, max(lengths)
    assert policy.buffer_start > 20.0


def test_a_run_of_squeezed_words_is_never_confirmed() -> None:
    """Two passes agree on "and, and, and so my fellow" all stamped at 2.1 s (as tiny.en read
    jfk.flac once): words the aligner found no audio for are a loop, not speech."""
    squeezed = [Word(2.1, 2.1, t) for t in ["and,", "and,", "and", "so", "my", "fellow"]]
    read = [*words_at("And so my fellow Americans"), *squeezed]
    policy = StreamingTranscriber(
        ScriptedReads(read, read, read),
        speech_detector=None,
        min_chunk_seconds=1.0,
        settled_seconds=None,
    )
    feed_all(policy, 3.0)
    assert policy.confirmed_text == "And so my fellow Americans"
    assert policy.tentative == []


def test_a_word_read_over_the_last_confirmed_word_is_that_word_read_again() -> None:
    """At 0.5 s per pass over 147 s of espeak-ng speech, "four" [3.52-3.86] was confirmed, the
    next reads heard the same audio as "forth" [3.54-3.94], and "dropped four forth on this
    continent" was confirmed. A word lying mostly inside the last confirmed one is not new."""
    heard = [Word(3.22, 3.52, "brought"), Word(3.52, 3.86, "four")]
    again = [Word(3.54, 3.94, "forth"), Word(3.94, 4.2, "on"), Word(4.2, 4.46, "this")]
    policy = by_agreement(
        [*heard, Word(3.86, 4.0, "shots")],
        [*heard, Word(3.86, 4.18, "on")],
        again,
        [*again, Word(4.46, 4.98, "continent")],
    )
    feed_all(policy, 4.0)
    assert policy.confirmed_text == "brought four on this"
    assert policy.tentative_text == "continent"
    # A word the aligner stretched back over part of the last one is new ("ask" from 8.02 s
    # over "you" 7.24-8.26 s: see the test above on confirmed words following one another).
    you, ask, what = Word(7.24, 8.26, "you"), Word(8.02, 8.66, "ask"), Word(8.66, 8.96, "what")
    stretched = by_agreement(
        [you, Word(8.26, 8.4, "as")], [you, ask, what], [you, ask, what, Word(8.96, 9.3, "you")]
    )
    feed_all(stretched, 3.0)
    assert stretched.confirmed_text == "you ask what"


def test_a_word_two_passes_were_unsure_of_waits_for_a_third() -> None:
    """As on jfk.flac cut short: "am" read twice at 0.26 and 0.22, then "my" at 0.95."""
    reads = ScriptedReads(
        unsure("and so am I fellow", 0.26, "am"),
        unsure("and so am I fellow", 0.22, "am"),
        unsure("and so my fellow Americans ask", 0.6, "my"),
        unsure("and so my fellow Americans ask", 0.6, "my"),
    )
    policy = StreamingTranscriber(
        reads, speech_detector=None, min_chunk_seconds=1.0, settled_seconds=None
    )
    feed_all(policy, 2.0)
    assert policy.confirmed_text == "and so", "two unsure reads confirmed 'am'"
    feed_all(policy, 2.0)
    assert policy.confirmed_text == "and so my fellow Americans ask"


def test_one_undecided_word_does_not_block_the_words_two_reads_agree_on() -> None:
    """At 3 s per pass tiny.en read "marrow" as "matter", "tomorrow" or "room" for ten passes
    while agreeing on the 30 words after it; by prefix agreement nothing was confirmed for
    37 s. Two reads unsure of a word they differ on, which then agree on four words at the
    same times, confirm those words and the surer read of the disputed one; the frontier
    stays."""
    reads = ScriptedReads(
        unsure("the marrow of life to live so steadily and", 0.06, "marrow"),
        unsure("the matter of life to live so steadily and more", 0.05, "matter"),
    )
    policy = StreamingTranscriber(
        reads, speech_detector=None, min_chunk_seconds=1.0, settled_seconds=None
    )
    feed_all(policy, 2.0)
    assert policy.confirmed_text == "the marrow of life to live so steadily and"
    assert policy.tentative_text == "more"
    # Three agreeing words after the dispute are not enough: the reads wait as before.
    short = StreamingTranscriber(
        ScriptedReads(
            unsure("the marrow of life to", 0.06, "marrow"),
            unsure("the matter of life to live", 0.05, "matter"),
        ),
        speech_detector=None,
        min_chunk_seconds=1.0,
        settled_seconds=None,
    )
    feed_all(short, 2.0)
    assert short.confirmed_text == "the"
    # A word one read was sure of is not undecided: the next read may settle it.
    sure = StreamingTranscriber(
        ScriptedReads(
            unsure("the marrow of life to live so steadily and", 0.6, "marrow"),
            unsure("the matter of life to live so steadily and more", 0.05, "matter"),
        ),
        speech_detector=None,
        min_chunk_seconds=1.0,
        settled_seconds=None,
    )
    feed_all(sure, 2.0)
    assert sure.confirmed_text == "the"


@pytest.mark.parametrize(
    "cut",
    [
        [Word(0.98, 0.98, "you", 0.75)],
        [Word(0.92, 0.98, "you", 0.8)],
        [Word(0.82, 0.98, "you", 0.71), Word(0.98, 0.98, "are", 0.74)],
    ],
    ids=["squeezed", "clipped", "before-a-squeezed-word"],
)
def test_a_word_heard_cut_at_the_end_of_a_read_is_no_vote(cut: list[Word]) -> None:
    """Replayed at random paces (seed 9), a read of jfk.flac ending at 5.68 s gave "what
    you" with "you" squeezed at 5.66 s (the start of "your"); the next read's "what you are
    cut" agreed, and "what you your country" was confirmed. Heard cut, it is no vote; so is a
    word clipped to under 0.1 s at the edge ("you" 5.64-5.70 in a read ending at 5.7 s, seed 21
    of 0.45-0.8 s per pass) or followed only by squeezed words ("you" 5.66-5.82, "are" 5.82-5.82
    in a read ending at 5.8 s, seed 18), which made the same "what you your country"."""
    policy = by_agreement(
        [*words_at("ask not what", 0.0, 0.3), *cut],
        [*words_at("ask not what", 0.0, 0.3), *words_at("you are cut", 0.9, 0.3)],
        [*words_at("ask not what your country can do", 0.0, 0.4)],
        [*words_at("ask not what your country can do for", 0.0, 0.4)],
    )
    feed_all(policy, 2.0)
    assert policy.confirmed_text == "ask not what", "a word heard cut was confirmed"
    feed_all(policy, 2.0)
    assert policy.confirmed_text.startswith("ask not what your country"), policy.confirmed_text


YOU_ARE_AT_THE_EDGE = [Word(0.70, 0.80, "you", 0.62), Word(0.80, 0.94, "are", 0.77)]


@pytest.mark.parametrize(
    ("edge", "moved", "probability", "confirmed"),
    [
        (YOU_ARE_AT_THE_EDGE, 0.12, 0.38, "ask not what"),
        (
            [Word(0.70, 0.84, "you", 0.71), Word(0.84, 0.92, "are", 0.79)],
            0.10,
            0.43,
            "ask not what",
        ),
        (YOU_ARE_AT_THE_EDGE, 0.02, 0.38, "ask not what you are"),
        (YOU_ARE_AT_THE_EDGE, 0.12, 0.9, "ask not what you are"),
    ],
    ids=["at-the-edge", "before-a-clipped-word", "boundary-kept", "sure-of-it"],
)
def test_the_word_before_the_edge_is_no_vote_when_this_read_ends_it_later(
    edge: list[Word], moved: float, probability: float, confirmed: str
) -> None:
    """Seeds 19 and 8 of 0.5-0.7 s per pass: reads ending inside "your" (at 5.97 and 5.93 s)
    heard "you are", "are" at the edge; the next reads, with "country" in them, read "you are"
    again but ended "you" 0.12 and 0.10 s later, and "what you" (then "your country") was
    confirmed. Where the previous read split the word at its edge, the word before the split
    is no vote when this read ends it elsewhere and is unsure of it (0.38 and 0.43 there);
    seed 5 was the same before the clipped "I..." of "am I" ("am" 0.06 s later, at 0.15).
    Where the boundary stays, both reads heard the same words, and they vote; so they do
    where this read is sure of the word (147 s of espeak-ng: "civil|war." at an edge, then
    "civil" at 0.93 0.08 s longer)."""
    head = words_at("ask not what", 0.0, 0.2)
    you = edge[0]
    policy = by_agreement(
        [*head, *edge],
        [
            *head,
            Word(you.start, you.end + moved, "you", probability),
            Word(you.end + moved, 1.14, "are", 0.72),
            *words_at("country can do", 1.14, 0.2),
        ],
        [*head, *words_at("your country can do for", 0.7, 0.3)],
        [*head, *words_at("your country can do for you", 0.7, 0.3)],
    )
    feed_all(policy, 2.0)
    assert policy.confirmed_text == confirmed
    if confirmed == "ask not what":
        feed_all(policy, 2.0)
        assert policy.confirmed_text.startswith("ask not what your country"), policy.confirmed_text


def test_a_word_heard_cut_is_no_vote_past_an_undecided_word_either() -> None:
    """Seed 4 of 0.5-0.7 s per pass: "ask" was unsure in both reads, so the agreed words after
    it confirmed it (``_past_dispute``), and those words included "you are", heard cut at the
    end of the first read; "what you are country" was confirmed. The cut words agree on
    nothing there either."""
    head = [Word(0.0, 0.2, "ask", 0.3), Word(0.2, 0.4, "not"), Word(0.4, 0.6, "what")]
    policy = by_agreement(
        [*head, Word(0.84, 0.98, "you", 0.71), Word(0.98, 0.98, "are", 0.66)],
        [*head, *words_at("you are country can do", 0.84, 0.2)],
    )
    feed_all(policy, 2.0)
    assert "you" not in policy.confirmed_text.split(), policy.confirmed_text


def test_a_word_three_passes_agree_on_is_confirmed_however_unsure() -> None:
    read = unsure("and so am I fellow Americans ask not", 0.3, "am")
    policy = by_agreement(read, read, read)
    feed_all(policy, 2.0)
    assert policy.confirmed_text == "and so"
    feed_all(policy, 1.0)
    assert policy.confirmed_text == "and so am I fellow Americans ask not"


def test_a_third_pass_confirms_an_unsure_word_only_with_words_heard_after_it() -> None:
    """Replayed with passes 0.5 s apart from 1.1 s (as beside a CPU hog), three reads of
    jfk.flac ending before the pause after "ask not" agreed on "asked" (0.41-0.47) and the
    third confirmed it. Reads with the speech after it said "ask" (0.54-0.64)."""
    guess = unsure("Americans asked not", 0.45, "asked")
    heard = unsure("Americans ask not what your country can do", 0.6, "ask")
    policy = by_agreement(guess, guess, guess, heard, heard)
    feed_all(policy, 3.0)
    assert policy.confirmed_text == "Americans", "three guesses confirmed 'asked'"
    feed_all(policy, 2.0)
    assert policy.confirmed_text.startswith("Americans ask not what"), policy.confirmed_text


def test_a_sentence_end_at_the_frontier_waits_for_the_next_word_or_a_short_silence() -> None:
    """Two passes end the buffer with "Americans." (2.0 s). Where the voice goes on, the full
    stop may be Whisper's way of ending any audio ("established." in LJ050-0131): it waits. Where
    the voice has been silent for ``sentence_pause_seconds`` (0.5 s) it is confirmed at once,
    before the pause (0.8 s) would confirm it."""

    def policy(speech_end: float | None) -> StreamingTranscriber:
        sentence = "and so my fellow Americans."
        return StreamingTranscriber(
            ScriptedReads("and", "and so", "and so my fellow", sentence, sentence),
            speech_detector=lambda audio, received: [
                (0.0, audio.size / SAMPLE_RATE if speech_end is None else speech_end)
            ],
            min_chunk_seconds=0.5,
            settled_seconds=None,
            confident_probability=1.1,
        )

    speaking, silent = policy(None), policy(2.0)
    for transcriber in (speaking, silent):
        feed_all(transcriber, 2.5)
    assert speaking.confirmed_text == "and so my fellow"
    assert speaking.tentative_text == "Americans."
    assert silent.confirmed_text == "and so my fellow Americans.", "held for the pause"
    assert silent.tentative == []


def test_one_pass_settles_no_word_it_is_unsure_of() -> None:
    read = unsure("and so am I fellow Americans", 0.3, "am")
    policy = StreamingTranscriber(
        ScriptedReads(read), speech_detector=None, min_chunk_seconds=3.0, settled_seconds=0.6
    )
    feed_all(policy, 3.0)
    assert policy.confirmed_text == "and so", "settled alone at probability 0.3"


def test_one_pass_settles_a_word_it_is_very_sure_of_near_the_frontier() -> None:
    """ "so" ends 0.2 s before the buffer's end, at probability 0.95 (WhisperLiveKit's
    confidence_validation); "my" at 0.5 waits for a second pass, "fellow" is the last word."""
    policy = StreamingTranscriber(
        ScriptedReads(unsure("and so my fellow", 0.5, "my")),
        speech_detector=None,
        min_chunk_seconds=1.0,
    )
    feed_all(policy, 1.0)
    assert policy.confirmed_text == "and so"
    assert policy.tentative_text == "my fellow"


def test_loop_detection_spans_the_confirmed_tail() -> None:
    """A pass re-reads the confirmed "Americans, and so my fellow" as new speech after it."""
    said = words_at("Americans, and so my fellow")
    again = words_at("Americans, and so my fellow Americans", start=3.5)
    policy = StreamingTranscriber(
        ScriptedReads(again, again),  # the buffer no longer holds the confirmed words
        speech_detector=None,
        min_chunk_seconds=3.0,
        settled_seconds=None,
    )
    policy.start()
    policy._confirm(said)
    feed_all(policy, 6.5)
    assert policy.confirmed_text == "Americans, and so my fellow"
    assert policy.tentative == []


# --------------------------------------------------------------------- real speech
@pytest.fixture(scope="module")
def recognizer(whisper_engine) -> WhisperRecognizer:
    return WhisperRecognizer(whisper_engine.models.get("tiny.en"), beam_size=1)


def offline_text(engine, audio: np.ndarray) -> str:
    """The same audio transcribed as a file job would be."""
    return engine.transcribe_array(audio, TranscriptionOptions()).text


def stream(
    audio: np.ndarray, recognizer: WhisperRecognizer, block: float = 0.1
) -> tuple[StreamingTranscriber, list[StreamEvent]]:
    policy = StreamingTranscriber(recognizer, min_chunk_seconds=1.0)
    events: list[StreamEvent] = []
    step = int(block * SAMPLE_RATE)
    for offset in range(0, audio.size, step):
        events += policy.feed(audio[offset : offset + step])
    return policy, events


def test_streamed_speech_is_as_good_as_offline_and_finish_flushes_the_tail(
    corpus: Path, references: dict[str, str], recognizer: WhisperRecognizer, whisper_engine
) -> None:
    streamed, offline, reference = [], [], []
    for name in ("jfk.flac", "LJ050-0131.wav"):
        audio = load_audio(corpus / name)
        policy, events = stream(audio, recognizer)
        tail = " ".join(normalise(references[name]).split()[-2:])
        assert not normalise(policy.confirmed_text).endswith(tail), "nothing left to flush"
        events += policy.finish()
        assert normalise(policy.confirmed_text).endswith(tail), "Stop lost the last words"
        assert policy.tentative == []
        assert_never_revised(events, policy.confirmed_text)
        assert any(e.type == "partial" and e.text for e in events), "no tentative text shown"
        streamed.append(policy.confirmed_text)
        offline.append(offline_text(whisper_engine, audio))
        reference.append(references[name])
    streamed_wer = wer(" ".join(reference), " ".join(streamed))
    offline_wer = wer(" ".join(reference), " ".join(offline))
    assert streamed_wer <= offline_wer + 0.05, (streamed_wer, offline_wer, streamed)


def test_live_session_at_real_time_pace_is_as_good_as_offline(
    corpus_stream: tuple[np.ndarray, str, str],
) -> None:
    """The app's own live path (create_transcriber: its model, fitted windows, the settings'
    chunk) on the corpus replayed at real-time pace, as a microphone would deliver it.

    The one test paced by the clock: how many passes run, and over how much audio, depends on
    how busy the machine is, so it checks only what must hold at any pace (the text, Stop
    keeping the last words) and waits generously; latency figures are the benchmark's
    (``benchmarks/live_latency.py``)."""
    audio, reference, offline = corpus_stream
    events: list[StreamEvent] = []
    session = LiveSession(
        ReplaySource(audio, speed=1.0),
        create_transcriber(load_settings(environ={})),
        on_event=events.append,
    )
    session.start()
    assert session.wait(timeout=600)
    assert session.result is not None and session.result.error is None
    streamed = session.result.transcript.text
    assert_never_revised(events, streamed)
    assert repeated_words(streamed) == 0, streamed
    # Generous: three words of the corpus's 38 (a busy machine's passes may still mishear one
    # phrase, as "am I" for "my"); the by-pass replays below allow offline + 1 point.
    assert wer(reference, streamed) <= wer(reference, offline) + 0.08, (streamed, offline)
    assert normalise(streamed).endswith("in this regard"), "Stop lost the last words"
    assert events[-1].type == "partial" and events[-1].text == ""


def repeated_words(text: str) -> int:
    """Words that repeat the 1-4 words right before them ("and so and so": 2)."""
    words = normalise(text).split()
    count, index = 0, 1
    while index < len(words):
        size = next(
            (
                n
                for n in range(4, 0, -1)
                if index >= n and words[index - n : index] == words[index : index + n]
            ),
            0,
        )
        count += size
        index += size or 1
    return count


@pytest.fixture(scope="module")
def corpus_stream(
    corpus: Path, references: dict[str, str], whisper_engine
) -> tuple[np.ndarray, str, str]:
    """The corpus as one dictation (a second of silence after each clip), its reference, and
    its offline transcription."""
    gap = np.zeros(SAMPLE_RATE, np.float32)
    audio = np.concatenate(
        [part for name in CORPUS_FILES for part in (load_audio(corpus / name), gap)]
    )
    reference = " ".join(references[name] for name in CORPUS_FILES)
    return audio, reference, offline_text(whisper_engine, audio)


@pytest.mark.parametrize(
    ("first", "behind"),
    [(0.5, 0.5), (1.1, 0.5), (0.6, 0.6), (1.2, 1.2), (3.0, 3.0), (2.2, 0.5)],
    ids=str,
)
def test_a_busy_computer_delays_confirmation_but_never_changes_the_text(
    corpus_stream: tuple[np.ndarray, str, str], first: float, behind: float
) -> None:
    """The app's live path replayed by passes, not by the clock: each pass finds ``behind``
    seconds of new audio (the first ``first``), as when passes fall behind on a busy computer
    (0.5 s: keeping up). Before the fix, 1.2 s read "and, and, and so my fellow Americans" at
    the first pause (26% WER); a first pass of 2.2 s (a hog stalled it) confirmed "am I" for
    "my" at that pause; 0.6 s confirmed "asked" for "ask" at the pause after "ask not" (three
    reads of it, all unsure), and so did three passes 0.5 s apart from 1.1 s before it.
    Passes that come later confirm later, never other words: the issue's target, offline + 1
    point (the corpus has 38 words: the same count of errors)."""
    assert_paces_keep_the_text(corpus_stream, itertools.chain([first], itertools.repeat(behind)))


@pytest.mark.parametrize(
    ("low", "high", "seed"), [(0.45, 0.8, 18), (0.45, 0.8, 21), (0.5, 0.7, 5), (0.5, 0.7, 19)]
)
def test_passes_at_random_paces_never_change_the_text(
    corpus_stream: tuple[np.ndarray, str, str], low: float, high: float, seed: int
) -> None:
    """Passes finding LOW-HIGH s of new audio each, drawn as ``benchmarks/live_trace.py
    --random LOW HIGH --seed N`` draws them (a machine that nearly keeps up): seeds 18 and 21
    of 0.45-0.8 s confirmed "what you your country", a read ending inside "your" having heard
    "you"; seed 19 of 0.5-0.7 s "what you are country", two reads agreeing on "you are" though
    the second ended "you" 0.12 s later; seed 5 "and so am my fellow", the same with "am I"."""
    rng = random.Random(seed)
    assert_paces_keep_the_text(corpus_stream, iter(lambda: rng.uniform(low, high), None))


def assert_paces_keep_the_text(
    corpus_stream: tuple[np.ndarray, str, str], steps: Iterator[float]
) -> None:
    """The app's live path fed the corpus ``steps`` seconds per pass gives the offline text."""
    audio, reference, offline = corpus_stream
    policy = create_transcriber(load_settings(environ={}))
    events: list[StreamEvent] = []
    offset = 0
    for step in steps:
        if offset >= audio.size:
            break
        events += policy.feed(audio[offset : offset + round(step * SAMPLE_RATE)])
        offset += round(step * SAMPLE_RATE)
    events += policy.finish()
    streamed = policy.confirmed_text
    assert_never_revised(events, streamed)
    assert repeated_words(streamed) == repeated_words(reference) == 0, streamed
    assert wer(reference, streamed) <= wer(reference, offline) + 0.01, (streamed, offline)
    assert "am i" not in normalise(streamed), streamed
    assert normalise(streamed).endswith("in this regard"), "Stop lost the last words"


def test_session_stopped_mid_speech_keeps_recording_and_last_words(
    corpus: Path, recognizer: WhisperRecognizer, tmp_path: Path
) -> None:
    audio = load_audio(corpus / "jfk.flac")
    cut = int(7.9 * SAMPLE_RATE)  # just after "... what your country can do for you"
    source = ReplaySource(audio[:cut], speed=float("inf"))
    events: list[StreamEvent] = []
    session = LiveSession(
        source,
        StreamingTranscriber(recognizer, min_chunk_seconds=1.0),
        recorder=WavRecorder(tmp_path / "take.wav"),
        on_event=events.append,
    )
    session.start()
    assert session.wait(timeout=60)
    result = session.result
    assert result is not None and result.error is None
    assert normalise(result.transcript.text).endswith("can do for you")
    assert_never_revised(events, " ".join(e.text for e in events if e.type == "final"))
    with wave.open(str(tmp_path / "take.wav")) as recorded:
        assert recorded.getframerate() == SAMPLE_RATE
        assert recorded.getnframes() == cut
    assert result.captured_seconds == pytest.approx(cut / SAMPLE_RATE)


# --------------------------------------------------------------------- fitted windows, loops
def words_of(text: str) -> list[Word]:
    return [Word(0.3 * i, 0.3 * i + 0.2, text) for i, text in enumerate(text.split())]


@pytest.mark.parametrize(
    ("heard", "kept"),
    [
        ("and so and so and so and so", "and so"),
        ("and so, and so, and so my fellow", "and so,"),
        ("the the the the end", "the"),
        ("no, no, no, I said", "no, no, no, I said"),  # three of one word is still speech
        ("and so my fellow Americans", "and so my fellow Americans"),
        ("we will we will rock you", "we will we will rock you"),
        (
            "Americans, and so my fellow Americans, and so my fellow",
            "Americans, and so my fellow",
        ),
        (
            "ask not what your country can do for you ask what you",
            "ask not what your country can do for you ask what you",
        ),
    ],
)
def test_a_decoder_loop_is_cut_after_its_first_round(heard: str, kept: str) -> None:
    assert join_words(cut_loops(words_of(heard))) == kept


class EncodeSpy:
    """The real model, recording how many mel frames each pass encodes."""

    def __init__(self, model: object) -> None:
        self._model = model
        self.frames: list[int] = []

    def encode(self, features: np.ndarray) -> object:
        self.frames.append(features.shape[-1])
        return self._model.encode(features)  # type: ignore[attr-defined]

    def __getattr__(self, name: str) -> object:
        return getattr(self._model, name)


def test_a_pass_encodes_a_window_fitted_to_the_buffer_and_hears_as_well(
    corpus: Path, references: dict[str, str], whisper_engine
) -> None:
    model = EncodeSpy(whisper_engine.models.get("tiny.en"))
    audio = load_audio(corpus / "jfk.flac")
    fitted = WhisperRecognizer(model, beam_size=1)
    full = WhisperRecognizer(model, beam_size=1, margin_seconds=None)
    said = references["jfk.flac"].split()
    # (buffer, frames encoded: at least 10 s, else the buffer + 3 s, words said in the buffer)
    for seconds, window, count in ((3.0, 1000, 5), (8.5, 1200, 15)):
        clip = audio[: int(seconds * SAMPLE_RATE)]
        model.frames.clear()
        short = fitted(clip, "")
        assert model.frames == [window]
        padded = full(clip, "")  # WhisperModel.transcribe: always 3000 frames
        reference = " ".join(said[:count])
        assert wer(reference, join_words(short)) <= wer(reference, join_words(padded)) + 0.1
        assert short[-1].end <= seconds + 0.1


def test_a_short_last_buffer_is_read_at_stop_with_the_full_window(
    corpus: Path, whisper_engine
) -> None:
    model = EncodeSpy(whisper_engine.models.get("tiny.en"))
    policy = StreamingTranscriber(
        WhisperRecognizer(model),
        final_recognizer=WhisperRecognizer(model, margin_seconds=None),
        min_chunk_seconds=60.0,
    )
    policy.feed(load_audio(corpus / "jfk.flac")[: int(0.9 * SAMPLE_RATE)])
    policy.finish()
    assert model.frames == [], "0.9 s at Stop: not the fitted window, which loops on it"
    assert normalise(policy.confirmed_text) in ("and", "and so"), policy.confirmed_text


# --------------------------------------------------------------------- voice activity
def test_streaming_silero_reads_each_frame_once_and_finds_the_same_speech(corpus: Path) -> None:
    """Fed in uneven pieces, with the state carried, Silero gives exactly the probabilities of
    one run over the whole stream, and the stretches faster-whisper's rules find in it."""
    from faster_whisper.vad import VadOptions, get_speech_timestamps, get_vad_model

    audio = load_audio(corpus / "jfk.flac")
    model = get_vad_model()
    calls: list[int] = []

    class Counting:
        session = type("S", (), {})()

    def run(feed: str | None, inputs: dict[str, np.ndarray]) -> list[np.ndarray]:
        calls.append(inputs["input"].shape[0])
        return model.session.run(feed, inputs)  # type: ignore[no-any-return]

    counting = Counting()
    counting.session.run = run  # type: ignore[attr-defined]
    detector = StreamingSilero(model=counting)
    received = 0
    for piece in itertools.cycle((7000, 8000, 3100)):
        if received >= audio.size:
            break
        received = min(audio.size, received + piece)
        stretches = detector(audio[:received], received)
    frames = audio.size // 512
    assert sum(calls) == frames, "a frame was read twice"
    # One run zeroes the last frame's tail in place (faster-whisper's context trick): compare
    # the frames before it, on a copy.
    whole = model(audio[: frames * 512].copy()).reshape(-1)
    assert np.array_equal(detector._probs[:-1], whole[:-1])
    options = VadOptions(threshold=0.5, min_silence_duration_ms=300, speech_pad_ms=100)
    expected = [
        (c["start"] / 16000, c["end"] / 16000) for c in get_speech_timestamps(audio, options)
    ]
    assert len(stretches) == len(expected) >= 2
    for (start, end), (want_start, want_end) in zip(stretches, expected, strict=True):
        assert abs(start - want_start) <= 0.04 and abs(end - want_end) <= 0.04


def test_a_cut_inside_a_sentence_never_passes_the_last_confirmed_word() -> None:
    """Passes fell behind: the confirmed words end at 2.1 s but the next word read starts at
    18 s; the audio between may be speech no read has reached (a cut in that "pause" lost whole
    sentences at real-time pace), so the cut stays among the confirmed words."""
    policy = StreamingTranscriber(lambda audio, prompt: [], speech_detector=None)
    policy.start()
    policy.feed(np.zeros(20 * SAMPLE_RATE, np.float32))
    policy._confirm([*words_at("a b c", start=0.0), *words_at("d e", start=1.3)])
    policy.tentative = words_at("f g", start=18.0)
    policy._bound_buffer()
    assert 1.2 <= policy.buffer_start <= 1.3, policy.buffer_start


def _scripted_buffer(words: list[Word], passes: int) -> tuple[StreamingTranscriber, list[float]]:
    """A policy whose model hears exactly ``words`` (times on the stream's clock) in each
    buffer, fed 0.5 s at a time ``passes`` times; returns it and its buffer length each time."""
    ref: list[StreamingTranscriber] = []

    def hears(audio: np.ndarray, prompt: str) -> list[Word]:
        start = ref[0].buffer_start
        end = start + audio.size / SAMPLE_RATE
        return [
            Word(w.start - start, w.end - start, w.text)
            for w in words
            if w.start >= start - 0.05 and w.end <= end
        ]

    policy = StreamingTranscriber(
        hears, speech_detector=None, min_chunk_seconds=0.5, soft_buffer_seconds=4.0
    )
    ref.append(policy)
    lengths = []
    for _ in range(passes):
        feed_all(policy, 0.5)
        lengths.append(policy.buffer_seconds)
    return policy, lengths


def test_a_read_the_prompt_made_skip_speech_is_read_again_without_it() -> None:
    """After a cut inside jfk.flac's "you, ask what you can do for your country", prompted
    with "... can do for", tiny.en read "your" at probability 0.00 stretched over 2.2 s, then
    "country.": the prompt's words, five spoken ones lost. Without the prompt it read them."""
    prompts: list[str] = []

    def hears(audio: np.ndarray, prompt: str) -> list[Word]:
        prompts.append(prompt)
        if prompt:
            return [Word(0.0, 2.2, "your", 0.0), Word(2.2, 2.8, "country.", 0.94)]
        return [Word(0.0, 0.4, "you", 0.6), *words_at("ask what you can do for", 0.4, 0.3)]

    policy = StreamingTranscriber(
        hears, speech_detector=None, min_chunk_seconds=100.0, settled_seconds=None
    )
    policy.feed(np.zeros(4 * SAMPLE_RATE, np.float32))
    events = policy._confirm(words_at("ask not what your country can do for", 0.0, 0.25))
    policy._trim(2.0)
    policy.min_chunk_seconds = 1.0
    events += feed_all(policy, 2.0)
    assert prompts == ["ask not what your country can do for", ""] * 2
    assert policy.confirmed_text.startswith(
        "ask not what your country can do for you ask what you can"
    ), policy.confirmed_text
    assert "country." not in policy.tentative_text
    assert_never_revised(events, policy.confirmed_text)


def test_a_first_word_stretched_over_silence_is_not_a_skip() -> None:
    """A read of a buffer that begins in a pause stretches its first word over the silence
    ("Unless" over 1.9 s at 0.34 after the cut at jfk.flac's end): that is no skip."""
    prompts: list[str] = []

    def hears(audio: np.ndarray, prompt: str) -> list[Word]:
        prompts.append(prompt)
        return [Word(0.0, 1.9, "Unless", 0.34), *words_at("a system is", 1.9, 0.3)]

    policy = StreamingTranscriber(
        hears, speech_detector=None, min_chunk_seconds=100.0, settled_seconds=None
    )
    policy.feed(np.zeros(4 * SAMPLE_RATE, np.float32))
    policy._confirm(words_at("for your country.", 0.0, 0.5))
    policy._trim(1.5)
    policy.min_chunk_seconds = 1.0
    feed_all(policy, 1.0)
    assert prompts == ["for your country."]
    assert policy.tentative_text == "Unless a system is"


# ------------------------------------------------------------------ the live model's threads
@pytest.mark.parametrize(
    ("model", "cores", "threads"),
    [
        ("tiny.en", 2, 1),
        ("tiny", 8, 1),
        ("./models/tiny.en", 4, 1),
        ("small.en", 2, 2),
        ("base", 8, 8),
    ],
)
def test_live_dictation_reads_tiny_models_on_one_thread(model, cores, threads) -> None:
    """On 2 cores a tiny.en pass took a fifth to a third less time and CPU on one CTranslate2
    thread than on two (the beam search's matrices are too small to split); larger models
    keep every core."""
    assert live_threads(model, cores) == threads


def test_the_live_model_is_loaded_with_those_threads() -> None:
    settings = load_settings(environ={})
    transcriber = create_transcriber(settings)
    provider = live._live_models[live_threads(settings.whisper_model_size)]
    assert provider.cpu_threads == 1
    assert transcriber.recognizer.model is provider.get(settings.whisper_model_size)  # type: ignore[attr-defined]
