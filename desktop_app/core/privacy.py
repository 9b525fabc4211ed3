"""Switch off the telemetry of the native libraries Verbatim loads, before any of them starts.

Verbatim promises to open no network connection, but a library can: onnxruntime (it runs the
Silero voice detector inside faster-whisper) sends usage events to a Microsoft host from
version 1.29 on Linux, and writes a persistent device id under ``~/.cache/Microsoft/``. Its only
complete opt-out is an environment variable read once, when its runtime environment is created;
its ``disable_telemetry_events()`` API comes after that creation, too late for the start-up
event and the device id. So the variables are set when :mod:`desktop_app.core` is imported,
before anything can import the libraries, and they override the user's shell: privacy is not
a setting.

Checked and quiet without a switch: CTranslate2 (no network code), PyAV/FFmpeg (opens what it
is given; :func:`desktop_app.core.audio.open_container` gives it local files only), Qt (the
only socket is the local single-instance one). huggingface_hub and its hf_xet transfer agent
report usage during the one network use the user asks for (``verbatim-cli models download``);
their switch is set too. ``tests/test_privacy.py`` checks all of it at the system-call level.
"""

from __future__ import annotations

import os

#: Environment variable -> value that switches a library's telemetry off.
TELEMETRY_OFF: dict[str, str] = {
    # onnxruntime >= 1.29 on Linux and macOS: no uploader, no events, no device id, no cache.
    "ORT_DISABLE_TELEMETRY": "1",
    # huggingface_hub and hf_xet (read when they are imported).
    "HF_HUB_DISABLE_TELEMETRY": "1",
}


def switch_off_telemetry() -> None:
    """Set :data:`TELEMETRY_OFF` in this process's environment (inherited by its children)."""
    os.environ.update(TELEMETRY_OFF)
