"""The user's folders for Verbatim's data, logs and settings (XDG on Linux, via platformdirs).

Transcripts, recordings and logs are private: the folders Verbatim creates are 0700 and the
files it keeps there 0600, whatever the umask, so another user on the same computer reads
nothing (:func:`private_dir`, :func:`open_private`). Exports are the user's documents and keep
the normal mode (:mod:`desktop_app.core.exporters`).
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import tempfile
from pathlib import Path
from typing import IO, Any

import platformdirs

from desktop_app.core.errors import VerbatimError

APP_DIR_NAME = "verbatim"
PRIVATE_DIR_MODE = 0o700
PRIVATE_FILE_MODE = 0o600


def data_dir() -> Path:
    return Path(platformdirs.user_data_dir(APP_DIR_NAME, appauthor=False))


def log_dir() -> Path:
    return Path(platformdirs.user_log_dir(APP_DIR_NAME, appauthor=False))


def config_dir() -> Path:
    return Path(platformdirs.user_config_dir(APP_DIR_NAME, appauthor=False))


def private_dir(folder: Path) -> Path:
    """Create ``folder`` (and each missing parent) as 0700 and make ``folder`` itself 0700.

    A folder an older Verbatim created 0755 is tightened; parents that already exist belong to
    the user and keep their mode.
    """
    missing: list[Path] = []
    probe = folder
    while not probe.exists() and probe != probe.parent:
        missing.append(probe)
        probe = probe.parent
    for path in reversed(missing):
        with contextlib.suppress(FileExistsError):  # another process was quicker: fine
            path.mkdir(mode=PRIVATE_DIR_MODE)
        os.chmod(path, PRIVATE_DIR_MODE)  # mkdir's mode passes through the umask
    if not folder.is_dir():  # a file in the way: never change its mode
        raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), str(folder))
    if stat.S_IMODE(folder.stat().st_mode) != PRIVATE_DIR_MODE:
        # Not ours to change (another owner, immutable): what uses it then says what is wrong.
        with contextlib.suppress(PermissionError):
            os.chmod(folder, PRIVATE_DIR_MODE)
    return folder


def make_private(path: Path) -> None:
    """Close an existing file to others (one an older Verbatim created world-readable).

    Only group and other permissions are removed: a store the user made read-only stays so,
    and a file whose mode cannot be changed (immutable, another owner's) is left as it is.
    """
    with contextlib.suppress(FileNotFoundError, PermissionError):
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            os.chmod(path, mode & 0o700)


def create_private(path: Path) -> None:
    """Create an empty 0600 file if there is none, so that what writes it later keeps 0600.

    Where it cannot be created (a read-only folder), what opens it next reports the problem.
    """
    with contextlib.suppress(FileExistsError, PermissionError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE))


def _private_opener(path: str, flags: int) -> int:
    return os.open(path, flags, PRIVATE_FILE_MODE)


def open_private(path: Path, mode: str = "a", **kwargs: Any) -> IO[Any]:
    """``open()`` that creates the file 0600 and closes an existing one to others."""
    handle = open(path, mode, opener=_private_opener, **kwargs)  # noqa: SIM115 - the caller closes
    current = stat.S_IMODE(os.fstat(handle.fileno()).st_mode)
    if current & 0o077:
        os.fchmod(handle.fileno(), current & 0o700)
    return handle


def runtime_dir() -> Path:
    """A folder only this user can enter, for the single-instance socket.

    ``$XDG_RUNTIME_DIR`` when it is what the XDG specification promises (an absolute folder
    owned by this user, closed to others); otherwise ``verbatim-<uid>`` in the temporary folder,
    created 0700 and checked to be ours: another user may have created that name first.

    :raises VerbatimError: the fallback exists but belongs to someone else or is open to others.
    """
    runtime = os.environ.get("XDG_RUNTIME_DIR", "")
    if runtime and os.path.isabs(runtime) and _is_private_dir(Path(runtime)):
        return Path(runtime)
    folder = Path(tempfile.gettempdir()) / f"{APP_DIR_NAME}-{os.getuid()}"
    with contextlib.suppress(FileExistsError):  # checked below: it may not be ours
        folder.mkdir(mode=PRIVATE_DIR_MODE)
    if not _is_private_dir(folder):
        raise VerbatimError(
            f"The folder {folder} belongs to another user or is open to others, so Verbatim "
            "cannot use it safely. Remove it, or set XDG_RUNTIME_DIR to a private folder."
        )
    return folder


def _is_private_dir(folder: Path) -> bool:
    """A real folder (not a link), owned by this user, that no one else may enter or change."""
    try:
        info = folder.lstat()
    except OSError:
        return False
    return (
        stat.S_ISDIR(info.st_mode)
        and info.st_uid == os.getuid()
        and stat.S_IMODE(info.st_mode) & 0o077 == 0
    )
