"""Every setting of Verbatim, declared once.

Each :class:`SettingSpec` names the attribute, its type, default, environment variable, allowed
values and a description. The README's configuration table, the command line's help, the settings
dialog and start-up validation are all derived from :data:`SETTINGS`, so a setting cannot drift
between them.

Precedence, highest first: command-line option > environment variable > saved settings > default.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

from desktop_app.core.errors import ConfigError

logger = logging.getLogger(__name__)

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
TASKS = ("transcribe", "translate")
BUNDLED_MODEL = "tiny.en"

#: Names faster-whisper can download (``faster_whisper.available_models()``), listed here so that
#: validation needs no import of the engine and works offline.
KNOWN_MODEL_NAMES = (
    "tiny.en",
    "tiny",
    "base.en",
    "base",
    "small.en",
    "small",
    "medium.en",
    "medium",
    "large-v1",
    "large-v2",
    "large-v3",
    "large",
    "distil-large-v2",
    "distil-medium.en",
    "distil-small.en",
    "distil-large-v3",
    "distil-large-v3.5",
    "large-v3-turbo",
    "turbo",
)


def cpu_count() -> int:
    """Cores this process may use (respects CPU affinity and container limits where Python can)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not on Linux
        return max(1, os.cpu_count() or 1)


def default_workers(cores: int | None = None) -> int:
    """One transcription per core, at most 4.

    Each worker then gets ``cores // workers`` CTranslate2 threads (see :func:`threads_per_worker`),
    so workers x threads never exceeds the cores. Measured on 2 cores: two jobs on one model with
    two workers of one thread each took 7.5 s against 14.5 s one after the other. Beyond 4, a
    bigger per-job thread count serves better than more parallel jobs on one shared model.
    """
    cores = cpu_count() if cores is None else cores
    return max(1, min(4, cores))


