"""Streaming policy for live dictation: turn a growing stream of audio into text that never jumps.

The policy is fed 16 kHz mono float32 frames (:meth:`StreamingTranscriber.feed`) and answers with
:class:`StreamEvent` records. It is Qt-free and thread-agnostic: one worker thread owns it.

Algorithm (LocalAgreement-2 over a growing buffer, after ufal/whisper_streaming, plus a VAD gate):

1. **Buffer.** New frames are appended to an audio buffer that starts at ``buffer_start`` seconds
   of the capture. A pass runs only once at least ``min_chunk_seconds`` of new audio arrived
   (``STREAM_MIN_CHUNK_SIZE``, 0.5 s). On 2 cores a tiny.en pass takes 0.2-0.3 s (see Fitted
   window), so the CPU idles between passes; more frequent passes confirmed more mistakes
   (0.3 s chunks: 26.6% WER against 24.4% on four espeak-ng passages).
   **A busy computer.** When passes fall behind, the next pass simply finds more new audio:
   fewer passes, each over more; the rules below confirm later, never other words. The
   tests replay the corpus by passes (0.5, 1.2 and 3 s of new audio each, and a first pass
   of 2.2 s then 0.5 s) and get the same text as offline at each pace; before these rules,
   1.2 s per pass made 26% WER.
2. **VAD gate.** Silero VAD (shipped with faster-whisper) marks speech in the buffer. It runs
   once per 512-sample frame of the stream, its state carried from pass to pass
   (:class:`~desktop_app.core.voice_activity.StreamingSilero`): re-run over the whole buffer
   it read each second again on every pass, 5.3 s against 1.5 s of VAD over the corpus's 39
   passes on a loaded machine, with the same stretches to 0.02 s. With no
   speech, no model pass runs at all (silence costs almost nothing and cannot hallucinate text);
   the silent audio is dropped from the buffer except a short lead-in (``LEAD_IN_SECONDS``).
   So is silence at the buffer's head when speech begins inside a pass, with nothing
   tentative: a pause's cut leaves the silence after it, and handed 1.3 s of it before "It is
   a truth universally acknowledged", tiny.en stretched "it" over it at 0.11, the mark of a
   prompt that made it skip speech (``_skipped``), so every read until the next cut was read
   again without the prompt. On 147 s of espeak-ng speech by passes (6 fixed paces, 6 random
   ones) the streamed WER went from 19.4% to 18.1%, and at real-time pace, idle, in 3
   alternated pairs, from 19.6/18.4/21.3% to 19.1/17.1/16.9%, at the same median delay
   (1.04-1.22 s against 1.08-1.13 s); the corpus kept its text in 90 replays.
3. **Pass.** Whisper transcribes the whole buffer with word timestamps, with the files' beam
   (``WHISPER_BEAM_SIZE``, 5: 18.6% WER against 23.9% greedy on the corpus and four espeak-ng
   passages) and at temperature 0 only (a fallback re-decode cost 2 s and brought the same
   words). The confirmed text that lies before the buffer is the prompt, so the model keeps its
   context across trims. Words the model re-reads that are already confirmed are skipped by
   time and by n-gram overlap, and a decoder loop ("and so and so and so") is cut after its
   first round. A word lying mostly inside the last confirmed word is that word read again,
   however spelt: one stretch of audio is one word ("four" [3.52-3.86] was confirmed, then
   "forth" [3.54-3.94] after it; "universe", then "universal" over the same 0.4 s).
   **Fitted window.** ``WhisperModel.transcribe`` pads every pass to Whisper's 30 s window, so
   the encoder always reads 3000 mel frames however short the buffer. :class:`WhisperRecognizer`
   runs the model's own steps (features, encode, generate, word alignment) on a window fitted
   to the buffer instead: the buffer plus 3 s of silence, at least 10 s. Cut exactly at the
   buffer's end, tiny.en's WER rose from 5.3% to 55-60% (it heard speech up to the edge and
   looped); with the silence after it, a pass costs a third (0.21 against 0.75 s on average)
   and WER moved by at most a point (see Measured).
4. **Confirmation (LocalAgreement-2).** A word is confirmed when two consecutive passes agree on
   it: the longest common prefix (case and punctuation ignored) of the previous pass's tentative
   words and this pass's words is confirmed, in this pass's spelling. The rest stays tentative.
   Confirmed words are only ever appended, so confirmed text never changes.
   **Unsure words need a third pass.** A word both passes gave a probability under
   ``unsure_probability`` (0.5) waits for a third agreeing pass: on jfk.flac cut short, two
   passes read "am I fellow" ("am" at 0.26 and 0.22); the next read "my" at 0.95.
   **Settled words.** One pass also confirms its leading words that end at least
   ``settled_seconds`` (0.6 s) before the buffer's end, have a next word and a probability of
   at least ``settled_probability`` (0.9): the model heard them whole, with context after, and
   is sure. Without the probability floor one pass confirmed "am" (0.30) and "asked" (0.38).
   The last word is never settled this way (it may be cut). A 0.4 s margin once confirmed a
   misheard word. A word followed by another also settles at ``confident_probability`` (0.95)
   however near the end (WhisperLiveKit's ``confidence_validation``). Replays paced by passes
   said it cost accuracy on 147 s of espeak-ng speech (17.1% -> 20.0% WER at 0.5 s per pass),
   but at real-time pace, 7 alternated idle runs of ``live_latency.py`` each, it won: mean
   streamed WER 17.3% with it against 19.5% without, lower in 6 of 7 pairs. Real time decides.
   **An undecided word does not block the rest.** Two reads that differ on at most
   ``DISPUTED_WORDS`` (2) words, each read under ``unsure_probability``, and then agree on
   ``AGREED_RUN_WORDS`` (4) at the same times confirm the agreed words and the disputed ones
   from the read surer of them: at 3 s per pass tiny.en read "marrow" four ways for ten
   passes, and prefix agreement confirmed nothing for 37 s. On 147 s of espeak-ng speech
   (``live_trace.py --long 120``), at 3 s per pass: WER 44.0% -> 17.9%, median 9.9 -> 5.5 s,
   p95 20.5 -> 15.5 s, longest buffer 36 -> 20 s, CPU per audio s 0.91 -> 0.48; at 1 s per
   pass: WER 18.4% -> 19.6%, median 2.9 -> 1.6 s, p95 9.1 -> 4.4 s, CPU 1.02 -> 0.86. For
   any disputed word, sure reads included: 17.4% and 20.5%, p95 13.1 and 3.0 s.
   **Sentence ends wait.** Whisper ends the audio it is given with a full stop, so a word with
   one at the buffer's end ("established." in LJ050-0131, where the sentence goes on) is not
   confirmed until a later word follows it or the voice has been silent for
   ``sentence_pause_seconds`` (0.5 s; the pause below waits 0.8 s): jfk.flac's "Americans."
   then came a pass sooner (corpus p95 1.35 -> 1.14 s at 0.5 s per pass, same text at 30
   paces; 147 s of espeak-ng 20.3% -> 18.8% WER, p95 2.35 -> 2.00 s).
   **Implausible reads.** A read stops before a run of two words the aligner gave no audio
   (under 0.04 s each: tiny.en once read "and, and, and so my fellow Americans", seven words
   at 2.1 s), and before a loop; loop detection looks back over the confirmed tail too, so a
   loop whose first round is already confirmed is still cut. A read whose first word the
   model gave almost no probability (under 0.1) over a second or more skipped speech the
   prompt made it expect ("... can do for" then "your" at 0.00 over 2.2 s, losing "you, ask
   what you can do for"): it is read again without the prompt. A word the previous read
   squeezed into the last 0.1 s of its audio was heard cut ("you" for the start of "your")
   and is no vote for agreement; so is a word clipped to under ``CLIPPED_WORD_SECONDS`` at the
   read's edge, or followed there only by squeezed words: at random paces of 0.45-0.8 s per
   pass (seeds 18 and 21) reads ending inside "your" heard "you" (5.64-5.70) or "you are"
   ("are" squeezed), the next read agreed on "you", and "what you your country" was confirmed.
   Nor does the word before a word at the read's edge vote when this read has the same two
   words but ends the first later (by over ``BOUNDARY_SECONDS``: the same words over other
   audio) and is unsure of it. At 0.5-0.7 s per pass, reads ending inside "your" heard
   "you|are" with "are" at the edge, the next reads "you|are" again with the boundary
   0.10-0.12 s later and "you" at 0.38-0.43, and "what you are country" or "what you your
   country" was confirmed (seeds 19 and 8; seed 5 "am|I" for "my": "so am my fellow").
   Without the probability condition the rule also held sure words ("civil|war." then
   "civil" at 0.93): 147 s of espeak-ng speech by passes lost 0.03-0.11 s of median latency;
   with it, of 90 corpus replays only those three changed, and 147 s at six paces (0.5-1 s)
   kept their text and median latency.
5. **End of speech.** When the VAD sees the voice stop for ``end_of_speech_seconds``, the words
   of that stretch that a second read agrees on are confirmed at once, without waiting for
   another pass: the previous pass's tentative words or, where they differ, a re-read with the
   full 30 s window (``final_recognizer``). Confirming one read there put that loop above into
   the text (18% WER on the corpus instead of 5%). What neither agrees on stays tentative and
   the next pass reads it again. Once all is confirmed the buffer is cut at the pause: without
   it, a long buffer re-reading settled speech made tiny.en stretch one word to the buffer's
   end and drop all that followed. (0.5 s instead of 0.8 s cost WER; 0.3 s, with the rules
   here, kept the corpus's WER but cost 1.15 CPU s per audio s against 0.98 for full-window
   re-reads at pauses inside sentences, and its p95 was the same: kept at 0.8 s.) If the model
   stopped reading more than 0.5 s before the voice did (beam search can end early), what
   follows its last word is read again before anything is confirmed or cut.
   **Contested words.** Where the previous pass read another word than the pause's read,
   reads of the same audio do not settle it: only a sure read (``settled_probability``) or,
   once speech resumes, two passes with the words after it (a hog's 2.2 s first pass of
   jfk.flac made both the fitted and the full window read "am I" for "my").
   **Guessed words.** A word every read of the pause gave under ``unsure_probability``, with
   at most ``AGREED_RUN_WORDS`` words read after it, waits the same way: replayed at 0.6 s
   per pass, three reads of jfk.flac up to the pause after "ask not" said "asked" (0.40-0.43)
   and the pause confirmed it; the reads with the speech after it said "ask" (0.59).
6. **Trim.** A pass costs in proportion to the buffer (the fitted window: 0.4 CPU s at 2 s,
   1.6 at 13 s, 3.5 at 26 s), so once the buffer is longer than ``soft_buffer_seconds`` (6 s)
   it is cut after the last confirmed sentence; the prompt carries the text before. Past twice
   that with no sentence end confirmed (tiny.en writes few full stops on long espeak-ng
   sentences: with sentence cuts only the buffer grew to 26 s there and dictation fell
   behind), it is cut inside the sentence: after a confirmed clause (comma), else in the widest
   pause between confirmed words. (Cut inside sentences from 6 s, the corpus at 1.2 s per pass
   lost "ask what you can do for": the read after the cut skipped from the prompt's "can do
   for you" to "your country".) Not on a pause that holds contested or guessed words (step
   5): the pause cuts the buffer itself once they settle. (Replayed at 0.3-1.5 s per pass,
   LJ050-0131's last pause held "thereunder" with a 12.4 s buffer; the cut left 3.9 s, and
   Stop, reading it without the sentence before, wrote "they are under".) Past
   ``max_buffer_seconds`` (``STREAM_MAX_BUFFER_SIZE``) with nothing confirmed, the older half
   of the hypothesis is confirmed so the buffer stays bounded.
   **Longer buffers read better and cost latency one for one.** Cut at 15 s (inside sentences
   at 30 s), 147 s of espeak-ng speech by passes (0.45-0.8 s, seeds 0-5) gave 15.6% WER
   against 18.4%, but at real-time pace passes over 20-30 s buffers take 1-1.5 s: median
   1.29-1.33 s against 1.08-1.13 s, p95 3.5-7.9 s, CPU 0.96-1.02 per audio s, and 2.08 s
   median beside a CPU hog (against 1.45 s). Keeping 15 s only while each pass finds at
   most 1 s of new audio cut exactly those long buffers: 17.6% against 17.9% at real time
   (3 alternated rounds), 17.3% by passes. A window of at least 20 s on short buffers
   (18.3%) showed that the audio read, not the window, is what helps; and forcing the
   buffer's confirmed words as the decoder's prefix saves nothing (CTranslate2 steps through
   a prefix token by token; tiny.en also read the passage again after it).
   The buffer's start is counted in samples: summed in seconds it drifted below the end of
   the word it was cut at (9.809999 for 9.81), the rule cut at that word again and removed
   nothing, and the buffer grew to 30 s (147 s of espeak-ng speech at 1 s per pass: longest
   buffer 30.4 s, 1.27 CPU s per audio s; counted in samples: 13.0 s, 1.02).
7. **Finish.** :meth:`StreamingTranscriber.finish` runs a last pass over whatever is left and
   confirms all of it, reading again any speech after the last word read (as at a pause): Stop
   never loses the last words. A last buffer under 2 s is read with the full 30 s window
   (``final_recognizer``), on which a second of speech does not make tiny.en loop.

Events: ``final`` carries newly confirmed words; ``partial`` carries the whole current tentative
tail (an empty text clears it). Times ``start``/``end`` are seconds of captured audio;
``emitted_at`` is seconds since capture started by the injected clock.

Measured (``benchmarks/live_latency.py --repeat 3``: tiny.en, beam 5, 2 cores, real-time pace,
beside WhisperLiveKit 0.2.26's LocalAgreement on the same model folder, means of 3 runs per
audio and condition; an otherwise idle machine). Streamed WER, median / p95 delay from a word's
end to its confirmation, CPU s per audio s:

============  ============================  ============================================
condition     corpus, 21 s (offline 5.3%)   espeak-ng, 147 s (offline 14.3%)
============  ============================  ============================================
idle          5.3%, 0.77 / 1.31 s, 0.49     18.8% (18.1-19.1), 1.05 / 2.85 s, 0.71
  the peer    7.0%, 1.75 / 9.15 s, 2.01     21.2% (15.2-25.8), 2.83 / 8.34 s, 1.51
2 batch jobs  5.3%, 0.79 / 1.33 s, 0.46     17.6% (17.1-17.9), 1.09 / 3.08 s, 0.71
  the peer    8.8%, 2.01 / 7.07 s, 1.71     24.6% (19.8-27.1), 3.73 / 9.19 s, 1.32
CPU hog       5.3%, 0.89 / 1.42 s, 0.41     19.7% (19.6-19.8), 1.28 / 2.65 s, 0.60
  the peer    6.1%, 3.22 / 9.09 s, 1.14     24.4% (15.2-39.6), 6.07 / 16.24 s, 0.87
============  ============================  ============================================

The corpus streamed at its offline WER in all 9 runs; no confirmed word was repeated in any of
the 18 (the peer repeated 3 words on the long speech, idle). On the long speech the peer's
best runs (15.2%, twice) beat ours, but a peer that falls behind loses whole passages
(39.6% beside the hog), where a busy computer only delays ours: its WER moved at most 1 point
within a condition (17.1-19.8% over all 9 runs). Both misread the same espeak-ng phrases
("4th score", "a true universally"). Some of ours that the peer avoids are a passage's first
words after a long pause ("At least once beginning" for "Alice was beginning"), read from a
buffer the pause cut, where the peer's buffer still holds the passage before; the rest are
scattered.
Paced by passes (``live_trace.py``; the clock is the audio received, so machine speed drops
out): the corpus at 30 constant paces of 0.3-3.2 s of new audio per pass and 60 random ones
of 0.3-1.5 s keeps its offline text in 90 of 90 replays (mean median 1.33 s, mean p95
2.45 s, audio clock); the long speech at random paces of 0.45-0.8 s (seeds 0-5) streams at
18.4% on average.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal, Protocol

import numpy as np

from desktop_app.core.audio import SAMPLE_RATE
from desktop_app.core.transcript import Segment, Transcript, Word
from desktop_app.core.voice_activity import StreamingSilero

logger = logging.getLogger(__name__)

EventType = Literal["partial", "final"]
SENTENCE_END = (".", "?", "!", "…")
CLAUSE_END = (",", ";", ":")
#: Words start up to this much before the confirmed end and still count as new (timestamps jitter).
TIME_TOLERANCE_SECONDS = 0.15
#: Silence kept at the head of the buffer when silence is dropped, so a word starting there lives.
LEAD_IN_SECONDS = 0.5
#: Words may start this long after the VAD's speech end (its padding is tight) and still count.
SILENCE_TOLERANCE_SECONDS = 0.3
#: Speech that goes on this long after the model's last word was not read: read it again.
#: (The VAD pads speech by 0.1 s and word ends jitter by about as much; a short word is 0.3 s.)
MISSED_SPEECH_SECONDS = 0.5
#: At most this many extra reads of speech a pass stopped short of.
MAX_REREADS = 3
#: A word shorter than this is squeezed: the aligner found no audio for it.
SQUEEZED_WORD_SECONDS = 0.04
#: This many squeezed words in a row are a decoder loop, not speech: tiny.en read
#: "and, and, and so my fellow Americans" at jfk.flac's first pause, seven words at 2.1 s.
SQUEEZED_RUN = 2
#: A pause this long settles its contested words by agreement after all (see _confirm_pause).
CONTESTED_PAUSE_SECONDS = 3.0
#: Loop detection looks back over this many confirmed words as well as the new ones.
LOOP_CONTEXT_WORDS = 16
#: A squeezed word a read ends this close to the end of its audio was heard cut (``_agreed``).
CUT_WORD_SECONDS = 0.1
#: A word shorter than this that ends there was clipped by the read's end ("you" of "your").
CLIPPED_WORD_SECONDS = 0.1
#: Two reads with the same two words at a read's edge disagree on where the first ends when
#: their ends differ by more than this (the aligner's step is 0.02 s; see ``_moved``).
BOUNDARY_SECONDS = 0.05
#: A read's first word under this probability, stretched over at least ``SKIPPED_SECONDS``,
#: is speech the prompt made the model skip (see ``_skipped``).
SKIPPED_PROBABILITY = 0.1
SKIPPED_SECONDS = 1.0
#: Two reads that differ on at most this many words at the head of the tentative text...
DISPUTED_WORDS = 2
#: ...and then agree on this many words, at the same time within ``DISPUTE_TIME_SECONDS``,
#: confirm the agreed words and the surer read of the disputed ones (see ``_past_dispute``).
AGREED_RUN_WORDS = 4
DISPUTE_TIME_SECONDS = 0.3


@dataclass(frozen=True)
class StreamEvent:
    """One change of the live transcript; what the CLI prints as a JSON line."""

    type: EventType
    text: str
    start: float
    end: float
    emitted_at: float
    words: tuple[Word, ...] = ()

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "text": self.text,
            "start": round(self.start, 3),
            "end": round(self.end, 3),
            "emitted_at": round(self.emitted_at, 3),
            "words": [
                {
                    "text": word.text.strip(),
                    "start": round(word.start, 3),
                    "end": round(word.end, 3),
                    "probability": round(word.probability, 3),
                }
                for word in self.words
            ],
        }


class Recognizer(Protocol):
    """Transcribes one buffer; returns words with times relative to the buffer's start."""

    def __call__(self, audio: np.ndarray, prompt: str) -> list[Word]: ...


