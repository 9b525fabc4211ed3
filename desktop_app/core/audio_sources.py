"""Where live audio comes from: a microphone (sounddevice/PortAudio) or a file replayed in time.

Both sources put 16 kHz mono float32 blocks into the same bounded queue; a consumer thread
drains it with :meth:`AudioSource.read`. The microphone callback only copies into that queue and
returns (Buzz's ``stream_callback`` shape). The queue holds minutes of audio, so it fills only if
the consumer died; should it ever overflow, the lost seconds are counted and reported
(:attr:`AudioSource.dropped_seconds`), never dropped silently.

Every microphone failure becomes a :class:`MicrophoneError` whose message says what to do:
PortAudio missing, no input device, unknown device name, device lost while recording.
"""

from __future__ import annotations

import logging
import queue
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from desktop_app.core.audio import SAMPLE_RATE
from desktop_app.core.errors import VerbatimError

logger = logging.getLogger(__name__)

BLOCK_SECONDS = 0.1
#: Queue bound in blocks: 10 minutes of audio before anything could be lost.
QUEUE_BLOCKS = 6000


class MicrophoneError(VerbatimError):
    """The microphone cannot be used; the message says why and what to do."""


@dataclass(frozen=True)
class InputDevice:
    index: int
    name: str
    channels: int
    default_samplerate: float
    is_default: bool
    host_api: str = ""


def _sounddevice() -> Any:
    """Import sounddevice, turning a missing PortAudio into a sentence."""
    try:
        import sounddevice
    except OSError as exc:  # sounddevice raises OSError when libportaudio is not installed
        raise MicrophoneError(
            f"The audio library PortAudio is not installed ({exc}), so no microphone can be "
            "used. Install it (Debian/Ubuntu: sudo apt install libportaudio2) and restart "
            "Verbatim; everything else works without it."
        ) from None
    return sounddevice


def list_input_devices(*, rescan: bool = False) -> list[InputDevice]:
    """Every device with input channels, default first marked.

    PortAudio reads the device list once, when it is initialised; ``rescan`` re-initialises it so
    that a microphone plugged in (or a sound server started) since then appears. Only rescan
    while no stream of this process is open.

    :raises MicrophoneError: PortAudio is missing or cannot list devices.
    """
    sd = _sounddevice()
    if rescan:
        try:
            sd._terminate()
            sd._initialize()
        except Exception as exc:
            raise MicrophoneError(f"The audio devices could not be listed: {exc}.") from None
    try:
        devices = sd.query_devices()
        host_apis = sd.query_hostapis()
        try:
            default_input = int(sd.default.device[0])
        except (TypeError, ValueError, IndexError):
            default_input = -1
    except Exception as exc:
        raise MicrophoneError(f"The audio devices could not be listed: {exc}.") from None
    found = []
    for index, info in enumerate(devices):
        if int(info.get("max_input_channels", 0)) <= 0:
            continue
        api = host_apis[info["hostapi"]]["name"] if info.get("hostapi") is not None else ""
        found.append(
            InputDevice(
                index=index,
                name=str(info["name"]),
                channels=int(info["max_input_channels"]),
                default_samplerate=float(info.get("default_samplerate", SAMPLE_RATE)),
                is_default=index == default_input,
                host_api=str(api),
            )
        )
    return found


#: ALSA's names for the sound servers PortAudio reaches through it, as a person knows them.
SOUND_SERVERS = {
    "pulse": "PulseAudio sound server",
    "pipewire": "PipeWire sound server",
    "jack": "JACK sound server",
}
#: Names PortAudio lists as inputs that are not microphones a person picks: ALSA's plug-ins
#: (converters, and aliases of the default) and Windows' sound mappers. Hidden unless default.
NOT_MICROPHONES = frozenset(
    {
        "default",
        "sysdefault",
        "dsnoop",
        "dmix",
        "samplerate",
        "speexrate",
        "lavrate",
        "upmix",
        "vdownmix",
        "plug",
        "hw",
        "plughw",
        "front",
        "surround40",
        "surround51",
        "surround71",
        "iec958",
        "spdif",
        "Microsoft Sound Mapper - Input",
        "Primary Sound Capture Driver",
    }
)
#: ALSA's card address at the end of a hardware device's name: "HDA Intel PCH: ALC887 (hw:0,0)".
_ALSA_ADDRESS = re.compile(r"\s*\((?:plug)?hw:[^)]*\)$")
SYSTEM_DEFAULT = "System default"


@dataclass(frozen=True)
class InputChoice:
    """One entry of an input list: what a person reads, and the device it opens."""

    label: str
    #: The PortAudio name handed to :class:`MicrophoneSource` (resolved by :func:`find_device`),
    #: so a friendlier label never changes which device is opened.
    device: str
    is_default: bool


