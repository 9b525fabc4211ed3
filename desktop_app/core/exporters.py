"""Turn a finished transcript into files people open elsewhere: TXT, SRT, WebVTT and JSON.

Subtitles are cut into cues a viewer can read in the time they are shown (at most two lines of
42 characters, about seven seconds), breaking where speech breaks. Files are written atomically
so a crash, a full disk or a second job never leaves a half-written transcript behind.
"""

from __future__ import annotations

import contextlib
import errno
import html
import json
import logging
import os
import re
import stat
import tempfile
import threading
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pysubs2

from desktop_app.core.errors import ExportError
from desktop_app.core.transcript import Transcript

logger = logging.getLogger(__name__)

FORMATS = ("txt", "srt", "vtt", "json")

DEFAULT_STEM = "transcript"

# Break costs: the cue builder pays the cost of each place it cuts, so it cuts where a reader
# would pause anyway. One cue costs CUE_COST, which keeps it from cutting everywhere that is free.
CUE_COST = 1.0
SENTENCE_BREAK_COST = 0.0
SEGMENT_BREAK_COST = 0.5
CLAUSE_BREAK_COST = 1.0
MID_PHRASE_BREAK_COST = 3.0
# Text shown across a silence appears before it is spoken; charge for silences kept inside a cue.
SILENCE_TOLERANCE_SECONDS = 0.3
SILENCE_COST_PER_SECOND = 2.0
LONG_PAUSE_SECONDS = 1.0
SHORT_PAUSE_SECONDS = 0.4

SENTENCE_END = ".?!…。？！"
CLAUSE_END = ",;:—–、，；："
# Closing quotes and brackets after punctuation still end the sentence ("Stop!" he said).
TRAILING_CLOSERS = "\"'”’»)]}」』"

# Inside a cue, lines pay 100 x (their distance from an even split as a share of a line)^2, and
# breaking after punctuation earns these back: a syntactic break wins unless it leaves the lines
# badly lopsided (a one-word line under a full one).
LINE_BALANCE_WEIGHT = 100.0
LINE_BREAK_SENTENCE_BONUS = 15.0
LINE_BREAK_CLAUSE_BONUS = 10.0

WINDOWS_RESERVED_NAMES = frozenset(
    {"CON", "PRN", "AUX", "NUL"}
    | {f"COM{n}" for n in range(1, 10)}
    | {f"LPT{n}" for n in range(1, 10)}
)
# Most file systems cap a name at 255 bytes; leave room for the extension and a temp prefix.
MAX_STEM_BYTES = 200
UNSAFE_NAME_CHARS = re.compile(r'[/\\<>:"|?*]')
#: Our atomic writes' temp files: ``.{destination name}.{8 random characters}.tmp``.
TEMP_SUFFIX = ".tmp"
_TEMP_RANDOM = re.compile(r"[a-z0-9_]{8}")
# Temp files of writes under way in this process, which the clean-up of leftovers must not take.
_writing: set[Path] = set()
_writing_lock = threading.Lock()


@dataclass(frozen=True)
class Cue:
    """One subtitle on screen: times in seconds (whole milliseconds) and its display lines."""

    start: float
    end: float
    lines: tuple[str, ...]

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


@dataclass(frozen=True)
class _Token:
    """A word with its timing and whether a space separates it from the word before."""

    text: str
    start: float
    end: float
    space_before: bool
    ends_segment: bool


