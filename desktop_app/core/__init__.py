"""The Qt-free engine: settings, audio input, model, transcription, transcripts, exporters.

Nothing under this package may import PySide6; the GUI and the command line are faces over it.
Importing it switches off the native libraries' telemetry first (:mod:`desktop_app.core.privacy`).
"""

from desktop_app.core.privacy import switch_off_telemetry

switch_off_telemetry()
