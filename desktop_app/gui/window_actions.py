"""The window's commands as actions: text, key and tip declared once per command, where each
is shown (toolbar, menus, the job list's context menu), and which are enabled for a selection.

The keys come from the one shortcut table (:mod:`desktop_app.gui.shortcuts`); what a command
does is the window's to say (``slots``), so this module holds no behaviour of its own.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum, auto

from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QMainWindow, QMenu, QToolBar, QWidget

from desktop_app import APP_NAME
from desktop_app.core.jobs import JobState
from desktop_app.gui.job_actions import EDITABLE_STATES, RETRYABLE_STATES
from desktop_app.gui.shortcuts import Shortcut


class Command(Enum):
    ADD_FILES = auto()
    ADD_FOLDER = auto()
    CANCEL = auto()
    RETRY = auto()
    MOVE_TO_TOP = auto()
    REMOVE = auto()
    REVEAL = auto()
    EXPORT = auto()
    EXPORT_ALL = auto()
    SETTINGS = auto()
    QUIT = auto()
    JOB_OPTIONS = auto()
    RETRANSCRIBE = auto()
    ABOUT = auto()
    LOG_FOLDER = auto()


@dataclass(frozen=True)
class CommandText:
    text: str
    shortcut: Shortcut | None
    tip: str


COMMANDS: dict[Command, CommandText] = {
    Command.ADD_FILES: CommandText("Add &Files…", Shortcut.ADD_FILES, "Add audio or video files"),
    Command.ADD_FOLDER: CommandText(
        "Add F&older…", Shortcut.ADD_FOLDER, "Add every audio or video file in a folder"
    ),
    Command.CANCEL: CommandText("&Cancel", Shortcut.CANCEL, "Cancel the selected jobs"),
    Command.RETRY: CommandText(
        "&Retry", Shortcut.RETRY, "Queue the selected failed or cancelled jobs again"
    ),
    Command.MOVE_TO_TOP: CommandText(
        "Move to &Top", Shortcut.MOVE_TO_TOP, "Run the selected queued jobs next"
    ),
    Command.REMOVE: CommandText(
        "Re&move",
        Shortcut.REMOVE,
        "Remove the selected finished jobs from the list (exported files stay)",
    ),
    Command.REVEAL: CommandText(
        "Re&veal in Folder", Shortcut.REVEAL, "Open the folder of the selected file"
    ),
    Command.EXPORT: CommandText("&Export…", Shortcut.EXPORT, "Export the selected transcripts"),
    Command.EXPORT_ALL: CommandText(
        "Export &All Finished…", Shortcut.EXPORT_ALL, "Export every finished transcript"
    ),
    Command.SETTINGS: CommandText(
        "&Settings…",
        Shortcut.SETTINGS,
        "Model, language, workers, queue size and auto-export",
    ),
    Command.QUIT: CommandText("&Quit", Shortcut.QUIT, "Quit"),
    Command.JOB_OPTIONS: CommandText(
        "Job &Options…",
        Shortcut.JOB_OPTIONS,
        "Change the model, language, task or beam size of the selected queued, failed or "
        "cancelled jobs",
    ),
    Command.RETRANSCRIBE: CommandText(
        "Re-&transcribe With…",
        Shortcut.RETRANSCRIBE,
        "Transcribe the selected finished jobs again, with other options",
    ),
    Command.ABOUT: CommandText(f"&About {APP_NAME}", None, "Version, model in use and licences"),
    Command.LOG_FOLDER: CommandText(
        "Open &Log Folder", None, "Open the folder with Verbatim's log files (for a bug report)"
    ),
}

#: What acts on the selected jobs: the Job menu and the job list's context menu.
JOB_COMMANDS = (
    Command.CANCEL,
    Command.RETRY,
    Command.MOVE_TO_TOP,
    Command.REMOVE,
    Command.JOB_OPTIONS,
    Command.RETRANSCRIBE,
    Command.REVEAL,
    Command.EXPORT,
)
#: None: a separator.
TOOLBAR: tuple[Command | None, ...] = (
    Command.ADD_FILES,
    Command.ADD_FOLDER,
    None,
    Command.CANCEL,
    Command.RETRY,
    Command.MOVE_TO_TOP,
    Command.REMOVE,
    None,
    Command.EXPORT,
    Command.EXPORT_ALL,
    None,
    Command.SETTINGS,
)
MENUS: tuple[tuple[str, Sequence[Command | None]], ...] = (
    (
        "&File",
        (
            Command.ADD_FILES,
            Command.ADD_FOLDER,
            None,
            Command.EXPORT,
            Command.EXPORT_ALL,
            None,
            Command.QUIT,
        ),
    ),
    ("&Job", JOB_COMMANDS),
    ("&Tools", (Command.SETTINGS,)),
    ("&Help", (Command.ABOUT, Command.LOG_FOLDER)),
)
#: Which selected states make a job command do something (the rest are always enabled).
ENABLING_STATES: dict[Command, Collection[JobState]] = {
    Command.CANCEL: (JobState.QUEUED, JobState.RUNNING),
    Command.RETRY: RETRYABLE_STATES,
    Command.MOVE_TO_TOP: (JobState.QUEUED,),
    Command.JOB_OPTIONS: EDITABLE_STATES,
    Command.RETRANSCRIBE: (JobState.DONE,),
    Command.REMOVE: [state for state in JobState if state.finished],
    Command.REVEAL: tuple(JobState),
    Command.EXPORT: (JobState.DONE,),
}


class WindowActions:
    """One :class:`QAction` per :class:`Command` on ``window`` (its keys work anywhere in
    it), with its toolbar and menu bar."""

    def __init__(self, window: QMainWindow, slots: Mapping[Command, Callable[[], object]]) -> None:
        self._actions = {
            command: _action(window, COMMANDS[command], slots[command]) for command in Command
        }
        toolbar = QToolBar("Main")
        toolbar.setObjectName("mainToolbar")
        toolbar.setAccessibleName("Main toolbar")
        toolbar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        toolbar.setMovable(False)
        for command in TOOLBAR:
            if command is None:
                toolbar.addSeparator()
                continue
            action = self[command]
            toolbar.addAction(action)
            button = toolbar.widgetForAction(action)
            if button is not None:
                button.setAccessibleName(action.text().replace("&", "").rstrip("…"))
        window.addToolBar(toolbar)
        for title, commands in MENUS:
            menu = window.menuBar().addMenu(title)
            for command in commands:
                if command is None:
                    menu.addSeparator()
                else:
                    menu.addAction(self[command])

    def __getitem__(self, command: Command) -> QAction:
        return self._actions[command]

    def job_actions(self) -> list[QAction]:
        return [self[command] for command in JOB_COMMANDS]

    def show_context_menu(self, view: QWidget, position: QPoint) -> None:
        """The job commands at ``position`` in ``view`` (a view's viewport coordinates)."""
        menu = QMenu(view)
        menu.setAccessibleName("Job actions")
        menu.addActions(self.job_actions())
        menu.popup(view.mapToGlobal(position))

    def enable_for(self, selected: Collection[JobState], any_done: bool) -> None:
        """Enable each job command that does something for a selection of jobs in these
        states; Export All while any job is done."""
        for command, states in ENABLING_STATES.items():
            self[command].setEnabled(any(state in states for state in selected))
        self[Command.EXPORT_ALL].setEnabled(any_done)


def _action(window: QMainWindow, command: CommandText, slot: Callable[[], object]) -> QAction:
    action = QAction(command.text, window)
    if command.shortcut is not None:
        action.setShortcut(command.shortcut.keys)
        action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
    shown = action.shortcut().toString(QKeySequence.SequenceFormat.NativeText)
    action.setToolTip(f"{command.tip} ({shown})" if shown else command.tip)
    action.setStatusTip(command.tip)
    action.triggered.connect(slot)
    window.addAction(action)
    return action
