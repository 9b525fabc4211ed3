"""The transcript editor: proofread a finished job's transcript segment by segment.

Why a view of rows over a model rather than one big text document: opening a 2-hour transcript
(some 2,000 segments) then costs a model reset and a measure of each row, not a document of
every line; an edit changes one row, and the view measures and paints that row alone
(:class:`SegmentView`); and each edit is one of the pure functions of ``core/edits.py``, so the
undo stack keeps the transcript before and after each command and undo never re-derives anything.

Edits reach the job queue (and through it the store and every export) on one writer thread
(:class:`EditSaver`): the GUI thread never waits for the disk, nor for that thread.
"""

from __future__ import annotations

import html
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable
from enum import IntEnum
from typing import Any

from PySide6.QtCore import (
    QAbstractListModel,
    QEvent,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    QPoint,
    QPointF,
    QRect,
    QRectF,
    QSize,
    Qt,
    QTimer,
    Signal,
    SignalInstance,
    Slot,
)
from PySide6.QtGui import (
    QAbstractTextDocumentLayout,
    QAction,
    QFontMetrics,
    QMouseEvent,
    QPainter,
    QPalette,
    QResizeEvent,
    QTextDocument,
    QUndoCommand,
    QUndoStack,
)
from PySide6.QtWidgets import (
    QAbstractItemDelegate,
    QAbstractItemView,
    QApplication,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QToolButton,
    QTreeView,
    QVBoxLayout,
    QWidget,
)

from desktop_app.core import edits
from desktop_app.core.edits import EditError, Segments, WordPlace
from desktop_app.core.job_store import JobStoreError
from desktop_app.core.jobs import JobSnapshot
from desktop_app.core.word_timeline import WordTimeline
from desktop_app.core.wording import plural
from desktop_app.gui.shortcuts import Shortcut
from desktop_app.job_queue import JobQueue

logger = logging.getLogger(__name__)

#: Rows whose size (text and width) is remembered; past this the memory starts again.
SIZE_CACHE_ROWS = 50_000
#: Rows whose laid-out rich text is kept: more than a tall window shows.
DOCUMENT_CACHE_ROWS = 300
DOCUMENT_MARGIN = 4
#: How far one keyboard nudge moves a segment's start or end, in seconds.
NUDGE_SECONDS = 0.1
#: How much comes before an unsure word when "Next unsure word" plays it, in seconds.
UNSURE_CONTEXT_SECONDS = 1.0
#: How long the rows wait after the view's width last changed before they are measured again
#: (their text wraps anew), in milliseconds: once a resize pauses, not at each step of a drag.
REMEASURE_DELAY_MS = 100
#: How long the saver's thread waits for the next edit before it ends, in seconds.
SAVER_LINGER_SECONDS = 2.0
UNSURE_COLOUR = "#b35900"
TIMES_COLOUR = "gray"
CURRENT_WORD_COLOUR = "#ffe066"


def _row_width(option: QStyleOptionViewItem) -> int:
    """The width a row wraps to: the view's visible width. Not the option's rectangle, which
    the list's layout passes with varying widths: each would measure the row again."""
    view = option.widget
    width = view.viewport().width() if isinstance(view, QAbstractItemView) else option.rect.width()
    return max(100, width)


def clock(seconds: float) -> str:
    """``m:ss.s`` (``h:mm:ss.s`` past an hour): the segment's place in the recording."""
    minutes, secs = divmod(max(0.0, seconds), 60)
    hours, minutes = divmod(int(minutes), 60)
    if hours:
        return f"{hours}:{minutes:02d}:{secs:04.1f}"
    return f"{minutes}:{secs:04.1f}"


class SegmentRole(IntEnum):
    START = Qt.ItemDataRole.UserRole + 1
    END = Qt.ItemDataRole.UserRole + 2
    UNSURE_WORDS = Qt.ItemDataRole.UserRole + 3  # word indexes below the threshold
    HTML = Qt.ItemDataRole.UserRole + 4


