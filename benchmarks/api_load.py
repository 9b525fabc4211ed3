"""The local server under load: the same batch over HTTP versus ``verbatim-cli transcribe``.

In one run, each in its own subprocess with its own user folders:

* ``cli``: ``verbatim-cli transcribe`` on the batch; its wall time is the one its summary line
  prints (from the first submission to the last export: model loading excluded);
* ``http``: ``verbatim-cli serve`` with the same settings; concurrent clients (one per file)
  upload the batch at once, retrying with backoff on 503, and poll until every job is done;
  wall time from the first upload to the last job done (start-up excluded, as for ``cli``).
  ``cli`` runs before and after ``http``, and the ratio is taken to their mean, so that a load
  that changes during the run (other programs on the computer) weighs on both sides.
* ``http with the probe``: the same batch again while a probe reads ``/api/v1/capacity`` and
  ``/api/v1/health`` in turn, about 40 times a second (its requests cost the server CPU, which
  is why the timed ``http`` run has none). Their latencies (p50, p99) while every worker is
  busy are the server's responsiveness beside the transcriptions. ``/health`` never touches
  the queue: when ``/capacity`` is as slow as it, the delay is the process's share of the CPU
  (and the GIL), not the queue;
* ``memory``: ``serve`` with one worker and a queue of 100 takes 100 uploads (short corpus
  clips) as fast as they come; its peak resident memory (VmHWM) before and after, and how long
  it takes to exit after SIGTERM with a job running and 99 queued.

* ``stream``: the corpus clips (with a second of silence after each, as
  ``benchmarks/live_latency.py`` plays them) sent to ``/api/v1/transcribe/stream`` at real-time
  pace in 0.1 s frames, each frame sent when a microphone would have it. A word's latency is
  from its end in the audio to the client's receipt of the ``final`` event that carries it (the
  events list their words with times). Beside it, in the same run, the Live tab's own measure
  of the same audio (``live_latency.py``'s in-process session, confirmation time instead of
  receipt), so the socket's own cost shows as the difference.

Goals (issue 11): wall ratio http/cli <= 1.10; /capacity p99 <= 50 ms while busy; WebSocket
word-end-to-final median <= 1.0 s. Prints the figures with the load average (1 minute) beside
each; asserts nothing.

Usage: python benchmarks/api_load.py [--copies N] [--only stream]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np

REPO = Path(__file__).resolve().parent.parent
CORPUS = REPO / "tests" / "data"
CLIPS = ("jfk.flac", "LJ050-0131.wav")


def user_env(home: Path, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "XDG_DATA_HOME": str(home / "data"),
        "XDG_CONFIG_HOME": str(home / "config"),
        "XDG_STATE_HOME": str(home / "state"),
        "API_RATE_LIMIT": "1000000",
        **extra,
    }


def make_batch(folder: Path, copies: int) -> list[Path]:
    folder.mkdir(parents=True)
    files = []
    for copy in range(copies):
        for clip in CLIPS:
            target = folder / f"{copy}-{clip}"
            shutil.copyfile(CORPUS / clip, target)
            files.append(target)
    return files


def children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def process_cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def run_cli(files: list[Path], home: Path) -> tuple[float, float]:
    """Wall seconds (the summary line's) and CPU seconds (model loading included)."""
    cpu_before = children_cpu_s()
    command = [sys.executable, "-m", "desktop_app.cli", "transcribe", *map(str, files)]
    result = subprocess.run(
        [*command, "-f", "txt", "-o", str(home / "out")],
        capture_output=True,
        text=True,
        env=user_env(home),
        check=True,
    )
    match = re.search(r" in ([0-9.]+) s \(", result.stdout)
    assert match, result.stdout
    return float(match.group(1)), children_cpu_s() - cpu_before


class Serve:
    def __init__(self, home: Path, **extra: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "desktop_app.cli", "serve", "--port", "0"],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env=user_env(home, **extra),
        )
        assert self.process.stdout is not None
        url = ""
        for line in self.process.stdout:
            if line.startswith("Serving Verbatim on "):
                url = line.split()[3]
            if line.startswith("Press Ctrl+C"):
                break
        assert url, "serve did not start"
        self.url = url

    def peak_kib(self) -> int:
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        return int(re.search(r"VmHWM:\s+(\d+)", status).group(1))  # type: ignore[union-attr]

    def stop(self) -> float:
        """SIGTERM; returns the seconds until the process exited."""
        started = time.monotonic()
        self.process.terminate()
        self.process.wait(timeout=600)
        return time.monotonic() - started


