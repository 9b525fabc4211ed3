"""The Qt-free engine: settings, audio input, model, transcription, transcripts, exporters.

Nothing under this package may import PySide6; the GUI and the command line are faces over it.
"""
