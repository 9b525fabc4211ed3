"""Counted nouns for messages: "1 segment", "2 segments", never "1 segments" or "job(s)"."""

from __future__ import annotations


def plural(count: int, noun: str, plural_noun: str | None = None) -> str:
    """``count`` and the noun in the form that count takes (``plural_noun`` for irregular ones)."""
    if count == 1:
        return f"1 {noun}"
    return f"{count} {plural_noun if plural_noun is not None else noun + 's'}"
