"""Exporters: every format reads back with an independent parser and loses no words."""

from __future__ import annotations

import errno
import html
import io
import itertools
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import srt
import webvtt
from hypothesis import given, settings
from hypothesis import strategies as st

from desktop_app.core import exporters
from desktop_app.core.errors import ExportError
from desktop_app.core.exporters import (
    FORMATS,
    Cue,
    build_cues,
    export,
    export_all,
    output_path,
    render,
)
from desktop_app.core.transcript import Segment, Transcript, Word

ROOT = Path(__file__).resolve().parent.parent
MAX_CHARS = 42
LONG_WORD = "Donaudampfschifffahrtsgesellschaftskapitänsmützenabzeichenxy"
TIME_TOLERANCE_S = 0.001


def timed_segment(text: str, start: float, word_seconds: float = 0.4, gap: float = 0.05) -> Segment:
    """Words the way faster-whisper returns them: a leading space, back to back in time."""
    words = []
    clock = start
    for token in text.split():
        words.append(Word(round(clock, 3), round(clock + word_seconds, 3), " " + token, 0.9))
        clock += word_seconds + gap
    return Segment(start, round(clock, 3), text, tuple(words))


def long_untimed_segment(start: float = 0.0) -> Segment:
    text = " ".join(f"word{n}" for n in range(80))
    return Segment(start, start + 30.0, text)


def sample_transcripts() -> dict[str, Transcript]:
    sentences = (
        "Hello and welcome to the show. Today we talk about subtitles, which are harder "
        "than they look, because every line has to be short. Readers need time! "
        "So we break at sentences when we can, and at commas otherwise."
    )
    unicode_text = (
        "Ça va très bien, merci — naïve café déjà vu. 日本語のテキスト. Ελληνικά κείμενα εδώ."
    )
    return {
        "timed": Transcript(
            [timed_segment(sentences, 0.0), timed_segment("A second segment here.", 40.0)],
            language="en",
            language_probability=0.98,
            duration=45.0,
            model="tiny",
            source="talk.wav",
        ),
        "untimed_long": Transcript([long_untimed_segment(1.0)], language="en", duration=31.0),
        "mixed": Transcript(
            [
                Segment(0.0, 2.0, "Short untimed opener."),
                timed_segment("Then a timed part follows right after it.", 2.5),
                long_untimed_segment(10.0),
            ]
        ),
        "unicode": Transcript(
            [timed_segment(unicode_text, 0.0), Segment(10.0, 14.0, "Ünïcödé without words ✓")],
            language="fr",
        ),
        "long_word": Transcript(
            [
                Segment(0.0, 3.0, f"before {LONG_WORD} after"),
                timed_segment(f"timed {LONG_WORD} too.", 4.0),
            ]
        ),
        "slow": Transcript([timed_segment(" ".join("abcdefghijklmnopqrstuvwxyz"), 0.0, 0.9, 0.1)]),
        "overlapping": Transcript(
            [
                timed_segment("This first segment runs long enough to fill two whole lines.", 0.0),
                timed_segment("The second one starts before the first has ended, oddly.", 3.0),
                Segment(2.0, 2.5, "Then an untimed segment that goes back in time."),
            ]
        ),
        "markup": Transcript(
            [timed_segment("Use <b>tags</b> & {braces} --> arrows and C:\\new\\Hat paths.", 0.0)]
        ),
    }


TRANSCRIPTS = sample_transcripts()


def expected_words(transcript: Transcript) -> list[str]:
    words: list[str] = []
    for segment in transcript.segments:
        if segment.words:
            words.extend("".join(w.text for w in segment.words).split())
        else:
            words.extend(segment.text.split())
    return words


def cue_words(cues: list[Cue]) -> list[str]:
    return " ".join(" ".join(cue.lines) for cue in cues).split()


def visible(text: str) -> str:
    """What a viewer sees: the invisible joiner that guards backslashes is not text."""
    return text.replace("\u2060", "")


@pytest.mark.parametrize("name", sorted(TRANSCRIPTS))
def test_cues_keep_every_word_once_in_order(name: str) -> None:
    transcript = TRANSCRIPTS[name]
    assert cue_words(build_cues(transcript)) == expected_words(transcript)


