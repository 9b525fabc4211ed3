"""Every keyboard shortcut of the window, declared once.

Actions and buttons take their keys from :class:`Shortcut`, so two commands cannot share a key
by accident (Record and Retry once both had Ctrl+R, and Qt then ran neither); a test checks
that no key is bound twice across the whole window, the Live panel included.
"""

from __future__ import annotations

from enum import Enum, unique

from PySide6.QtGui import QKeySequence

StandardKey = QKeySequence.StandardKey


@unique
class Shortcut(Enum):
    """A command's key: a platform's standard key where there is one, else a portable string."""

    ADD_FILES = StandardKey.Open
    ADD_FOLDER = "Ctrl+Shift+O"
    CANCEL = "Ctrl+K"
    RETRY = "Ctrl+R"
    MOVE_TO_TOP = "Ctrl+T"
    REMOVE = StandardKey.Delete
    REVEAL = "Ctrl+Shift+R"
    EXPORT = "Ctrl+E"
    EXPORT_ALL = "Ctrl+Shift+E"
    SETTINGS = StandardKey.Preferences
    QUIT = StandardKey.Quit
    JOB_OPTIONS = "Ctrl+J"
    RETRANSCRIBE = "Ctrl+Shift+T"
    FIND = StandardKey.Find
    COPY_TRANSCRIPT = "Ctrl+Shift+C"
    RECORD = "Ctrl+D"  # "dictate"; Ctrl+R is Retry
    # The transcript editor's. None is a plain letter or Space: they work while typing.
    UNDO_EDIT = StandardKey.Undo
    REDO_EDIT = StandardKey.Redo
    SPLIT_SEGMENT = "Ctrl+Return"
    MERGE_SEGMENT = "Ctrl+M"
    START_EARLIER = "Alt+Shift+Left"
    START_LATER = "Alt+Shift+Right"
    END_EARLIER = "Alt+Left"
    END_LATER = "Alt+Right"
    REPLACE = "Ctrl+H"
    NEXT_UNSURE = "F3"
    # Playback beside the editor: none is Space, a letter, or Ctrl+Left/Right (words in a row).
    PLAY_PAUSE = "Ctrl+P"
    SKIP_BACK = "Alt+,"
    SKIP_FORWARD = "Alt+."
    SLOWER = "Alt+Down"
    FASTER = "Alt+Up"
    START_AT_PLAYBACK = "Alt+["
    END_AT_PLAYBACK = "Alt+]"

    @property
    def keys(self) -> QKeySequence:
        """The key sequence; Settings falls back to Ctrl+, where the platform has none."""
        sequence = QKeySequence(self.value)
        if sequence.isEmpty() and self is Shortcut.SETTINGS:
            return QKeySequence("Ctrl+,")
        return sequence

    @property
    def text(self) -> str:
        """The key as the user reads it on this platform, for tooltips and messages."""
        return self.keys.toString(QKeySequence.SequenceFormat.NativeText)
