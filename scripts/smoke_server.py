"""Smoke test of the bundle's local server, used as another program on the computer would use it.

``scripts/build_bundle.sh`` runs it after the build, with the build's Python as the client (httpx,
websockets, the recording's decoding); the server is the bundle's own ``verbatim-cli serve``,
started with a clean environment (no Python, no virtual environment, no user settings) on a free
port. It checks, in order: ``/api/v1/health``; an upload of the recording, polled to done; its SRT
holding the expected words; the WebSocket stream of the same recording's PCM giving a ``final``
event and a job; SIGTERM ending the server with exit status 0. One line per step; on the first
failure, the reason and the server's output, and exit status 1.

Usage: python scripts/smoke_server.py VERBATIM_CLI RECORDING EXPECTED_WORDS HOME
"""

from __future__ import annotations

import json
import queue
import re
import signal
import string
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import numpy as np
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

START_TIMEOUT_S = 180.0  # loading the model in a cold bundle on a busy computer
JOB_TIMEOUT_S = 300.0
STOP_TIMEOUT_S = 60.0
CHUNK_SECONDS = 0.5
SAMPLE_RATE = 16000


class SmokeFailure(Exception):
    pass


def normalised(text: str) -> str:
    return " ".join(text.lower().translate(str.maketrans("", "", string.punctuation)).split())


class BundledServer:
    """``verbatim-cli serve --port 0`` from the bundle; its output is collected on a thread."""

    def __init__(self, program: Path, home: Path) -> None:
        home.mkdir(parents=True, exist_ok=True)
        clean = {"PATH": "/usr/bin:/bin", "HOME": str(home), "LANG": "C.UTF-8"}
        self.process = subprocess.Popen(
            [str(program), "serve", "--port", "0"],
            env=clean,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.output: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.output.append(line)
            self.lines.put(line)
        self.lines.put(None)

    def wait_for_url(self) -> str:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=1)
            except queue.Empty:
                continue
            if line is None:
                raise SmokeFailure(f"serve exited with {self.process.wait()} before serving")
            match = re.match(r"Serving Verbatim on (\S+)", line)
            if match:
                return match.group(1)
        raise SmokeFailure(f"serve did not say where it serves within {START_TIMEOUT_S:.0f} s")

    def terminate(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            raise SmokeFailure(
                f"serve did not exit within {STOP_TIMEOUT_S:.0f} s of SIGTERM"
            ) from None

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def step(text: str) -> None:
    print(f"smoke_server: {text}", flush=True)


def upload_to_srt(client: httpx.Client, recording: Path, expected: str) -> None:
    with recording.open("rb") as audio:
        answer = client.post("/api/v1/transcribe/batch", files={"audio_file": audio})
    if answer.status_code != 202:
        raise SmokeFailure(f"the upload got {answer.status_code}: {answer.text}")
    url = answer.json()["url"]
    deadline = time.monotonic() + JOB_TIMEOUT_S
    while (job := client.get(url).json())["state"] in ("queued", "running"):
        if time.monotonic() > deadline:
            raise SmokeFailure(f"the job did not finish within {JOB_TIMEOUT_S:.0f} s: {job}")
        time.sleep(0.2)
    if job["state"] != "done":
        raise SmokeFailure(f"the job ended {job['state']}: {job['error']}")
    srt = client.get(f"{url}/transcript", params={"format": "srt"})
    if srt.status_code != 200 or not srt.text.startswith("1\n") or " --> " not in srt.text:
        raise SmokeFailure(f"the SRT transcript is not one ({srt.status_code}): {srt.text!r}")
    if expected not in normalised(srt.text):
        raise SmokeFailure(f"the SRT does not hold {expected!r}: {srt.text!r}")


def pcm_chunks(recording: Path) -> list[bytes]:
    from desktop_app.core.audio import load_audio  # the client decodes with the build's Python

    audio = load_audio(recording)
    pcm = (np.clip(audio, -1, 1) * 32767).astype("<i2").tobytes()
    size = int(CHUNK_SECONDS * SAMPLE_RATE) * 2
    return [pcm[start : start + size] for start in range(0, len(pcm), size)]


def stream(url: str, recording: Path) -> str:
    """Send the recording's PCM, then ``end``; returns the finals' text."""
    events: list[dict[str, object]] = []
    with connect(f"{url.replace('http', 'ws', 1)}/api/v1/transcribe/stream") as socket:
        for chunk in pcm_chunks(recording):
            socket.send(chunk)
        socket.send("end")
        try:
            while True:
                events.append(json.loads(socket.recv(timeout=JOB_TIMEOUT_S)))
        except ConnectionClosed:
            pass
        except TimeoutError:
            raise SmokeFailure(f"no answer on the stream for {JOB_TIMEOUT_S:.0f} s") from None
    finals = [str(event["text"]) for event in events if event.get("type") == "final"]
    if not any(text.strip() for text in finals):
        raise SmokeFailure(f"the stream gave no final event with words: {events}")
    if not events or events[-1].get("type") != "job":
        raise SmokeFailure(f"the stream did not end with its job: {events[-1:]}")
    return " ".join(finals)


def main() -> int:
    program, recording, expected, home = sys.argv[1:5]
    server = BundledServer(Path(program), Path(home))
    try:
        url = server.wait_for_url()
        step(f"serving on {url}")
        with httpx.Client(base_url=url, timeout=60) as client:
            health = client.get("/api/v1/health")
            if health.status_code != 200 or health.json().get("status") != "ok":
                raise SmokeFailure(f"/api/v1/health answered {health.status_code}: {health.text}")
            step("health: ok")
            upload_to_srt(client, Path(recording), normalised(expected))
            step(f"upload of {Path(recording).name}: done, SRT holds '{expected}'")
        finals = stream(url, Path(recording))
        step(f"WebSocket stream: finals '{finals.strip()}'")
        status = server.terminate()
        if status != 0:
            raise SmokeFailure(f"serve exited with {status} after SIGTERM")
        step("SIGTERM: exit 0")
        return 0
    except (SmokeFailure, httpx.HTTPError, OSError) as failure:
        print(f"smoke_server: FAILED: {failure}", file=sys.stderr)
        print("".join(server.output[-40:]), file=sys.stderr)
        return 1
    finally:
        server.kill()


if __name__ == "__main__":
    sys.exit(main())