#: Silence after the buffer in the encoded window (see the module docstring: fitted windows).
WINDOW_MARGIN_SECONDS = 3.0
#: The shortest encoded window: on 4-8 s windows tiny.en looped ("and so and so and so") or
#: heard "n, n, n" on the first second of jfk.flac; from 10 s it read "And so..." as with 30 s.
WINDOW_MIN_FRAMES = 1000
#: A last buffer shorter than this is read at Stop by ``final_recognizer`` (the full window): on
#: jfk.flac's first 0.5-1.0 s the 10 s window heard "the the the" or "And so, and so, and",
#: the 30 s one "And so...". While dictation runs the fitted window does better on short
#: buffers: the next passes correct them, and the 30 s window made 10-29% WER against 5%.
#: (Measured again with the rules here, full windows below 3 s: 4 of 90 corpus replays lost
#: offline WER, 7.9-10.5%; 147 s of espeak-ng speech 17.8% against 18.4% by passes.)
SHORT_FINAL_SECONDS = 2.0
#: The encoded window grows in steps of this many mel frames (1 s), so its length varies little.
WINDOW_STEP_FRAMES = 100
#: Past this, the buffer is cut at a confirmed boundary (see the module docstring: Trim).
SOFT_BUFFER_SECONDS = 6.0
#: At most this many tokens per second of audio (plus 10): a decoder caught in a loop stops soon.
MAX_TOKENS_PER_SECOND = 8
PREPEND_PUNCTUATION = "\"'“¿([{-"
APPEND_PUNCTUATION = "\"'.。,，!！?？:：”)]}、"


