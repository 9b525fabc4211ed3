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
from collections.abc import Mapping
from dataclasses import dataclass
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


SETTINGS: tuple[SettingSpec, ...] = (
    SettingSpec(
        "max_concurrent_workers",
        "MAX_CONCURRENT_WORKERS",
        int,
        default_workers,
        "Files transcribed at the same time. Default: one per CPU core, at most 4; each worker "
        "gets cores / workers decoding threads so the cores are never oversubscribed.",
        minimum=1,
        maximum=64,
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
        "(downloaded once when online), or the path of a local CTranslate2 model folder.",
    ),
    SettingSpec(
        "language",
        "WHISPER_LANGUAGE",
        str,
        "auto",
        "Spoken language as a code such as en or de, or auto to detect it. English-only "
        "models (names ending in .en) accept only en or auto.",
    ),
    SettingSpec(
        "task",
        "WHISPER_TASK",
        str,
        "transcribe",
        "transcribe keeps the spoken language; translate gives English text (multilingual "
        "models only).",
        choices=TASKS,
    ),
    SettingSpec(
        "beam_size",
        "WHISPER_BEAM_SIZE",
        int,
        5,
        "Beam search width, for files and live dictation. 5 is markedly more accurate than 1 "
        "(greedy) at a similar speed on the CPU.",
        minimum=1,
        maximum=20,
    ),
    SettingSpec(
        "vad_filter",
        "WHISPER_VAD_FILTER",
        bool,
        True,
        "Skip silence with the Silero voice-activity detector before decoding. Without it, "
        "long pauses can make the model drop the sentences after them.",
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
)

SPECS_BY_NAME: dict[str, SettingSpec] = {spec.name: spec for spec in SETTINGS}


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
    stream_min_chunk_size: float
    stream_max_buffer_size: float

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
        for name, raw in changes.items():
            values[name] = parse_value(SPECS_BY_NAME[name], raw, source="setting")
        settings = Settings(**values)
        _check_combination(settings)
        return settings

    def describe(self) -> str:
        """One line per setting, for the start-up log."""
        return "\n".join(f"  {spec.env}={getattr(self, spec.name)!r}" for spec in SETTINGS)


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def parse_value(spec: SettingSpec, raw: Any, *, source: str) -> Any:
    """Turn ``raw`` (text from the environment, or a typed value) into the spec's type.

    :raises ConfigError: one line naming the variable, the value and what is allowed.
    """

    def bad() -> ConfigError:
        return ConfigError(
            f"{spec.env}={raw!s} is not allowed ({source}): expected {spec.allowed()}."
        )

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
        if isinstance(raw, bool):
            raise bad()
        try:
            value = int(str(raw).strip())
        except ValueError:
            raise bad() from None
    elif spec.type is float:
        try:
            value = float(str(raw).strip())
        except ValueError:
            raise bad() from None
        if value != value or value in (float("inf"), float("-inf")):
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
        if not (value == "auto" or (value.isalpha() and 2 <= len(value) <= 3) or value == "haw"):
            raise bad()
    return value


def looks_like_path(model: str) -> bool:
    return (
        os.sep in model
        or "/" in model
        or model.startswith((".", "~"))
        or Path(model).expanduser().exists()
    )


def _check_model(spec: SettingSpec, value: str, source: str) -> None:
    if looks_like_path(value):
        folder = Path(value).expanduser()
        if not folder.is_dir():
            raise ConfigError(
                f"{spec.env}={value} is not allowed ({source}): that model folder does not "
                f"exist; expected {BUNDLED_MODEL}, a model name, or a CTranslate2 model folder."
            )
        if not (folder / "model.bin").is_file():
            raise ConfigError(
                f"{spec.env}={value} is not allowed ({source}): the folder has no model.bin, "
                "so it is not a CTranslate2 Whisper model."
            )
    elif "/" not in value and value not in KNOWN_MODEL_NAMES:
        raise ConfigError(
            f"{spec.env}={value} is not allowed ({source}): expected one of "
            f"{', '.join(KNOWN_MODEL_NAMES)}, or the path of a CTranslate2 model folder."
        )


def model_is_english_only(model: str) -> bool:
    name = Path(model).name if looks_like_path(model) else model
    return name.endswith(".en")


def _check_combination(settings: Settings) -> None:
    if model_is_english_only(settings.whisper_model_size):
        if settings.language not in ("auto", "en"):
            raise ConfigError(
                f"WHISPER_LANGUAGE={settings.language} is not allowed with the English-only model "
                f"{settings.whisper_model_size}: use en or auto, or choose a multilingual model."
            )
        if settings.task == "translate":
            raise ConfigError(
                f"WHISPER_TASK=translate is not allowed with the English-only model "
                f"{settings.whisper_model_size}: choose a multilingual model to translate."
            )


def load_settings(
    environ: Mapping[str, str] | None = None,
    saved: Mapping[str, Any] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Settings:
    """Resolve every setting: overrides (command line) > environment > saved > default.

    ``saved`` and ``overrides`` are keyed by attribute name; ``None`` values are ignored.

    :raises ConfigError: for the first value that is not allowed.
    """
    environ = os.environ if environ is None else environ
    saved = saved or {}
    overrides = overrides or {}
    values: dict[str, Any] = {}
    for spec in SETTINGS:
        if overrides.get(spec.name) is not None:
            values[spec.name] = parse_value(spec, overrides[spec.name], source="command line")
        elif environ.get(spec.env, "").strip():
            values[spec.name] = parse_value(spec, environ[spec.env], source="environment")
        elif saved.get(spec.name) is not None:
            values[spec.name] = parse_value(spec, saved[spec.name], source="saved settings")
        else:
            values[spec.name] = spec.default_value()
    settings = Settings(**values)
    _check_combination(settings)
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