def upload_until_accepted(client: httpx.Client, path: Path) -> str:
    for attempt in range(20):
        with path.open("rb") as audio:
            response = client.post("/api/v1/transcribe/batch", files={"audio_file": audio})
        if response.status_code != 503:
            response.raise_for_status()
            return response.json()["url"]
        time.sleep(min(2**attempt * 0.1, 5))
    raise RuntimeError(f"{path} was refused 20 times")


def run_http(
    files: list[Path], home: Path, *, probing: bool
) -> tuple[float, float, dict[str, list[float]]]:
    """Wall and CPU seconds of the server from the first upload to the last job done, and, when
    ``probing``, the probe's latencies (the probe's own requests cost the server CPU, so the
    run whose time is compared with the CLI's has none)."""
    serve = Serve(home)
    latencies: dict[str, list[float]] = {"/api/v1/capacity": [], "/api/v1/health": []}
    done = threading.Event()

    def probe() -> None:
        busy = False
        with httpx.Client(base_url=serve.url, timeout=30) as client:
            while not done.is_set():
                for path, measured in latencies.items():
                    started = time.perf_counter()
                    answer = client.get(path).json()
                    elapsed = time.perf_counter() - started
                    if "active_jobs" in answer:
                        busy = answer["active_jobs"] >= answer["max_workers"]
                    if busy:
                        measured.append(elapsed)
                    done.wait(0.025)  # 20 reads a second in all: the probe costs little CPU

    def one(path: Path) -> None:
        with httpx.Client(base_url=serve.url, timeout=120) as client:
            url = upload_until_accepted(client, path)
            while client.get(url).json()["state"] in ("queued", "running"):
                time.sleep(0.2)

    prober = threading.Thread(target=probe if probing else lambda: None)
    try:
        prober.start()
        started, cpu_before = time.monotonic(), process_cpu_s(serve.process.pid)
        with ThreadPoolExecutor(len(files)) as pool:
            list(pool.map(one, files))
        wall = time.monotonic() - started
        cpu = process_cpu_s(serve.process.pid) - cpu_before
    finally:
        done.set()
        prober.join()
        serve.stop()
    return wall, cpu, latencies


def run_memory(home: Path, uploads: int = 100) -> tuple[int, int, int, float]:
    serve = Serve(home, MAX_CONCURRENT_WORKERS="1", MAX_QUEUE_SIZE=str(uploads))
    try:
        before = serve.peak_kib()
        clip = CORPUS / "LJ050-0131.wav"
        with httpx.Client(base_url=serve.url, timeout=120) as client:

            def send(_: int) -> int:
                with clip.open("rb") as audio:
                    return client.post(
                        "/api/v1/transcribe/batch", files={"audio_file": audio}
                    ).status_code

            with ThreadPoolExecutor(8) as pool:
                codes = list(pool.map(send, range(uploads)))
        accepted = codes.count(202)
        peak = serve.peak_kib()
    except BaseException:
        serve.stop()
        raise
    return before, peak, accepted, serve.stop()


def stream_words(url: str, pcm: bytes) -> tuple[list[tuple[float, float, str]], float]:
    """Streams ``pcm`` (16 kHz s16le) at real-time pace; returns each confirmed word as (end in
    the audio, received at, text), both in seconds from the stream's start, and the seconds from
    ``end`` to the socket's close."""
    from websockets.exceptions import ConnectionClosed
    from websockets.sync.client import connect

    frame = 3200  # 0.1 s
    received: list[tuple[float, dict]] = []
    ws_url = url.replace("http://", "ws://") + "/api/v1/transcribe/stream"
    with connect(ws_url, open_timeout=120, max_size=None) as socket:

        def receive() -> None:
            with contextlib.suppress(ConnectionClosed):
                while True:
                    message = json.loads(socket.recv(timeout=600))
                    received.append((time.monotonic(), message))

        receiver = threading.Thread(target=receive, name="stream-receiver")
        receiver.start()
        started = time.monotonic()
        for index, offset in enumerate(range(0, len(pcm), frame)):
            due = started + (index + 1) * frame / 2 / 16000  # when a microphone has it
            time.sleep(max(0.0, due - time.monotonic()))
            socket.send(pcm[offset : offset + frame])
        ended = time.monotonic()
        socket.send("end")
        receiver.join()
    closing = received[-1][0] - ended if received else float("nan")
    words = [
        (word["end"], at - started, word["text"])
        for at, message in received
        if message.get("type") == "final"
        for word in message["words"]
    ]
    return words, closing