class WhisperRecognizer:
    """faster-whisper's model as a :class:`Recognizer`, encoding a window fitted to the buffer.

    ``margin_seconds`` (3 s) of silence follow the buffer in the encoded window, instead of
    padding every pass to 30 s as ``WhisperModel.transcribe`` does; ``None`` uses
    ``transcribe`` itself. Each pass is independent: the policy gives the prompt, and has
    already gated the buffer by voice activity. Greedy at temperature 0 only (a fallback
    re-decode cost 2 s and brought the same words; the next pass re-checks anyway).
    Buffers too long for the margin, and the first pass of a multilingual model with no
    language set (which detects the language), go through ``transcribe``.
    """

    def __init__(
        self,
        model: Any,
        *,
        language: str = "auto",
        beam_size: int = 1,
        margin_seconds: float | None = WINDOW_MARGIN_SECONDS,
    ) -> None:
        self.model = model
        self.language: str | None = None if language == "auto" else language
        self.beam_size = beam_size
        self.margin_seconds = margin_seconds
        self._tokenizer: Any = None
        self._suppress: tuple[int, ...] = ()
        inner = getattr(model, "model", None)
        self.multilingual = bool(getattr(inner, "is_multilingual", True))
        if not self.multilingual:
            self.language = "en"

    def __call__(self, audio: np.ndarray, prompt: str) -> list[Word]:
        margin = self.margin_seconds
        if margin is None or self.language is None or audio.size / SAMPLE_RATE + margin > 30:
            return self._transcribe(audio, prompt)
        return self._fitted(audio, prompt, margin)

    def _transcribe(self, audio: np.ndarray, prompt: str) -> list[Word]:
        segments, info = self.model.transcribe(
            audio,
            language=self.language,
            beam_size=self.beam_size,
            word_timestamps=True,
            condition_on_previous_text=False,
            vad_filter=False,
            initial_prompt=prompt or None,
            temperature=0.0,
        )
        words = [
            Word(round(w.start, 3), round(w.end, 3), w.word.strip(), round(w.probability, 4))
            for segment in segments
            for w in (segment.words or ())
            if w.word.strip()
        ]
        if self.language is None:  # detect once, then keep it: detection costs a pass per pass
            self.language = info.language
        return words

    def _fitted(self, audio: np.ndarray, prompt: str, margin: float) -> list[Word]:
        from faster_whisper.audio import pad_or_trim
        from faster_whisper.tokenizer import Tokenizer
        from faster_whisper.transcribe import (
            get_compression_ratio,
            get_suppressed_tokens,
            merge_punctuations,
        )

        model = self.model
        if self._tokenizer is None or self._tokenizer.language_code != self.language:
            self._tokenizer = Tokenizer(
                model.hf_tokenizer, self.multilingual, task="transcribe", language=self.language
            )
            self._suppress = get_suppressed_tokens(self._tokenizer, (-1,)) or ()
        tokenizer = self._tokenizer
        extractor = model.feature_extractor
        frames = min(round(audio.size / extractor.hop_length), extractor.nb_max_frames)
        features = extractor(audio)[:, :frames]
        steps = -(-(frames + round(margin * 100)) // WINDOW_STEP_FRAMES)
        window = min(max(steps * WINDOW_STEP_FRAMES, WINDOW_MIN_FRAMES), extractor.nb_max_frames)
        encoded = model.encode(pad_or_trim(features, window))
        prompt_ids = model.get_prompt(
            tokenizer, tokenizer.encode(" " + prompt.strip()) if prompt.strip() else []
        )
        budget = int(MAX_TOKENS_PER_SECOND * audio.size / SAMPLE_RATE) + 10
        result = model.model.generate(
            encoded,
            [prompt_ids],
            beam_size=self.beam_size,
            max_length=min(model.max_length, len(prompt_ids) + budget),
            return_scores=True,
            return_no_speech_prob=True,
            suppress_blank=True,
            suppress_tokens=list(self._suppress),
            max_initial_timestamp_index=50,  # 1 s, as transcribe's default
        )[0]
        tokens = [t for t in result.sequences_ids[0] if t < tokenizer.eot]
        if not tokens:
            return []
        length = len(result.sequences_ids[0])
        average_logprob = result.scores[0] * length / (length + 1)
        if result.no_speech_prob > 0.6 and average_logprob < -1.0:
            return []  # transcribe's no-speech rule
        if get_compression_ratio(tokenizer.decode(tokens)) > 2.4:
            return []  # a decoding loop ("the the the ..."): let the next pass try again
        alignment = model.find_alignment(tokenizer, [tokens], encoded, frames)[0]
        merge_punctuations(alignment, PREPEND_PUNCTUATION, APPEND_PUNCTUATION)
        return [
            Word(
                round(float(a["start"]), 3),
                round(float(a["end"]), 3),
                a["word"].strip(),
                round(float(a["probability"]), 4),
            )
            for a in alignment
            if a["word"].strip()
        ]


class SpeechDetector(Protocol):
    """Marks speech in the buffer: (start, end) seconds from its start. The buffer is the last
    ``buffer.size`` of the ``received`` samples of the stream, so a detector that keeps state
    (:class:`~desktop_app.core.voice_activity.StreamingSilero`) reads only the new tail."""

    def __call__(self, buffer: np.ndarray, received: int) -> list[tuple[float, float]]: ...


def _key(text: str) -> str:
    """What two passes must agree on: the word without case or punctuation."""
    return re.sub(r"[^\w']+", "", text.lower())


def join_words(words: Sequence[Word]) -> str:
    return " ".join(w.text for w in words)


@dataclass
class StreamingTranscriber:
    """The streaming policy; see the module docstring. Not thread-safe: one worker owns it."""

    recognizer: Recognizer
    min_chunk_seconds: float = 1.0
    max_buffer_seconds: float = 30.0
    soft_buffer_seconds: float = SOFT_BUFFER_SECONDS
    end_of_speech_seconds: float = 0.8
    end_of_speech_confirms: bool = True
    #: A sentence end two passes agree on at the frontier is confirmed once the voice has been
    #: silent this long after it, without waiting for the pause (``end_of_speech_seconds``):
    #: jfk.flac's "Americans." was confirmed a pass sooner. With 0.3 or 0.4 s the corpus's last
    #: words waited for Stop at 0.5 s per pass (p95 1.59 s, against 1.14 with 0.5 s).
    sentence_pause_seconds: float = 0.5
    settled_seconds: float | None = 0.6
    #: A word settles alone (see ``_settled``) only when the model was at least this sure of it.
    settled_probability: float = 0.9
    #: A word followed by another settles alone at this probability, however near the end
    #: (WhisperLiveKit's ``confidence_validation``): 0.95 confirmed the corpus 0.1 s sooner
    #: (median, by passes) at the same WER.
    confident_probability: float = 0.95
    #: Two passes agreeing on a word both gave less than this need a third (see ``_agreed``).
    unsure_probability: float = 0.5
    #: Voice activity, by default Silero run once per frame (``voice_activity``).
    speech_detector: SpeechDetector | None = field(default_factory=StreamingSilero)
    #: Reads the last buffer at Stop when it is shorter than ``SHORT_FINAL_SECONDS``.
    final_recognizer: Recognizer | None = None
    clock: Callable[[], float] = time.monotonic
    prompt_chars: int = 200

    confirmed: list[Word] = field(default_factory=list, init=False)
    tentative: list[Word] = field(default_factory=list, init=False)
    passes: int = field(default=0, init=False)
    _audio: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32), init=False)
    #: Samples of the stream cut from the buffer's head. Counted in samples, not seconds:
    #: seconds summed trim after trim drifted below a confirmed word's end (9.809999 for
    #: 9.81), so that word counted as inside the buffer, the cut at it removed nothing, and
    #: long speech's buffer grew to 30 s (passes of 3.5 CPU s; dictation fell behind).
    _cut_samples: int = field(default=0, init=False)
    _received_samples: int = field(default=0, init=False)
    _unprocessed_samples: int = field(default=0, init=False)
    _started_at: float | None = field(default=None, init=False)
    _finished: bool = field(default=False, init=False)
    _held: tuple[str, float] | None = field(default=None, init=False)
    #: Where the audio ended (seconds of the stream) for the read that left ``tentative``.
    _read_end: float | None = field(default=None, init=False)
    _reread: float | None = field(default=None, init=False)
    #: A pause (where the voice stopped) and where its reads first disagreed (see
    #: ``_confirm_pause``), both in seconds of the stream.
    _contested: tuple[float, float] | None = field(default=None, init=False)

    # ------------------------------------------------------------------ reading
    @property
    def _buffer_start(self) -> float:
        return self._cut_samples / SAMPLE_RATE

    @property
    def received_seconds(self) -> float:
        """Audio fed so far."""
        return self._received_samples / SAMPLE_RATE

    @property
    def buffer_seconds(self) -> float:
        return self._audio.size / SAMPLE_RATE

    @property
    def buffer_start(self) -> float:
        return self._buffer_start

    @property
    def confirmed_text(self) -> str:
        return join_words(self.confirmed)

    @property
    def tentative_text(self) -> str:
        return join_words(self.tentative)

    def transcript(self, *, model: str = "", source: str = "") -> Transcript:
        """The confirmed words as segments cut at sentence ends and pauses (for export), in
        the language the recognizer read (set, or detected on the first pass)."""
        transcript = words_to_transcript(self.confirmed, self.received_seconds, model, source)
        transcript.language = getattr(self.recognizer, "language", None) or ""
        return transcript

    # ------------------------------------------------------------------ feeding
    def start(self) -> None:
        """Mark capture start for ``emitted_at``; called on the first feed if not before."""
        if self._started_at is None:
            self._started_at = self.clock()

    def feed(self, frames: np.ndarray) -> list[StreamEvent]:
        """Append captured audio; runs a pass when enough new audio has arrived."""
        if self._finished:
            raise RuntimeError("feed() after finish()")
        self.start()
        frames = np.asarray(frames, dtype=np.float32).reshape(-1)
        if frames.size == 0:
            return []
        self._audio = np.concatenate([self._audio, frames])
        self._received_samples += frames.size
        self._unprocessed_samples += frames.size
        if self._unprocessed_samples < self.min_chunk_seconds * SAMPLE_RATE:
            return []
        return self._pass(final=False)

    def finish(self) -> list[StreamEvent]:
        """Transcribe what is left and confirm all of it; the stream is over."""
        if self._finished:
            return []
        self.start()
        events = self._pass(final=True) if self._audio.size else []
        if self.tentative:  # nothing may stay tentative after the end
            events += self._confirm(list(self.tentative))
        self._finished = True
        return events

    # ------------------------------------------------------------------ internals
    def _now(self) -> float:
        assert self._started_at is not None
        return self.clock() - self._started_at

    def _pass(self, *, final: bool) -> list[StreamEvent]:
        self._unprocessed_samples = 0
        end_of_speech: float | None = None
        silence: float | None = None  # at the buffer's end, by the VAD
        if self.speech_detector is not None:
            speech = self.speech_detector(self._audio, self._received_samples)
            if not speech:
                return self._drop_silence(final)
            speech = self._skip_leading_silence(speech)
            last_speech_end = speech[-1][1]
            silence = self.buffer_seconds - last_speech_end
            if final or silence >= self.end_of_speech_seconds:
                end_of_speech = last_speech_end
        elif final:
            end_of_speech = self.buffer_seconds
        if self._contested is not None and (
            final
            or end_of_speech is None
            or self._buffer_start + end_of_speech > self._contested[0] + SILENCE_TOLERANCE_SECONDS
        ):
            # Speech came after that pause: the reads with it decide the contested words, and
            # the pause's reads of the same audio do not count as a vote.
            contested = self._contested[1] - TIME_TOLERANCE_SECONDS
            self.tentative = [w for w in self.tentative if w.start < contested]
            self._contested = None
        hypothesis = self._read(end_of_speech, final)
        if end_of_speech is not None:
            # Words the model places after the voice stopped are hallucinations of silence.
            limit = self._buffer_start + end_of_speech + SILENCE_TOLERANCE_SECONDS
            hypothesis = [w for w in hypothesis if w.start < limit]
        events: list[StreamEvent] = []
        if final:
            # Stop: no later audio will come, so the last read stands.
            events += self._confirm(hypothesis, keep_tentative=False)
            self.tentative = []
        elif end_of_speech is not None and self.end_of_speech_confirms:
            events += self._confirm_pause(hypothesis, end_of_speech)
        else:
            agreed = self._agreed(hypothesis)
            disputed = self._past_dispute(hypothesis, agreed)
            if disputed is not None:
                words, agreed = disputed
                events += self._confirm(words, keep_tentative=False)
                hypothesis = hypothesis[agreed:]
                agreed = 0
            agreed = max(agreed, self._settled(hypothesis))
            if (
                hypothesis
                and agreed == len(hypothesis)
                and hypothesis[-1].text.endswith(SENTENCE_END)
                and (silence is None or silence < self.sentence_pause_seconds)
            ):
                # Whisper ends the audio with a full stop: "established." at the buffer's end
                # was confirmed by two passes, and "for the frequent..." followed it. A sentence
                # end at the frontier waits for the next word or for the voice to stop: for
                # ``sentence_pause_seconds``, before the pause (``end_of_speech_seconds``).
                agreed -= 1
            events += self._confirm(hypothesis[:agreed], keep_tentative=False)
            self.tentative = hypothesis[agreed:]
        self._read_end = self.received_seconds
        if not final:
            self._bound_buffer(inside_sentence=self._contested is None)
        events.append(self._partial())
        return events

    def _confirm_pause(self, hypothesis: list[Word], end_of_speech: float) -> list[StreamEvent]:
        """At a pause, confirm what a second read agrees on, then cut the buffer at the pause.

        No later audio can change the words before a pause, but one read of them may still be
        wrong: tiny.en once read "and, and, and so my fellow Americans" at jfk.flac's first
        pause, and confirming that one read made the corpus's WER 18% instead of 5%. So the
        pause confirms the words on which this read agrees with the previous pass's tentative
        words or, beyond them, with a re-read by
        ``final_recognizer`` (the full 30 s window, which loops less on short buffers). What
        they do not agree on stays tentative, the buffer keeps it, and the next pass reads it
        again: a disagreement costs latency, never a wrong word.

        **Contested words need a sure read.** Where the previous pass read another word ("my")
        than this one ("am I"), two reads of the same audio are a weak tie-break: when a hog
        made the first pass of jfk.flac 2.2 s long, the pause's fitted read and the full window
        both said "am I" (0.24 and 0.55) after the pass before had said "my", and the pause
        confirmed it. From a contested word on, this pause confirms only words a read gave at
        least ``settled_probability``; the rest waits until speech resumes (then two passes
        with the words after it as context decide, see ``_pass``), Stop, or the pause has
        lasted ``CONTESTED_PAUSE_SECONDS`` (no context is coming, and every pass of a held
        pause re-reads its growing silence)."""
        agreed = _common_prefix(self.tentative, hypothesis)
        other: list[Word] = self.tentative
        pause = round(self._buffer_start + end_of_speech, 1)
        if agreed < min(len(self.tentative), len(hypothesis)):
            start = hypothesis[agreed].start
            if self._contested is not None:
                start = min(start, self._contested[1])
            self._contested = (self._buffer_start + end_of_speech, start)
        tentative = hypothesis
        if agreed < len(hypothesis) and self.final_recognizer is not None and pause != self._reread:
            # Once per pause: a full window costs three fitted passes, and the pause's next
            # passes can agree with its read.
            self._reread = pause
            self.passes += 1
            limit = self._buffer_start + end_of_speech + SILENCE_TOLERANCE_SECONDS
            reread = self._clean(self.final_recognizer(self._audio, self._prompt()))
            reread = [w for w in reread if w.start < limit]
            if _common_prefix(reread, hypothesis) > agreed:
                agreed, other = _common_prefix(reread, hypothesis), reread
            tentative = reread
        for index in range(agreed):
            unsure = max(hypothesis[index].probability, other[index].probability)
            if unsure < self.unsure_probability and len(hypothesis) - index <= AGREED_RUN_WORDS:
                # Both reads guessed, with little heard after the word: reads of the same
                # audio agree on such a guess as easily as on a word ("asked not" three times,
                # 0.40-0.43, where the speech after the pause made it "ask" at 0.59). It waits
                # as a contested word does. An unsure word with more words read after it was
                # heard in context, as in ``_past_dispute``: holding "ask" in "ask what you
                # can do for your country." kept the pause from cutting the buffer, which
                # then grew past 12 s and was cut inside the sentence, losing five words.
                start = hypothesis[index].start
                if self._contested is not None:
                    start = min(start, self._contested[1])
                self._contested = (self._buffer_start + end_of_speech, start)
                break
        silence = self.buffer_seconds - end_of_speech
        if self._contested is not None and silence < CONTESTED_PAUSE_SECONDS:
            contested = self._contested[1] - TIME_TOLERANCE_SECONDS
            for index in range(agreed):
                word = hypothesis[index]
                sure = max(word.probability, other[index].probability)
                if word.start >= contested and sure < self.settled_probability:
                    agreed = index
                    break
        events = self._confirm(hypothesis[:agreed], keep_tentative=False)
        self.tentative = self._unconfirmed(tentative) if agreed < len(hypothesis) else []
        if not self.tentative:
            # Everything heard before the pause is settled: drop it from the buffer, so the
            # next passes are short and the model does not re-read (and trip over) old speech.
            # But when passes fell far behind, the reads may stop well before the pause
            # (a 40 s backlog beside a CPU hog lost a whole passage): then the rest stays
            # for the next pass, unless these reads found nothing new (then it is noise).
            heard = self.confirmed[-1].end if self.confirmed else self._buffer_start
            cut = self._buffer_start + end_of_speech
            if hypothesis and cut - heard > MISSED_SPEECH_SECONDS:
                cut = heard
            self._trim(max(cut, heard))
        return events

    def _agreed(self, hypothesis: list[Word]) -> int:
        """How many leading words this pass and the previous one agree on (LocalAgreement-2),
        except that a word both passes were unsure of needs a third agreeing pass.

        On jfk.flac's "so my fellow" cut short, two passes in a row read "am I fellow" with
        "am" at probability 0.26 and 0.22; the next, with more audio, read "my" at 0.95."""
        agreed = _common_prefix(self.tentative, hypothesis)
        if self._read_end is not None:
            # A word the previous read squeezed into its audio's last instant was heard cut:
            # "what you[5.66-5.66]" at 5.68 s was the start of "your", the next read's "you
            # are cut" agreed, and "what you your country" was confirmed. It is no vote.
            # (Any word ending at the edge, squeezed or not: the corpus's median latency rose
            # 0.58 -> 0.78 s at 0.5 s per pass, 147 s of espeak-ng's WER 20.0% -> 21.0%.)
            agreed = min(agreed, self._votes(hypothesis))
        for index in range(agreed):
            before, now = self.tentative[index], hypothesis[index]
            if max(before.probability, now.probability) >= self.unsure_probability:
                continue
            mark = (_key(now.text), round(now.start, 1))
            if self._held == mark and len(hypothesis) - index > AGREED_RUN_WORDS:
                # The third pass that agrees on it, having heard more than a few words after
                # it: three reads of jfk.flac ending before the pause after "ask not" agreed
                # on "asked" (0.41-0.47), as at a pause (see ``_confirm_pause``).
                continue
            self._held = mark
            return index
        return agreed

    def _votes(self, hypothesis: Sequence[Word]) -> int:
        """How many leading tentative words count as votes: those before the first the
        previous read heard cut (see ``_heard_cut``), and before the word at its edge only
        where ``hypothesis`` puts the boundary between them where that read did (``_moved``)."""
        if self._read_end is None:
            return len(self.tentative)
        edge = self._read_end - CUT_WORD_SECONDS
        for i, word in enumerate(self.tentative):
            if word.end <= edge:
                continue
            if i and _moved(self.tentative, i, hypothesis, self.unsure_probability):
                return i - 1
            if _heard_cut(self.tentative, i, edge):
                return i
        return len(self.tentative)

    def _past_dispute(self, hypothesis: list[Word], agreed: int) -> tuple[list[Word], int] | None:
        """The words to confirm, and how many of ``hypothesis`` they stand for, when this
        pass and the previous one read the first words after ``agreed`` differently but then
        agree on ``AGREED_RUN_WORDS`` words at the same times; None otherwise.

        LocalAgreement waits for a common prefix, so one word the model cannot decide blocks
        all after it: at 3 s of new audio per pass (a busy computer) tiny.en read "marrow"
        in "the marrow of life" as "matter", "tomorrow" or "room" (probability 0.01-0.23) for
        ten passes, while every pass agreed on the 30 words after it; the buffer grew to 35 s
        and nothing was confirmed for 37 s. Only words both reads were unsure of are disputed
        this way (a sure read may still win the next pass); they take the read that was surer
        of them (the lower of their probabilities). The agreed words after them are heard
        with context on both sides, and the frontier word always stays tentative."""
        previous = self.tentative[: self._votes(hypothesis)]  # a word heard cut agrees on nothing
        old_keys = [_key(w.text) for w in previous]
        new_keys = [_key(w.text) for w in hypothesis]
        for j in range(agreed + 1, agreed + DISPUTED_WORDS + 1):
            run = new_keys[j : j + AGREED_RUN_WORDS]
            if len(run) < AGREED_RUN_WORDS:
                break
            for i in range(agreed + 1, agreed + DISPUTED_WORDS + 1):
                if old_keys[i : i + AGREED_RUN_WORDS] != run:
                    continue
                if abs(previous[i].start - hypothesis[j].start) > DISPUTE_TIME_SECONDS:
                    continue
                end = j + _common_prefix(previous[i:], hypothesis[j:])
                if end >= len(hypothesis):
                    return None
                old, new = previous[agreed:i], hypothesis[agreed:j]
                if max(w.probability for w in old + new) >= self.unsure_probability:
                    return None
                surer = old if _least_sure(old) > _least_sure(new) else new
                return [*hypothesis[:agreed], *surer, *hypothesis[j:end]], end
        return None

    def _settled(self, hypothesis: list[Word]) -> int:
        """How many leading words one pass settles alone: each ends ``settled_seconds`` before
        the buffer's end and has a next word, so the model heard it whole with context after."""
        if self.settled_seconds is None:
            return 0
        horizon = self._buffer_start + self.buffer_seconds - self.settled_seconds
        count = 0
        while count + 1 < len(hypothesis):
            word = hypothesis[count]
            heard = word.end <= horizon and word.probability >= self.settled_probability
            if not (heard or word.probability >= self.confident_probability):
                break
            count += 1
        return count

    def _skip_leading_silence(self, speech: list[tuple[float, float]]) -> list[tuple[float, float]]:
        """Cut silence at the buffer's head to ``LEAD_IN_SECONDS`` before the first speech,
        as :meth:`_drop_silence` does when silence fills whole passes; ``speech`` shifted to
        the new start. Only with nothing tentative: a pause that still holds words keeps them.

        A pause's cut leaves the silence after it, and speech may begin inside the next pass.
        Handed 1.3 s of silence before "It is a truth universally acknowledged", tiny.en
        stretched "it" over it at 0.11 (the mark of a prompt that made it skip speech, see
        ``_skipped``), so each read until the next cut was read again without the prompt."""
        head = speech[0][0] - LEAD_IN_SECONDS
        if head <= 0 or self.tentative:
            return speech
        before = self._buffer_start
        self._trim(before + head)
        shift = self._buffer_start - before
        return [(start - shift, end - shift) for start, end in speech]

    def _drop_silence(self, final: bool) -> list[StreamEvent]:
        events: list[StreamEvent] = []
        if self.tentative:  # heard before; the VAD changed its mind, the words still count
            events += self._confirm(list(self.tentative))
            self.tentative = []
        keep = 0.0 if final else LEAD_IN_SECONDS
        self._trim(self._buffer_start + max(0.0, self.buffer_seconds - keep))
        events.append(self._partial())
        return events

    def _prompt(self) -> str:
        before = [w for w in self.confirmed if w.end <= self._buffer_start + TIME_TOLERANCE_SECONDS]
        return join_words(before)[-self.prompt_chars :]

    def _read(self, speech_end: float | None, final: bool) -> list[Word]:
        """The words of one pass over the buffer that are not confirmed yet.

        When the voice has stopped (``speech_end``, seconds into the buffer: a pause, or Stop)
        and the model stopped reading well before it did (beam search may end a buffer early:
        on LJ050-0131 it ended at "thereunder." two seconds before "in this regard"), what
        follows its last word is read again, with all before it as the prompt, until it is read
        or a read brings nothing new (then the rest is noise, and the pause's trim drops it).
        While speech goes on, the next pass reads further anyway."""
        self.passes += 1
        words = self._clean(self._recognize(self._audio, self._prompt(), final))
        if speech_end is None:
            return words
        for _ in range(MAX_REREADS):
            known = self.confirmed + words
            heard = known[-1].end if known else self._buffer_start
            if heard <= self._buffer_start or (
                self._buffer_start + speech_end - heard <= MISSED_SPEECH_SECONDS
            ):
                break
            self.passes += 1
            rest = self._audio[round((heard - self._buffer_start) * SAMPLE_RATE) :]
            prompt = join_words(known)[-self.prompt_chars :]
            more = self._clean(self._recognize(rest, prompt, final), heard)
            more = [w for w in more if w.end > heard + TIME_TOLERANCE_SECONDS / 2]
            if not more:
                break
            words = cut_loops(words + more)
        return words

    def _recognize(self, audio: np.ndarray, prompt: str, final: bool) -> list[Word]:
        """One read of ``audio``; read again without the prompt when the prompt made the
        model skip speech (see ``_skipped``)."""
        short = audio.size < SHORT_FINAL_SECONDS * SAMPLE_RATE
        if final and short and self.final_recognizer is not None:
            recognizer = self.final_recognizer
        else:
            recognizer = self.recognizer
        words = recognizer(audio, prompt)
        if prompt and _skipped(words):
            logger.debug(
                "a read skipped %.1f s after its prompt: read again without it",
                words[0].end - words[0].start,
            )
            self.passes += 1
            words = recognizer(audio, "")
        return words

    def _clean(self, relative: list[Word], offset: float | None = None) -> list[Word]:
        """One read's words that are new and plausible, at absolute times (``offset``: where
        the audio read began, by default the buffer's start).

        A read stops before a run of squeezed words (the aligner found no audio for them: a
        decoder loop) and before a loop that repeats what is already confirmed; what it
        re-reads of the confirmed words is dropped."""
        start = self._buffer_start if offset is None else offset
        words = [
            Word(round(w.start + start, 3), round(w.end + start, 3), w.text, w.probability)
            for w in _unsqueezed(relative)
        ]
        words = self._unconfirmed(words)
        tail = self.confirmed[-LOOP_CONTEXT_WORDS:]
        return cut_loops(tail + words)[len(tail) :]

    def _unconfirmed(self, words: list[Word]) -> list[Word]:
        """``words`` without those that are already confirmed, by time and by text."""
        if not self.confirmed:
            return words
        last = self.confirmed[-1]
        confirmed_end = last.end
        words = [w for w in words if w.end > confirmed_end + TIME_TOLERANCE_SECONDS / 2]
        while words and _overlap(words[0], last) > (words[0].end - words[0].start) / 2:
            # Mostly inside the last confirmed word: that word read again, maybe spelt
            # otherwise ("four" [3.52-3.86] confirmed, then "forth" [3.54-3.94]). A new
            # word the aligner stretched back lies mostly after it ("ask" from 8.02 s over
            # "you" to 8.26 s, to 8.66 s).
            words = words[1:]
        # Timestamps jitter across passes: also drop a re-read of the confirmed tail by text.
        if words and words[0].start < confirmed_end + 1.0:
            tail = [_key(w.text) for w in self.confirmed[-5:]]
            for size in range(min(5, len(tail), len(words)), 0, -1):
                if tail[-size:] == [_key(w.text) for w in words[:size]]:
                    return words[size:]
        return words

    def _confirm(self, words: list[Word], keep_tentative: bool = True) -> list[StreamEvent]:
        if not words:
            return []
        if self.confirmed and self.confirmed[-1].text.endswith(SENTENCE_END):
            # A pass that began after a confirmed full stop may not know of it ("under. in").
            first = words[0]
            words = [replace(first, text=first.text[:1].upper() + first.text[1:]), *words[1:]]
        if self.confirmed and words[0].start < self.confirmed[-1].end:
            # The aligner may stretch a word back over the one before ("you" 7.24-8.26, then
            # "ask" from 8.02): confirmed words follow one another, as the transcript says.
            first = words[0]
            start = min(self.confirmed[-1].end, first.end)
            words = [replace(first, start=start), *words[1:]]
        self.confirmed.extend(words)
        if keep_tentative:
            self.tentative = [w for w in self.tentative if w.start >= words[-1].end]
        return [
            StreamEvent(
                "final", join_words(words), words[0].start, words[-1].end, self._now(), tuple(words)
            )
        ]

    def _partial(self) -> StreamEvent:
        words = tuple(self.tentative)
        received = self.received_seconds
        start = words[0].start if words else received
        end = words[-1].end if words else received
        return StreamEvent("partial", join_words(words), start, end, self._now(), words)

    def _bound_buffer(self, *, inside_sentence: bool = True) -> None:
        in_buffer = [w for w in self.confirmed if w.end > self._buffer_start]
        if self.buffer_seconds > self.soft_buffer_seconds:
            # A pass costs in proportion to the buffer (the fitted window): cut at a confirmed
            # sentence end; the prompt keeps the text before.
            cuts = [w.end for w in in_buffer if w.text.endswith(SENTENCE_END)]
            if cuts:
                self._trim(cuts[-1])
                return
        if inside_sentence and self.buffer_seconds > 2 * self.soft_buffer_seconds:
            # No sentence end confirmed in twice that (tiny.en writes few full stops on long
            # espeak-ng sentences: the buffer grew to 26 s, 3.5 CPU s a pass, and dictation
            # fell behind). Cut inside the sentence, at a clause end or else in the widest
            # pause between confirmed words, where no word is split. Not sooner: cut at 6 s
            # in "can do for | you, ask what you can do for your country", the next read
            # skipped from the prompt's "for you" to "your country"; cut at clause ends from
            # 8 s (3-18% less CPU on long speech), tiny.en beside a CPU hog wrote "review, of"
            # inside LJ050-0131, the cut there made "thereunder" "there are under".
            cuts = [w.end for w in in_buffer if w.text.endswith(CLAUSE_END)]
            if cuts:
                self._trim(cuts[-1])
                return
            # Between confirmed words only: the audio after the last one may be speech the
            # reads have not reached (passes fall behind), however far the next word read.
            following = in_buffer[1:]
            gaps = [
                (b.start - a.end, a.end, b.start)
                for a, b in zip(in_buffer, following, strict=False)
            ]
            if gaps:
                _, end, start = max(gaps)
                self._trim((end + max(end, start)) / 2)
                return
        if self.buffer_seconds <= self.max_buffer_seconds:
            return
        if in_buffer:
            self._trim(in_buffer[-1].end)
            return
        # Speech with no agreement for a whole buffer: confirm the older half so memory and pass
        # time stay bounded (rare; a second pass normally agrees on most words).
        cut = self._buffer_start + self.buffer_seconds / 2
        older = [w for w in self.tentative if w.end <= cut]
        if older:
            self._confirm(older)
            self._trim(older[-1].end)
        else:
            self._trim(cut)

    def _trim(self, absolute_seconds: float) -> None:
        samples = round((absolute_seconds - self._buffer_start) * SAMPLE_RATE)
        samples = max(0, min(samples, self._audio.size))
        if samples:
            self._audio = self._audio[samples:].copy()
            self._cut_samples += samples


