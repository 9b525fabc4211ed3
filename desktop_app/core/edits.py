"""Proofreading edits of a finished transcript: pure functions over a tuple of segments.

Why pure and immutable: each edit returns a new tuple and leaves its input untouched, so undo is
"show the previous tuple again" (the editor's undo stack keeps both), the job store writes whole
results, and a view can never see an edit half made.

Every edit keeps three invariants that cue exporters rely on (checked by property tests):
segments are in time order, never overlap, and each word lies inside its segment.

Words the user did not change keep their own timestamps: a new text is compared word by word
with the old one (:mod:`difflib`), and only the words that changed are re-timed, spread over the
gap between their unchanged neighbours in proportion to their length. A word the user typed is
taken as sure (probability 1.0), so fixing an unsure word takes it off the list of unsure ones.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence
from dataclasses import dataclass

from desktop_app.core.errors import VerbatimError
from desktop_app.core.transcript import Segment, Word

Segments = tuple[Segment, ...]

#: Probability given to a word the user typed: it is what they say was spoken.
TYPED_WORD_PROBABILITY = 1.0
#: The least time (seconds) a nudge or a split leaves a segment: a cue must stay visible.
MIN_SEGMENT_SECONDS = 0.01


class EditError(VerbatimError):
    """An edit that cannot be made (a split at the very edge, a segment squeezed to nothing)."""


@dataclass(frozen=True, order=True)
class WordPlace:
    """Where one word is: its segment's index and its index in that segment's words (ordered
    as in the transcript)."""

    segment: int
    word: int


def _tokens(text: str) -> list[str]:
    return text.split()


def _spoken(text: str, like: str) -> str:
    """``text`` stripped, led by a space if ``like`` (Whisper's text) is."""
    stripped = text.strip()
    return f" {stripped}" if like[:1].isspace() and stripped else stripped


def _spread(tokens: Sequence[str], start: float, end: float) -> list[Word]:
    """Words for ``tokens`` spread over ``start``..``end`` in proportion to their length."""
    if not tokens:
        return []
    end = max(start, end)
    total = sum(len(token) for token in tokens)
    words = []
    position = start
    for index, token in enumerate(tokens):
        share = (end - start) * len(token) / total
        word_end = end if index == len(tokens) - 1 else min(end, position + share)
        words.append(Word(position, word_end, f" {token}", TYPED_WORD_PROBABILITY))
        position = word_end
    return words


def retimed_words(segment: Segment, text: str) -> tuple[Word, ...]:
    """The words of ``segment`` once its text is ``text``: unchanged words keep their times.

    A segment without word timestamps stays without them (nothing to keep in step).
    """
    if not segment.words:
        return ()
    old = [word.text.strip() for word in segment.words]
    new = _tokens(text)
    words: list[Word] = []
    matcher = difflib.SequenceMatcher(a=old, b=new, autojunk=False)
    opcodes = matcher.get_opcodes()
    for position, (tag, old_from, old_to, new_from, new_to) in enumerate(opcodes):
        if tag == "equal":
            words.extend(segment.words[old_from:old_to])
            continue
        if new_from == new_to:  # deleted words leave their time to the neighbours
            continue
        gap_start = words[-1].end if words else segment.start
        following = next(
            (segment.words[o[1]] for o in opcodes[position + 1 :] if o[0] == "equal"), None
        )
        gap_end = following.start if following is not None else segment.end
        words.extend(_spread(new[new_from:new_to], gap_start, gap_end))
    return tuple(words)


def _inside(word: Word, start: float, end: float) -> Word:
    """``word`` clamped into ``start``..``end``."""
    word_start = min(max(word.start, start), end)
    word_end = min(max(word.end, word_start), end)
    if (word_start, word_end) == (word.start, word.end):
        return word
    return Word(word_start, word_end, word.text, word.probability)


def _with_bounds(segment: Segment, start: float, end: float) -> Segment:
    words = tuple(_inside(word, start, end) for word in segment.words)
    return Segment(start, end, segment.text, words)


def set_text(segments: Segments, index: int, text: str) -> Segments:
    """Segment ``index`` says ``text``; an empty text removes the segment."""
    segment = segments[index]
    if not text.strip():
        return segments[:index] + segments[index + 1 :]
    new_text = _spoken(text, segment.text)
    if new_text == segment.text:
        return segments
    changed = Segment(segment.start, segment.end, new_text, retimed_words(segment, new_text))
    return (*segments[:index], changed, *segments[index + 1 :])


def _split_time(segment: Segment, position: int) -> float:
    """The moment at which character ``position`` of the segment's text is spoken."""
    text = segment.text
    if segment.words:
        before = len(_tokens(text[:position]))
        inside_word = (
            position < len(text)
            and not text[position].isspace()
            and (position > 0 and not text[position - 1].isspace())
        )
        if inside_word and 0 < before <= len(segment.words):
            word = segment.words[before - 1]
            token_start = text.rfind(" ", 0, position) + 1
            token = _tokens(text[token_start:])[0]
            fraction = (position - token_start) / max(1, len(token))
            return word.start + (word.end - word.start) * fraction
        if 0 < before <= len(segment.words):
            return segment.words[before - 1].end
    return segment.start + (segment.end - segment.start) * position / max(1, len(text))


def split(segments: Segments, index: int, position: int) -> Segments:
    """Split segment ``index`` before character ``position`` of its text.

    :raises EditError: either part would have no text or no time.
    """
    segment = segments[index]
    left_text, right_text = segment.text[:position], segment.text[position:]
    if not left_text.strip() or not right_text.strip():
        raise EditError("Put the cursor between two words to split a segment there.")
    if segment.end - segment.start < 2 * MIN_SEGMENT_SECONDS:
        raise EditError("This segment is too short to split.")
    moment = _split_time(segment, position)
    moment = min(
        max(moment, segment.start + MIN_SEGMENT_SECONDS), segment.end - MIN_SEGMENT_SECONDS
    )
    before = len(_tokens(left_text))
    inside_word = not left_text[-1:].isspace() and not right_text[:1].isspace()
    right_first = before - 1 if inside_word else before  # a cut word belongs to both halves
    left = _part(segment, segment.start, moment, segment.words[:before], left_text)
    right = _part(segment, moment, segment.end, segment.words[right_first:], right_text)
    return (*segments[:index], left, right, *segments[index + 1 :])


def _part(segment: Segment, start: float, end: float, words: Sequence[Word], text: str) -> Segment:
    """A piece of ``segment`` from ``start`` to ``end`` saying ``text``, from its ``words``."""
    text = _spoken(text, segment.text)
    clamped = tuple(_inside(word, start, end) for word in words)
    return Segment(start, end, text, retimed_words(Segment(start, end, "", clamped), text))


def merge_with_next(segments: Segments, index: int) -> Segments:
    """Segment ``index`` and the one after it become one.

    :raises EditError: it is the last segment.
    """
    if index + 1 >= len(segments):
        raise EditError("The last segment has no next segment to merge with.")
    first, second = segments[index], segments[index + 1]
    text = f"{first.text.rstrip()} {second.text.strip()}"
    merged = Segment(first.start, second.end, text, first.words + second.words)
    return (*segments[:index], merged, *segments[index + 2 :])


def set_times(
    segments: Segments, index: int, start: float, end: float, *, duration: float = 0.0
) -> Segments:
    """Segment ``index`` runs from ``start`` to ``end``, kept within its neighbours (and within
    ``duration``, the audio's length, when known); words outside the new span are drawn in.

    :raises EditError: the span left is shorter than :data:`MIN_SEGMENT_SECONDS`.
    """
    low = segments[index - 1].end if index > 0 else 0.0
    high = segments[index + 1].start if index + 1 < len(segments) else float("inf")
    if duration > 0:
        high = min(high, max(duration, segments[index].end))
    start, end = max(low, start), min(high, end)
    if end - start < MIN_SEGMENT_SECONDS:
        raise EditError("A segment must end after it starts and stay between its neighbours.")
    changed = _with_bounds(segments[index], start, end)
    return (*segments[:index], changed, *segments[index + 1 :])


def replace_all(
    segments: Segments, find: str, replacement: str, *, match_case: bool = False
) -> tuple[Segments, int]:
    """Replace every ``find`` in the transcript's text; returns the result and the count."""
    if not find:
        return segments, 0
    pattern = re.compile(re.escape(find), 0 if match_case else re.IGNORECASE)
    result = segments
    count = 0
    index = 0
    while index < len(result):
        new_text, found = pattern.subn(lambda _match: replacement, result[index].text)
        if found:
            count += found
            before = len(result)
            result = set_text(result, index, new_text)
            if len(result) < before:  # the replacement emptied it: it is gone
                continue
        index += 1
    return result, count


def revert_segment(segments: Segments, machine: Segments, index: int) -> Segments:
    """Segment ``index`` says again what the machine heard in its time span, keeping its span.

    Why by time and not by index: after splits and merges no index matches the machine's any
    more, but each machine word still has its moment. The machine words whose middle falls inside
    the segment come back; a machine segment wholly inside comes back with its own text, exactly.
    A segment with nothing of the machine's inside it is left as it is.
    """
    segment = segments[index]

    def inside(start: float, end: float) -> bool:
        return segment.start <= (start + end) / 2 <= segment.end

    pieces: list[str] = []
    words: list[Word] = []
    for original in machine:
        kept = [w for w in original.words if inside(w.start, w.end)]
        if (original.words and len(kept) == len(original.words)) or (
            not original.words and inside(original.start, original.end)
        ):
            pieces.append(original.text.strip())
        elif kept:
            pieces.append("".join(w.text for w in kept).strip())
        words.extend(kept)
    if not pieces:
        return segments
    text = _spoken(" ".join(pieces), segment.text)
    restored = Segment(
        segment.start,
        segment.end,
        text,
        tuple(_inside(w, segment.start, segment.end) for w in words),
    )
    return (*segments[:index], restored, *segments[index + 1 :])


def next_unsure(segments: Segments, threshold: float, after: WordPlace | None) -> WordPlace | None:
    """The first unsure word after ``after`` (from the start when None), wrapping round to the
    first; None when there is none. It scans from ``after`` on, so in a long transcript the next
    one is found without listing them all."""
    start = WordPlace(0, -1) if after is None else after
    for segment_index in range(start.segment, len(segments)):
        first = start.word + 1 if segment_index == start.segment else 0
        for word_index, word in enumerate(segments[segment_index].words[first:], first):
            if word.probability < threshold:
                return WordPlace(segment_index, word_index)
    if after is None:
        return None
    return next_unsure(segments, threshold, None)


def changed_rows(old: Sequence[Segment], new: Sequence[Segment]) -> tuple[int, int, int]:
    """``(first, old_stop, new_stop)``: ``old[first:old_stop]`` became ``new[first:new_stop]``
    and the rest is the same. Why: an edit changes a row or two of thousands, and the view, the
    store and the word timeline then touch only those.

    An edit keeps every row it does not change as the same object, so whole runs of rows are
    compared at once (a slice's ``==`` runs in C and passes the same object without comparing
    it): a 2-hour transcript's 2,000 rows cost some 16 comparisons of slices, where a Python
    loop over the rows cost a large part of a keystroke's budget. Only a row that is another
    object is compared by value (one read back from the store may be equal), so an edit of one
    row compares that row.
    """
    shortest = min(len(old), len(new))
    first = _same_run(old, new, shortest, backwards=False)
    tail = _same_run(old, new, shortest - first, backwards=True)
    return first, len(old) - tail, len(new) - tail


#: Rows compared at once by :func:`changed_rows`.
_RUN = 128


def _same_run(
    old: Sequence[Segment], new: Sequence[Segment], limit: int, *, backwards: bool
) -> int:
    """How many rows (at most ``limit``) from the start, or from the end, are alike in both."""
    run = 0
    while run < limit:
        size = min(_RUN, limit - run)
        if backwards:
            olds = tuple(old[len(old) - run - size : len(old) - run])[::-1]
            news = tuple(new[len(new) - run - size : len(new) - run])[::-1]
        else:  # tuples both: a list's slice never equals a tuple's
            olds, news = tuple(old[run : run + size]), tuple(new[run : run + size])
        if olds != news:
            pairs = enumerate(zip(olds, news, strict=True))
            return run + next(i for i, (a, b) in pairs if a is not b and a != b)
        run += size
    return limit


def problems(segments: Segments) -> list[str]:
    """What breaks the invariants the exporters rely on (empty when none): for tests and for
    checking a transcript read back from the store."""
    found = []
    previous_end = 0.0
    for index, segment in enumerate(segments):
        if segment.end < segment.start:
            found.append(f"segment {index} ends before it starts")
        if segment.start < previous_end - 1e-9:
            found.append(f"segment {index} overlaps the one before it")
        previous_end = segment.end
        for word in segment.words:
            if not (segment.start - 1e-9 <= word.start <= word.end <= segment.end + 1e-9):
                found.append(f"segment {index} has the word {word.text!r} outside it")
    return found