class SegmentModel(QAbstractListModel):
    """The segments of one transcript version; an edit swaps in the next version and tells the
    view only which rows changed, so the view keeps its place and its selection."""

    #: row, new text: the user finished typing in a row (the editor turns it into a command).
    text_edited = Signal(int, str)
    #: row: its lit word changed; repaint it (nothing else about it did).
    row_relit = Signal(int)

    def __init__(self, threshold: float, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.threshold = threshold
        self.segments: Segments = ()
        self.current_word: WordPlace | None = None
        #: Unsure words per row and in all, kept in step with the rows an edit changes: the
        #: counter costs the changed rows' words, not a walk over 20,000 per keystroke's edit.
        self.unsure_counts: list[int] = []
        self.unsure_total = 0

    def _count_unsure(self, rows: Segments) -> list[int]:
        threshold = self.threshold
        return [sum(1 for w in s.words if w.probability < threshold) for s in rows]

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.segments)

    def flags(self, index: QModelIndex | QPersistentModelIndex) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        return super().flags(index) | Qt.ItemFlag.ItemIsEditable

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = 0) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self.segments):
            return None
        segment = self.segments[index.row()]
        if role == Qt.ItemDataRole.EditRole:
            return segment.text.strip()
        if role == Qt.ItemDataRole.DisplayRole:
            return f"[{clock(segment.start)} → {clock(segment.end)}]  {segment.text.strip()}"
        if role == Qt.ItemDataRole.AccessibleTextRole:
            unsure = len(self.unsure_in(index.row()))
            note = f", {plural(unsure, 'unsure word')}" if unsure else ""
            return f"{clock(segment.start)} to {clock(segment.end)}{note}: {segment.text.strip()}"
        if role == SegmentRole.START:
            return segment.start
        if role == SegmentRole.END:
            return segment.end
        if role == SegmentRole.UNSURE_WORDS:
            return self.unsure_in(index.row())
        if role == SegmentRole.HTML:
            return self.html(index.row())
        return None

    def setData(
        self, index: QModelIndex | QPersistentModelIndex, value: Any, role: int = 0
    ) -> bool:
        """Typing ends as a request for an edit (:attr:`text_edited`): the undo stack makes it."""
        if role != Qt.ItemDataRole.EditRole or not index.isValid():
            return False
        if str(value).strip() != self.segments[index.row()].text.strip():
            self.text_edited.emit(index.row(), str(value))
        return False  # the command's model change is what changes the row

    def unsure_in(self, row: int) -> list[int]:
        return [
            i
            for i, word in enumerate(self.segments[row].words)
            if word.probability < self.threshold
        ]

    def html(self, row: int) -> str:
        """The row as the delegate paints it: unsure words marked, the played word lit."""
        segment = self.segments[row]
        span = f"[{clock(segment.start)} → {clock(segment.end)}]"
        times = f'<span style="color:{TIMES_COLOUR}">{span}</span>'
        if not segment.words:
            return f"{times}&nbsp;&nbsp;{html.escape(segment.text.strip())}"
        parts = []
        for index, word in enumerate(segment.words):
            text = html.escape(word.text.strip())
            if self.current_word == WordPlace(row, index):
                text = f'<span style="background:{CURRENT_WORD_COLOUR}; color:black">{text}</span>'
            elif word.probability < self.threshold:
                text = f'<u style="color:{UNSURE_COLOUR}">{text}</u>'
            parts.append(text)
        return f"{times}&nbsp;&nbsp;{' '.join(parts)}"

    def set_segments(self, segments: Segments) -> tuple[int, int, int]:
        """Show ``segments``: rows that differ are replaced, the rest keep their place.
        Returns which rows changed, as :func:`~desktop_app.core.edits.changed_rows` does."""
        old = self.segments
        if old is segments:
            return len(old), len(old), len(old)
        first, old_stop, new_stop = edits.changed_rows(old, segments)
        counts = self._count_unsure(segments[first:new_stop])
        self.unsure_total += sum(counts) - sum(self.unsure_counts[first:old_stop])
        self.unsure_counts[first:old_stop] = counts
        if not old:
            self.beginResetModel()
            self.segments = segments
            self.endResetModel()
            return first, old_stop, new_stop
        if old_stop - first == new_stop - first:
            self.segments = segments
            if new_stop > first:
                self.dataChanged.emit(self.index(first), self.index(new_stop - 1))
            return first, old_stop, new_stop
        if old_stop > first:
            self.beginRemoveRows(QModelIndex(), first, old_stop - 1)
            self.segments = old[:first] + old[old_stop:]
            self.endRemoveRows()
        if new_stop > first:
            self.beginInsertRows(QModelIndex(), first, new_stop - 1)
            self.segments = segments
            self.endInsertRows()
        self.segments = segments
        return first, old_stop, new_stop

    def set_current_word(self, place: WordPlace | None) -> None:
        """Light the word being played (and unlight the one before).

        Only a repaint of those rows (:attr:`row_relit`), not ``dataChanged``: their text and
        size are the same, so they need not be measured again.
        """
        if place == self.current_word:
            return
        rows = {p.segment for p in (place, self.current_word) if p is not None}
        self.current_word = place
        for row in rows:
            if row < len(self.segments):
                self.row_relit.emit(row)