def threads_per_worker(workers: int, cores: int | None = None) -> int:
    cores = cpu_count() if cores is None else cores
    return max(1, cores // max(1, workers))


@dataclass(frozen=True)
class SettingSpec:
    """The one declaration of a setting."""

    name: str
    env: str
    type: type
    default: Any
    description: str
    choices: tuple[str, ...] | None = None
    minimum: float | None = None
    maximum: float | None = None
    unit: str = ""
    #: The name a desktop user sees for it (the settings dialog's label); messages to that
    #: user name the setting by it. Empty for settings the window does not show.
    label: str = ""

    def default_value(self) -> Any:
        return self.default() if callable(self.default) else self.default

    def allowed(self) -> str:
        """A short phrase saying what values are allowed, for messages and docs."""
        if self.choices:
            return "one of " + ", ".join(self.choices)
        if self.type is bool:
            return "true or false"
        kind = {int: "a whole number", float: "a number"}.get(self.type, "a text")
        if self.minimum is not None and self.maximum is not None:
            return f"{kind} from {_fmt(self.minimum)} to {_fmt(self.maximum)}"
        if self.minimum is not None:
            return f"{kind} of at least {_fmt(self.minimum)}"
        return kind


def _fmt(number: float) -> str:
    return str(int(number)) if float(number).is_integer() else str(number)


class Origin(Enum):
    """Where a value came from, worded as a message to the user names it."""

    COMMAND_LINE = "command line"
    ENVIRONMENT = "environment"
    SAVED = "saved settings"
    DEFAULT = "default"
    PROGRAM = "setting"  # Settings.replace: a value the program chose, e.g. a job's options


#: Values longer than this are cut in the middle in messages (a path's both ends tell most), so
#: that a refusal stays one readable line.
MAX_SHOWN_VALUE_CHARS = 120


@dataclass(frozen=True)
class ValueSource:
    """Where one value came from, so that a refusal names what the user actually typed.

    A value given as a command-line option is named by that option (``--workers 0``), any other
    by its environment variable and origin (``MAX_CONCURRENT_WORKERS=0 ... (environment)``): the
    user fixes the thing the message names.
    """

    origin: Origin
    option: str | None = None  # the command-line option that carried the value

    def not_allowed(self, spec: SettingSpec, raw: Any) -> str:
        """The start of a refusal: ``<what was typed> is not allowed[ (origin)]``."""
        shown = str(raw)
        if len(shown) > MAX_SHOWN_VALUE_CHARS:
            half = MAX_SHOWN_VALUE_CHARS // 2
            shown = shown[:half] + "…" + shown[-(half - 1) :]
        if self.option is not None:
            return f"{self.option} {shown} is not allowed"
        return f"{spec.env}={shown} is not allowed ({self.origin.value})"


DEFAULT_SOURCE = ValueSource(Origin.DEFAULT)


SETTINGS: tuple[SettingSpec, ...] = (
    SettingSpec(
        "max_concurrent_workers",
        "MAX_CONCURRENT_WORKERS",
        int,
        default_workers,
        "How many files are transcribed at the same time, each by one worker. The default, one "
        "per CPU core and at most 4, is usually the fastest: the cores are shared out among the "
        "workers (cores / workers decoding threads each), so more workers are not more speed.",
        minimum=1,
        maximum=64,
        label="Workers",
    ),
    SettingSpec(
        "max_queue_size",
        "MAX_QUEUE_SIZE",
        int,
        100,
        "Files that may wait for a free worker. When the queue is full, new files are refused "
        "with a message (never dropped).",
        minimum=1,
        maximum=100_000,
        label="Queue size",
    ),
    SettingSpec(
        "max_file_size_mb",
        "MAX_FILE_SIZE_MB",
        int,
        500,
        "Largest input file accepted, in megabytes.",
        minimum=1,
        maximum=1_000_000,
        unit="MB",
        label="Largest file (MB)",
    ),
    SettingSpec(
        "max_audio_duration_hours",
        "MAX_AUDIO_DURATION_HOURS",
        float,
        24.0,
        "Longest audio accepted, in hours of sound. A file's size does not bound the work: a "
        "small file can hold days of audio, so decoding stops with a message past this.",
        minimum=0.01,
        maximum=10_000,
        unit="hours",
    ),
    SettingSpec(
        "whisper_model_size",
        "WHISPER_MODEL_SIZE",
        str,
        BUNDLED_MODEL,
        "Speech model: tiny.en (bundled, works offline), another faster-whisper model name "
        "(downloaded once when online), or the path of a local CTranslate2 model folder (a "
        "path contains / or starts with . or ~; a name is never looked up in the current "
        "folder).",
        label="Model",
    ),
    SettingSpec(
        "language",
        "WHISPER_LANGUAGE",
        str,
        "auto",
        "Spoken language as a code such as en or de, or auto to detect it. English-only "
        "models (names ending in .en) accept only en or auto.",
        label="Language",
    ),
    SettingSpec(
        "task",
        "WHISPER_TASK",
        str,
        "transcribe",
        "transcribe keeps the spoken language; translate gives English text (multilingual "
        "models only).",
        choices=TASKS,
        label="Task",
    ),
    SettingSpec(
        "beam_size",
        "WHISPER_BEAM_SIZE",
        int,
        5,
        "How many candidate wordings the model keeps open while it decodes, taking the likeliest "
        "at the end (beam search), for files and live dictation. 5 is markedly more accurate "
        "than 1 (one guess at a time) at a similar speed on the CPU.",
        minimum=1,
        maximum=20,
        label="Beam size",
    ),
    SettingSpec(
        "vad_filter",
        "WHISPER_VAD_FILTER",
        bool,
        True,
        "Skip the silent stretches before transcribing, found by a voice-activity detector "
        "(VAD, Silero). Keep it on: without it, long pauses can make the model drop the "
        "sentences after them.",
        label="Skip silence (VAD)",
    ),
    SettingSpec(
        "log_level",
        "LOG_LEVEL",
        str,
        "INFO",
        "Detail of the log file and console log.",
        choices=LOG_LEVELS,
    ),
    SettingSpec(
        "job_cleanup_max_age_hours",
        "JOB_CLEANUP_MAX_AGE_HOURS",
        float,
        0.0,
        "Finished jobs older than this leave the job list on their own; 0 keeps them forever. "
        "Exported files are never touched.",
        minimum=0,
        unit="hours",
    ),
    SettingSpec(
        "unsure_word_probability",
        "UNSURE_WORD_PROBABILITY",
        float,
        0.5,
        "Proofreading: words the model gave a probability below this are marked as unsure in "
        "the transcript editor, and Next unsure word visits them. 0 marks none; 1 marks every "
        "word the model wrote.",
        minimum=0,
        maximum=1,
    ),
    SettingSpec(
        "stream_min_chunk_size",
        "STREAM_MIN_CHUNK_SIZE",
        float,
        0.5,
        "Live dictation: the least new audio, in seconds, before the next transcription pass. "
        "Smaller confirms words sooner and costs more CPU; below 0.5 tiny.en mishears more.",
        minimum=0.1,
        maximum=10,
        unit="seconds",
    ),
    SettingSpec(
        "stream_max_buffer_size",
        "STREAM_MAX_BUFFER_SIZE",
        float,
        30.0,
        "Live dictation: the most audio, in seconds, kept for re-transcription; older audio is "
        "trimmed at a confirmed word boundary.",
        minimum=5,
        maximum=600,
        unit="seconds",
    ),
    SettingSpec(
        "api_host",
        "API_HOST",
        str,
        "127.0.0.1",
        "Address the local server (verbatim-cli serve) listens on. The default, loopback, lets "
        "only programs on this computer connect; any other address requires API_TOKEN.",
    ),
    SettingSpec(
        "api_port",
        "API_PORT",
        int,
        8000,
        "TCP port of the local server; 0 picks a free port (printed at start).",
        minimum=0,
        maximum=65535,
    ),
    SettingSpec(
        "api_token",
        "API_TOKEN",
        str,
        "",
        "Access token of the local server, required (Authorization: Bearer TOKEN) when it "
        "listens on an address other than loopback. When empty, verbatim-cli serve (or the "
        "window, serving) generates one, saves it with the settings and shows it.",
    ),
    SettingSpec(
        "api_rate_limit",
        "API_RATE_LIMIT",
        int,
        600,
        "Requests one client address may make to the local server per minute; more are "
        "refused with 429 and Retry-After.",
        minimum=1,
        maximum=1_000_000,
        unit="per minute",
    ),
    SettingSpec(
        "api_max_streams",
        "API_MAX_STREAMS",
        int,
        2,
        "Live WebSocket streams one client address may hold open at once; more are refused.",
        minimum=1,
        maximum=64,
    ),
    SettingSpec(
        "api_cors_origins",
        "API_CORS_ORIGINS",
        str,
        "",
        "Web page origins (comma-separated, such as http://localhost:3000) allowed to call the "
        "local server from a browser; empty allows none.",
    ),
)

SPECS_BY_NAME: dict[str, SettingSpec] = {spec.name: spec for spec in SETTINGS}
#: Settings whose value is never written to the log.
SECRET_SETTINGS = frozenset({"api_token"})


@dataclass(frozen=True)
class Settings:
    """The effective configuration; build it with :func:`load_settings`."""

    max_concurrent_workers: int
    max_queue_size: int
    max_file_size_mb: int
    max_audio_duration_hours: float
    whisper_model_size: str
    language: str
    task: str
    beam_size: int
    vad_filter: bool
    log_level: str
    job_cleanup_max_age_hours: float
    unsure_word_probability: float
    stream_min_chunk_size: float
    stream_max_buffer_size: float
    api_host: str
    api_port: int
    api_token: str
    api_rate_limit: int
    api_max_streams: int
    api_cors_origins: str

    @property
    def cpu_threads(self) -> int:
        """CTranslate2 threads per worker, derived so that workers x threads <= cores."""
        return threads_per_worker(self.max_concurrent_workers)

    @property
    def max_file_size_bytes(self) -> int:
        return self.max_file_size_mb * 1024 * 1024

    @property
    def max_audio_seconds(self) -> float:
        return self.max_audio_duration_hours * 3600

    def replace(self, **changes: Any) -> Settings:
        """A copy with ``changes`` validated like any other source."""
        values = dataclasses.asdict(self)
        sources: dict[str, ValueSource] = {}
        for name, raw in changes.items():
            sources[name] = ValueSource(Origin.PROGRAM)
            values[name] = parse_value(SPECS_BY_NAME[name], raw, sources[name])
        settings = Settings(**values)
        _check_combination(settings, sources)
        return settings

    def describe(self) -> str:
        """One line per setting, for the start-up log."""
        return "\n".join(
            f"  {spec.env}={'(set)' if spec.name in SECRET_SETTINGS and value else repr(value)}"
            for spec in SETTINGS
            for value in (getattr(self, spec.name),)
        )


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}
# ASCII only: Python's int() and float() also read full-width and Arabic-Indic digits ("４"),
# and underscores ("1_0"), which no one means as a setting and which look like other numbers.
_WHOLE_NUMBER = re.compile(r"[+-]?[0-9]+", re.ASCII)
_DECIMAL_NUMBER = re.compile(r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?", re.ASCII)
_LANGUAGE_CODE = re.compile(r"[a-z]{2,3}", re.ASCII)


def parse_value(spec: SettingSpec, raw: Any, source: ValueSource) -> Any:
    """Turn ``raw`` (text from the environment, or a typed value) into the spec's type.

    :raises ConfigError: one line naming what the user typed, the value and what is allowed.
    """

    def bad() -> ConfigError:
        return ConfigError(f"{source.not_allowed(spec, raw)}: expected {spec.allowed()}.")

    value: Any
    if spec.type is bool:
        if isinstance(raw, bool):
            value = raw
        elif str(raw).strip().lower() in _TRUE:
            value = True
        elif str(raw).strip().lower() in _FALSE:
            value = False
        else:
            raise bad()
    elif spec.type is int:
        text = str(raw).strip()
        if isinstance(raw, bool) or not _WHOLE_NUMBER.fullmatch(text):
            raise bad()
        value = int(text)
    elif spec.type is float:
        text = str(raw).strip()
        if isinstance(raw, bool) or not _DECIMAL_NUMBER.fullmatch(text):
            raise bad()
        value = float(text)
        if value in (float("inf"), float("-inf")):
            raise bad()
    else:
        value = str(raw).strip()
        if spec.name == "log_level":
            value = value.upper()
        if not value:
            raise bad()
    if spec.choices and value not in spec.choices:
        raise bad()
    if spec.minimum is not None and value < spec.minimum:
        raise bad()
    if spec.maximum is not None and value > spec.maximum:
        raise bad()
    if spec.name == "whisper_model_size":
        _check_model(spec, value, source)
    if spec.name == "language":
        value = value.lower()
        if not (value == "auto" or _LANGUAGE_CODE.fullmatch(value)):
            raise bad()
    return value


def looks_like_path(model: str) -> bool:
    """Whether a model setting names a folder rather than a model.

    Only an explicit path is a path: a name never depends on what the current folder holds, so
    a ``tiny.en`` folder where Verbatim happens to be started cannot replace the bundled model.
    """
    separators = {os.sep, "/"} | ({os.altsep} if os.altsep else set())
    return any(separator in model for separator in separators) or model.startswith((".", "~"))


def _check_model(spec: SettingSpec, value: str, source: ValueSource) -> None:
    if not looks_like_path(value):
        if value not in KNOWN_MODEL_NAMES:
            raise ConfigError(
                f"{source.not_allowed(spec, value)}: expected one of "
                f"{', '.join(KNOWN_MODEL_NAMES)}, or the path of a CTranslate2 model folder."
            )
        return
    folder = Path(value).expanduser()
    try:
        is_folder = folder.is_dir()
        has_model = is_folder and (folder / "model.bin").is_file()
    except (OSError, ValueError) as exc:  # a name too long, a NUL byte: the OS refuses to look
        problem = getattr(exc, "strerror", None) or str(exc)
        raise ConfigError(
            f"{source.not_allowed(spec, value)}: the system cannot use it as a folder name "
            f"({problem})."
        ) from None
    if not is_folder:
        raise ConfigError(
            f"{source.not_allowed(spec, value)}: that model folder does not exist; expected "
            f"{BUNDLED_MODEL}, a model name, or a CTranslate2 model folder."
        )
    if not has_model:
        raise ConfigError(
            f"{source.not_allowed(spec, value)}: the folder has no model.bin, so it is not a "
            "CTranslate2 Whisper model."
        )


def model_is_english_only(model: str) -> bool:
    name = Path(model).name if looks_like_path(model) else model
    return name.endswith(".en")


def _check_combination(settings: Settings, sources: Mapping[str, ValueSource]) -> None:
    if model_is_english_only(settings.whisper_model_size):
        model = settings.whisper_model_size
        language, task = SPECS_BY_NAME["language"], SPECS_BY_NAME["task"]
        if settings.language not in ("auto", "en"):
            said = sources.get(language.name, DEFAULT_SOURCE).not_allowed(
                language, settings.language
            )
            raise ConfigError(
                f"{said} with the English-only model {model}: use en or auto, or choose a "
                "multilingual model."
            )
        if settings.task == "translate":
            said = sources.get(task.name, DEFAULT_SOURCE).not_allowed(task, settings.task)
            raise ConfigError(
                f"{said} with the English-only model {model}: choose a multilingual model to "
                "translate."
            )


def load_settings(
    environ: Mapping[str, str] | None = None,
    saved: Mapping[str, Any] | None = None,
    overrides: Mapping[str, Any] | None = None,
    options: Mapping[str, str] | None = None,
) -> Settings:
    """Resolve every setting: overrides (command line) > environment > saved > default.

    ``saved`` and ``overrides`` are keyed by attribute name; ``None`` values are ignored.
    ``options`` names the command-line option each override was typed as (``--workers``), so a
    refusal names what the user typed.

    :raises ConfigError: for the first value that is not allowed.
    """
    environ = os.environ if environ is None else environ
    saved = saved or {}
    overrides = overrides or {}
    options = options or {}
    values: dict[str, Any] = {}
    sources: dict[str, ValueSource] = {}
    for spec in SETTINGS:
        if overrides.get(spec.name) is not None:
            source = ValueSource(Origin.COMMAND_LINE, options.get(spec.name))
            raw = overrides[spec.name]
        elif environ.get(spec.env, "").strip():
            source = ValueSource(Origin.ENVIRONMENT)
            raw = environ[spec.env]
        elif saved.get(spec.name) is not None:
            source = ValueSource(Origin.SAVED)
            raw = saved[spec.name]
        else:
            values[spec.name] = spec.default_value()
            continue
        sources[spec.name] = source
        values[spec.name] = parse_value(spec, raw, source)
    settings = Settings(**values)
    _check_combination(settings, sources)
    return settings


def markdown_table() -> str:
    """The README's configuration table, generated from :data:`SETTINGS`."""
    rows = ["| Variable | Default | Allowed | Meaning |", "|---|---|---|---|"]
    for spec in SETTINGS:
        default = "cores, at most 4" if callable(spec.default) else spec.default
        if isinstance(default, bool):
            default = str(default).lower()
        allowed = spec.allowed() + (f" ({spec.unit})" if spec.unit else "")
        rows.append(f"| `{spec.env}` | `{default}` | {allowed} | {spec.description} |")
    return "\n".join(rows)


if __name__ == "__main__":  # python -m desktop_app.core.settings prints the README table
    print(markdown_table())  # noqa: T201