def _tokens(transcript: Transcript) -> list[_Token]:
    """Flatten segments into timed words, interpolating times where the engine gave none.

    Timestamps of words the engine did not time are spread over their segment in proportion to
    their length, so longer words get more screen time, as they take longer to say.
    """
    tokens: list[_Token] = []
    for segment in transcript.segments:
        pieces: list[tuple[str, float, float, bool]] = []
        timed_words = [w for w in segment.words if w.text.strip()]
        if timed_words:
            for index, word in enumerate(timed_words):
                # Whisper marks word starts with a leading space; words in languages written
                # without spaces come without one and must not gain one.
                space = index == 0 or word.text[:1].isspace()
                pieces.append((word.text.strip(), word.start, word.end, space))
        else:
            texts = segment.text.split()
            total_chars = sum(len(text) for text in texts)
            duration = max(0.0, segment.end - segment.start)
            elapsed = 0
            for text in texts:
                start = segment.start + duration * elapsed / total_chars
                elapsed += len(text)
                end = segment.start + duration * elapsed / total_chars
                pieces.append((text, start, end, True))
        for index, (text, start, end, space) in enumerate(pieces):
            tokens.append(_Token(text, start, end, space, index == len(pieces) - 1))
    return tokens


def _ends_with(text: str, marks: str) -> bool:
    return text.rstrip(TRAILING_CLOSERS)[-1:] in marks


def _break_cost(tokens: Sequence[_Token], index: int) -> float:
    """What it costs to end a cue after ``tokens[index]``: cheap where the speaker pauses."""
    if index == len(tokens) - 1:
        return 0.0
    token = tokens[index]
    pause = tokens[index + 1].start - token.end
    if _ends_with(token.text, SENTENCE_END) or pause >= LONG_PAUSE_SECONDS:
        return SENTENCE_BREAK_COST
    if token.ends_segment:
        return SEGMENT_BREAK_COST
    if _ends_with(token.text, CLAUSE_END) or pause >= SHORT_PAUSE_SECONDS:
        return CLAUSE_BREAK_COST
    return MID_PHRASE_BREAK_COST


def _layout(tokens: Sequence[_Token], max_chars: int, max_lines: int) -> tuple[str, ...]:
    """Split one cue's words into the fewest lines, balanced and broken after punctuation.

    A word longer than a line stands alone on its line rather than being cut or dropped.
    """
    widths = [len(t.text) for t in tokens]
    count = len(tokens)

    def line_text(first: int, stop: int) -> str:
        parts = [tokens[first].text]
        for token in tokens[first + 1 : stop]:
            parts.append((" " if token.space_before else "") + token.text)
        return "".join(parts)

    # Prefix sums keep the line search below quadratic rather than cubic in the cue's words.
    chars = [0]
    spaces = [0]
    for token, token_width in zip(tokens, widths, strict=True):
        chars.append(chars[-1] + token_width)
        spaces.append(spaces[-1] + (1 if token.space_before else 0))

    def width(first: int, stop: int) -> int:
        return chars[stop] - chars[first] + spaces[stop] - spaces[first + 1]

    def fits(first: int, stop: int) -> bool:
        return stop - first == 1 or width(first, stop) <= max_chars

    line_count = _greedy_line_count(tokens, max_chars)
    if line_count <= 1:
        return (line_text(0, count),)
    line_count = min(line_count, max(max_lines, 1))
    total_width = width(0, count)
    target = total_width / line_count
    # best[lines][stop]: cheapest way to set tokens[:stop] on that many lines.
    infinity = float("inf")
    best = [[infinity] * (count + 1) for _ in range(line_count + 1)]
    previous = [[0] * (count + 1) for _ in range(line_count + 1)]
    best[0][0] = 0.0
    for lines in range(1, line_count + 1):
        for stop in range(1, count + 1):
            for first in range(lines - 1, stop):
                if best[lines - 1][first] == infinity or not fits(first, stop):
                    continue
                imbalance = (width(first, stop) - target) / max_chars
                cost = best[lines - 1][first] + LINE_BALANCE_WEIGHT * imbalance**2
                if stop < count:
                    cost -= _line_break_bonus(tokens[stop - 1].text)
                if cost < best[lines][stop]:
                    best[lines][stop] = cost
                    previous[lines][stop] = first
    if best[line_count][count] == infinity:
        # Only reachable when a cue holds more than max_lines of over-long words; fall back to
        # one word per line so nothing is lost.
        return tuple(t.text for t in tokens)
    breaks: list[int] = []
    stop = count
    for lines in range(line_count, 0, -1):
        breaks.append(stop)
        stop = previous[lines][stop]
    breaks.reverse()
    starts = [0, *breaks[:-1]]
    return tuple(line_text(first, stop) for first, stop in zip(starts, breaks, strict=True))


