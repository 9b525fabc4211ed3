"""Typed errors that carry one sentence a user can act on.

Every failure that reaches a person (a bad file, a bad setting, a missing model, an export that
cannot be written) is one of these, so the faces can show ``str(error)`` instead of a traceback.
"""

from __future__ import annotations

from pathlib import Path


class VerbatimError(Exception):
    """Base class: ``str(error)`` is the sentence shown to the user."""


class ConfigError(VerbatimError):
    """A setting has a value that is not allowed."""


class ModelError(VerbatimError):
    """The speech model cannot be found or loaded."""


class ExportError(VerbatimError):
    """A transcript could not be written."""


class JobCancelled(VerbatimError):
    """Raised inside a transcription when the user cancelled the job."""

    def __init__(self) -> None:
        super().__init__("Cancelled by the user.")


class InputError(VerbatimError):
    """An input file cannot be transcribed; the message names the file and the problem."""

    def __init__(self, path: str | Path, problem: str) -> None:
        self.path = Path(path)
        self.problem = problem
        super().__init__(f"{self.path.name}: {problem}")


class InputMissingError(InputError):
    pass


class NotAFileError(InputError):
    pass


class InputUnreadableError(InputError):
    pass


class InputTooLargeError(InputError):
    pass


class NotDecodableError(InputError):
    pass


class UnsupportedAudioError(InputError):
    """The file decodes, but its header makes no sense for a recording (say, a 1 Hz rate)."""


class NoAudioStreamError(InputError):
    pass


class EmptyAudioError(InputError):
    pass
