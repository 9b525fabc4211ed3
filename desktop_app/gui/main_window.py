"""The main window: layout and wiring of the job list, transcript, drag and drop, capacity,
export and settings.

What the window does is done by parts with narrow inputs: :mod:`~desktop_app.gui.export_flow`
(exports and auto-exports, heard of from the queue itself), :mod:`~desktop_app.gui.job_actions`,
:mod:`~desktop_app.gui.session_restore`, :mod:`~desktop_app.gui.batch_summary`, and the
application's settings in :mod:`desktop_app.composition`. A dropped file goes window -> intake ->
queue -> engine -> exporter, never back through the window.

Everything slow happens elsewhere. Transcription runs in the :class:`JobQueue`'s workers; adding
files (folder scans and the queue's accept decision, :mod:`desktop_app.core.intake`), exports and
model loading run on :class:`BackgroundTasks`; results come back as queued signals. The window
reads frozen job snapshots and calls the queue, so the GUI thread never waits.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from PySide6.QtCore import (
    QItemSelectionModel,
    QModelIndex,
    QPoint,
    QSize,
    Qt,
    QTimer,
    QUrl,
    Signal,
    Slot,
)
from PySide6.QtGui import (
    QCloseEvent,
    QDesktopServices,
    QDragEnterEvent,
    QDragMoveEvent,
    QDropEvent,
    QIcon,
)
from PySide6.QtWidgets import (
    QApplication,
    QFileDialog,
    QMainWindow,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from desktop_app import APP_NAME
from desktop_app.composition import Application, compose
from desktop_app.core import intake
from desktop_app.core.errors import ConfigError
from desktop_app.core.intake import AddOutcome
from desktop_app.core.job_store import JobStore
from desktop_app.core.jobs import JobSnapshot, JobState
from desktop_app.core.model import ModelState
from desktop_app.core.paths import log_dir
from desktop_app.core.settings import Settings
from desktop_app.core.transcriber import Engine, TranscriptionOptions
from desktop_app.core.wording import plural
from desktop_app.gui.about_dialog import show_about
from desktop_app.gui.api_serving import WindowServer
from desktop_app.gui.background import BackgroundTasks
from desktop_app.gui.batch_summary import BatchSummary
from desktop_app.gui.export_flow import ExportFlow
from desktop_app.gui.job_actions import JobActions
from desktop_app.gui.job_model import JobTableModel
from desktop_app.gui.job_options_dialog import JobOptionsDialog
from desktop_app.gui.job_table_view import JobTableView
from desktop_app.gui.model_preload import ModelPreload
from desktop_app.gui.notice_bar import NoticeBar
from desktop_app.gui.preferences import Preferences
from desktop_app.gui.session_restore import SessionRestore
from desktop_app.gui.settings_dialog import SettingsDialog
from desktop_app.gui.startup_notices import show_startup_problems
from desktop_app.gui.status_bar import CapacityLabel, ModelStateLabel
from desktop_app.gui.transcript_editor import TranscriptEditor
from desktop_app.gui.transcript_follow import TranscriptFollow
from desktop_app.gui.transcript_view import TranscriptView
from desktop_app.gui.window_actions import Command, WindowActions
from desktop_app.icon_files import icon_files
from desktop_app.job_queue import JobQueue

logger = logging.getLogger(__name__)


#: How often finished jobs older than JOB_CLEANUP_MAX_AGE_HOURS are cleaned up while running.
CLEANUP_INTERVAL_MS = 10 * 60 * 1000


def app_icon() -> QIcon:
    """The Verbatim icon, wherever it was installed (see ``icon_files``); empty if none is found."""
    icon = QIcon()
    for size, png in icon_files().items():
        icon.addFile(str(png), QSize(size, size))
    return icon


class MainWindow(QMainWindow):
    """Verbatim's window: a view of an :class:`Application` (settings, job store, engine,
    queue) made by :mod:`desktop_app.composition`. All arguments are optional: without
    ``application`` the window asks the composition root for one, passing on the other
    arguments (settings from the environment and the saved settings, its own engine and queue,
    and a :class:`JobStore` in the user's data folder unless ``store`` is given or
    ``persist=False``).

    A window whose application stores its jobs shows the stored jobs at start, and on closing
    leaves unfinished jobs stored so the next start resumes them.
    """

    notice_shown = Signal(str)
    files_added = Signal(object)  # AddOutcome
    export_finished = Signal(object)  # ExportOutcome
    model_state_changed = Signal(object)  # ModelState
    batch_finished = Signal()
    jobs_restored = Signal(int)  # how many stored jobs came back at start

    def __init__(
        self,
        settings: Settings | None = None,
        engine: Engine | None = None,
        queue: JobQueue | None = None,
        environ: Mapping[str, str] | None = None,
        parent: QWidget | None = None,
        store: JobStore | None = None,
        persist: bool = True,
        application: Application | None = None,
    ) -> None:
        super().__init__(parent)
        if application is None:
            application = compose(
                settings, engine=engine, queue=queue, store=store, persist=persist, environ=environ
            )
        self.application = application
        self.environ = application.environ
        self.settings = application.settings
        self.preferences = Preferences.load()
        self.background = BackgroundTasks(self)
        self._owns_queue = application.owns_queue
        self.queue = queue = application.queue
        self.engine = queue.engine
        self._shut_down = False

        self.setWindowTitle(APP_NAME)
        self.setWindowIcon(app_icon())
        self.setAcceptDrops(True)
        self.resize(1100, 680)
        self._build_widgets()
        self.export_flow = ExportFlow(
            queue,
            self.background,
            self.statusBar(),
            self.show_notice,
            lambda: self.preferences,
            self,
        )
        self.export_flow.finished.connect(self.export_finished)
        self.session = SessionRestore(
            queue, self.background, self.statusBar(), self.show_notice, self.model.snapshots, self
        )
        self.session.finished.connect(self.export_flow.write_all_owed)  # what a crash kept
        self.session.finished.connect(self._on_restored)
        self.job_actions = JobActions(
            queue,
            self.selected_ids,
            self.show_notice,
            self.statusBar(),
            self,
            confirm_discarding_edits=lambda ids: self.transcript.confirm_discarding_edits(ids),
        )
        self.job_actions.changed.connect(self._after_job_action)
        self.batch_summary = BatchSummary(queue, self.statusBar(), self)
        self.batch_summary.finished.connect(self.batch_finished)
        self.model_preload = ModelPreload(application, self.background, self)
        self.model_preload.state_changed.connect(self._set_model_state)
        self._build_actions()
        self._connect_queue()
        self._add_live_tab()
        self.capacity_label.show_capacity(queue.capacity())
        self._update_actions()
        self.store_dialog = show_startup_problems(application, self.show_notice, self)
        self.cleanup_timer = QTimer(self)
        self.cleanup_timer.setInterval(CLEANUP_INTERVAL_MS)
        self.cleanup_timer.timeout.connect(self.clean_up_old_jobs)
        if self._owns_queue and queue.store is not None:
            self.cleanup_timer.start()
            self.session.start(self.settings.job_cleanup_max_age_hours)
        self.api_server = WindowServer(queue, self)
        self.api_server.started.connect(
            lambda url: self.statusBar().showMessage(f"Serving on this computer at {url}", 10_000)
        )
        self.api_server.failed.connect(self.show_notice)
        if self.preferences.serve_api:
            self.api_server.apply(True, self.settings)
        self.preload_model()

    # ----------------------------------------------------------------- building
    def _build_widgets(self) -> None:
        self.model = JobTableModel(self.queue, self)
        self.table = JobTableView(self.model)
        self.table.customContextMenuRequested.connect(self._context_menu)
        self.table.selectionModel().selectionChanged.connect(self._on_selection)
        self.table.selectionModel().currentRowChanged.connect(self._on_current_row)

        self.transcript = TranscriptView(
            TranscriptEditor(self.queue, self.settings.unsure_word_probability)
        )
        self.notice = NoticeBar()

        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(self.table)
        splitter.addWidget(self.transcript)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 2)
        self.files_tab = QWidget()
        files_layout = QVBoxLayout(self.files_tab)
        files_layout.setContentsMargins(6, 6, 6, 6)
        files_layout.addWidget(self.notice)
        files_layout.addWidget(splitter, 1)

        self.tabs = QTabWidget()
        self.tabs.setAccessibleName("Views")
        self.tabs.addTab(self.files_tab, "&Files")
        self.tabs.currentChanged.connect(lambda _index: self._update_actions())
        self.setCentralWidget(self.tabs)

        self.model_label = ModelStateLabel()
        self.capacity_label = CapacityLabel()
        self.statusBar().addPermanentWidget(self.model_label)
        self.statusBar().addPermanentWidget(self.capacity_label)

    def _build_actions(self) -> None:
        jobs = self.job_actions
        self.commands = WindowActions(
            self,
            {
                Command.ADD_FILES: self.add_files,
                Command.ADD_FOLDER: self.add_folder,
                Command.CANCEL: jobs.cancel_selected,
                Command.RETRY: jobs.retry_selected,
                Command.MOVE_TO_TOP: jobs.move_selected_to_top,
                Command.REMOVE: jobs.remove_selected,
                Command.REVEAL: jobs.reveal_selected,
                Command.EXPORT: self.export_selected,
                Command.EXPORT_ALL: self.export_all_finished,
                Command.SETTINGS: self.open_settings,
                Command.QUIT: self.close,
                Command.JOB_OPTIONS: jobs.edit_job_options,
                Command.RETRANSCRIBE: jobs.retranscribe_selected,
                Command.ABOUT: self.about,
                Command.LOG_FOLDER: self.open_log_folder,
            },
        )

    def _connect_queue(self) -> None:
        queue = self.queue
        queue.capacity_changed.connect(self.capacity_label.show_capacity)
        self.transcript_follow = TranscriptFollow(queue, self.transcript, self)
        queue.job_state_changed.connect(self._on_job_state)
        queue.store_failed.connect(self.show_notice)
        queue.store_recovered.connect(self.show_notice)
        if self.transcript.editor is not None:
            self.transcript.editor.message.connect(
                lambda text: self.statusBar().showMessage(text, 10_000)
            )

    def _add_live_tab(self) -> None:
        """Add the Live dictation panel when that module is installed; the window works without."""
        try:
            module = importlib.import_module("desktop_app.gui.live_panel")
        except ImportError:
            logger.info("No live dictation panel in this build")
            return
        try:
            self.live_panel = module.LivePanel(self.queue, self.settings, self)
        except Exception:
            logger.exception("The live dictation panel could not be created")
            return
        self.tabs.addTab(self.live_panel, "&Live")

    # ----------------------------------------------------------------- model loading
    def preload_model(self) -> None:
        """Load the speech model in the background, so the first job starts without the wait."""
        self.model_preload.load(self.settings.whisper_model_size)

    def _set_model_state(self, state: ModelState, detail: str) -> None:
        if state is ModelState.LOADING:
            self.model_label.show_loading(detail)
        elif state is ModelState.READY:
            self.model_label.show_ready(detail)
        else:
            self.model_label.show_error(detail)
            self.show_notice(
                f"{detail} Change the model in Settings (Ctrl+,); files you add will fail "
                "until a model is available."
            )
        self.model_state_changed.emit(state)

    # ----------------------------------------------------------------- stored jobs
    @property
    def restoring(self) -> bool:
        """True while the stored jobs are still loading (files added meanwhile wait)."""
        return self.session.restoring

    def _on_restored(self, count: int) -> None:
        if count and not self.table.selectionModel().hasSelection():
            self.select_job(self.model.job_id(0))
        self._update_actions()
        for paths in self.session.take_held():
            self.add_paths(paths)
        self.jobs_restored.emit(count)

    @Slot()
    def clean_up_old_jobs(self) -> list[str]:
        """Drop finished jobs past JOB_CLEANUP_MAX_AGE_HOURS (0 keeps them); exports stay."""
        hours = self.settings.job_cleanup_max_age_hours
        if hours <= 0 or self._shut_down:
            return []
        removed = self.queue.cleanup(hours)
        if removed:
            logger.info(
                "Cleaned up %s older than %g h", plural(len(removed), "finished job"), hours
            )
            self._update_actions()
        return removed

    # ----------------------------------------------------------------- adding files
    def options(self) -> TranscriptionOptions:
        return TranscriptionOptions.from_settings(self.settings)

    def add_paths(self, paths: Iterable[str | Path]) -> None:
        """Queue files and folders. Searching folders and the queue's decision (what fits, what
        is already queued) run on a background thread: a drop of thousands of files must not
        stall the window. Files added while the stored jobs load wait, to queue behind them."""
        chosen = [Path(path) for path in paths]
        if not chosen or self._shut_down:
            return
        if self.session.hold(chosen):
            return
        options = self.options()
        queue = self.queue

        def submit(files: list[Path]) -> intake.BatchResult:
            return queue.submit_many(files, options, skip_queued=True)

        self.statusBar().showMessage("Looking for audio and video files…")
        self.background.start(
            "Adding files",
            lambda: intake.add_paths(chosen, submit),
            self._on_files_added,
            self._on_add_failed,
        )

    def _on_add_failed(self, message: str) -> None:
        self.statusBar().clearMessage()  # not "Looking for audio and video files…" forever
        self.show_notice(message)

    def _on_files_added(self, outcome: AddOutcome) -> None:
        if self._shut_down:
            return
        if outcome.accepted and not self.table.selectionModel().hasSelection():
            self.select_job(outcome.accepted[0].id)
        message = outcome.message()
        if outcome.needs_attention:
            self.show_notice(message, outcome.details())
        self.statusBar().showMessage(message, 8000)
        self.files_added.emit(outcome)

    def open_files_from_elsewhere(self, files: list[str]) -> None:
        """Files handed over by a second ``verbatim FILE...``: queued as a drop would be, and
        the window comes to the front so the user sees where they went."""
        if files:
            self.add_paths(files)
        if self.isMinimized():
            self.showNormal()
        self.show()
        self.raise_()
        self.activateWindow()
        QApplication.alert(self)

    @Slot()
    def add_files(self) -> None:
        files, _filter = QFileDialog.getOpenFileNames(
            self,
            "Add audio or video files",
            "",
            "Audio and video (*.mp3 *.wav *.flac *.m4a *.ogg *.opus *.aac *.wma *.mp4 *.mkv "
            "*.mov *.webm *.avi);;All files (*)",
        )
        self.add_paths(files)

    @Slot()
    def add_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Add a folder of audio or video files")
        if folder:
            self.add_paths([folder])

    # ----------------------------------------------------------------- drag and drop
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if event.mimeData().hasUrls():
            event.acceptProposedAction()
        else:
            event.ignore()

    def dragMoveEvent(self, event: QDragMoveEvent) -> None:
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        urls = event.mimeData().urls()
        local = [Path(url.toLocalFile()) for url in urls if url.isLocalFile()]
        remote = [url.toString() for url in urls if not url.isLocalFile()]
        if remote:
            self.show_notice(
                f"{plural(len(remote), 'dropped item')} "
                f"{'is not a local file' if len(remote) == 1 else 'are not local files'} and "
                f"{'was' if len(remote) == 1 else 'were'} not added: "
                f"{', '.join(remote[: intake.NAMES_SHOWN])}. Download them first.",
                "\n".join(remote),
            )
        if local:
            event.acceptProposedAction()
            self.add_paths(local)

    # ----------------------------------------------------------------- selection
    def selected_ids(self) -> list[str]:
        rows = sorted(index.row() for index in self.table.selectionModel().selectedRows())
        return [self.model.job_id(row) for row in rows]

    def selected_jobs(self) -> list[JobSnapshot]:
        """The selected jobs as they are now (fresh snapshots, in the list's order)."""
        return self.queue.snapshots(self.selected_ids())

    def select_job(self, job_id: str) -> None:
        row = self.model.row_of(job_id)
        if row < 0:
            return
        index = self.model.index(row, 0)
        self.table.selectionModel().setCurrentIndex(
            index,
            QItemSelectionModel.SelectionFlag.ClearAndSelect
            | QItemSelectionModel.SelectionFlag.Rows,
        )

    @Slot()
    def _on_selection(self) -> None:
        self._update_actions()

    @Slot(QModelIndex, QModelIndex)
    def _on_current_row(self, current: QModelIndex, _previous: QModelIndex) -> None:
        self.transcript_follow.show(self.model.job_id(current.row()) if current.isValid() else None)

    @property
    def files_tab_shown(self) -> bool:
        return self.tabs.currentWidget() is self.files_tab

    def _update_actions(self) -> None:
        # The job actions act on the Files tab's selection; on another tab it is out of sight.
        shown = self.files_tab_shown
        self.commands.enable_for(
            {job.state for job in self.selected_jobs()} if shown else set(),
            shown and any(job.state is JobState.DONE for job in self.model.snapshots()),
        )

    def _context_menu(self, position: QPoint) -> None:
        self.commands.show_context_menu(self.table.viewport(), position)

    # ----------------------------------------------------------------- job actions
    @property
    def job_options_dialog(self) -> JobOptionsDialog | None:
        """The open Job Options or Re-transcribe dialog, if any."""
        return self.job_actions.options_dialog

    @Slot(list)
    def _after_job_action(self, job_ids: list[str]) -> None:
        self.transcript_follow.refresh(job_ids)
        self._update_actions()

    @Slot(str, object)
    def _on_job_state(self, job_id: str, state: JobState) -> None:
        """Acts on the transition the signal reports (the transcript pane follows by itself)."""
        job = self.queue.snapshot(job_id, with_text=False)
        if job is None:
            return
        if job_id in self.selected_ids():
            self._update_actions()
        if state is JobState.DONE:
            self.commands[Command.EXPORT_ALL].setEnabled(self.files_tab_shown)
            if job.error:  # a re-run that failed: the previous transcript is back
                self.show_notice(f"{job.name}: {job.error}")

    # ----------------------------------------------------------------- export
    @Slot()
    def export_selected(self) -> None:
        ids = [job.id for job in self.selected_jobs() if job.state is JobState.DONE]
        self.export_flow.ask_and_export(ids)

    @Slot()
    def export_all_finished(self) -> None:
        self.export_flow.ask_and_export(
            [job.id for job in self.model.snapshots() if job.state is JobState.DONE]
        )

    def export_jobs(
        self, job_ids: list[str], formats: list[str], output_dir: Path | None, **how: bool
    ) -> None:
        """Export without asking for formats and folder (``how``: ExportFlow.export's flags)."""
        self.export_flow.export(job_ids, formats, output_dir, **how)

    # ----------------------------------------------------------------- settings
    @Slot()
    def open_settings(self) -> None:
        dialog = SettingsDialog(
            self.settings, self.environ, self.preferences, self, serving=self.api_server.address
        )
        if dialog.exec() == SettingsDialog.DialogCode.Accepted:
            self.apply_settings(dialog.values(), dialog.preferences())

    def apply_settings(
        self, values: Mapping[str, Any], preferences: Preferences | None = None
    ) -> bool:
        """Save, reload with the environment on top, and apply limits to the running queue now
        (:meth:`Application.apply_settings`); then what only the window holds."""
        if preferences is not None:
            preferences.save()
            self.preferences = preferences
        try:
            new = self.application.apply_settings(values, self.environ)
        except ConfigError as error:
            self.show_notice(f"Settings not applied: {error}")
            return False
        old, self.settings = self.settings, new
        if hasattr(self, "live_panel"):  # the next dictation uses the new model and language
            self.live_panel.settings = new
        if new.whisper_model_size != old.whisper_model_size:
            self.preload_model()
        self.api_server.apply(self.preferences.serve_api, new)
        self.statusBar().showMessage("Settings saved and applied.", 5000)
        return True

    # ----------------------------------------------------------------- help
    @Slot()
    def about(self) -> None:
        show_about(self, self.settings.whisper_model_size)

    @Slot()
    def open_log_folder(self) -> None:
        folder = log_dir()
        folder.mkdir(parents=True, exist_ok=True)
        self.open_location(folder)

    def open_location(self, folder: Path) -> bool:
        """Show a folder in the file manager (one place, so tests can watch it)."""
        return bool(QDesktopServices.openUrl(QUrl.fromLocalFile(str(folder))))

    # ----------------------------------------------------------------- messages and closing
    def show_notice(self, text: str, details: str = "") -> None:
        """One non-modal message; replaces the previous one instead of piling up. ``details``
        (every file concerned) is offered behind "Show Details…"."""
        logger.info("Notice: %s", text)
        self.notice.show_message(text, details)
        self.notice_shown.emit(text)

    def shutdown(self, timeout_ms: int = 30_000) -> None:
        """Cancel the window's work and wait for its threads; safe to call twice."""
        if self._shut_down:
            return
        self._shut_down = True
        self.model._clock.stop()
        self.cleanup_timer.stop()
        self.api_server.stop()
        if hasattr(self, "live_panel"):  # a dictation under way becomes a job first
            self.live_panel.shutdown(timeout_ms / 1000)
        self.application.shutdown(lambda: self._settle(timeout_ms), timeout_ms)

    def _settle(self, timeout_ms: int) -> None:
        """The window's own work in flight ends, and its threads with it: background tasks
        (a restore still loading, exports), the last edits on their way to the store."""
        self.background.wait(timeout_ms)
        if self.transcript.editor is not None:
            self.transcript.editor.saver.close(timeout_ms / 1000)

    def closeEvent(self, event: QCloseEvent) -> None:
        running = self.queue.capacity()
        if self._owns_queue and (running.active or running.queued):
            self.statusBar().showMessage(
                "Stopping the running jobs; they continue the next time Verbatim starts…"
            )
        self.shutdown()
        event.accept()