@pytest.mark.parametrize("name", sorted(TRANSCRIPTS))
def test_cues_respect_reading_limits(name: str) -> None:
    cues = build_cues(TRANSCRIPTS[name])
    assert cues
    for cue in cues:
        assert 1 <= len(cue.lines) <= 2, cue
        for line in cue.lines:
            assert line.strip() == line and line, cue
            assert len(line) <= MAX_CHARS or (" " not in line and len(line) > MAX_CHARS), cue
        assert cue.end > cue.start
        if len(" ".join(cue.lines).split()) > 1:
            assert cue.end - cue.start <= 7.0 + TIME_TOLERANCE_S, cue


@pytest.mark.parametrize("name", sorted(TRANSCRIPTS))
def test_cues_are_in_order_and_never_overlap(name: str) -> None:
    cues = build_cues(TRANSCRIPTS[name])
    for before, after in itertools.pairwise(cues):
        assert before.end <= after.start + 1e-9
        assert before.start < after.start


def test_long_word_is_kept_on_its_own_line() -> None:
    cues = build_cues(TRANSCRIPTS["long_word"])
    lines = [line for cue in cues for line in cue.lines]
    assert lines.count(LONG_WORD) == 2
    assert "before" in lines and "after" in lines and "too." in lines
    for cue in cues:
        assert len(cue.lines) <= 2


def test_long_untimed_segment_is_spread_over_its_time() -> None:
    cues = build_cues(TRANSCRIPTS["untimed_long"])
    assert len(cues) >= 5  # 80 words cannot fit in fewer two-line cues
    assert cues[0].start == pytest.approx(1.0)
    assert cues[-1].end == pytest.approx(31.0)
    durations = [cue.end - cue.start for cue in cues]
    assert max(durations) <= 7.0 + TIME_TOLERANCE_S


def test_cues_break_at_sentence_ends() -> None:
    first = "We went down to the river early in the morning to look for the boats."
    second = "None of them were there any more, so we walked back home slowly, talking."
    cues = build_cues(Transcript([timed_segment(f"{first} {second}", 0.0, word_seconds=0.2)]))
    assert [" ".join(c.lines) for c in cues] == [first, second]


def test_lines_break_at_sentence_and_clause_ends() -> None:
    text = "This is the first sentence. And here comes another one of them."
    cues = build_cues(Transcript([timed_segment(text, 0.0)]))
    assert [c.lines for c in cues] == [
        ("This is the first sentence.", "And here comes another one of them.")
    ]
    text = "So we break at sentences when we can, and at commas otherwise."
    cues = build_cues(Transcript([timed_segment(text, 0.0)]))
    assert [c.lines for c in cues] == [
        ("So we break at sentences when we can,", "and at commas otherwise.")
    ]


def test_cues_do_not_span_long_silences() -> None:
    transcript = Transcript(
        [timed_segment("first words here", 0.0), timed_segment("later words there", 4.0)]
    )
    cues = build_cues(transcript)
    assert [" ".join(c.lines) for c in cues] == ["first words here", "later words there"]
    assert cues[1].start == pytest.approx(4.0)


def test_short_cue_stays_up_long_enough_but_not_into_the_next() -> None:
    transcript = Transcript(
        [Segment(0.0, 0.2, "Hi.", (Word(0.0, 0.2, " Hi."),)), timed_segment("Next one.", 0.6)]
    )
    cues = build_cues(transcript, max_chars_per_line=10, max_lines=1)
    assert [c.lines for c in cues] == [("Hi.",), ("Next one.",)]
    assert cues[0].end == pytest.approx(0.6)  # stretched up to the next cue, not past it
    assert cues[1].end - cues[1].start == pytest.approx(1.0)  # stretched to the minimum

    apart = Transcript([Segment(0.0, 0.2, "Hi."), Segment(3.0, 3.2, "Bye.")])
    cues = build_cues(apart)
    assert [(c.start, c.end) for c in cues] == [(0.0, 1.0), (3.0, 4.0)]


def test_short_sentences_share_a_cue() -> None:
    cues = build_cues(Transcript([timed_segment("Yes. Okay. Sure.", 0.0)]))
    assert len(cues) == 1
    assert cues[0].lines == ("Yes. Okay. Sure.",)