def device_label(name: str) -> str:
    """A PortAudio device name as a person reads it: sound servers named, card addresses cut."""
    return SOUND_SERVERS.get(name, _ALSA_ADDRESS.sub("", name).strip() or name)


def input_choices(devices: list[InputDevice]) -> list[InputChoice]:
    """The inputs to offer a person, the system default first and called so.

    PortAudio's list is made for programs: ALSA's plug-ins ("sysdefault", "speexrate") and the
    default's alias ("default") beside the cards, card addresses ("(hw:0,0)"), and on Windows
    sound mappers and the same microphone once per host API. Each label depends on the name
    alone and each name is offered once (the first device of that name is the one
    :func:`find_device` opens), so the device opened is the one the label names.
    """
    default = next((d for d in devices if d.is_default), None)
    choices: list[InputChoice] = []
    seen_names: set[str] = set()
    seen_labels: dict[str, int] = {}
    if default is not None:
        label = device_label(default.name)
        shown = SYSTEM_DEFAULT if default.name in NOT_MICROPHONES else f"{SYSTEM_DEFAULT}: {label}"
        choices.append(InputChoice(shown, default.name, True))
        seen_names.add(default.name)
        seen_labels[label] = 1
    microphones = [d for d in devices if d.name not in NOT_MICROPHONES]
    for device in microphones if microphones or default else devices:
        if device.name in seen_names:
            continue
        seen_names.add(device.name)
        label = device_label(device.name)
        count = seen_labels[label] = seen_labels.get(label, 0) + 1
        choices.append(
            InputChoice(label if count == 1 else f"{label} ({count})", device.name, False)
        )
    return choices


def find_device(name: str | None, devices: list[InputDevice] | None = None) -> InputDevice | None:
    """The device called ``name`` (exact, else a unique case-insensitive part); None = default.

    :raises MicrophoneError: no input device at all, or no (unique) device by that name.
    """
    devices = list_input_devices() if devices is None else devices
    if not devices:
        raise MicrophoneError(
            "No microphone was found. Connect one (or enable it in the system's sound settings) "
            "and press Refresh."
        )
    if not name:
        return next((d for d in devices if d.is_default), devices[0])
    if name.isdigit():
        for device in devices:
            if device.index == int(name):
                return device
    exact = [d for d in devices if d.name == name]
    if exact:
        return exact[0]
    partial = [d for d in devices if name.lower() in d.name.lower()]
    if len(partial) == 1:
        return partial[0]
    listing = ", ".join(repr(d.name) for d in devices)
    if partial:
        raise MicrophoneError(f"The device name {name!r} matches several inputs: {listing}.")
    raise MicrophoneError(f"No input device is called {name!r}. Available inputs: {listing}.")