class SegmentDelegate(QStyledItemDelegate):
    """Paints a row's marked text; edits its text in a line edit (the cursor is where a split
    happens).

    Why the caches: the view asks every row's size whenever it lays the rows out, and a
    rich-text layout costs about a millisecond and a half, so 2,000 rows cost 3 s. A row's size is
    measured from its plain text with the font's metrics (the marks change no size) and kept
    per text and width; the rich text of the rows in sight is kept too, so a repaint re-lays none.
    """

    editor_opened = Signal(QLineEdit)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._sizes: dict[tuple[float, float, str, int], QSize] = {}
        self._documents: OrderedDict[tuple[str, int], QTextDocument] = OrderedDict()

    def paint(
        self,
        painter: QPainter,
        option: QStyleOptionViewItem,
        index: QModelIndex | QPersistentModelIndex,
    ) -> None:
        self.initStyleOption(option, index)
        style = option.widget.style() if option.widget else QApplication.style()
        option.text = ""
        style.drawControl(QStyle.ControlElement.CE_ItemViewItem, option, painter, option.widget)
        context = QAbstractTextDocumentLayout.PaintContext()
        context.clip = QRectF(0, 0, option.rect.width(), option.rect.height())
        selected = bool(option.state & QStyle.StateFlag.State_Selected)
        if selected:  # the selection's own text colour, the times' too: legible on its colour
            context.palette.setColor(
                QPalette.ColorRole.Text, option.palette.color(QPalette.ColorRole.HighlightedText)
            )
        document = self._document(option, index, selected=selected)
        painter.save()
        painter.translate(option.rect.topLeft())
        painter.setClipRect(context.clip)
        document.documentLayout().draw(painter, context)
        painter.restore()

    def sizeHint(
        self, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex
    ) -> QSize:
        width = _row_width(option)
        model = index.model()
        # Keyed by what the row says, not its display text: formatting that for 2,000 rows at
        # each layout cost more than the layout.
        segment = model.segments[index.row()] if isinstance(model, SegmentModel) else None
        key = (segment.start, segment.end, segment.text, width) if segment else None
        size = self._sizes.get(key) if key else None
        if size is None:
            if len(self._sizes) > SIZE_CACHE_ROWS:
                self._sizes.clear()
            inner = QRect(0, 0, width - 2 * DOCUMENT_MARGIN, 1 << 24)
            flags = Qt.TextFlag.TextWordWrap.value
            text = str(index.data(Qt.ItemDataRole.DisplayRole))
            height = QFontMetrics(option.font).boundingRect(inner, flags, text).height()
            size = QSize(width, height + 2 * DOCUMENT_MARGIN)
            if key:
                self._sizes[key] = size
        return size

    def _document(
        self,
        option: QStyleOptionViewItem,
        index: QModelIndex | QPersistentModelIndex,
        *,
        selected: bool = False,
    ) -> QTextDocument:
        width = _row_width(option)
        text = str(index.data(SegmentRole.HTML))
        if selected:
            times = option.palette.color(QPalette.ColorRole.HighlightedText).name()
            text = text.replace(f"color:{TIMES_COLOUR}", f"color:{times}", 1)
        key = (text, width)
        document = self._documents.get(key)
        if document is not None:
            self._documents.move_to_end(key)
            return document
        document = QTextDocument()
        document.setDocumentMargin(DOCUMENT_MARGIN)
        document.setDefaultFont(option.font)
        document.setHtml(key[0])
        document.setTextWidth(width)
        self._documents[key] = document
        if len(self._documents) > DOCUMENT_CACHE_ROWS:
            self._documents.popitem(last=False)
        return document

    def word_at(
        self, view: QAbstractItemView, index: QModelIndex | QPersistentModelIndex, point: QPoint
    ) -> int | None:
        """Which word of ``index``'s row is painted at ``point`` (in the view's viewport);
        None on the row's times or past its text."""
        option = QStyleOptionViewItem()
        self.initStyleOption(option, index)
        option.widget = view
        option.rect = view.visualRect(index)
        document = self._document(option, index)
        layout = document.documentLayout()
        where = QPointF(point - option.rect.topLeft())
        position = layout.hitTest(where, Qt.HitTestAccuracy.ExactHit)
        text = document.toPlainText()
        words_from = text.find("]") + 3  # after the times and the two spaces
        if position < words_from or words_from < 3:
            return None
        return text[words_from:position].count(" ")

    def createEditor(
        self,
        parent: QWidget,
        option: QStyleOptionViewItem,
        index: QModelIndex | QPersistentModelIndex,
    ) -> QWidget:
        editor = QLineEdit(parent)
        editor.setAccessibleName("Segment text")
        self.editor_opened.emit(editor)
        return editor

    def setEditorData(self, editor: QWidget, index: QModelIndex | QPersistentModelIndex) -> None:
        assert isinstance(editor, QLineEdit)
        editor.setText(str(index.data(Qt.ItemDataRole.EditRole)))