def test_two_lines_are_balanced() -> None:
    text = "one two three four five six seven eight nine ten eleven twelve"
    cues = build_cues(Transcript([timed_segment(text, 0.0, word_seconds=0.2)]))
    assert len(cues) == 1
    first, second = cues[0].lines
    assert abs(len(first) - len(second)) <= 8


def test_words_without_spaces_are_not_spaced_apart() -> None:
    words = tuple(Word(i * 0.3, i * 0.3 + 0.3, ch) for i, ch in enumerate("日本語です。"))
    words = (Word(0.0, 0.3, " 日"), *words[1:])
    transcript = Transcript([Segment(0.0, 1.8, "日本語です。", words)])
    cues = build_cues(transcript)
    assert [c.lines for c in cues] == [("日本語です。",)]


def test_bad_word_times_still_give_valid_cues() -> None:
    words = (
        Word(5.0, 5.0, " zero"),
        Word(4.0, 4.5, " backwards."),
        Word(4.5, 4.5, " again"),
        Word(9.0, 8.0, " inverted."),
    )
    cues = build_cues(Transcript([Segment(4.0, 9.0, "zero backwards. again inverted.", words)]))
    assert cue_words(cues) == ["zero", "backwards.", "again", "inverted."]
    for cue in cues:
        assert cue.end > cue.start
    for before, after in itertools.pairwise(cues):
        assert before.end <= after.start


def test_slow_speech_is_cut_by_time_not_by_lines() -> None:
    cues = build_cues(TRANSCRIPTS["slow"])
    assert len(cues) >= 4  # 26 one-letter words over 26 s would fit in one two-line cue
    assert all(cue.end - cue.start <= 7.0 + TIME_TOLERANCE_S for cue in cues)


word_text = st.text(
    alphabet=st.sampled_from("abnNhé日 .,!?<&>{}-\\"), min_size=1, max_size=50
).filter(lambda text: text.strip() != "")


@st.composite
def random_segments(draw: st.DrawFn) -> Transcript:
    segments = []
    clock = 0.0
    for _ in range(draw(st.integers(0, 6))):
        texts = draw(st.lists(word_text, min_size=0, max_size=40))
        timed = draw(st.booleans())
        start = clock + draw(st.floats(-1.0, 3.0))
        words = []
        for text in texts if timed else []:
            begin = start + draw(st.floats(0.0, 2.0))
            words.append(Word(begin, begin + draw(st.floats(-0.1, 1.5)), " " + text))
            start = begin
        end = start + draw(st.floats(0.0, 10.0))
        segments.append(Segment(max(0.0, clock), end, " ".join(texts), tuple(words)))
        clock = end
    return Transcript(segments)


@settings(max_examples=150, deadline=None)
@given(random_segments())
def test_any_transcript_gives_valid_cues_and_loses_no_words(transcript: Transcript) -> None:
    cues = build_cues(transcript)
    assert cue_words(cues) == expected_words(transcript)
    for cue in cues:
        assert cue.lines and all(cue.lines)
        assert cue.end > cue.start >= 0
        assert cue.start * 1000 == pytest.approx(round(cue.start * 1000))
    for before, after in itertools.pairwise(cues):
        assert before.end <= after.start
    parsed = list(srt.parse(render(transcript, "srt")))
    assert " ".join(visible(s.content) for s in parsed).split() == expected_words(transcript)
    captions = webvtt.from_string(render(transcript, "vtt"))
    words = " ".join(visible(html.unescape(c.raw_text)) for c in captions).split()
    assert words == expected_words(transcript)


def test_empty_transcript_renders_empty_files() -> None:
    empty = Transcript()
    assert build_cues(empty) == []
    assert render(empty, "txt") == ""
    assert list(srt.parse(render(empty, "srt"))) == []
    assert list(webvtt.from_string(render(empty, "vtt"))) == []
    assert Transcript.from_dict(json.loads(render(empty, "json"))) == empty


