"""The Live tab: dictate into the window over the same core session as ``verbatim-cli listen``.

Model loading, capture and transcription all run on the session's own threads; their callbacks
reach this widget only through queued signals of :class:`_Bridge`, so the GUI thread never waits.
When a recording stops, its WAV and transcript become a finished job in the job list.
"""

from __future__ import annotations

import html
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QObject, Qt, QTimer, Signal, Slot
from PySide6.QtGui import QGuiApplication, QKeySequence, QShowEvent
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QTextEdit,
    QVBoxLayout,
    QWidget,
)

from desktop_app.core.audio_sources import AudioSource, MicrophoneError, MicrophoneSource
from desktop_app.core.live import LiveResult, LiveSession, LiveStatus, create_transcriber
from desktop_app.core.recording import WavRecorder, new_recording_path
from desktop_app.core.settings import Settings
from desktop_app.core.streaming import StreamEvent, words_to_transcript
from desktop_app.core.transcriber import TranscriptionOptions
from desktop_app.core.transcript import Word
from desktop_app.gui.background import BackgroundTasks
from desktop_app.gui.shortcuts import Shortcut
from desktop_app.job_queue import JobQueue

logger = logging.getLogger(__name__)

SourceFactory = Callable[[str | None], AudioSource]


#: The tentative tail: words the last two reads agree on, then the newest read's own words
#: (lighter: the likeliest to change). Confirmed words are in the text's own colour.
STEADY_COLOR = "#777777"
FRESH_COLOR = "#b0b0b0"


def _key(word: str) -> str:
    return "".join(c for c in word.lower() if c.isalnum() or c == "'")


def steady_tail(previous: list[str], text: str) -> tuple[list[str], list[str]]:
    """The newest tentative ``text`` as (words it shares with the previous read's, the rest).

    A steadier tail, as RealtimeSTT's stabiliser shows it: the words two reads in a row agree on
    are unlikely to change, so only the newest read's remainder is drawn lighter, and the eye
    is not drawn by every word of the tail flickering alike."""
    words = text.split()
    common = 0
    for old, new in zip(previous, words, strict=False):
        if _key(old) != _key(new):
            break
        common += 1
    return words[:common], words[common:]


#: Closing the window while dictating waits this long for the last words to be read; past it,
#: the recording is queued for transcription as a file instead (a long backlog on a busy
#: computer would hold the window open).
FINISH_ON_CLOSE_SECONDS = 10.0


class _Bridge(QObject):
    """Carries session callbacks (worker threads) to the GUI thread as queued signals."""

    stream_event = Signal(object)
    status = Signal(object)
    error = Signal(str)
    finished = Signal(object)
    started = Signal(object)  # LiveSession, once the model is loaded and capture runs