def _line_break_bonus(text: str) -> float:
    if _ends_with(text, SENTENCE_END):
        return LINE_BREAK_SENTENCE_BONUS
    if _ends_with(text, CLAUSE_END):
        return LINE_BREAK_CLAUSE_BONUS
    return 0.0


def _greedy_line_count(tokens: Sequence[_Token], max_chars: int) -> int:
    """Fewest lines the words need; filling each line greedily is optimal for that."""
    lines = 0
    current = 0
    for token in tokens:
        word = len(token.text)
        extra = word + (1 if token.space_before else 0)
        if current and current + extra <= max_chars:
            current += extra
        else:
            lines += 1
            current = word
        if word > max_chars:
            current = max_chars + 1  # an over-long word keeps its line to itself
    return lines


def build_cues(
    transcript: Transcript,
    max_chars_per_line: int = 42,
    max_lines: int = 2,
    max_cue_seconds: float = 7.0,
    min_cue_seconds: float = 1.0,
) -> list[Cue]:
    """Cut the transcript into subtitle cues a viewer can read in the time they are shown.

    The cuts are chosen together (a shortest-path search over the places a cue could end), so a
    cue ends at a sentence, a clause or a pause whenever the limits allow, instead of wherever a
    line happened to fill up. A single word that breaks a limit gets a cue of its own rather
    than being lost. Cues are stretched to ``min_cue_seconds`` where the next cue leaves room, so
    a short word does not flash past.
    """
    tokens = _tokens(transcript)
    count = len(tokens)
    if count == 0:
        return []
    infinity = float("inf")
    best = [infinity] * (count + 1)
    cue_start = [0] * (count + 1)
    best[0] = 0.0
    for first in range(count):
        if best[first] == infinity:
            continue
        lines = 0
        line_width = 0
        silence_cost = 0.0
        for last in range(first, count):
            token = tokens[last]
            word = len(token.text)
            extra = word + (1 if token.space_before else 0)
            if last > first:
                gap = token.start - tokens[last - 1].end
                silence_cost += max(0.0, gap - SILENCE_TOLERANCE_SECONDS) * SILENCE_COST_PER_SECOND
            if line_width and line_width + extra <= max_chars_per_line:
                line_width += extra
            else:
                lines += 1
                line_width = word
            if word > max_chars_per_line:
                line_width = max_chars_per_line + 1
            single = last == first
            too_long = token.end - tokens[first].start > max_cue_seconds
            if not single and (lines > max_lines or too_long):
                break
            cost = best[first] + CUE_COST + silence_cost + _break_cost(tokens, last)
            if cost < best[last + 1]:
                best[last + 1] = cost
                cue_start[last + 1] = first
    bounds: list[tuple[int, int]] = []
    stop = count
    while stop > 0:
        first = cue_start[stop]
        bounds.append((first, stop))
        stop = first
    bounds.reverse()
    return _timed_cues(
        tokens, bounds, max_chars_per_line, max_lines, max_cue_seconds, min_cue_seconds
    )


