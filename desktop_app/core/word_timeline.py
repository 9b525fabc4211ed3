"""Which word is spoken at a moment of the audio: what follows playback in the editor.

Why two bisections (segments by start, then the words of one segment) rather than one index of
every word: the playback position arrives many times a second, and a 2-hour transcript has some
20,000 words, while an edit changes the transcript at every keystroke; an index of the segments'
starts is rebuilt in a fraction of a millisecond, one of every word took 40 ms; and an edit
replaces only the starts of the rows it changed (:meth:`WordTimeline.replace`).
"""

from __future__ import annotations

import bisect

from desktop_app.core.edits import Segments, WordPlace


class WordTimeline:
    """The words of one version of a transcript, by start time (segments are in time order)."""

    def __init__(self, segments: Segments) -> None:
        self._segments = segments
        self._starts = [segment.start for segment in segments]

    def replace(self, segments: Segments, first: int, old_stop: int, new_stop: int) -> None:
        """Follow an edit: rows ``first:old_stop`` became ``segments[first:new_stop]`` (see
        :func:`~desktop_app.core.edits.changed_rows`), the others are as they were."""
        self._segments = segments
        self._starts[first:old_stop] = [segment.start for segment in segments[first:new_stop]]

    def word_at(self, seconds: float) -> WordPlace | None:
        """The word spoken at ``seconds``; in a pause, the last word before it (the view
        stays where the listener is); None before the first word."""
        index = bisect.bisect_right(self._starts, seconds) - 1
        while index >= 0:
            words = self._segments[index].words
            word = bisect.bisect_right(words, seconds, key=lambda w: w.start) - 1
            if word >= 0:
                return WordPlace(index, word)
            index -= 1  # before this segment's first word: the last word of an earlier one
        return None

    def start_of(self, place: WordPlace) -> float | None:
        """When the word at ``place`` starts; None if this transcript has no such word."""
        if 0 <= place.segment < len(self._segments):
            words = self._segments[place.segment].words
            if 0 <= place.word < len(words):
                return words[place.word].start
        return None