class AudioSource:
    """A bounded queue of 16 kHz mono float32 blocks, fed by a producer, drained by a consumer."""

    name = "audio"

    def __init__(self) -> None:
        self._queue: queue.Queue[np.ndarray] = queue.Queue(maxsize=QUEUE_BLOCKS)
        self._done = threading.Event()
        self.error: str | None = None
        self.dropped_seconds = 0.0
        self.overflows = 0
        self.started_at: float | None = None

    def start(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        """Stop capturing; blocks already captured remain readable."""
        raise NotImplementedError

    @property
    def finished(self) -> bool:
        """No more blocks will ever come (stopped, ended, or failed)."""
        return self._done.is_set()

    def read(self, timeout: float = 0.1) -> np.ndarray | None:
        """Everything captured so far, joined; waits up to ``timeout`` for the first block.

        Returns None when nothing arrived; check :attr:`finished` to tell the end from a pause.
        """
        try:
            blocks = [self._queue.get(timeout=timeout)]
        except queue.Empty:
            return None
        while True:
            try:
                blocks.append(self._queue.get_nowait())
            except queue.Empty:
                break
        return np.concatenate(blocks)

    def _put(self, block: np.ndarray) -> None:
        """Called by the producer (callback or replay thread): copy in and return."""
        try:
            self._queue.put_nowait(block)
        except queue.Full:
            self.dropped_seconds += block.size / SAMPLE_RATE

    def _fail(self, message: str) -> None:
        if self.error is None:
            self.error = message
            logger.warning("Audio source %s failed: %s", self.name, message)
        self._done.set()


class ReplaySource(AudioSource):
    """Plays a recording into the queue at ``speed`` x real time (tests, benchmarks, --replay).

    ``speed=1`` is real-time pace, like a microphone; a larger factor replays faster for tests
    where the wall-clock pace is not the point; ``float('inf')`` pushes everything at once.
    """

    def __init__(
        self,
        audio: np.ndarray | Path | str,
        *,
        speed: float = 1.0,
        block_seconds: float = BLOCK_SECONDS,
        name: str = "replay",
    ) -> None:
        super().__init__()
        if not isinstance(audio, np.ndarray):
            from desktop_app.core.audio import load_audio

            self.name = Path(audio).name
            audio = load_audio(Path(audio))
        else:
            self.name = name
        self.audio = np.asarray(audio, dtype=np.float32).reshape(-1)
        self.speed = speed
        self.block = max(1, int(block_seconds * SAMPLE_RATE))
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self.started_at = time.monotonic()
        self._thread = threading.Thread(target=self._run, name="replay-source", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        assert self.started_at is not None
        for offset in range(0, self.audio.size, self.block):
            block = self.audio[offset : offset + self.block]
            due = self.started_at + (offset + block.size) / SAMPLE_RATE / self.speed
            # Deadlines from the start, so waiting never drifts; a stop ends the wait at once.
            if self._stop.wait(max(0.0, due - time.monotonic())):
                break
            self._put(block.copy())
        self._done.set()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self._done.set()


class MicrophoneSource(AudioSource):
    """A sounddevice input stream whose callback only copies into the bounded queue.

    The stream opens at 16 kHz when the device allows it; otherwise at the device's own rate,
    and the consumer side (never the callback) resamples.
    """

    def __init__(self, device: str | None = None, *, block_seconds: float = BLOCK_SECONDS) -> None:
        super().__init__()
        self._sd = _sounddevice()
        self.device = find_device(device, list_input_devices(rescan=True))
        assert self.device is not None
        self.name = self.device.name
        self.block_seconds = block_seconds
        self.samplerate = SAMPLE_RATE
        self._stream: Any = None
        self._stopping = False

    def start(self) -> None:
        sd = self._sd
        assert self.device is not None
        try:
            sd.check_input_settings(
                device=self.device.index, channels=1, dtype="float32", samplerate=SAMPLE_RATE
            )
        except Exception:
            self.samplerate = int(self.device.default_samplerate)
            logger.info("%s does not take 16 kHz; recording at %d Hz", self.name, self.samplerate)
        try:
            self._stream = sd.InputStream(
                device=self.device.index,
                channels=1,
                dtype="float32",
                samplerate=self.samplerate,
                blocksize=int(self.samplerate * self.block_seconds),
                callback=self._callback,
                finished_callback=self._on_stream_finished,
            )
            self._stream.start()
        except Exception as exc:
            self._stream = None
            raise MicrophoneError(
                f"The microphone {self.name!r} could not be opened: {exc}. Check that it is "
                "connected and not used exclusively by another program, then try again."
            ) from None
        self.started_at = time.monotonic()

    def _callback(self, indata: np.ndarray, frames: int, time_info: Any, status: Any) -> None:
        if status and status.input_overflow:
            self.overflows += 1
        self._put(indata[:, 0].copy())

    def _on_stream_finished(self) -> None:
        if not self._stopping:
            self._fail(
                f"The microphone {self.name!r} stopped delivering audio (unplugged?). The "
                "recording so far is kept."
            )
        self._done.set()

    def check_alive(self) -> None:
        """Called by the consumer while waiting: a stream that went inactive means a lost device."""
        stream = self._stream
        if stream is not None and not self._stopping and not self.finished and not stream.active:
            self._on_stream_finished()

    def read(self, timeout: float = 0.1) -> np.ndarray | None:
        frames = super().read(timeout)
        if frames is None:
            self.check_alive()
            return None
        if self.samplerate != SAMPLE_RATE:
            frames = resample(frames, self.samplerate)
        return frames

    def stop(self) -> None:
        self._stopping = True
        stream, self._stream = self._stream, None
        if stream is not None:
            try:
                stream.abort()  # stop() waits for pending buffers, which a lost device never ends
                stream.close()
            except Exception as exc:  # a lost device may fail to close; what we have is kept
                logger.warning("Closing the microphone stream failed: %s", exc)
        self._done.set()


def resample(frames: np.ndarray, rate: int) -> np.ndarray:
    """Linear resampling to 16 kHz: enough for speech, and cheap on the consumer thread."""
    if rate == SAMPLE_RATE or frames.size == 0:
        return frames
    count = max(1, round(frames.size * SAMPLE_RATE / rate))
    positions = np.linspace(0, frames.size - 1, count)
    return np.interp(positions, np.arange(frames.size), frames).astype(np.float32)


SourceFactory = Callable[[], AudioSource]