def _timed_cues(
    tokens: Sequence[_Token],
    bounds: Sequence[tuple[int, int]],
    max_chars: int,
    max_lines: int,
    max_cue_seconds: float,
    min_cue_seconds: float,
) -> list[Cue]:
    """Give cues whole-millisecond times that never overlap and never run backwards.

    Engines occasionally return words with zero length or slightly out of order; subtitle
    players drop or misorder such cues, so times are nudged forward by the least needed.
    """
    min_ms = max(1, round(min(min_cue_seconds, max_cue_seconds) * 1000))
    spans: list[list[int]] = []
    previous_end = 0
    for first, stop in bounds:
        start_ms = max(round(tokens[first].start * 1000), previous_end, 0)
        end_ms = max(round(tokens[stop - 1].end * 1000), start_ms + 1)
        spans.append([start_ms, end_ms])
        previous_end = end_ms
    for index, span in enumerate(spans):
        if span[1] - span[0] >= min_ms:
            continue
        limit = spans[index + 1][0] if index + 1 < len(spans) else span[0] + min_ms
        span[1] = max(span[1], min(span[0] + min_ms, limit))
    return [
        Cue(span[0] / 1000, span[1] / 1000, _layout(tokens[first:stop], max_chars, max_lines))
        for span, (first, stop) in zip(spans, bounds, strict=True)
    ]


def _normalise_format(fmt: str) -> str:
    normalised = fmt.strip().lower().lstrip(".")
    if normalised not in FORMATS:
        raise ExportError(f"Unknown export format {fmt!r}; choose one of {', '.join(FORMATS)}.")
    return normalised


