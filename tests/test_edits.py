"""The proofreading edit model (core/edits.py): each edit, and its invariants under any sequence
of edits (hypothesis): segments in order, never overlapping, every word inside its segment."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from desktop_app.core import edits
from desktop_app.core.edits import EditError, WordPlace
from desktop_app.core.errors import ConfigError
from desktop_app.core.settings import load_settings
from desktop_app.core.transcript import Segment, Word
from desktop_app.core.word_timeline import WordTimeline


def _segment(start: float, spoken: list[tuple[str, float, float, float]]) -> Segment:
    """A machine-like segment: words with a leading space, text their concatenation."""
    words = tuple(Word(s, e, f" {text}", p) for text, s, e, p in spoken)
    return Segment(start, spoken[-1][2], "".join(w.text for w in words), words)


MACHINE: tuple[Segment, ...] = (
    _segment(
        0.0,
        [
            ("And", 0.0, 0.4, 0.9),
            ("so", 0.4, 0.7, 0.95),
            ("my", 0.7, 1.0, 0.3),
            ("fellow", 1.0, 1.5, 0.8),
            ("Americans,", 1.5, 2.2, 0.99),
        ],
    ),
    _segment(
        3.0,
        [("ask", 3.0, 3.3, 0.99), ("not", 3.3, 3.6, 0.2), ("what", 3.6, 4.0, 0.6)],
    ),
    _segment(5.0, [("your", 5.0, 5.4, 0.45), ("country", 5.4, 6.0, 0.99)]),
)


def test_unchanged_words_keep_their_times_and_changed_ones_fit_between() -> None:
    result = edits.set_text(MACHINE, 0, "And so my dear fellow citizens,")
    words = result[0].words
    assert [w.text for w in words] == [" And", " so", " my", " dear", " fellow", " citizens,"]
    assert words[:3] == MACHINE[0].words[:3]
    assert words[4] == MACHINE[0].words[3]  # "fellow" kept its own time
    assert (words[3].start, words[3].end) == (1.0, 1.0)  # squeezed between my and fellow
    assert (words[5].start, words[5].end) == (1.5, 2.2)  # the replaced word's gap
    assert words[5].probability == edits.TYPED_WORD_PROBABILITY
    assert result[0].text == " And so my dear fellow citizens,"
    assert result[1:] == MACHINE[1:]
    assert MACHINE[0].words[4].text == " Americans,"  # the input is untouched


def test_new_words_share_their_gap_in_proportion_to_their_length() -> None:
    result = edits.set_text(MACHINE, 2, "yours truthfully")
    first, second = result[2].words
    assert first.start == 5.0 and second.end == 6.0
    assert first.end == pytest.approx(5.0 + 1.0 * 5 / 15)


def test_emptying_a_segment_removes_it() -> None:
    assert edits.set_text(MACHINE, 1, "   ") == (MACHINE[0], MACHINE[2])


def test_split_between_words_cuts_at_the_word_boundary() -> None:
    position = MACHINE[0].text.index(" fellow")
    result = edits.split(MACHINE, 0, position)
    assert len(result) == 4
    left, right = result[0], result[1]
    assert (left.text, right.text) == (" And so my", " fellow Americans,")
    assert left.end == right.start == 1.0
    assert left.words == MACHINE[0].words[:3]
    assert right.words == MACHINE[0].words[3:]


def test_split_inside_a_word_cuts_inside_its_time() -> None:
    position = MACHINE[1].text.index("ot")  # "n|ot"
    left, right = edits.split(MACHINE, 1, position)[1:3]
    assert (left.text, right.text) == (" ask n", " ot what")
    assert 3.3 < left.end == right.start < 3.6
    assert not edits.problems(edits.split(MACHINE, 1, position))


@pytest.mark.parametrize("position", [0, 1, 100])
def test_split_at_an_edge_is_refused_with_a_sentence(position: int) -> None:
    with pytest.raises(EditError, match="cursor between two words"):
        edits.split(MACHINE, 0, position)


def test_merge_joins_text_and_words() -> None:
    result = edits.merge_with_next(MACHINE, 1)
    assert len(result) == 2
    assert result[1].text == " ask not what your country"
    assert (result[1].start, result[1].end) == (3.0, 6.0)
    assert result[1].words == MACHINE[1].words + MACHINE[2].words
    with pytest.raises(EditError, match="last segment"):
        edits.merge_with_next(MACHINE, 2)


def test_times_stay_between_the_neighbours() -> None:
    result = edits.set_times(MACHINE, 1, 1.0, 9.0)
    assert (result[1].start, result[1].end) == (2.2, 5.0)
    narrowed = edits.set_times(MACHINE, 1, 3.4, 3.5)
    assert [(w.start, w.end) for w in narrowed[1].words] == [
        (3.4, 3.4),
        (3.4, 3.5),
        (3.5, 3.5),
    ]
    with pytest.raises(EditError, match="end after it starts"):
        edits.set_times(MACHINE, 1, 4.0, 3.0)


def test_replace_all_counts_and_keeps_unchanged_words() -> None:
    result, count = edits.replace_all(MACHINE, "WHAT", "what, then,")
    assert count == 1
    assert result[1].text == " ask not what, then,"
    assert result[1].words[:2] == MACHINE[1].words[:2]
    same, none = edits.replace_all(MACHINE, "what", "x", match_case=True)
    assert none == 1 and same[1].text == " ask not x"
    assert edits.replace_all(MACHINE, "absent", "x") == (MACHINE, 0)


def test_revert_segment_brings_back_the_machine_text_after_split_and_edit() -> None:
    edited = edits.set_text(edits.split(MACHINE, 0, MACHINE[0].text.index(" fellow")), 1, "x")
    reverted = edits.revert_segment(edited, MACHINE, 1)
    assert reverted[1].text == " fellow Americans,"  # what the machine heard in its time
    assert reverted[1].words == MACHINE[0].words[3:]
    assert reverted[0] == edited[0]
    edited_only = edits.set_text(MACHINE, 2, "their county")
    assert edits.revert_segment(edited_only, MACHINE, 2) == MACHINE  # exactly, words and all


def test_unsure_words_are_exactly_those_below_the_threshold_in_order() -> None:
    places = [WordPlace(0, 2), WordPlace(1, 1), WordPlace(2, 0)]  # below 0.5, in order
    visited = []
    place = edits.next_unsure(MACHINE, 0.5, None)
    while place is not None and place not in visited:
        visited.append(place)
        place = edits.next_unsure(MACHINE, 0.5, place)
    assert visited == places
    assert edits.next_unsure(MACHINE, 0.0, None) is None
    fixed = edits.set_text(MACHINE, 1, "ask now what")
    assert edits.next_unsure(fixed, 0.5, WordPlace(0, 2)) == WordPlace(2, 0)


def test_the_threshold_is_a_validated_setting() -> None:
    assert load_settings(environ={}).unsure_word_probability == 0.5
    assert load_settings(environ={"UNSURE_WORD_PROBABILITY": "0.3"}).unsure_word_probability == 0.3
    with pytest.raises(ConfigError, match=r"UNSURE_WORD_PROBABILITY=2 is not allowed"):
        load_settings(environ={"UNSURE_WORD_PROBABILITY": "2"})


# ----------------------------------------------------------------- any sequence of edits
_WORDS = st.sampled_from(["and", "so", "my", "fellow", "Americans,", "ask", "not", "x", "what"])


@st.composite
def _edit(draw: st.DrawFn) -> tuple[str, tuple[object, ...]]:
    kind = draw(st.sampled_from(["text", "split", "merge", "times", "replace", "revert"]))
    index = draw(st.integers(0, 10))
    if kind == "text":
        return kind, (index, " ".join(draw(st.lists(_WORDS, max_size=6))))
    if kind == "split":
        return kind, (index, draw(st.integers(0, 40)))
    if kind == "times":
        start = draw(st.floats(-2, 9, allow_nan=False))
        return kind, (index, start, start + draw(st.floats(-1, 5, allow_nan=False)))
    if kind == "replace":
        return kind, (draw(_WORDS), draw(st.lists(_WORDS, max_size=2).map(" ".join)))
    return kind, (index,)


def _apply(segments: edits.Segments, kind: str, args: tuple[object, ...]) -> edits.Segments:
    if kind == "replace":
        find, replacement = args
        assert isinstance(find, str) and isinstance(replacement, str)
        return edits.replace_all(segments, find, replacement)[0]
    index = args[0]
    assert isinstance(index, int)
    if index >= len(segments):
        return segments
    if kind == "text":
        return edits.set_text(segments, index, str(args[1]))
    if kind == "split":
        return edits.split(segments, index, int(args[1]))  # type: ignore[call-overload]
    if kind == "merge":
        return edits.merge_with_next(segments, index)
    if kind == "times":
        return edits.set_times(segments, index, float(args[1]), float(args[2]))  # type: ignore[arg-type]
    return edits.revert_segment(segments, MACHINE, index)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_edit(), max_size=25))
def test_any_sequence_of_edits_keeps_the_invariants(
    steps: list[tuple[str, tuple[object, ...]]],
) -> None:
    segments = MACHINE
    for kind, args in steps:
        before = segments
        try:
            segments = _apply(segments, kind, args)
        except EditError:
            assert segments is before  # a refused edit changes nothing
        assert edits.problems(segments) == [], (kind, args, segments)
        for segment in segments:
            assert segment.text.strip(), "no segment is left without text"
            if segment.words:
                assert [w.text.strip() for w in segment.words] == segment.text.split()


def test_the_word_timeline_finds_the_word_spoken_at_a_moment() -> None:
    timeline = WordTimeline(MACHINE)
    assert timeline.word_at(-1.0) is None
    assert timeline.word_at(0.0) == WordPlace(0, 0)
    assert timeline.word_at(1.2) == WordPlace(0, 3)
    assert timeline.word_at(2.5) == WordPlace(0, 4)  # a pause: the last word heard
    assert timeline.word_at(3.65) == WordPlace(1, 2)
    assert timeline.start_of(WordPlace(2, 1)) == 5.4
    assert timeline.start_of(WordPlace(2, 5)) is None
