"""Which word is spoken at a moment of the audio: what follows playback in the editor.

Why a class built once per transcript: the playback position arrives many times a second, and a
2-hour transcript has some 20,000 words; a bisection over their start times answers each
position in microseconds, without walking the segments.
"""

from __future__ import annotations

import bisect

from desktop_app.core.edits import Segments, WordPlace


class WordTimeline:
    """The words of one version of a transcript, by start time."""

    def __init__(self, segments: Segments) -> None:
        # Plain lists of floats and int pairs: 20,000 words are indexed in milliseconds.
        self._starts = [word.start for segment in segments for word in segment.words]
        self._places = [
            (segment_index, word_index)
            for segment_index, segment in enumerate(segments)
            for word_index in range(len(segment.words))
        ]

    def word_at(self, seconds: float) -> WordPlace | None:
        """The word spoken at ``seconds``; in a pause, the last word before it (the view
        stays where the listener is); None before the first word."""
        index = bisect.bisect_right(self._starts, seconds) - 1
        if index < 0:
            return None
        return WordPlace(*self._places[index])

    def start_of(self, place: WordPlace) -> float | None:
        """When the word at ``place`` starts; None if this transcript has no such word."""
        key = (place.segment, place.word)
        index = bisect.bisect_left(self._places, key)
        if index < len(self._places) and self._places[index] == key:
            return self._starts[index]
        return None