class EditSaver:
    """Hands edits to the queue (which writes the store) on one thread, in the order made.

    A job's edit still waiting is replaced by its next one: each write stores the job's whole
    transcript as it is then, so the latest is all that needs writing, and a burst of keystrokes
    made while a write is under way becomes one write. The GUI thread only hands a write over;
    it never waits for one, nor for a thread to start: the thread stays for
    :data:`SAVER_LINGER_SECONDS` after its last write, so typing reuses it (starting one made
    the GUI thread wait until a busy computer ran it), and an idle editor still holds none.
    It is not a daemon, so an edit handed over just before the window closes is still written.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._more = threading.Condition(self._lock)
        #: Job id -> the write of its latest edit, oldest first.
        self._waiting: OrderedDict[str, Callable[[], object]] = OrderedDict()
        self._thread: threading.Thread | None = None
        self._last: threading.Thread | None = None  # the latest thread, for close() to join
        self._idle = threading.Event()
        self._idle.set()
        self._dismissed = False  # the thread ends at once when idle, rather than staying

    def put(self, job_id: str, write: Callable[[], object]) -> None:
        """Write ``write`` (``job_id``'s latest edit) soon, instead of an earlier one of the
        same job still waiting."""
        with self._lock:
            self._waiting[job_id] = write  # one already waiting keeps its place in the order
            self._dismissed = False
            self._idle.clear()
            self._more.notify()
            if self._thread is None:
                self._thread = self._last = threading.Thread(target=self._run, name="Edit saver")
                self._thread.start()

    def wait(self, timeout: float | None = None) -> bool:
        """Whether every edit handed over has been written (for tests and shut-down); once
        it has, the thread ends rather than staying for more."""
        if not self._idle.wait(timeout):
            return False
        with self._lock:
            self._dismissed = True
            self._more.notify()
        return True

    def close(self, timeout: float | None = None) -> bool:
        """Wait for the edits handed over and join the thread (shut-down: a thread still
        running while the interpreter exits can crash it). Edits put later start a new one."""
        written = self.wait(timeout)  # dismisses the thread: it does not linger for more
        with self._lock:
            thread = self._last
        if thread is not None:
            thread.join(timeout)
        return written and not (thread is not None and thread.is_alive())

    def _run(self) -> None:
        while True:
            with self._lock:
                if not self._waiting:
                    self._idle.set()
                    self._more.wait_for(
                        lambda: bool(self._waiting) or self._dismissed, SAVER_LINGER_SECONDS
                    )
                if not self._waiting:
                    self._thread = None
                    return
                _job_id, write = self._waiting.popitem(last=False)
            try:
                write()
            except Exception:
                logger.exception("Could not save a transcript edit")


class SegmentView(QTreeView):
    """The rows of segments, each as tall as its wrapped text.

    Why a tree view of one column rather than a list view: on a change of one row's data a list
    view (Qt 6) lays every row out again, asking every row its size: 2,000 questions per
    keystroke's edit of a 2-hour transcript. A tree view keeps each row's height and asks again
    only for the rows that changed. The rows are measured again when the view's width changes
    (their text wraps anew), once the resizing pauses.
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setHeaderHidden(True)
        self.setRootIsDecorated(False)
        self.setIndentation(0)
        self.setItemsExpandable(False)
        self.setUniformRowHeights(False)
        self.setWordWrap(True)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerItem)
        self._measured_width = -1  # the width at which the rows were last measured
        self._remeasure = QTimer(self)
        self._remeasure.setSingleShot(True)
        self._remeasure.setInterval(REMEASURE_DELAY_MS)
        self._remeasure.timeout.connect(self._measure_if_resized)

    def doItemsLayout(self) -> None:
        self._measured_width = self.viewport().width()
        super().doItemsLayout()

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        if self.viewport().width() != self._measured_width:
            self._remeasure.start()

    @Slot()
    def _measure_if_resized(self) -> None:
        """Lay the rows out at the new width, unless a layout since the resize already did."""
        if self.viewport().width() != self._measured_width:
            self.doItemsLayout()


class _EditCommand(QUndoCommand):
    """One edit: the transcript before and after it, both kept, so undo is a swap."""

    def __init__(
        self, editor: TranscriptEditor, text: str, before: Segments, after: Segments, row: int
    ) -> None:
        super().__init__(text)
        self._editor = editor
        self._before = before
        self._after = after
        self._row = row

    def redo(self) -> None:
        self._editor.apply(self._after, self._row)

    def undo(self) -> None:
        self._editor.apply(self._before, self._row)


