"""Logging set-up shared by the faces: a rotating log file in the user's log folder.

The log names the files a user transcribes, so it is private like the transcripts: a 0700
folder and 0600 files, the rotated ones included.
"""

from __future__ import annotations

import faulthandler
import io
import logging
import logging.handlers
import sys
from pathlib import Path
from typing import TextIO, cast

from desktop_app.core.paths import log_dir, open_private, private_dir

logger = logging.getLogger(__name__)

LOG_FORMAT = "%(asctime)s %(levelname)-7s %(threadName)s %(name)s: %(message)s"
_fault_file: TextIO | None = None


class PrivateRotatingFileHandler(logging.handlers.RotatingFileHandler):
    """Creates each log file 0600, also the new one after a rotation."""

    def _open(self) -> io.TextIOWrapper:
        handle = open_private(Path(self.baseFilename), self.mode, encoding=self.encoding)
        return cast(io.TextIOWrapper, handle)


def setup_logging(level: str, *, console: bool = False) -> Path:
    """Send logs to ``verbatim.log`` (rotated at 2 MB, 5 kept) and crash dumps to ``faults.log``.

    Returns the log file's path, which error messages show so users can find it.
    """
    global _fault_file
    folder = private_dir(log_dir())
    path = folder / "verbatim.log"
    root = logging.getLogger()
    root.setLevel(level)
    for handler in list(root.handlers):
        if getattr(handler, "_verbatim", False):
            root.removeHandler(handler)
            handler.close()
    file_handler = PrivateRotatingFileHandler(
        path, maxBytes=2_000_000, backupCount=5, encoding="utf-8"
    )
    file_handler.setFormatter(logging.Formatter(LOG_FORMAT))
    file_handler._verbatim = True  # type: ignore[attr-defined]
    root.addHandler(file_handler)
    if console:
        stream = logging.StreamHandler(sys.stderr)
        stream.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        stream.setLevel(max(logging.WARNING, logging.getLevelName(level)))
        stream._verbatim = True  # type: ignore[attr-defined]
        root.addHandler(stream)
    if _fault_file is None:
        _fault_file = cast(TextIO, open_private(folder / "faults.log", "a", encoding="utf-8"))
        faulthandler.enable(_fault_file)
    return path
