"""Is the transcript editor fast enough for a 2-hour recording?

    python benchmarks/editor.py [--hours 2] [--workers 4] [--seconds 20]

1. Open: a 2-hour transcript (a segment every 3.6 s, 10 timed words each, one word in ten
   unsure) is shown in the window's transcript pane, as selecting its job does. Prints the time
   until the editor shows it (``show_job`` plus the first paint) and until its scroll range
   settles (the view measures the rows it shows and keeps their heights).
2. Typing: while ``--workers`` real transcriptions run on the bundled model, a keystroke every
   100 ms changes a row's text as an edit (an undo command, a model change and a store write on
   the editor's writer thread: harsher than real typing, whose edit is made when the row is
   left), and the recording plays in the window's player (Qt Multimedia, jfk.flac looped: the
   job's source), whose position moves the played word as in use. A
   10 ms QTimer heartbeat on the GUI thread records how late each tick is; prints max and 99th
   percentile. ``--no-typing`` measures the same without the typing and the playing: the
   baseline of the machine and the jobs.
3. Where a keystroke's time goes, in counts and CPU time that a busy machine moves less than
   stalls: the GUI thread's CPU time per second, the edit call's time on it (undo command, model,
   saving handed over), the rows measured (the delegate asked a row's size: layout), and the
   writes the saver made (keystrokes typed while a write runs become one).

Targets (issue 14): open <= 1 s; heartbeat stall max <= 50 ms, p99 <= 20 ms.
Without a sound output device Qt's FFmpeg backend plays on the system clock: the positions,
and the work they cause on the GUI thread, are the same.
Figures only, no pass/fail: timing goals are not assertions (house rule 15).
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
from benchmarks.gui_responsiveness import (  # noqa: E402
    HEARTBEAT_MS,
    isolated_env,
    percentile,
)
from tests.corpus import CORPUS  # noqa: E402

WORDS = [
    "and",
    "so",
    "my",
    "fellow",
    "Americans",
    "ask",
    "not",
    "what",
    "your",
    "country",
    "can",
    "do",
    "for",
    "you",
]


def long_transcript(hours: float):  # type: ignore[no-untyped-def]
    from desktop_app.core.transcript import Segment, Transcript, Word

    rng = random.Random(14)
    segments = []
    start = 0.0
    while start < hours * 3600:
        words = []
        at = start
        for _ in range(10):
            text = rng.choice(WORDS)
            words.append(Word(at, at + 0.3, f" {text}", 0.3 if rng.random() < 0.1 else 0.9))
            at += 0.32
        segments.append(Segment(start, at, "".join(w.text for w in words), tuple(words)))
        start = at + 0.4
    return Transcript(segments, language="en", duration=hours * 3600, model="tiny.en")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hours", type=float, default=2.0)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=20.0, help="typing measured this long")
    parser.add_argument(
        "--no-typing",
        action="store_true",
        help="the baseline: the same jobs with the transcript open, nothing typed or played",
    )
    args = parser.parse_args()
    print(f"Machine: {os.cpu_count()} CPU cores; load average {os.getloadavg()[0]:.1f}")
    os.environ.update(isolated_env())

    from PySide6.QtCore import QElapsedTimer, Qt, QTimer
    from PySide6.QtMultimedia import QMediaPlayer
    from PySide6.QtWidgets import QApplication

    app = QApplication(sys.argv[:1])
    from desktop_app.core.settings import load_settings
    from desktop_app.core.transcriber import TranscriptionOptions, WhisperEngine
    from desktop_app.gui import transcript_editor
    from desktop_app.gui.background import favour_gui_thread
    from desktop_app.gui.main_window import MainWindow

    measured = [0]  # rows whose size the delegate was asked: the list's layout work
    size_hint = transcript_editor.SegmentDelegate.sizeHint

    def counted_size_hint(self, option, index):  # type: ignore[no-untyped-def]
        measured[0] += 1
        return size_hint(self, option, index)

    # Before the window is made: PySide looks a Python override up when its object is made.
    transcript_editor.SegmentDelegate.sizeHint = counted_size_hint  # type: ignore[method-assign]

    favour_gui_thread()
    settings = load_settings(
        environ={}, saved={"max_concurrent_workers": args.workers, "max_queue_size": 100}
    )
    engine = WhisperEngine.from_settings(settings)
    engine.preload(settings.whisper_model_size)
    window = MainWindow(settings=settings, engine=engine, environ={})
    window.resize(1000, 800)
    window.show()
    while window.restoring:
        app.processEvents()
    transcript = long_transcript(args.hours)
    job = window.queue.add_finished(CORPUS / "jfk.flac", transcript, TranscriptionOptions())
    snapshot = window.queue.snapshot(job.id)
    editor = window.transcript.editor
    assert editor is not None and snapshot is not None

    began = time.perf_counter()
    window.transcript.show_job(snapshot)
    app.processEvents()  # the first paint
    opened = time.perf_counter() - began
    last_max = -1
    while editor.view.verticalScrollBar().maximum() != last_max:  # a layout still under way
        last_max = editor.view.verticalScrollBar().maximum()
        for _ in range(20):
            app.processEvents()
    laid_out = time.perf_counter() - began
    print(
        f"Open: {len(transcript.segments)} segments, "
        f"{sum(len(s.words) for s in transcript.segments)} words ({args.hours:g} h)"
    )
    print(
        f"  shown in {opened * 1000:.0f} ms (target <= 1000 ms); laid out in "
        f"{laid_out * 1000:.0f} ms; {editor.unsure_label.text()}"
    )

    sources = [CORPUS / "jfk.flac", CORPUS / "LJ050-0131.wav"] * args.workers
    window.queue.submit_many(sources[: args.workers * 2], window.options())
    row = len(transcript.segments) // 2
    editor.view.setFocus()
    editor.view.setCurrentIndex(editor.model.index(row))
    editor.view.scrollTo(editor.model.index(row))

    lateness: list[float] = []
    clock = QElapsedTimer()
    last = [0.0]
    heartbeat = QTimer()
    heartbeat.setTimerType(Qt.TimerType.PreciseTimer)
    heartbeat.setInterval(HEARTBEAT_MS)

    def tick() -> None:
        now = clock.nsecsElapsed() / 1e6
        if last[0]:
            lateness.append(max(0.0, now - last[0] - HEARTBEAT_MS))
        last[0] = now

    heartbeat.timeout.connect(tick)
    typed = [0]
    edit_ms: list[float] = []

    def type_key() -> None:
        """One keystroke, made an edit at once: harsher than typing, whose edit is made when
        the row is left, and independent of which widget has the focus."""
        typed[0] += 1
        text = editor.segments[row].text.strip()
        began = time.perf_counter()
        editor.set_text(row, text + ("a" if typed[0] % 5 else " "))
        edit_ms.append((time.perf_counter() - began) * 1000)

    saves = [0]
    save_edits = window.queue.save_edits

    def counted_save(job_id, segments):  # type: ignore[no-untyped-def]
        saves[0] += 1
        return save_edits(job_id, segments)

    window.queue.save_edits = counted_save  # type: ignore[method-assign]

    typing = QTimer()
    typing.setInterval(100)
    typing.timeout.connect(type_key)
    playback = window.transcript.playback
    assert playback is not None
    playback.player.setLoops(QMediaPlayer.Loops.Infinite)
    positions = [0]
    playback.position_changed.connect(lambda _seconds: positions.__setitem__(0, positions[0] + 1))

    for _ in range(50):
        app.processEvents()  # the scroll to the row laid out before anything is counted
    measured[0] = 0
    clock.start()
    heartbeat.start()
    if not args.no_typing:
        typing.start()
        playback.play_from(0.0)
    gui_cpu = time.thread_time()
    deadline = time.monotonic() + args.seconds
    while time.monotonic() < deadline:
        app.processEvents()
        time.sleep(0.001)  # the benchmark's own loop; the GUI is what is measured
    gui_cpu = time.thread_time() - gui_cpu
    for timer in (heartbeat, typing):
        timer.stop()
    playback.player.stop()
    running = sum(1 for j in window.queue.jobs() if j.state.value == "running")
    editor.saver.wait(30)
    window.queue.cancel_all()
    window.shutdown()
    print(
        f"Typing: {typed[0]} keystrokes, each an edit saved, for {args.seconds:g} s while "
        f"{args.workers} jobs ran ({running} still running at the end)"
    )
    print(
        f"  {positions[0]} playback positions shown; "
        f"{len(lateness)} heartbeats of {HEARTBEAT_MS} ms"
    )
    print(f"  max stall: {max(lateness):.1f} ms (target <= 50 ms)")
    print(f"  p99 stall: {percentile(lateness, 0.99):.1f} ms (target <= 20 ms)")
    keys = max(1, typed[0])
    print(
        f"Breakdown: GUI thread CPU {gui_cpu * 1000 / args.seconds:.0f} ms per second; "
        f"rows measured {measured[0] / keys:.1f} per keystroke; "
        f"{saves[0]} saves for {typed[0]} keystrokes"
    )
    if edit_ms:
        print(
            f"  the edit call on the GUI thread: median {percentile(edit_ms, 0.5):.2f} ms, "
            f"p99 {percentile(edit_ms, 0.99):.2f} ms, max {max(edit_ms):.1f} ms"
        )
    print(f"Load average at the end: {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