class TranscriptEditor(QWidget):
    """Edit a finished job's transcript; every edit is undoable and saved as it is made."""

    #: seconds: the moment the user asked to hear (a clicked row, the next unsure word).
    play_requested = Signal(float)
    #: a sentence for the status bar (an edit refused, a replace count).
    message = Signal(str)

    def __init__(
        self, queue: JobQueue, unsure_threshold: float, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.queue = queue
        self.job_id: str | None = None
        #: The machine's segments of the open job; None until an edit or a revert needs them
        #: (read from the store then, not at every opening).
        self._machine: Segments | None = None
        self._opened: Segments = ()  # the job's segments when it was opened
        self.duration = 0.0
        self.saver = EditSaver()
        #: Job id -> the machine's segments, for the jobs edited in this session: their edits
        #: may still be on the way to the store, so the store cannot yet be asked.
        self._edited: dict[str, Segments] = {}
        self.undo_stack = QUndoStack(self)
        self.model = SegmentModel(unsure_threshold, self)
        self.model.text_edited.connect(self.set_text)
        self._timeline: WordTimeline | None = None  # built when playback first needs it
        self._unsure_place: WordPlace | None = None
        self._line_edit: QLineEdit | None = None

        self.view = SegmentView()
        self.view.setAccessibleName("Transcript segments")
        self.view.setAccessibleDescription(
            "One row per segment. Press F2 or Enter to edit a row's text; Enter again keeps it."
        )
        self.view.setModel(self.model)
        self.delegate = SegmentDelegate(self.view)
        self.delegate.editor_opened.connect(self._remember_editor)
        self.view.setItemDelegate(self.delegate)
        # Always there, so the rows' width (and their measured heights) never change when it
        # appears: that would measure every row twice.
        self.view.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOn)
        self.view.setEditTriggers(
            QAbstractItemView.EditTrigger.DoubleClicked
            | QAbstractItemView.EditTrigger.EditKeyPressed
            | QAbstractItemView.EditTrigger.AnyKeyPressed
        )
        self.view.clicked.connect(self._on_clicked)
        self._pressed_at: QPoint | None = None  # where the last click in the rows began
        self._viewport = self.view.viewport()  # compared in eventFilter, also during teardown
        self._viewport.installEventFilter(self)
        self.model.row_relit.connect(self._repaint_row)

        self.find_box = QLineEdit()
        self.find_box.setAccessibleName("Find in transcript")
        self.find_box.setPlaceholderText(f"Find ({Shortcut.REPLACE.text} to replace)")
        self.find_box.setClearButtonEnabled(True)
        self.find_box.returnPressed.connect(self.find_next)
        self.replace_box = QLineEdit()
        self.replace_box.setAccessibleName("Replace with")
        self.replace_box.setPlaceholderText("Replace with")
        self.replace_box.returnPressed.connect(self.replace_all)
        self.replace_button = QPushButton("Replace all")
        self.replace_button.setAccessibleName("Replace all")
        self.replace_button.clicked.connect(self.replace_all)
        self.unsure_label = QLabel()
        self.unsure_label.setAccessibleName("Unsure words left")

        self.actions_by_key: dict[Shortcut, QAction] = {}
        self.undo_action = self._history_action(
            "Undo edit",
            self.undo_stack.undo,
            self.undo_stack.canUndoChanged,
            self.undo_stack.undoTextChanged,
        )
        self.redo_action = self._history_action(
            "Redo edit",
            self.undo_stack.redo,
            self.undo_stack.canRedoChanged,
            self.undo_stack.redoTextChanged,
        )
        for action, key in (
            (self.undo_action, Shortcut.UNDO_EDIT),
            (self.redo_action, Shortcut.REDO_EDIT),
        ):
            self._register(action, key)
        buttons = [
            self._button(self.undo_action),
            self._button(self.redo_action),
            self._button(
                self._new_action(
                    "Split",
                    Shortcut.SPLIT_SEGMENT,
                    self.split,
                    "Split the segment at the text cursor",
                )
            ),
            self._button(
                self._new_action(
                    "Merge",
                    Shortcut.MERGE_SEGMENT,
                    self.merge,
                    "Merge the segment with the next one",
                )
            ),
            self._button(
                self._new_action(
                    "Start −",
                    Shortcut.START_EARLIER,
                    lambda: self.nudge(start=-NUDGE_SECONDS),
                    "Start the segment earlier",
                )
            ),
            self._button(
                self._new_action(
                    "Start +",
                    Shortcut.START_LATER,
                    lambda: self.nudge(start=NUDGE_SECONDS),
                    "Start the segment later",
                )
            ),
            self._button(
                self._new_action(
                    "End −",
                    Shortcut.END_EARLIER,
                    lambda: self.nudge(end=-NUDGE_SECONDS),
                    "End the segment earlier",
                )
            ),
            self._button(
                self._new_action(
                    "End +",
                    Shortcut.END_LATER,
                    lambda: self.nudge(end=NUDGE_SECONDS),
                    "End the segment later",
                )
            ),
            self._button(
                self._new_action(
                    "Revert segment",
                    None,
                    self.revert_segment,
                    "Bring back what the machine heard in this segment",
                )
            ),
            self._button(
                self._new_action(
                    "Revert all", None, self.revert_all, "Bring back the machine's whole transcript"
                )
            ),
            self._button(
                self._new_action(
                    "Next unsure word",
                    Shortcut.NEXT_UNSURE,
                    self.next_unsure,
                    "Go to the next unsure word",
                )
            ),
        ]
        self._new_action(
            "Replace",
            Shortcut.REPLACE,
            self._focus_replace,
            "Find and replace across the transcript",
        )

        tools = QHBoxLayout()
        for button in buttons:
            tools.addWidget(button)
        tools.addStretch(1)
        tools.addWidget(self.unsure_label)
        replace = QHBoxLayout()
        replace.addWidget(self.find_box, 2)
        replace.addWidget(self.replace_box, 2)
        replace.addWidget(self.replace_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(tools)
        layout.addWidget(self.view, 1)
        layout.addLayout(replace)

    # ----------------------------------------------------------------- building
    def _register(self, action: QAction, key: Shortcut) -> None:
        action.setShortcut(key.keys)
        action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        self.addAction(action)
        self.actions_by_key[key] = action

    def _new_action(
        self, text: str, key: Shortcut | None, slot: Callable[[], object], tip: str
    ) -> QAction:
        action = QAction(text, self)
        action.setToolTip(f"{tip} ({key.text})" if key is not None else tip)
        action.triggered.connect(lambda _checked=False: slot())
        if key is not None:
            self._register(action, key)
        else:
            self.addAction(action)
        return action

    def _history_action(
        self, text: str, step: Callable[[], None], able: SignalInstance, named: SignalInstance
    ) -> QAction:
        """Undo or redo, under a text that stays: the undo stack's own actions add the
        command's name to their text, and the button that grew with it widened the window at
        the first edit (and made the rows be measured again). The tooltip names the command."""
        action = QAction(text, self)
        action.setEnabled(False)
        action.setToolTip(text)
        action.triggered.connect(lambda _checked=False: step())
        able.connect(action.setEnabled)
        named.connect(lambda command: action.setToolTip(f"{text}: {command}" if command else text))
        return action

    @staticmethod
    def _button(action: QAction) -> QToolButton:
        button = QToolButton()
        button.setDefaultAction(action)
        button.setAccessibleName(action.text().replace("&", ""))
        return button

    # ----------------------------------------------------------------- showing
    def open_job(self, job: JobSnapshot) -> None:
        """Show ``job``'s transcript for editing; the same job, unchanged, keeps its place and
        its undo history (a refresh of the window must not cost the user their undo)."""
        assert job.transcript is not None
        segments = tuple(job.transcript.segments)
        if job.id == self.job_id and segments == self.model.segments:
            return
        self.undo_stack.clear()
        self.job_id = job.id
        self.duration = job.transcript.duration or job.duration or 0.0
        self._machine = self._edited.get(job.id)
        self._opened = segments
        self.model.current_word = None
        self.model.set_segments(())
        self.model.set_segments(segments)
        self._timeline = None
        self._show_unsure_count()

    def close_job(self) -> None:
        self.job_id = None
        self.undo_stack.clear()
        self.model.set_segments(())

    @property
    def segments(self) -> Segments:
        return self.model.segments

    def current_row(self) -> int:
        index = self.view.currentIndex()
        return index.row() if index.isValid() else -1

    def text(self) -> str:
        return "\n".join(self.model.data(self.model.index(r)) for r in range(self.model.rowCount()))

    # ----------------------------------------------------------------- editing
    def apply(self, segments: Segments, row: int) -> None:
        """Show ``segments`` and save them (commands call this on redo and undo).

        Its cost follows the rows the edit changed, not the transcript's length: the model,
        the word timeline and the store take only those rows, and the comparison with the
        machine's transcript passes the rows left alone by identity (see
        :meth:`machine_segments`)."""
        first, old_stop, new_stop = self.model.set_segments(segments)
        if self._timeline is not None:
            self._timeline.replace(segments, first, old_stop, new_stop)
        if segments and self.current_row() != (row := min(max(row, 0), len(segments) - 1)):
            self.view.setCurrentIndex(self.model.index(row))
        self._show_unsure_count()
        job_id = self.job_id
        if job_id is None:
            return
        machine = self.machine_segments()
        if machine is not None and segments == machine:
            self._edited.pop(job_id, None)
            self.saver.put(job_id, lambda: self.queue.discard_edits(job_id, machine))
        else:
            if machine is not None:
                self._edited[job_id] = machine
            self.saver.put(job_id, lambda: self.queue.save_edits(job_id, segments))

    def machine_segments(self) -> Segments | None:
        """The machine's own segments of the open job; None (said in :attr:`message`) when
        the store cannot be read. A job edited in this session is known here, since its edits
        may still be on the way to the store; one never edited has no copy in the store.

        The machine's rows read from the store that are alike a row shown are kept as that
        very row: each edit compares the transcript with the machine's, and rows the user left
        alone then pass as the same object instead of being compared word by word (some 20 ms
        for a 2-hour transcript at every keystroke)."""
        if self._machine is None and self.job_id is not None:
            try:
                stored = self.queue.machine_segments(self.job_id)
            except JobStoreError as error:
                self.message.emit(f"The machine's transcript cannot be read now: {error}")
                return None
            if stored is None:
                self._machine = self._opened
            else:
                shown = {(s.start, s.end, s.text): s for s in self.model.segments}
                self._machine = tuple(
                    alike if (alike := shown.get((s.start, s.end, s.text))) == s else s
                    for s in stored
                )
        return self._machine

    def _push(self, text: str, make: Callable[[Segments], Segments], row: int) -> bool:
        before = self.model.segments
        try:
            after = make(before)
        except EditError as error:
            self.message.emit(str(error))
            return False
        if after == before:
            return False
        self.undo_stack.push(_EditCommand(self, text, before, after, row))
        return True

    @Slot(int, str)
    def set_text(self, row: int, text: str) -> bool:
        return self._push("Edit text", lambda s: edits.set_text(s, row, text), row)

    def split(self) -> bool:
        """Split at the text cursor of the row being edited (or in the row's middle word gap
        when none is being edited)."""
        row = self.current_row()
        if row < 0:
            return False
        line = self._line_edit
        if line is not None and line.isVisible():
            typed, position = line.text(), line.cursorPosition()
            # Closed without committing: the split command takes the typed text itself.
            self.view.closeEditor(line, QAbstractItemDelegate.EndEditHint.NoHint)
            self.view.setFocus()
            return self._push(
                "Split segment", lambda s: self._split_typed(s, row, typed, position), row + 1
            )
        return False

    @staticmethod
    def _split_typed(segments: Segments, row: int, typed: str, position: int) -> Segments:
        """What was typed so far is the text; the cursor in it says where to split."""
        changed = edits.set_text(segments, row, typed)
        if len(changed) < len(segments):
            raise EditError("An empty segment cannot be split.")
        leading = len(changed[row].text) - len(changed[row].text.lstrip())
        stripped_before = len(typed[:position]) - len(typed[:position].lstrip())
        return edits.split(changed, row, leading + position - stripped_before)

    def merge(self) -> bool:
        row = self.current_row()
        return row >= 0 and self._push(
            "Merge segments", lambda s: edits.merge_with_next(s, row), row
        )

    def nudge(self, *, start: float = 0.0, end: float = 0.0) -> bool:
        row = self.current_row()
        if row < 0:
            return False
        segment = self.model.segments[row]
        return self._push(
            "Change times",
            lambda s: edits.set_times(
                s, row, segment.start + start, segment.end + end, duration=self.duration
            ),
            row,
        )

    def set_times(self, start: float, end: float) -> bool:
        row = self.current_row()
        return row >= 0 and self._push(
            "Change times",
            lambda s: edits.set_times(s, row, start, end, duration=self.duration),
            row,
        )

    @Slot(float)
    def start_at(self, seconds: float) -> bool:
        """The current segment starts at ``seconds`` (the playback position); undoable."""
        row = self.current_row()
        return row >= 0 and self.set_times(seconds, self.model.segments[row].end)

    @Slot(float)
    def end_at(self, seconds: float) -> bool:
        """The current segment ends at ``seconds`` (the playback position); undoable."""
        row = self.current_row()
        return row >= 0 and self.set_times(self.model.segments[row].start, seconds)

    @Slot()
    def replace_all(self) -> int:
        find, replacement = self.find_box.text(), self.replace_box.text()
        result, count = edits.replace_all(self.model.segments, find, replacement)
        if count:
            self.undo_stack.push(
                _EditCommand(
                    self, "Replace all", self.model.segments, result, max(0, self.current_row())
                )
            )
        self.message.emit(f"Replaced {plural(count, 'match', 'matches')}.")
        return count

    def revert_segment(self) -> bool:
        row = self.current_row()
        machine = self.machine_segments() if row >= 0 else None
        return machine is not None and self._push(
            "Revert segment", lambda s: edits.revert_segment(s, machine, row), row
        )

    def revert_all(self) -> bool:
        machine = self.machine_segments()
        return machine is not None and self._push(
            "Revert all", lambda _s: machine, max(0, self.current_row())
        )

    # ----------------------------------------------------------------- finding
    @Slot()
    def find_next(self) -> bool:
        needle = self.find_box.text().casefold()
        if not needle:
            return False
        count = len(self.model.segments)
        start = self.current_row()
        for step in range(1, count + 1):
            row = (start + step) % count
            if needle in self.model.segments[row].text.casefold():
                self.view.setCurrentIndex(self.model.index(row))
                self.view.scrollTo(self.model.index(row))
                return True
        self.message.emit(f"“{self.find_box.text()}” is not in the transcript.")
        return False

    def next_unsure(self) -> WordPlace | None:
        """Go to the next unsure word after the last one visited, light it, and ask to hear it."""
        place = edits.next_unsure(self.model.segments, self.model.threshold, self._unsure_place)
        self._unsure_place = place
        if place is None:
            self.message.emit("No unsure words are left.")
            return None
        index = self.model.index(place.segment)
        self.view.setCurrentIndex(index)
        self.view.scrollTo(index)
        self.model.set_current_word(place)
        start = self.timeline.start_of(place)
        if start is not None:  # with a little of what comes before, to hear it in context
            self.play_requested.emit(max(0.0, start - UNSURE_CONTEXT_SECONDS))
        return place

    # ----------------------------------------------------------------- following playback
    @Slot(float)
    def show_position(self, seconds: float) -> None:
        """Light the word spoken at ``seconds`` and keep its row in sight."""
        place = self.timeline.word_at(seconds)
        previous = self.model.current_word
        self.model.set_current_word(place)
        if place is not None and (previous is None or previous.segment != place.segment):
            self.view.scrollTo(self.model.index(place.segment))

    # ----------------------------------------------------------------- internals
    @property
    def timeline(self) -> WordTimeline:
        if self._timeline is None:
            self._timeline = WordTimeline(self.model.segments)
        return self._timeline

    def _show_unsure_count(self) -> None:
        self.unsure_label.setText(f"{plural(self.model.unsure_total, 'unsure word')} left")

    @Slot(int)
    def _repaint_row(self, row: int) -> None:
        self.view.update(self.model.index(row))

    def _remember_editor(self, editor: QLineEdit) -> None:
        self._line_edit = editor
        editor.installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        """Remember where a row was clicked (to play from the word there), and play from the
        word Ctrl+clicked in the row being edited."""
        if watched is self._viewport and event.type() == QEvent.Type.MouseButtonPress:
            assert isinstance(event, QMouseEvent)
            self._pressed_at = event.position().toPoint()
        elif (
            watched is self._line_edit
            and event.type() == QEvent.Type.MouseButtonRelease
            and isinstance(event, QMouseEvent)
            and event.modifiers() & Qt.KeyboardModifier.ControlModifier
            and (row := self.current_row()) >= 0
        ):
            line = self._line_edit
            before = line.text()[: line.cursorPositionAt(event.position().toPoint())]
            word = len(before.split()) - (1 if before and not before[-1].isspace() else 0)
            self._play_word(row, max(0, word))
        return super().eventFilter(watched, event)

    def _play_word(self, row: int, word: int | None) -> None:
        """Ask to hear ``row`` from its ``word`` (its start if None or no such word)."""
        segment = self.model.segments[row]
        if word is not None and segment.words:
            self.play_requested.emit(segment.words[min(word, len(segment.words) - 1)].start)
        else:
            self.play_requested.emit(segment.start)

    def _focus_replace(self) -> None:
        self.find_box.setFocus()
        self.find_box.selectAll()

    def focus_find(self) -> None:
        self._focus_replace()

    @Slot(QModelIndex)
    def _on_clicked(self, index: QModelIndex) -> None:
        """A click plays from the word clicked (from the row's start on its times)."""
        if index.isValid():
            pressed, self._pressed_at = self._pressed_at, None
            word = self.delegate.word_at(self.view, index, pressed) if pressed else None
            self._play_word(index.row(), word)

    def confirm_discarding_edits(self, job_ids: list[str]) -> bool:
        """Re-transcribing replaces a transcript; one the user edited is asked about first
        (edited in this session, perhaps not stored yet, or edited before)."""
        edited = (set(self._edited) | self.queue.edited_ids()) & set(job_ids)
        if not edited:
            return True
        answer = QMessageBox.question(
            self,
            "Discard your edits?",
            f"{plural(len(edited), 'selected job has', 'selected jobs have')} edited "
            "transcripts. Re-transcribing replaces them with the new transcription, and your "
            "edits are lost. Re-transcribe anyway?",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
            QMessageBox.StandardButton.No,
        )
        return answer == QMessageBox.StandardButton.Yes
