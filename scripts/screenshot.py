"""Make the README screenshot (and the icon PNGs) so they can be redone after any GUI change.

    python scripts/screenshot.py [--output resources/screenshot.png]

Runs the real window on the real bundled model over the speech corpus, in throwaway user
folders: two short clips and a minute-long recording finish, a longer one is caught mid-way,
and a broken file shows how a failure reads; the minute-long recording's transcript is open in
the editor, under the playback bar, with the word spoken 3.5 s in lit. Works offscreen; under
Xvfb it uses the X server it finds.
A private PulseAudio server (``scripts/virtual_mic.sh``, where pulseaudio is installed) is the
sound output, so the bar shows as it does on a computer with speakers.
"""

from __future__ import annotations

import argparse
import atexit
import os
import shutil
import subprocess
import sys
import tempfile
import wave
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
_HOME = Path(tempfile.mkdtemp(prefix="verbatim-screenshot-"))
atexit.register(shutil.rmtree, _HOME, ignore_errors=True)
for _var in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME"):
    os.environ[_var] = str(_HOME / _var.lower())
os.environ["HF_HUB_OFFLINE"] = "1"
#: Set before Qt Multimedia loads: it finds its sound server once.
os.environ["PULSE_SERVER"] = f"unix:{_HOME / 'pulse' / 'native'}"

import numpy as np  # noqa: E402
from PySide6.QtCore import QElapsedTimer, QSize, Qt  # noqa: E402
from PySide6.QtGui import QImage, QPainter  # noqa: E402
from PySide6.QtSvg import QSvgRenderer  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from desktop_app.icon_files import APP_ID, ICON_SIZES, icon_path  # noqa: E402
from tests.corpus import CORPUS  # noqa: E402

RESOURCES = REPO / "resources"
SVG_ICON = RESOURCES / "icons" / "hicolor" / "scalable" / "apps" / f"{APP_ID}.svg"


def render_icons() -> None:
    """PNG sizes of the scalable icon for platforms and toolkits that want bitmaps."""
    renderer = QSvgRenderer(str(SVG_ICON))
    for size in ICON_SIZES:
        image = QImage(QSize(size, size), QImage.Format.Format_ARGB32_Premultiplied)
        image.fill(Qt.GlobalColor.transparent)
        painter = QPainter(image)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        renderer.render(painter)
        painter.end()
        image.save(str(icon_path(RESOURCES, size)))


def long_recording(folder: Path, name: str, repeats: int) -> Path:
    """Real speech (the corpus clips, ``repeats`` times: 19 s each) as one longer recording."""
    from desktop_app.core.audio import SAMPLE_RATE, load_audio

    clips = [load_audio(CORPUS / "jfk.flac"), load_audio(CORPUS / "LJ050-0131.wav")]
    audio = np.concatenate(clips * repeats)
    path = folder / name
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(SAMPLE_RATE)
        out.writeframes((np.clip(audio, -1, 1) * 32767).astype("<i2").tobytes())
    return path


def start_sound_server() -> None:
    """Speakers for the player (a null sink), stopped at exit; without pulseaudio the bar says
    that there is no sound output, as it would to a user."""
    if shutil.which("pulseaudio") is None:
        print("pulseaudio is not installed: the screenshot shows the no-sound-output note.")
        return
    server = subprocess.Popen(
        ["bash", str(REPO / "scripts" / "virtual_mic.sh"), str(_HOME / "pulse")],
        stdout=subprocess.PIPE,
        text=True,
    )

    def stop() -> None:
        server.terminate()
        server.communicate(timeout=60)

    atexit.register(stop)
    assert server.stdout is not None
    if not server.stdout.readline().strip():  # the FIFO's path, once the server is ready
        raise SystemExit("The private PulseAudio server did not start.")


def wait_until(app: QApplication, condition: object, timeout_ms: int) -> None:
    timer = QElapsedTimer()
    timer.start()
    while not condition():  # type: ignore[operator]
        if timer.elapsed() > timeout_ms:
            raise SystemExit("Timed out waiting for the window to reach the screenshot state.")
        app.processEvents()
        QApplication.instance().thread().msleep(20)  # type: ignore[union-attr]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=RESOURCES / "screenshot.png")
    args = parser.parse_args()

    start_sound_server()
    app = QApplication(sys.argv[:1])
    render_icons()
    from desktop_app.core.jobs import JobState
    from desktop_app.core.settings import load_settings
    from desktop_app.gui.main_window import MainWindow, app_icon

    app.setWindowIcon(app_icon())
    folder = Path(tempfile.mkdtemp(prefix="verbatim-media-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    broken = folder / "voicemail (damaged).m4a"
    broken.write_bytes(b"not really audio" * 64)
    meeting = long_recording(folder, "Board meeting 2024-03-14.wav", 3)
    workshop = long_recording(folder, "Workshop day 2.wav", 9)  # still running at the end
    files = [CORPUS / "jfk.flac", CORPUS / "LJ050-0131.wav", broken, meeting, workshop]

    settings = load_settings(environ={}, saved={"max_concurrent_workers": 2})
    window = MainWindow(settings=settings, environ={})
    window.resize(1100, 760)
    window.show()
    window.add_paths(files)
    wait_until(app, lambda: window.model.rowCount() == len(files), 10_000)

    def ready() -> bool:
        jobs = window.queue.jobs()
        states = [job.state for job in jobs]
        return states.count(JobState.DONE) >= 3 and any(
            job.state is JobState.RUNNING and job.progress >= 0.3 for job in jobs
        )

    wait_until(app, ready, 300_000)
    window.select_job(next(job.id for job in window.queue.jobs() if job.path == meeting))
    editor, playback = window.transcript.editor, window.transcript.playback
    assert editor is not None and playback is not None and window.transcript.editing
    wait_until(app, lambda: playback.player.duration() > 0, 10_000)
    editor.view.setCurrentIndex(editor.model.index(0))
    playback.skip(3.5)  # paused there: the word spoken then is lit
    wait_until(app, lambda: editor.model.current_word is not None, 10_000)
    app.processEvents()
    window.grab().save(str(args.output))
    print(f"Wrote {args.output}")
    window.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