def cut_loops(words: list[Word]) -> list[Word]:
    """The words up to a decoding loop, which is kept once: a run of 3-8 words said twice in a
    row ("Americans, and so my fellow Americans, and so my fellow" on the first 3.5 s of
    jfk.flac), of 2 words said 3 times, or of one word said 4 times ("no, no, no" is speech)."""
    keys = [_key(w.text) for w in words]
    for start in range(len(keys)):
        for size in range(1, 9):
            run = keys[start : start + size]
            if len(run) < size or not all(run):
                break
            repeats = {1: 4, 2: 3}.get(size, 2)
            if all(
                keys[start + size * k : start + size * (k + 1)] == run for k in range(1, repeats)
            ):
                return words[: start + size]
    return words


def _unsqueezed(words: list[Word]) -> list[Word]:
    """The words before the first run of ``SQUEEZED_RUN`` squeezed words (see the constant)."""
    run = 0
    for index, word in enumerate(words):
        run = run + 1 if word.end - word.start < SQUEEZED_WORD_SECONDS else 0
        if run == SQUEEZED_RUN:
            return words[: index + 1 - run]
    return words


def _heard_cut(words: Sequence[Word], index: int, edge: float) -> bool:
    """Whether ``words[index]`` ends after ``edge`` (the last ``CUT_WORD_SECONDS`` of the
    read's audio) and was heard cut: it is shorter than ``CLIPPED_WORD_SECONDS``, or only
    squeezed words follow it."""
    word = words[index]
    if word.end <= edge:
        return False
    if word.end - word.start < CLIPPED_WORD_SECONDS:
        return True
    rest = words[index + 1 :]
    return bool(rest) and all(w.end - w.start < SQUEEZED_WORD_SECONDS for w in rest)