@pytest.mark.parametrize("name", sorted(TRANSCRIPTS))
def test_srt_parses_back_with_independent_parser(name: str) -> None:
    transcript = TRANSCRIPTS[name]
    cues = build_cues(transcript)
    parsed = list(srt.parse(render(transcript, "srt")))
    assert len(parsed) == len(cues)
    for subtitle, cue in zip(parsed, cues, strict=True):
        assert subtitle.start.total_seconds() == pytest.approx(cue.start, abs=TIME_TOLERANCE_S)
        assert subtitle.end.total_seconds() == pytest.approx(cue.end, abs=TIME_TOLERANCE_S)
        assert visible(subtitle.content).split("\n") == list(cue.lines)
    words = " ".join(visible(s.content) for s in parsed).split()
    assert words == expected_words(transcript)


@pytest.mark.parametrize("name", sorted(TRANSCRIPTS))
def test_vtt_parses_back_with_independent_parser(name: str, tmp_path: Path) -> None:
    transcript = TRANSCRIPTS[name]
    cues = build_cues(transcript)
    path = export(transcript, "vtt", tmp_path / "out.vtt")
    from_file = list(webvtt.read(str(path)))
    from_buffer = list(webvtt.from_buffer(io.StringIO(render(transcript, "vtt"))))
    assert len(from_file) == len(from_buffer) == len(cues)
    for caption, again, cue in zip(from_file, from_buffer, cues, strict=True):
        assert caption.raw_text == again.raw_text
        assert caption.start_time.in_milliseconds() / 1000 == pytest.approx(
            cue.start, abs=TIME_TOLERANCE_S
        )
        assert caption.end_time.in_milliseconds() / 1000 == pytest.approx(
            cue.end, abs=TIME_TOLERANCE_S
        )
        assert visible(html.unescape(caption.raw_text)).split("\n") == list(cue.lines)
    words = " ".join(visible(html.unescape(c.raw_text)) for c in from_file).split()
    assert words == expected_words(transcript)


def test_vtt_escapes_markup_and_srt_keeps_braces() -> None:
    transcript = TRANSCRIPTS["markup"]
    vtt_text = render(transcript, "vtt")
    assert vtt_text.startswith("WEBVTT")
    assert "&lt;b&gt;tags&lt;/b&gt;" in vtt_text
    assert "&amp;" in vtt_text
    body = vtt_text.split("\n\n", 1)[1]
    cue_text_lines = [line for line in body.splitlines() if "-->" in line and ":" not in line]
    assert cue_text_lines == []  # a literal arrow in speech would end the cue early
    srt_text = render(transcript, "srt")
    assert "{braces}" in srt_text
    assert "C:\\\u2060new\\Hat" in srt_text


def test_json_round_trips_to_equal_transcript() -> None:
    for transcript in TRANSCRIPTS.values():
        text = render(transcript, "json")
        data = json.loads(text)
        assert Transcript.from_dict(data) == transcript
        assert data["text"] == transcript.text
    assert "日本語" in render(TRANSCRIPTS["unicode"], "json")  # not \u-escaped


def test_txt_has_one_line_per_segment_with_all_text() -> None:
    transcript = TRANSCRIPTS["mixed"]
    text = render(transcript, "txt")
    assert text.splitlines() == [s.text for s in transcript.segments]
    assert text.endswith("\n")
    assert text.split() == expected_words(transcript)


def test_txt_timestamps() -> None:
    transcript = Transcript(
        [Segment(1.0, 4.0, " Hello there. "), Segment(3725.5, 3730.25, "Later.")]
    )
    assert render(transcript, "txt", txt_timestamps=True).splitlines() == [
        "[00:00:01.000 --> 00:00:04.000] Hello there.",
        "[01:02:05.500 --> 01:02:10.250] Later.",
    ]


def test_unknown_format_is_refused(tmp_path: Path) -> None:
    transcript = TRANSCRIPTS["timed"]
    with pytest.raises(ExportError, match="docx"):
        render(transcript, "docx")
    with pytest.raises(ExportError, match="docx"):
        export(transcript, "docx", tmp_path / "a.docx")
    with pytest.raises(ExportError):
        output_path(Path("a.wav"), "docx")
    assert list(tmp_path.iterdir()) == []


def test_format_names_are_forgiving() -> None:
    assert output_path(Path("a.wav"), ".SRT") == Path("a.srt")
    assert FORMATS == ("txt", "srt", "vtt", "json")


