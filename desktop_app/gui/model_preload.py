"""Loads the speech model in the background (at start, and when Settings change the model), so
the first job starts without the wait, and says how the load is going.

The load itself is the application's (:meth:`Application.preload_model`, Qt-free); this runs it
on the window's background pool and reports on the GUI thread.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal

from desktop_app.composition import Application
from desktop_app.core.model import ModelState
from desktop_app.gui.background import BackgroundTasks


class ModelPreload(QObject):
    #: ModelState, and the model's name (loading, ready) or why it cannot load (error).
    state_changed = Signal(object, str)

    def __init__(
        self, application: Application, background: BackgroundTasks, parent: QObject
    ) -> None:
        super().__init__(parent)
        self.application = application
        self.background = background

    def load(self, model: str) -> None:
        """Announce LOADING now, then READY or ERROR when the load ends (READY at once for an
        engine that loads as it goes)."""
        if not self.application.preloads_model:
            self.state_changed.emit(ModelState.READY, model)
            return
        self.state_changed.emit(ModelState.LOADING, model)
        self.background.start(
            "Loading the model",
            lambda: self.application.preload_model(model),
            lambda _result: self.state_changed.emit(ModelState.READY, model),
            lambda message: self.state_changed.emit(ModelState.ERROR, message),
        )
