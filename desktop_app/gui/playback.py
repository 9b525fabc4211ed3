"""Playback of the open job's recording beside the transcript editor: hear what was said while
proofreading it.

Why Qt Multimedia (QMediaPlayer, FFmpeg backend): it decodes every format the engine reads,
video's audio included, on its own threads, so the GUI thread never waits on the decoding or
the disk; and it keeps the pitch at other speeds where the backend can (Qt 6.10 and later).

The player's position drives the editor's played-word highlight (:attr:`position_changed`);
the editor's requests to hear a moment (a clicked row, the next unsure word) arrive at
:meth:`PlaybackPanel.play_from`.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QLoggingCategory, QObject, Qt, QUrl, Signal, Slot
from PySide6.QtGui import QAction

# Qt Multimedia's chatter on stderr ("Couldn't load pipewire-0.3 library" where PulseAudio is
# used, the FFmpeg version, and FFmpeg's dump of every file opened: "Input #0, flac, from …")
# reads like a fault to a user who started Verbatim from a terminal; QT_LOGGING_RULES still
# brings it back. Set before Qt Multimedia loads: it resolves those libraries as it loads.
QLoggingCategory.setFilterRules(
    "qt.multimedia.symbolsresolver.warning=false\n"
    "qt.multimedia.ffmpeg.info=false\n"
    "qt.multimedia.ffmpeg.mediadataholder.info=false"
)

from PySide6.QtMultimedia import QAudioOutput, QMediaDevices, QMediaPlayer  # noqa: E402
from PySide6.QtWidgets import (  # noqa: E402
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QSlider,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from desktop_app.gui.shortcuts import Shortcut  # noqa: E402
from desktop_app.gui.transcript_editor import clock  # noqa: E402

#: How far one skip moves, in seconds.
SKIP_SECONDS = 5.0
#: The speeds offered, slowest first; 1.0 is where a job starts.
SPEEDS = (0.5, 0.75, 1.0, 1.25, 1.5, 2.0)
NO_OUTPUT_NOTE = "No sound output device was found: playback runs silently."
#: The file dialog's filter for "Locate…": what the engine transcribes.
MEDIA_FILTER = (
    "Audio and video (*.wav *.flac *.mp3 *.m4a *.aac *.ogg *.opus *.wma *.mp4 *.mkv *.mov "
    "*.webm *.avi);;All files (*)"
)


def _ignore(*_args: object) -> None:
    pass


def settle_override_checks(made_here: QObject) -> None:
    """Have PySide ask Python now, on the GUI thread, whether ``disconnectNotify`` is
    overridden on ``made_here`` (an object made from Python): it remembers the answer, no, for
    the object's life.

    Why: FFmpeg's audio renderer destroys its objects on its own thread, and Qt then calls
    ``disconnectNotify`` on the objects they were connected to (our player and audio output)
    while holding one of its shared connection locks. The first such call asks Python, so the
    renderer waited for Python's lock holding a Qt lock, while the GUI thread, holding Python's
    lock in ``QMediaPlayer.stop()``, waited for a lock of that pool: both waited for good (a
    test run hung in the playback tests; the threads' stacks showed exactly this). Asked once
    here, the renderer never needs Python's lock for it."""
    made_here.objectNameChanged.connect(_ignore)
    made_here.objectNameChanged.disconnect(_ignore)


class PlaybackPanel(QWidget):
    """Play/pause, skip, speed, a position slider with the time, and a note with "Locate…"
    when the recording cannot be played (its file missing, moved or unreadable)."""

    #: seconds: where playback is now (many times a second while playing, and after a seek).
    position_changed = Signal(float)
    #: seconds: the user asked to start (or end) the current segment where playback is.
    start_here = Signal(float)
    end_here = Signal(float)
    #: job id, Path: the user located the job's recording there (the queue stores it).
    relocated = Signal(str, object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.job_id: str | None = None
        self.source: Path | None = None
        #: Whether the open recording failed to load (the controls are off, Locate… is shown).
        self.failed = False
        self.player = QMediaPlayer(self)
        self.audio = QAudioOutput(self)
        for made_here in (self.player, self.audio):
            settle_override_checks(made_here)
        self.player.setAudioOutput(self.audio)
        if hasattr(self.player, "setPitchCompensation"):  # Qt 6.10 and later
            self.player.setPitchCompensation(True)
        self.player.positionChanged.connect(self._on_position)
        self.player.durationChanged.connect(self._on_duration)
        self.player.playbackStateChanged.connect(self._on_state)
        self.player.errorOccurred.connect(self._on_error)
        self.player.mediaStatusChanged.connect(self._on_status)

        self.actions_by_key: dict[Shortcut, QAction] = {}
        self.play_action = self._new_action(
            "Play", Shortcut.PLAY_PAUSE, self.toggle, "Play or pause the recording"
        )
        self.back_action = self._new_action(
            "−5 s",
            Shortcut.SKIP_BACK,
            lambda: self.skip(-SKIP_SECONDS),
            "Go back 5 seconds",
        )
        self.forward_action = self._new_action(
            "+5 s",
            Shortcut.SKIP_FORWARD,
            lambda: self.skip(SKIP_SECONDS),
            "Go forward 5 seconds",
        )
        self.slower_action = self._new_action(
            "Slower", Shortcut.SLOWER, lambda: self.step_speed(-1), "Play slower"
        )
        self.faster_action = self._new_action(
            "Faster", Shortcut.FASTER, lambda: self.step_speed(1), "Play faster"
        )
        self.start_action = self._new_action(
            "Start here",
            Shortcut.START_AT_PLAYBACK,
            lambda: self.start_here.emit(self.seconds),
            "Start the segment at the playback position",
        )
        self.end_action = self._new_action(
            "End here",
            Shortcut.END_AT_PLAYBACK,
            lambda: self.end_here.emit(self.seconds),
            "End the segment at the playback position",
        )
        self.speed = QComboBox()
        self.speed.setAccessibleName("Playback speed")
        for rate in SPEEDS:
            self.speed.addItem(f"{rate:g}×", rate)
        self.speed.setCurrentIndex(SPEEDS.index(1.0))
        self.speed.currentIndexChanged.connect(self._on_speed)
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setAccessibleName("Playback position")
        self.slider.setSingleStep(1000)
        self.slider.setPageStep(int(SKIP_SECONDS * 1000))
        # Dragging and the slider's keys seek; the player's own updates (setValue) do not.
        self.slider.sliderMoved.connect(self._seek_ms)
        self.slider.actionTriggered.connect(
            lambda _action: self._seek_ms(self.slider.sliderPosition())
        )
        self.time_label = QLabel()
        self.time_label.setAccessibleName("Playback time")
        self.note = QLabel()
        self.note.setAccessibleName("Playback note")
        self.note.setWordWrap(True)
        self.note.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.locate_button = QToolButton()
        self.locate_button.setText("Locate…")
        self.locate_button.setAccessibleName("Locate the recording")
        self.locate_button.setToolTip("Choose where the recording is now, to play it")
        self.locate_button.clicked.connect(self.locate)

        controls = QHBoxLayout()
        self._controls: list[QWidget] = []
        self.play_button, back, forward, start, end = (
            self._button(action)
            for action in (
                self.play_action,
                self.back_action,
                self.forward_action,
                self.start_action,
                self.end_action,
            )
        )
        row: tuple[QWidget, ...] = (self.play_button, back, forward, self.speed, self.slider)
        for widget in (*row, self.time_label, start, end):
            controls.addWidget(widget, 1 if widget is self.slider else 0)
        self._controls += [self.play_button, back, forward, self.speed, self.slider, start, end]
        problem = QHBoxLayout()
        problem.addWidget(self.note, 1)
        problem.addWidget(self.locate_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(controls)
        layout.addLayout(problem)
        self._show_problem("")
        self._show_time(0)

    def _new_action(self, text: str, key: Shortcut, slot: object, tip: str) -> QAction:
        action = QAction(text, self)
        action.setToolTip(f"{tip} ({key.text})")
        action.setShortcut(key.keys)
        # Bound on the panel and, by :meth:`add_shortcuts_to`, the pane around the editor:
        # the keys work while the user types in a row.
        action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        assert callable(slot)
        action.triggered.connect(lambda _checked=False: slot())
        self.addAction(action)
        self.actions_by_key[key] = action
        return action

    @staticmethod
    def _button(action: QAction) -> QToolButton:
        """A button that triggers ``action`` without following it (no ``setDefaultAction``).

        Why: a button following an action reconnects to it on every change of the action,
        and Qt's connection locks are shared between unrelated objects. A playback state change
        tears down FFmpeg's audio renderer on its own thread, which then waited for Python's
        lock while holding one of those locks (see :func:`settle_override_checks`, the fix at
        the root); changing the Play action's text at that moment made the GUI thread wait for
        the same lock while holding Python's: the test suite hung for good, once."""
        button = QToolButton()
        button.setText(action.text())
        button.setToolTip(action.toolTip())
        button.setAccessibleName(action.toolTip())
        button.clicked.connect(action.trigger)
        return button

    def add_shortcuts_to(self, widget: QWidget) -> None:
        """Make the playback keys work wherever the focus is inside ``widget``."""
        for action in self.actions_by_key.values():
            widget.addAction(action)

    # ----------------------------------------------------------------- which recording
    def open(self, job_id: str, path: Path) -> None:
        """Load ``job_id``'s recording, paused at the start; the same job again keeps its
        place."""
        if job_id == self.job_id and path == self.source:
            return
        self.job_id = job_id
        self._load(path)

    def close_job(self) -> None:
        self.player.stop()
        self.player.setSource(QUrl())
        self.job_id = None
        self.source = None

    def _load(self, source: Path) -> None:
        self.source = source
        self._show_problem("")
        if not QMediaDevices.audioOutputs():
            # The FFmpeg backend then plays on the system clock: the words still light up.
            self._show_problem(NO_OUTPUT_NOTE, failed=False)
        self.player.stop()
        self.player.setSource(QUrl.fromLocalFile(str(source)))
        self._show_time(0)

    @Slot()
    def locate(self) -> bool:
        """Ask where the recording is now and play from that file; the job keeps it from now
        on (:attr:`relocated`: the queue stores it, so it survives a restart)."""
        if self.job_id is None:
            return False
        start = str(self.source.parent) if self.source is not None else ""
        chosen, _filter = QFileDialog.getOpenFileName(
            self, "Locate the recording", start, MEDIA_FILTER
        )
        if not chosen:
            return False
        self._load(Path(chosen))
        self.relocated.emit(self.job_id, Path(chosen))
        return True

    # ----------------------------------------------------------------- commands
    @property
    def playable(self) -> bool:
        return self.source is not None and not self.failed

    @property
    def seconds(self) -> float:
        return self.player.position() / 1000

    @Slot()
    def toggle(self) -> None:
        if not self.playable:
            return
        if self.player.playbackState() is QMediaPlayer.PlaybackState.PlayingState:
            self.player.pause()
        else:
            self.player.play()

    @Slot(float)
    def play_from(self, seconds: float) -> None:
        """Play from ``seconds`` (the editor asks: a clicked row, the next unsure word)."""
        if not self.playable:
            return
        self.player.setPosition(int(max(0.0, seconds) * 1000))
        self.player.play()

    def skip(self, seconds: float) -> None:
        if self.playable:
            self._seek_ms(self.player.position() + int(seconds * 1000))

    def step_speed(self, steps: int) -> None:
        index = min(max(self.speed.currentIndex() + steps, 0), len(SPEEDS) - 1)
        self.speed.setCurrentIndex(index)

    @Slot(int)
    def _seek_ms(self, ms: int) -> None:
        duration = self.player.duration()
        ms = max(0, min(ms, duration) if duration > 0 else ms)
        self.player.setPosition(ms)
        self._on_position(ms)  # the highlight and the time follow a seek while paused too

    @Slot(int)
    def _on_speed(self, index: int) -> None:
        self.player.setPlaybackRate(float(self.speed.itemData(index)))

    # ----------------------------------------------------------------- the player's news
    @Slot(int)
    def _on_position(self, ms: int) -> None:
        if not self.slider.isSliderDown():
            self.slider.blockSignals(True)
            self.slider.setValue(ms)
            self.slider.blockSignals(False)
        self._show_time(ms)
        self.position_changed.emit(ms / 1000)

    @Slot(int)
    def _on_duration(self, ms: int) -> None:
        self.slider.setRange(0, max(0, ms))
        self._show_time(self.player.position())

    @Slot(QMediaPlayer.PlaybackState)
    def _on_state(self, state: QMediaPlayer.PlaybackState) -> None:
        playing = state is QMediaPlayer.PlaybackState.PlayingState
        self.play_button.setText("Pause" if playing else "Play")  # the action stays as it is

    @Slot(QMediaPlayer.MediaStatus)
    def _on_status(self, status: QMediaPlayer.MediaStatus) -> None:
        if status is QMediaPlayer.MediaStatus.InvalidMedia and not self.failed:
            self._on_error(QMediaPlayer.Error.FormatError, self.player.errorString())

    @Slot(QMediaPlayer.Error, str)
    def _on_error(self, error: QMediaPlayer.Error, text: str) -> None:
        """One sentence naming the file and the problem; the transcript stays editable."""
        if error is QMediaPlayer.Error.NoError or self.source is None:
            return
        # Only now, once the player has failed, is the disk asked why (one stat).
        if not self.source.exists():
            sentence = f"The recording is not at {self.source} (moved or deleted)."
        else:
            reason = text.strip().rstrip(".") or "its format is not supported"
            sentence = f"The recording {self.source} cannot be played: {reason}."
        self._show_problem(f"{sentence} The transcript can still be edited.", failed=True)

    # ----------------------------------------------------------------- showing
    def _show_problem(self, sentence: str, *, failed: bool = False) -> None:
        """Say ``sentence`` (none: hide the note); a ``failed`` recording turns the controls
        off and offers Locate…."""
        self.failed = failed
        self.note.setText(sentence)
        self.note.setVisible(bool(sentence))
        self.locate_button.setVisible(failed)
        for widget in self._controls:
            widget.setEnabled(not failed)
        for action in self.actions_by_key.values():
            action.setEnabled(not failed)

    def _show_time(self, ms: int) -> None:
        total = self.player.duration()
        self.time_label.setText(f"{clock(ms / 1000)} / {clock(max(total, 0) / 1000)}")