def _moved(words: Sequence[Word], index: int, hypothesis: Sequence[Word], unsure: float) -> bool:
    """Whether this read (``hypothesis``) has ``words[index - 1]`` and ``words[index]`` too,
    starting within ``DISPUTE_TIME_SECONDS`` of them, but ends the first later by more than
    ``BOUNDARY_SECONDS``.

    The previous read's ``words[index]`` lay at the edge of its audio: it split the speech
    there with part of it missing. Read again with what follows, the same split placed over
    other audio is no agreement: reads ending inside "your" (5.97 and 5.93 s) heard "you|are"
    ("you" to 5.80 and 5.82); the next reads, to 6.5 s, "you|are country" with "you" to 5.92,
    and tiny.en read "your" at 0.97-0.98 once the audio went on past "country". Only a
    word this read is unsure of (under ``unsure``: "you" at 0.38 and 0.43) loses its vote;
    where this read is sure of it, a word cut at the edge is the usual case ("civil|war."
    at an edge, then "civil" 0.08 s longer at 0.93). Where the next read has other words
    there ("the free..." then "the frequent"), agreement stops at them anyway."""
    before, word = words[index - 1], words[index]
    for j, other in enumerate(hypothesis[:-1]):
        if _key(other.text) == _key(before.text) and (
            abs(other.start - before.start) <= DISPUTE_TIME_SECONDS
        ):
            return (
                _key(hypothesis[j + 1].text) == _key(word.text)
                and other.end - before.end > BOUNDARY_SECONDS
                and other.probability < unsure
            )
    return False