def _clock(seconds: float, separator: str = ".") -> str:
    total_ms = max(0, round(seconds * 1000))
    hours, rest = divmod(total_ms, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    secs, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{separator}{millis:03d}"


def _render_txt(transcript: Transcript, timestamps: bool) -> str:
    lines = []
    for segment in transcript.segments:
        text = " ".join(segment.text.split())
        if not text:
            continue
        if timestamps:
            text = f"[{_clock(segment.start)} --> {_clock(segment.end)}] {text}"
        lines.append(text)
    return "".join(line + "\n" for line in lines)


def _protect_backslashes(line: str) -> str:
    r"""Keep a spoken ``\N`` or ``\h`` from being read as a SubStation line break or space.

    pysubs2 stores text in SubStation form, where those sequences are markup; an invisible word
    joiner after the backslash keeps the text on screen unchanged.
    """
    return re.sub(r"\\(?=[nNh])", "\\\\\u2060", line)


def _render_subtitles(transcript: Transcript, fmt: str) -> str:
    subtitles = pysubs2.SSAFile()
    for cue in build_cues(transcript):
        lines = [_protect_backslashes(line) for line in cue.lines]
        if fmt == "vtt":
            # WebVTT cue text is HTML-like: a bare "<" or "&" starts markup and "-->" ends a cue.
            lines = [html.escape(line, quote=False) for line in lines]
        subtitles.append(
            pysubs2.SSAEvent(
                start=round(cue.start * 1000), end=round(cue.end * 1000), text=r"\N".join(lines)
            )
        )
    # keep_ssa_tags stops pysubs2 from reading "{...}" in speech as style overrides.
    return subtitles.to_string(fmt, keep_ssa_tags=True)


def render(transcript: Transcript, fmt: str, *, txt_timestamps: bool = False) -> str:
    """Produce the whole file in memory, so a failure never leaves half a file on disk."""
    fmt = _normalise_format(fmt)
    if fmt == "txt":
        return _render_txt(transcript, txt_timestamps)
    if fmt == "json":
        return json.dumps(transcript.to_dict(), ensure_ascii=False, indent=2) + "\n"
    return _render_subtitles(transcript, fmt)


def _exists_message(destination: Path) -> str:
    return (
        f"{destination} already exists; choose another name or allow overwriting (overwrite=True)."
    )


def existing_outputs(destinations: Iterable[Path]) -> list[Path]:
    """The destinations already taken: the one "does the output exist" check of every face.

    A dangling symbolic link counts as taken, because writing there would replace the link.
    """
    return [Path(destination) for destination in destinations if os.path.lexists(destination)]


def _export_mode(destination: Path, overwrite: bool) -> int:
    """An export is the user's document: a replaced file keeps its mode, a new one gets the
    mode any program would give it (0666 less the umask)."""
    if overwrite:
        with contextlib.suppress(FileNotFoundError):
            return stat.S_IMODE(destination.stat().st_mode)
    return 0o666 & ~_umask()


def _umask() -> int:
    """The process's umask, read without changing it (``os.umask`` can only set it, which would
    briefly change it for every thread); where Linux's /proc is missing, set and restore it."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    current = os.umask(0o022)
    os.umask(current)
    return current


def _write_atomically(content: bytes, destination: Path, overwrite: bool) -> None:
    """Write beside the destination and swap it in, so readers see the old file or the new one.

    Without ``overwrite`` the swap is a hard link, which fails if another job created the file
    meanwhile; file systems without hard links fall back to a check just before the rename.
    """
    folder = destination.parent
    mode = _export_mode(destination, overwrite)
    descriptor, temp_name = tempfile.mkstemp(
        prefix=f".{destination.name}.", suffix=TEMP_SUFFIX, dir=folder
    )
    temp_path = Path(temp_name)
    with _writing_lock:
        _writing.add(temp_path)
    try:
        os.fchmod(descriptor, mode)  # mkstemp makes 0600, right for a temporary file only
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
        if overwrite:
            os.replace(temp_path, destination)
        else:
            try:
                os.link(temp_path, destination)
            except FileExistsError:
                raise ExportError(_exists_message(destination)) from None
            except OSError as error:
                if error.errno not in (errno.EPERM, errno.ENOTSUP, errno.EXDEV, errno.EMLINK):
                    raise
                if existing_outputs([destination]):
                    raise ExportError(_exists_message(destination)) from None
                os.replace(temp_path, destination)
    finally:
        with contextlib.suppress(FileNotFoundError):
            temp_path.unlink()
        with _writing_lock:
            _writing.discard(temp_path)
    _sync_folder(folder)


def holds_export(
    destination: Path, transcript: Transcript, fmt: str, *, txt_timestamps: bool = False
) -> bool:
    """True when ``destination`` already holds exactly this export.

    An export owed from before a crash may have been written just before it: finding it in
    place is not a conflict to report.
    """
    try:
        on_disk = destination.read_bytes()
    except OSError:
        return False
    return on_disk == render(transcript, fmt, txt_timestamps=txt_timestamps).encode("utf-8")


def remove_leftover_temp_files(destination: Path) -> list[Path]:
    """Delete the hidden temp files that a crash in the middle of writing ``destination`` left.

    Only files named as :func:`_write_atomically` names them for this destination, and never one
    that a write in this process is still using. Returns what was deleted. It lists the folder,
    so callers use it where a crash may have struck (an auto-export, written once per job at
    transcription pace), not before each of thousands of exports into one folder.
    """
    prefix = f".{destination.name}."
    removed: list[Path] = []
    try:
        candidates = [
            entry
            for entry in destination.parent.iterdir()
            if entry.name.startswith(prefix)
            and entry.name.endswith(TEMP_SUFFIX)
            and _TEMP_RANDOM.fullmatch(entry.name[len(prefix) : -len(TEMP_SUFFIX)])
        ]
    except OSError:
        return removed  # the write that follows reports a folder it cannot use
    with _writing_lock:
        for entry in candidates:
            if entry in _writing or not entry.is_file():
                continue
            with contextlib.suppress(FileNotFoundError):
                entry.unlink()
                removed.append(entry)
                logger.info("Removed %s, left by an export that was interrupted", entry)
    return removed


def _sync_folder(folder: Path) -> None:
    """Make the rename itself durable; not possible on every platform, so best effort."""
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)


def export(
    transcript: Transcript,
    fmt: str,
    destination: Path,
    *,
    overwrite: bool = False,
    txt_timestamps: bool = False,
) -> Path:
    """Write one format to ``destination`` and report every failure as a sentence.

    An existing file is kept unless ``overwrite`` is set, because it may be an earlier export
    the user has edited by hand.
    """
    destination = Path(destination)
    content = render(transcript, fmt, txt_timestamps=txt_timestamps).encode("utf-8")
    if not overwrite and existing_outputs([destination]):
        raise ExportError(_exists_message(destination))
    try:
        _write_atomically(content, destination, overwrite)
    except OSError as error:
        problem = error.strerror or str(error) or type(error).__name__
        logger.warning("Export to %s failed: %s", destination, problem)
        raise ExportError(f"Could not write {destination}: {problem}.") from error
    logger.info("Exported %s (%d bytes)", destination, len(content))
    return destination


def _safe_stem(stem: str) -> str:
    """Make a name that stays inside its folder, is visible, and is legal on common systems."""
    cleaned = "".join(ch for ch in stem if unicodedata.category(ch) not in ("Cc", "Cf", "Zl", "Zp"))
    cleaned = UNSAFE_NAME_CHARS.sub("_", cleaned)
    cleaned = cleaned.strip(" .")
    encoded = cleaned.encode("utf-8")[:MAX_STEM_BYTES]
    cleaned = encoded.decode("utf-8", errors="ignore").strip(" .")
    if not cleaned:
        return DEFAULT_STEM
    if cleaned.split(".")[0].upper() in WINDOWS_RESERVED_NAMES:
        cleaned = f"{cleaned}_"
    return cleaned


def output_path(source: Path, fmt: str, output_dir: Path | None = None) -> Path:
    """Name the export after its source, in the chosen folder and never outside it."""
    fmt = _normalise_format(fmt)
    source = Path(source)
    folder = Path(output_dir) if output_dir is not None else source.parent
    return folder / f"{_safe_stem(source.stem)}.{fmt}"


def export_all(
    transcript: Transcript,
    formats: Iterable[str],
    source: Path,
    output_dir: Path | None = None,
    overwrite: bool = False,
    *,
    txt_timestamps: bool = False,
) -> list[Path]:
    """Write several formats named after ``source``; see :func:`export_planned`."""
    chosen = list(dict.fromkeys(_normalise_format(fmt) for fmt in formats))
    destinations = {fmt: output_path(source, fmt, output_dir) for fmt in chosen}
    return export_planned(
        transcript, destinations, overwrite=overwrite, txt_timestamps=txt_timestamps
    )


def export_planned(
    transcript: Transcript,
    destinations: Mapping[str, Path],
    *,
    overwrite: bool = False,
    txt_timestamps: bool = False,
) -> list[Path]:
    """Write each format to its destination, refusing before writing any if one would clobber a
    file.

    Checking every name first means a refusal leaves no half-finished set of exports behind.
    """
    if not overwrite:
        taken = existing_outputs(destinations.values())
        if taken:
            raise ExportError(_exists_message(taken[0]))
    return [
        export(transcript, fmt, destination, overwrite=overwrite, txt_timestamps=txt_timestamps)
        for fmt, destination in destinations.items()
    ]


def folder_problem(folder: Path) -> str | None:
    """Why outputs cannot be written into ``folder`` (created if missing), or None if they can.

    Found without creating anything, so that a batch can be refused before any work: the
    nearest existing folder on the way must be a writable folder, and no name may be one the
    system refuses (too long, say).
    """
    probe = Path(os.path.abspath(folder))
    while True:
        try:
            if probe.is_dir():
                break
            if os.path.lexists(probe):
                return f"{probe} is a file, not a folder"
        except (OSError, ValueError) as error:
            return getattr(error, "strerror", None) or str(error)
        if probe.parent == probe:
            return "no part of it exists"
        probe = probe.parent
    if not os.access(probe, os.W_OK | os.X_OK):
        return f"{probe} cannot be written (permission denied)"
    return None


class _PathKeys:
    """One spelling per file: absolute, symbolic links resolved, and case folded, because the
    usual file systems of macOS and Windows take ``Intro.txt`` and ``intro.txt`` for one file.

    Each folder is resolved once: resolving costs system calls per path component, and a batch
    names thousands of files in a few folders.
    """

    def __init__(self) -> None:
        self._folders: dict[Path, str] = {}

    def __call__(self, folder: Path, name: str) -> str:
        resolved = self._folders.get(folder)
        if resolved is None:
            resolved = self._folders[folder] = str(folder.resolve()).casefold()
        return os.path.join(resolved, name.casefold())


def _numbered(stem: str, number: int) -> str:
    """``stem (number)``, the stem cut first so that the number always fits in a name."""
    suffix = f" ({number})"
    room = MAX_STEM_BYTES - len(suffix)
    return stem.encode("utf-8")[:room].decode("utf-8", errors="ignore") + suffix


def plan_outputs(
    sources: Sequence[Path],
    formats: Iterable[str],
    output_dir: Path | None = None,
    subfolders: Mapping[Path, Path] | None = None,
) -> dict[Path, dict[str, Path]]:
    """Name every output of a batch before any is written: no two share a name, none is an input.

    Each output is named after its source, beside it or in ``output_dir`` (under the source's
    entry in ``subfolders``: the folders between a searched folder and the file). Where names
    still collide, they are made distinct in this order: the colliding sources keep their
    folders relative to the folder they have in common (``monday/intro.txt``,
    ``tuesday/intro.txt``); then the source's extension stays in the name (``intro.wav.txt``
    beside ``intro.mp3.txt``); then a number. A destination that is one of the sources counts
    as a collision, so a WAV named ``talk.srt`` is never replaced by its own subtitles.
    """
    chosen = list(dict.fromkeys(_normalise_format(fmt) for fmt in formats))
    sources = list(dict.fromkeys(sources))  # a source named twice is one source
    subfolders = subfolders or {}
    path_key = _PathKeys()
    inputs = {path_key(source.parent, source.name) for source in sources}

    def folder_of(source: Path, relative: Path) -> Path:
        if output_dir is None:
            return source.parent
        return Path(output_dir) / relative

    stems = {source: _safe_stem(source.stem) for source in sources}
    folders = {source: folder_of(source, subfolders.get(source, Path("."))) for source in sources}

    def colliding() -> list[list[Path]]:
        """Groups of sources whose outputs would share a name (or land on an input)."""
        groups: dict[str, list[Path]] = {}
        for source in sources:
            folder, stem = folders[source], stems[source]
            for fmt in chosen:
                groups.setdefault(path_key(folder, f"{stem}.{fmt}"), []).append(source)
        clashes = (
            tuple(dict.fromkeys(group))
            for key, group in groups.items()
            if len(group) > 1 or key in inputs
        )
        return [list(group) for group in dict.fromkeys(clashes)]  # once, not once per format

    clashes = colliding()
    if clashes and output_dir is not None:
        for group in clashes:
            if len(group) < 2:
                continue
            parents = [Path(os.path.abspath(source.parent)) for source in group]
            try:
                common = Path(os.path.commonpath(parents))
            except ValueError:  # on different drives: the later steps tell them apart
                continue
            for source, parent in zip(group, parents, strict=True):
                folders[source] = folders[source] / parent.relative_to(common)
        clashes = colliding()
    if clashes:
        for group in clashes:
            for source in group:
                stems[source] = _safe_stem(source.name)
        clashes = colliding()
    number = 2
    while clashes:
        for group in clashes:
            for source in group[1:] if len(group) > 1 else group:
                stems[source] = _numbered(_safe_stem(source.name), number)
        number += 1
        clashes = colliding()
    return {
        source: {fmt: folders[source] / f"{stems[source]}.{fmt}" for fmt in chosen}
        for source in sources
    }