def run_stream(home: Path) -> None:
    """The WebSocket's word-end-to-final latency beside the Live tab's, on the same audio."""
    import jiwer

    sys.path[:0] = [str(REPO), str(REPO / "benchmarks")]
    import live_latency  # the Live tab's measure, in its own child process

    from desktop_app.core.audio import SAMPLE_RATE, load_audio
    from desktop_app.core.settings import load_settings
    from tests.corpus import references

    refs = references()
    gap = np.zeros(SAMPLE_RATE, np.float32)
    audio = np.concatenate([part for clip in CLIPS for part in (load_audio(CORPUS / clip), gap)])
    reference = " ".join(refs[clip] for clip in CLIPS)
    pcm = (np.clip(audio, -1, 1) * 32767).astype("<i2").tobytes()
    server = Serve(home)
    try:
        stream_words(server.url, pcm[: SAMPLE_RATE * 2])  # loads the live model
        cpu_before = process_cpu_s(server.process.pid)
        words, closing = stream_words(server.url, pcm)
        cpu = process_cpu_s(server.process.pid) - cpu_before
    finally:
        server.stop()
    beam = load_settings(environ={}).beam_size  # what serve uses
    live = live_latency.run_verbatim(_saved(audio, home), beam)
    seconds = audio.size / SAMPLE_RATE
    for label, measured, text, cpu_s in (
        ("WebSocket", [at - end for end, at, _ in words], " ".join(w for *_, w in words), cpu),
        ("Live tab", [at - end for end, at, _ in live.words], live.text, live.cpu_seconds),
    ):
        wer = jiwer.wer(live_latency.normalise(reference), live_latency.normalise(text))
        goal = " (goal median <= 1.0 s)" if label == "WebSocket" else ""
        print(
            f"{label + ':':<11} {len(measured)} words over {seconds:.0f} s, word end -> final "
            f"median {statistics.median(measured):.2f} s{goal}, "
            f"p95 {statistics.quantiles(measured, n=20)[18]:.2f} s, WER {wer:.1%}, "
            f"CPU/audio s {cpu_s / seconds:.2f} ({load()})"
        )
    print(f"WebSocket: the last events and the close came {closing:.2f} s after 'end'")


def _saved(audio: np.ndarray, home: Path) -> Path:
    home.mkdir(parents=True, exist_ok=True)
    path = home / "stream.npy"
    np.save(path, audio)
    return path


def load() -> str:
    return f"load {os.getloadavg()[0]:.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--copies", type=int, default=3, help="copies of each corpus clip")
    parser.add_argument("--only", choices=("stream",), help="run only this part")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="verbatim-api-load-") as temp:
        root = Path(temp)
        if args.only == "stream":
            run_stream(root / "stream-home")
            return
        files = make_batch(root / "batch", args.copies)
        print(f"batch: {len(files)} files; {load()}")
        cli_before, cli_cpu_before = run_cli(files, root / "cli-home")
        print(f"cli:   {cli_before:.1f} s, {cli_cpu_before:.1f} CPU s ({load()})")
        http_wall, http_cpu, _ = run_http(files, root / "http-home", probing=False)
        print(f"http:  {http_wall:.1f} s, {http_cpu:.1f} CPU s of the server ({load()})")
        cli_after, cli_cpu_after = run_cli(files, root / "cli-home-2")
        print(f"cli:   {cli_after:.1f} s, {cli_cpu_after:.1f} CPU s ({load()})")
        cli_wall = (cli_before + cli_after) / 2
        cli_cpu = (cli_cpu_before + cli_cpu_after) / 2
        print(
            f"ratio http/cli: wall {http_wall / cli_wall:.2f} (goal <= 1.10), CPU "
            f"{http_cpu / cli_cpu:.2f} (to the means of both cli runs; cli's CPU includes "
            "loading the model)"
        )
        probed_wall, probed_cpu, latencies = run_http(files, root / "probe-home", probing=True)
        print(
            f"http with the probe: {probed_wall:.1f} s, {probed_cpu:.1f} CPU s of the server "
            f"({load()}; the probe's {sum(map(len, latencies.values()))} busy reads included)"
        )
        for path, measured in latencies.items():
            if len(measured) >= 2:
                p99 = statistics.quantiles(measured, n=100)[98]
                goal = " (goal p99 <= 50 ms)" if path.endswith("capacity") else ""
                print(
                    f"{path} while every worker is busy: {len(measured)} reads, "
                    f"p50 {statistics.median(measured) * 1000:.1f} ms, "
                    f"p99 {p99 * 1000:.1f} ms{goal}"
                )
        before, after, accepted, stop_s = run_memory(root / "memory-home")
        print(
            f"memory: peak {before / 1024:.0f} MiB before, {after / 1024:.0f} MiB after "
            f"{accepted} queued uploads; exit {stop_s:.1f} s after SIGTERM ({load()})"
        )
        run_stream(root / "stream-home")


if __name__ == "__main__":
    main()
