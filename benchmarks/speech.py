"""Synthetic speech of known text, for benchmarks and tests that need minutes of audio.

The public corpus holds only two short clips; espeak-ng turns the public-domain passages below
into 16 kHz mono WAV files (30-45 s each) whose reference text is exact, so a word error rate can
be measured on them. Files are generated once into ``benchmarks/.cache/speech/`` and reused; a
changed passage, voice or speed gets a new file name, so a stale cache is never read.

Run ``python benchmarks/speech.py`` to (re)generate and list the files.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from desktop_app.core.audio import SAMPLE_RATE

CACHE_DIR = Path(__file__).resolve().parent / ".cache" / "speech"


@dataclass(frozen=True)
class Passage:
    name: str
    voice: str
    words_per_minute: int
    text: str


# Openings of public-domain works (US spelling, no digits, so the reference needs no normalizer
# beyond case and punctuation).
PASSAGES: tuple[Passage, ...] = (
    Passage(
        "gettysburg",
        "en-us",
        140,
        "Four score and seven years ago our fathers brought forth on this continent a new "
        "nation, conceived in liberty, and dedicated to the proposition that all men are created "
        "equal. Now we are engaged in a great civil war, testing whether that nation, or any "
        "nation so conceived and so dedicated, can long endure. We are met on a great battle "
        "field of that war. We have come to dedicate a portion of that field, as a final resting "
        "place for those who here gave their lives that that nation might live. It is "
        "altogether fitting and proper that we should do this.",
    ),
    Passage(
        "walden",
        "en",
        140,
        "I went to the woods because I wished to live deliberately, to front only the essential "
        "facts of life, and see if I could not learn what it had to teach, and not, when I came "
        "to die, discover that I had not lived. I did not wish to live what was not life, living "
        "is so dear; nor did I wish to practice resignation, unless it was quite necessary. I "
        "wanted to live deep and suck out all the marrow of life, to live so sturdily and "
        "Spartan like as to put to rout all that was not life.",
    ),
    Passage(
        "pride_and_prejudice",
        "en-us",
        140,
        "It is a truth universally acknowledged, that a single man in possession of a good "
        "fortune must be in want of a wife. However little known the feelings or views of such "
        "a man may be on his first entering a neighborhood, this truth is so well fixed in the "
        "minds of the surrounding families, that he is considered the rightful property of some "
        "one or other of their daughters. My dear Mister Bennet, said his lady to him one day, "
        "have you heard that Netherfield Park is let at last? Mister Bennet replied that he had "
        "not.",
    ),
    Passage(
        "alice",
        "en",
        150,
        "Alice was beginning to get very tired of sitting by her sister on the bank, and of "
        "having nothing to do. Once or twice she had peeped into the book her sister was "
        "reading, but it had no pictures or conversations in it, and what is the use of a book, "
        "thought Alice, without pictures or conversations? So she was considering in her own "
        "mind, as well as she could, for the hot day made her feel very sleepy and stupid, "
        "whether the pleasure of making a daisy chain would be worth the trouble of getting up "
        "and picking the daisies, when suddenly a white rabbit with pink eyes ran close by her.",
    ),
    Passage(
        "two_cities",
        "en-us",
        160,
        "It was the best of times, it was the worst of times, it was the age of wisdom, it was "
        "the age of foolishness, it was the epoch of belief, it was the epoch of incredulity, it "
        "was the season of light, it was the season of darkness, it was the spring of hope, it "
        "was the winter of despair, we had everything before us, we had nothing before us, we "
        "were all going direct to heaven, we were all going direct the other way. In short, the "
        "period was so far like the present period, that some of its noisiest authorities "
        "insisted on its being received, for good or for evil, in the superlative degree of "
        "comparison only.",
    ),
    Passage(
        "moby_dick",
        "en",
        140,
        "Call me Ishmael. Some years ago, never mind how long precisely, having little or no "
        "money in my purse, and nothing particular to interest me on shore, I thought I would "
        "sail about a little and see the watery part of the world. It is a way I have of "
        "driving off the spleen and regulating the circulation. Whenever I find myself growing "
        "grim about the mouth, whenever it is a damp, drizzly November in my soul, then I "
        "account it high time to get to sea as soon as I can.",
    ),
)


def espeak_binary() -> str | None:
    return shutil.which("espeak-ng")


def _file_name(passage: Passage) -> str:
    key = f"{passage.voice}|{passage.words_per_minute}|{passage.text}".encode()
    return f"{passage.name}-{hashlib.sha1(key).hexdigest()[:8]}.wav"


def _synthesize(binary: str, passage: Passage, target: Path) -> None:
    """espeak-ng writes 22.05 kHz; store 16 kHz mono int16 so every reader decodes it the same."""
    from faster_whisper.audio import decode_audio

    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as scratch:
        raw = Path(scratch) / "espeak.wav"
        subprocess.run(
            [
                binary,
                "-v",
                passage.voice,
                "-s",
                str(passage.words_per_minute),
                "-w",
                str(raw),
                passage.text,
            ],
            check=True,
            capture_output=True,
        )
        audio = decode_audio(str(raw), sampling_rate=SAMPLE_RATE)
        pcm = (np.clip(audio, -1.0, 1.0) * 32767).astype("<i2")
        partial = Path(scratch) / "out.wav"
        with wave.open(str(partial), "wb") as out:
            out.setnchannels(1)
            out.setsampwidth(2)
            out.setframerate(SAMPLE_RATE)
            out.writeframes(pcm.tobytes())
        os.replace(partial, target)  # atomic: a concurrent reader never sees half a file


def speech_files(
    cache_dir: Path = CACHE_DIR, passages: tuple[Passage, ...] = PASSAGES
) -> list[tuple[Path, str]]:
    """(WAV path, reference text) for each passage, generating only the files not yet cached.

    :raises SystemExit: espeak-ng is not installed and a file has to be generated.
    """
    pairs = [(cache_dir / _file_name(p), p.text) for p in passages]
    missing = [(path, p) for (path, _), p in zip(pairs, passages, strict=True) if not path.exists()]
    if missing:
        binary = espeak_binary()
        if binary is None:
            raise SystemExit(
                "espeak-ng is not installed, so the synthetic speech for the benchmarks cannot be "
                "generated. Install it (Debian/Ubuntu: sudo apt-get install -y espeak-ng; "
                "macOS: brew install espeak-ng) and run again."
            )
        for path, passage in missing:
            _synthesize(binary, passage, path)
    return pairs


def wav_seconds(path: Path) -> float:
    with wave.open(str(path), "rb") as wav:
        return wav.getnframes() / wav.getframerate()


def main() -> int:
    pairs = speech_files()
    total = 0.0
    for path, text in pairs:
        seconds = wav_seconds(path)
        total += seconds
        print(f"{seconds:5.1f} s  {path}  ({len(text.split())} words)")
    print(f"{len(pairs)} files, {total:.1f} s of speech in {CACHE_DIR}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