class LivePanel(QWidget):
    def __init__(self, queue: JobQueue, settings: Settings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.queue = queue
        self.settings = settings
        #: Tests and benchmarks replace this to dictate from a recording.
        self.source_factory: SourceFactory = MicrophoneSource
        self.session: LiveSession | None = None
        self._warmed = False
        #: The panel's own threads (model warm-up, a session opening), joined by shutdown().
        self._threads: list[threading.Thread] = []
        #: A session opened but not yet announced to the GUI thread (shutdown() ends it too).
        self._opened: LiveSession | None = None
        self._closing = False
        self._confirmed: list[Word] = []
        self._tentative = ""
        #: The tentative words the last two reads agree on; the rest is the newest read's only.
        self._steady: list[str] = []
        self._fresh: list[str] = []
        self._started_at = 0.0  # time.monotonic() when capture began
        self._options = TranscriptionOptions.from_settings(settings)
        # No parent: the session's threads may outlive this panel (a window closed while
        # dictating); their reports then reach a bridge whose slots are gone, instead of
        # raising "Signal source has been deleted" in them and spoiling the recording's end.
        self._bridge = _Bridge()
        self._bridge.stream_event.connect(self._on_event, Qt.ConnectionType.QueuedConnection)
        self._bridge.status.connect(self._on_status, Qt.ConnectionType.QueuedConnection)
        self._bridge.error.connect(self._on_error, Qt.ConnectionType.QueuedConnection)
        self._bridge.finished.connect(self._on_finished, Qt.ConnectionType.QueuedConnection)
        self._bridge.started.connect(self._on_started, Qt.ConnectionType.QueuedConnection)

        self.devices = QComboBox()
        self.refresh_button = QPushButton("Refresh")
        self.record_button = QPushButton("Record")
        self.record_button.setShortcut(Shortcut.RECORD.keys)
        self.record_button.setToolTip(f"Start or stop dictation ({Shortcut.RECORD.text})")
        self.level = QProgressBar()
        self.level.setRange(0, 100)
        self.level.setTextVisible(False)
        self.level.setMaximumWidth(160)
        self.elapsed = QLabel("0:00")
        self.status_label = QLabel("")
        self.text = QTextEdit()
        self.text.setReadOnly(True)
        self.text.setAccessibleName("Dictated text")
        self._show_hint()
        self.copy_button = QPushButton("Copy")
        self.clear_button = QPushButton("Clear")
        self.export_button = QPushButton("Export…")

        top = QHBoxLayout()
        top.addWidget(QLabel("Input:"))
        top.addWidget(self.devices, 1)
        top.addWidget(self.refresh_button)
        top.addWidget(self.record_button)
        top.addWidget(self.level)
        top.addWidget(self.elapsed)
        bottom = QHBoxLayout()
        bottom.addWidget(self.status_label, 1)
        for button in (self.copy_button, self.clear_button, self.export_button):
            bottom.addWidget(button)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.text, 1)
        layout.addLayout(bottom)

        self.background = BackgroundTasks(self, max_threads=1)
        self._clock = QTimer(self)
        self._clock.setInterval(250)
        self._clock.timeout.connect(self._tick)
        self.refresh_button.clicked.connect(self.refresh_devices)
        self.record_button.clicked.connect(self.toggle_recording)
        self.copy_button.clicked.connect(self.copy_text)
        self.clear_button.clicked.connect(self.clear)
        self.export_button.clicked.connect(self.export)
        self.refresh_devices()

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        self._show_hint()  # the window may have bound Record to another key since
        if not self._warmed:
            self._warmed = True
            self._start_thread(self._warm_up, "live-warm-up")

    def _show_hint(self) -> None:
        """What to do, in the empty text area: a blank box tells a new user nothing."""
        key = self.record_button.shortcut().toString(QKeySequence.SequenceFormat.NativeText)
        self.text.setPlaceholderText(
            f"Choose the input above, press Record{f' ({key})' if key else ''} and speak: your "
            "words appear here as you talk, grey until they are certain. When you stop, the "
            "recording and its transcript are kept in the Files tab."
        )

    def _warm_up(self) -> None:
        """Load the live model the first time the panel is shown, off the GUI thread, so that
        Record starts capturing at once instead of after the model's load."""
        try:
            create_transcriber(self.settings)
        except Exception:  # Record reports a model that cannot load; this is only a head start
            logger.info("Could not preload the live model", exc_info=True)

    # ------------------------------------------------------------------ devices
    @Slot()
    def refresh_devices(self) -> None:
        from desktop_app.core.audio_sources import input_choices, list_input_devices

        chosen = self.devices.currentData()
        self.devices.clear()
        try:
            found = list_input_devices(rescan=not self.recording)
        except MicrophoneError as exc:
            self.status_label.setText(str(exc))
            return
        if not found:
            self.status_label.setText("No microphone found; connect one and press Refresh.")
        # Friendly labels; the item data is the PortAudio name that is opened.
        for choice in input_choices(found):
            self.devices.addItem(choice.label, choice.device)
        if (kept := self.devices.findData(chosen)) >= 0:  # Refresh keeps the user's choice
            self.devices.setCurrentIndex(kept)

    # ------------------------------------------------------------------ recording
    @property
    def recording(self) -> bool:
        return self.session is not None

    @Slot()
    def toggle_recording(self) -> None:
        if self.session is not None:
            self.stop()
        elif self.record_button.isEnabled():
            self.start()

    def start(self) -> None:
        device = self.devices.currentData()
        # The options the session is made with, not those in force when it ends.
        self._options = TranscriptionOptions.from_settings(self.settings)
        self.record_button.setEnabled(False)
        self.status_label.setText("Loading the model…")
        self._start_thread(lambda: self._open_session(device), "live-open")

    def _start_thread(self, target: Callable[[], None], name: str) -> None:
        self._threads = [thread for thread in self._threads if thread.is_alive()]
        thread = threading.Thread(target=target, name=name, daemon=True)
        self._threads.append(thread)
        thread.start()

    def shutdown(self, timeout: float = 30.0) -> None:
        """Closing the window while dictating ends the dictation as Stop does, before the
        queue closes: the last words are confirmed and the dictation is stored as a job with
        its recording. Before this, the session's threads were cut off at exit: the recording
        was left unfinished and the dictation was never listed. Joins the panel's threads."""
        self._closing = True
        deadline = time.monotonic() + timeout
        for thread in self._threads:  # a session still opening is then in self._opened
            thread.join(max(0.0, deadline - time.monotonic()))
        session = self.session or self._opened
        self.session = self._opened = None
        self._clock.stop()
        if session is None:
            return
        self._started_at = session.source.started_at or self._started_at
        session.source.stop()  # here, not on a thread of its own: nothing is left running
        if not session.wait(min(FINISH_ON_CLOSE_SECONDS, max(0.0, deadline - time.monotonic()))):
            session.abort()  # a backlog: the recording goes to the queue instead
            session.wait(max(0.0, deadline - time.monotonic()))
        if session.result is not None:
            self._keep(session.result)

    def _open_session(self, device: str | None) -> None:
        """Off the GUI thread: load the model, open the source, start the session."""
        recorder: WavRecorder | None = None
        try:
            transcriber = create_transcriber(self.settings)
            source = self.source_factory(device)
            recorder = WavRecorder(new_recording_path())
            session = LiveSession(
                source,
                transcriber,
                recorder=recorder,
                model_name=self.settings.whisper_model_size,
                on_event=self._bridge.stream_event.emit,
                on_status=self._bridge.status.emit,
                on_error=self._bridge.error.emit,
                on_finished=self._bridge.finished.emit,
            )
            session.start()
            self._opened = session
        except Exception as exc:
            logger.exception("Could not start dictation")
            if recorder is not None:
                recorder.close()
                recorder.path.unlink(missing_ok=True)
            self._bridge.error.emit(str(exc))
            self._bridge.finished.emit(None)
            return
        self._bridge.started.emit(session)

    @Slot(object)
    def _on_started(self, session: LiveSession) -> None:
        if self._closing:  # shutdown() ends it
            return
        self._opened = None
        self.session = session
        self._started_at = session.source.started_at or time.monotonic()
        self._clock.start()
        self.record_button.setText("Stop")
        self.record_button.setEnabled(True)
        self.status_label.setText("Recording…")

    def stop(self) -> None:
        if self.session is not None:
            self.session.stop()
            self.record_button.setEnabled(False)
            self.status_label.setText("Finishing the last words…")

    @Slot(object)
    def _on_event(self, event: StreamEvent) -> None:
        if event.type == "final":
            self._confirmed.extend(event.words)
            # The shown tail's head may be what was just confirmed: compare the next read
            # with what is left of it.
            shown = self._steady + self._fresh
            said = [w.text for w in event.words]
            if [_key(w) for w in shown[: len(said)]] == [_key(w) for w in said]:
                rest, kept = shown[len(said) :], max(0, len(self._steady) - len(said))
                self._steady, self._fresh = rest[:kept], rest[kept:]
        else:
            self._tentative = event.text
            self._steady, self._fresh = steady_tail(self._steady + self._fresh, event.text)
        self._render()

    @Slot(object)
    def _on_status(self, status: LiveStatus) -> None:
        self.level.setValue(min(100, int(status.level * 300)))
        if status.lag_seconds > 2.0:
            self.status_label.setText(f"Transcription is {status.lag_seconds:.0f} s behind")

    @Slot(str)
    def _on_error(self, message: str) -> None:
        self.status_label.setText(message)

    @Slot(object)
    def _on_finished(self, result: LiveResult | None) -> None:
        if self._closing:  # shutdown() stored it
            return
        self._clock.stop()
        self.session = None
        self.level.setValue(0)
        self.record_button.setText("Record")
        self.record_button.setEnabled(True)
        if result is None:
            return
        self._tentative, self._steady, self._fresh = "", [], []
        self._render()
        if self._keep(result) and not result.error:
            assert result.recording is not None
            self.status_label.setText(f"Saved {result.recording.name} to the job list.")

    def _keep(self, result: LiveResult) -> bool:
        """Store a dictation with what was captured as a finished job; True if one was added.
        One cut short (:attr:`LiveResult.complete` false) is queued as a file to transcribe
        whole instead (it resumes at the next start when the window is closing), unless the
        queue is full."""
        if result.recording is None or result.captured_seconds <= 0:
            return False
        if not result.complete and self.queue.submit(result.recording, self._options).job:
            return True
        started_at = time.time() - (time.monotonic() - self._started_at)
        self.queue.add_finished(
            result.recording, result.transcript, self._options, started_at=started_at
        )
        return True

    @Slot()
    def _tick(self) -> None:
        seconds = int(time.monotonic() - self._started_at)
        self.elapsed.setText(f"{seconds // 60}:{seconds % 60:02d}")

    # ------------------------------------------------------------------ text
    def confirmed_text(self) -> str:
        return " ".join(w.text for w in self._confirmed)

    def tentative_text(self) -> str:
        return self._tentative

    def _render(self) -> None:
        confirmed = html.escape(self.confirmed_text())
        steady, fresh = (html.escape(" ".join(part)) for part in (self._steady, self._fresh))
        tail_html = f' <i style="color:{STEADY_COLOR}">{steady}</i>' if steady else ""
        tail_html += f' <i style="color:{FRESH_COLOR}">{fresh}</i>' if fresh else ""
        self.text.setHtml(f"<p>{confirmed}{tail_html}</p>")
        self.text.verticalScrollBar().setValue(self.text.verticalScrollBar().maximum())

    @Slot()
    def copy_text(self) -> None:
        QGuiApplication.clipboard().setText(self.confirmed_text())

    @Slot()
    def clear(self) -> None:
        self._confirmed, self._tentative, self._steady, self._fresh = [], "", [], []
        self._render()

    @Slot()
    def export(self) -> None:
        from desktop_app.core.exporters import export

        path, chosen = QFileDialog.getSaveFileName(
            self, "Export dictation", "dictation.txt", "Text (*.txt);;Subtitles (*.srt)"
        )
        if not path:
            return
        fmt = "srt" if path.lower().endswith(".srt") or "srt" in chosen else "txt"
        transcript = words_to_transcript(self._confirmed, 0.0)
        self.background.start(  # a slow or network drive must not freeze the window
            "Exporting the dictation",
            lambda: export(transcript, fmt, Path(path), overwrite=True),
            on_finished=lambda _: self.status_label.setText(f"Exported to {path}"),
            on_failed=self._export_failed,
        )

    def _export_failed(self, message: str) -> None:
        QMessageBox.warning(self, "Export failed", message)