def _skipped(words: Sequence[Word]) -> bool:
    """Whether a read began by skipping speech: its first word stretches over at least
    ``SKIPPED_SECONDS`` and the model gave it almost no probability.

    The prompt can make tiny.en jump ahead. After a cut inside jfk.flac's second "you, ask
    what you can do for your country", prompted with "... ask not what your country can do
    for", every read went on with "your" (probability 0.00, stretched over 2.2 s) "country.":
    the prompt's own words, five spoken words lost. Read without the prompt, the same audio
    gave "You ask what you can do for your country." (first words 0.13-0.51 there; a first
    word after a cut in a pause, stretched over the silence, read at 0.15-0.49)."""
    if not words:
        return False
    first = words[0]
    return first.probability < SKIPPED_PROBABILITY and first.end - first.start >= SKIPPED_SECONDS


def _overlap(word: Word, other: Word) -> float:
    """Seconds of ``word`` inside ``other``."""
    return max(0.0, min(word.end, other.end) - max(word.start, other.start))


def _least_sure(words: Sequence[Word]) -> float:
    return min(w.probability for w in words)


def _common_prefix(previous: Sequence[Word], current: Sequence[Word]) -> int:
    count = 0
    for old, new in zip(previous, current, strict=False):
        if _key(old.text) != _key(new.text):
            break
        count += 1
    return count


def words_to_transcript(
    words: Sequence[Word], duration: float, model: str = "", source: str = ""
) -> Transcript:
    """Group confirmed words into segments at sentence ends, pauses over 0.8 s, or 15 s."""
    transcript = Transcript(duration=round(duration, 3), model=model, source=source, language="")
    current: list[Word] = []
    for word in words:
        if current and (word.start - current[-1].end > 0.8 or word.end - current[0].start > 15):
            transcript.segments.append(_segment(current))
            current = []
        current.append(word)
        if word.text.endswith(SENTENCE_END):
            transcript.segments.append(_segment(current))
            current = []
    if current:
        transcript.segments.append(_segment(current))
    return transcript


def _segment(words: Sequence[Word]) -> Segment:
    """A segment whose words follow the transcript's convention: each starts with Whisper's
    space (the policy keeps them stripped), so exporters put spaces between them."""
    spaced = tuple(replace(w, text=" " + w.text) for w in words)
    return Segment(words[0].start, words[-1].end, join_words(words), spaced)