@pytest.mark.parametrize("fmt", FORMATS)
def test_export_writes_utf8(fmt: str, tmp_path: Path) -> None:
    transcript = TRANSCRIPTS["unicode"]
    destination = tmp_path / f"out.{fmt}"
    assert export(transcript, fmt, destination) == destination
    assert destination.read_bytes() == render(transcript, fmt).encode("utf-8")
    assert "café" in destination.read_text(encoding="utf-8")
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"out.{fmt}"]


def test_existing_file_is_kept_without_overwrite(tmp_path: Path) -> None:
    destination = tmp_path / "talk.srt"
    destination.write_text("hand-edited", encoding="utf-8")
    with pytest.raises(ExportError, match=r"talk\.srt.*overwrit"):
        export(TRANSCRIPTS["timed"], "srt", destination)
    assert destination.read_text(encoding="utf-8") == "hand-edited"
    assert [p.name for p in tmp_path.iterdir()] == ["talk.srt"]

    export(TRANSCRIPTS["timed"], "srt", destination, overwrite=True)
    assert destination.read_text(encoding="utf-8") == render(TRANSCRIPTS["timed"], "srt")
    assert [p.name for p in tmp_path.iterdir()] == ["talk.srt"]


def test_file_appearing_during_write_is_not_clobbered(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two jobs exporting the same name: the later one must refuse, not replace."""
    destination = tmp_path / "race.txt"
    real_fsync = os.fsync

    def other_job_writes_first(descriptor: int) -> None:
        real_fsync(descriptor)
        if not destination.exists():
            destination.write_text("other job", encoding="utf-8")

    monkeypatch.setattr(exporters.os, "fsync", other_job_writes_first)
    with pytest.raises(ExportError, match="already exists"):
        export(TRANSCRIPTS["timed"], "txt", destination)
    assert destination.read_text(encoding="utf-8") == "other job"
    assert [p.name for p in tmp_path.iterdir()] == ["race.txt"]


def test_missing_folder_gives_export_error(tmp_path: Path) -> None:
    destination = tmp_path / "missing" / "out.txt"
    with pytest.raises(ExportError, match=r"out\.txt"):
        export(TRANSCRIPTS["timed"], "txt", destination)
    assert list(tmp_path.iterdir()) == []


def test_parent_that_is_a_file_gives_export_error(tmp_path: Path) -> None:
    blocker = tmp_path / "not_a_folder"
    blocker.write_text("x", encoding="utf-8")
    with pytest.raises(ExportError, match=r"out\.srt"):
        export(TRANSCRIPTS["timed"], "srt", blocker / "out.srt")
    assert [p.name for p in tmp_path.iterdir()] == ["not_a_folder"]


@pytest.mark.parametrize("overwrite", [True, False])
def test_disk_full_leaves_no_temp_file(
    overwrite: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def disk_full(*args: object, **kwargs: object) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(exporters.os, "replace", disk_full)
    monkeypatch.setattr(exporters.os, "link", disk_full)
    destination = tmp_path / "full.vtt"
    with pytest.raises(ExportError) as caught:
        export(TRANSCRIPTS["timed"], "vtt", destination, overwrite=overwrite)
    message = str(caught.value)
    assert "full.vtt" in message
    assert os.strerror(errno.ENOSPC) in message
    assert list(tmp_path.iterdir()) == []


def test_failed_fsync_leaves_old_file_and_no_temp(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    destination = tmp_path / "keep.json"
    destination.write_text("old", encoding="utf-8")

    def io_error(descriptor: int) -> None:
        raise OSError(errno.EIO, os.strerror(errno.EIO))

    monkeypatch.setattr(exporters.os, "fsync", io_error)
    with pytest.raises(ExportError, match=r"keep\.json"):
        export(TRANSCRIPTS["timed"], "json", destination, overwrite=True)
    assert destination.read_text(encoding="utf-8") == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["keep.json"]


def test_no_hard_links_falls_back_to_checked_rename(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def unsupported(*args: object, **kwargs: object) -> None:
        raise OSError(errno.EPERM, "hard links not supported")

    monkeypatch.setattr(exporters.os, "link", unsupported)
    destination = tmp_path / "fat32.txt"
    export(TRANSCRIPTS["timed"], "txt", destination)
    assert destination.read_text(encoding="utf-8") == render(TRANSCRIPTS["timed"], "txt")
    assert [p.name for p in tmp_path.iterdir()] == ["fat32.txt"]


@pytest.mark.parametrize(
    ("source", "expected_name"),
    [
        ("../../etc/passwd", "passwd.srt"),
        (".hidden", "hidden.srt"),
        ("..", "transcript.srt"),
        ("...mp3", "transcript.srt"),
        ("line\nbreak\r\ttab.wav", "linebreaktab.srt"),
        ("back\\slash.wav", "back_slash.srt"),
        ("CON.wav", "CON_.srt"),
        ("\x00\x1f.wav", "transcript.srt"),
        ("talk.final.wav", "talk.final.srt"),
        ("日本語 talk.m4a", "日本語 talk.srt"),
    ],
)
def test_output_path_stays_in_folder(source: str, expected_name: str, tmp_path: Path) -> None:
    path = output_path(Path(source), "srt", tmp_path)
    assert path.parent == tmp_path
    assert path.name == expected_name
    assert path.resolve().parent == tmp_path.resolve()
    assert not path.name.startswith(".")


def test_output_path_defaults_to_source_folder(tmp_path: Path) -> None:
    source = tmp_path / "audio" / "interview.mp3"
    assert output_path(source, "vtt") == tmp_path / "audio" / "interview.vtt"


def test_output_path_limits_name_length(tmp_path: Path) -> None:
    path = output_path(Path("é" * 300 + ".wav"), "json", tmp_path)
    assert len(path.name.encode("utf-8")) <= 255
    path.write_text("ok", encoding="utf-8")  # the file system accepts it


def test_export_all_writes_each_format(tmp_path: Path) -> None:
    source = tmp_path / "talk.wav"
    out = tmp_path / "out"
    out.mkdir()
    paths = export_all(TRANSCRIPTS["timed"], ["txt", "srt", "vtt", "json", "srt"], source, out)
    assert [p.name for p in paths] == ["talk.txt", "talk.srt", "talk.vtt", "talk.json"]
    for path, fmt in zip(paths, FORMATS, strict=True):
        assert path.read_text(encoding="utf-8") == render(TRANSCRIPTS["timed"], fmt)


def test_export_all_refuses_before_writing_anything(tmp_path: Path) -> None:
    source = tmp_path / "talk.wav"
    (tmp_path / "talk.vtt").write_text("mine", encoding="utf-8")
    with pytest.raises(ExportError, match=r"talk\.vtt"):
        export_all(TRANSCRIPTS["timed"], ["txt", "vtt"], source)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["talk.vtt"]
    paths = export_all(TRANSCRIPTS["timed"], ["txt", "vtt"], source, overwrite=True)
    assert [p.name for p in paths] == ["talk.txt", "talk.vtt"]
    assert (tmp_path / "talk.vtt").read_text(encoding="utf-8") != "mine"


def test_exporters_do_not_import_qt() -> None:
    code = (
        "import sys, desktop_app.core.exporters; "
        "print([m for m in sys.modules if m.startswith('PySide6')])"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert result.stdout.strip() == "[]"


def test_plan_gives_same_stems_from_different_folders_their_relative_folders(
    tmp_path: Path,
) -> None:
    monday, tuesday = (
        tmp_path / "rec" / "monday" / "intro.wav",
        tmp_path / "rec" / "tuesday" / "intro.wav",
    )
    out = tmp_path / "out"
    plan = exporters.plan_outputs([monday, tuesday, tmp_path / "solo.wav"], ["txt", "srt"], out)
    assert plan[monday] == {
        "txt": out / "monday" / "intro.txt",
        "srt": out / "monday" / "intro.srt",
    }
    assert plan[tuesday]["txt"] == out / "tuesday" / "intro.txt"
    assert plan[tmp_path / "solo.wav"]["txt"] == out / "solo.txt", "no collision: the plain name"


def test_plan_keeps_the_folders_below_a_searched_folder(tmp_path: Path) -> None:
    source = tmp_path / "rec" / "2024" / "talk.wav"
    plan = exporters.plan_outputs(
        [source], ["txt"], tmp_path / "out", subfolders={source: Path("2024")}
    )
    assert plan[source]["txt"] == tmp_path / "out" / "2024" / "talk.txt"


def test_plan_tells_same_stems_in_one_folder_apart_by_extension(tmp_path: Path) -> None:
    wav, mp3 = tmp_path / "intro.wav", tmp_path / "intro.mp3"
    for output_dir in (None, tmp_path / "out"):
        plan = exporters.plan_outputs([wav, mp3], ["txt"], output_dir)
        names = {plan[wav]["txt"].name, plan[mp3]["txt"].name}
        assert names == {"intro.wav.txt", "intro.mp3.txt"}


def test_plan_never_names_an_input_as_an_output(tmp_path: Path) -> None:
    """A WAV named talk.srt, exported as SRT beside itself, must not be replaced by it."""
    talk = tmp_path / "talk.srt"
    plan = exporters.plan_outputs([talk], ["srt", "txt"], None)
    assert plan[talk] == {"srt": tmp_path / "talk.srt.srt", "txt": tmp_path / "talk.srt.txt"}
    assert exporters.output_path(talk, "srt") == talk, "what the unplanned name would have been"


def test_plan_names_are_always_distinct(tmp_path: Path) -> None:
    sources = [
        tmp_path / "a" / "x.wav",
        tmp_path / "b" / "x.wav",
        tmp_path / "a" / "x.mp3",
        tmp_path / "x.wav",
        tmp_path / "x.wav.wav",
    ]
    for output_dir in (None, tmp_path / "out"):
        plan = exporters.plan_outputs(sources, ["txt", "json"], output_dir)
        planned = [path for outputs in plan.values() for path in outputs.values()]
        assert len(set(planned)) == len(planned) == 10
        assert not set(planned) & set(sources)


def test_existing_outputs_counts_files_and_dangling_links(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("mine", encoding="utf-8")
    (tmp_path / "link.txt").symlink_to(tmp_path / "nowhere")
    wanted = [tmp_path / "a.txt", tmp_path / "b.txt", tmp_path / "link.txt"]
    assert exporters.existing_outputs(wanted) == [tmp_path / "a.txt", tmp_path / "link.txt"]


def test_plan_takes_a_source_named_twice_once(tmp_path: Path) -> None:
    talk = tmp_path / "talk.wav"
    assert exporters.plan_outputs([talk, talk], ["txt"]) == {talk: {"txt": tmp_path / "talk.txt"}}


def test_plan_numbers_names_that_only_differ_past_the_length_limit(tmp_path: Path) -> None:
    long = "é" * 150
    sources = [tmp_path / f"{long}a.wav", tmp_path / f"{long}b.wav"]
    plan = exporters.plan_outputs(sources, ["txt"], tmp_path / "out")
    names = [plan[source]["txt"].name for source in sources]
    assert len(set(names)) == 2 and all(len(name.encode()) <= 255 for name in names)


def test_folder_problem_is_found_without_creating_anything(tmp_path: Path) -> None:
    assert exporters.folder_problem(tmp_path / "new" / "deeper") is None
    assert not (tmp_path / "new").exists()
    (tmp_path / "afile").write_text("x", encoding="utf-8")
    assert exporters.folder_problem(tmp_path / "afile" / "sub") == (
        f"{tmp_path / 'afile'} is a file, not a folder"
    )
    assert exporters.folder_problem(tmp_path / ("n" * 300)) == "File name too long"


def test_plan_treats_names_differing_only_in_case_as_one(tmp_path: Path) -> None:
    """Intro.txt and intro.txt are one file on macOS and Windows: never plan both."""
    upper, lower = tmp_path / "a" / "Intro.wav", tmp_path / "b" / "intro.wav"
    plan = exporters.plan_outputs([upper, lower], ["txt"], tmp_path / "out")
    assert plan[upper]["txt"] == tmp_path / "out" / "a" / "Intro.txt"
    assert plan[lower]["txt"] == tmp_path / "out" / "b" / "intro.txt"
    talk = tmp_path / "Talk.SRT"
    assert exporters.plan_outputs([talk], ["srt"])[talk]["srt"].name == "Talk.SRT.srt"
