"""The local server under load: the same batch over HTTP versus ``verbatim-cli transcribe``.

In one run, each in its own subprocess with its own user folders:

* ``cli``: ``verbatim-cli transcribe`` on the batch; its wall time is the one its summary line
  prints (from the first submission to the last export: model loading excluded);
* ``http``: ``verbatim-cli serve`` with the same settings; concurrent clients (one per file)
  upload the batch at once, retrying with backoff on 503, and poll until every job is done;
  wall time from the first upload to the last job done (start-up excluded, as for ``cli``).
  Meanwhile a probe reads ``/api/v1/capacity`` every 20 ms: its latencies (p50, p99) while every
  worker is busy are the responsiveness of the server beside the transcriptions;
* ``memory``: ``serve`` with one worker and a queue of 100 takes 100 uploads (short corpus
  clips) as fast as they come; its peak resident memory (VmHWM) before and after.

Goals (issue 11): wall ratio http/cli <= 1.10; /capacity p99 <= 50 ms while busy. Prints the
figures; asserts nothing. The WebSocket word-end-to-final latency is the Live tab's measure and
is reported by ``benchmarks/live_latency.py`` (same session and policy).

Usage: python benchmarks/api_load.py [--copies N]
"""

from __future__ import annotations

import argparse
import os
import re
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


def run_cli(files: list[Path], home: Path) -> float:
    result = subprocess.run(
        [sys.executable, "-m", "desktop_app.cli", "transcribe", *map(str, files), "-f", "txt"],
        capture_output=True,
        text=True,
        env=user_env(home),
        check=True,
    )
    match = re.search(r" in ([0-9.]+) s \(", result.stdout)
    assert match, result.stdout
    return float(match.group(1))


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

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=120)


def upload_until_accepted(client: httpx.Client, path: Path) -> str:
    for attempt in range(20):
        with path.open("rb") as audio:
            response = client.post("/api/v1/transcribe/batch", files={"audio_file": audio})
        if response.status_code != 503:
            response.raise_for_status()
            return response.json()["url"]
        time.sleep(min(2**attempt * 0.1, 5))
    raise RuntimeError(f"{path} was refused 20 times")


def run_http(files: list[Path], home: Path) -> tuple[float, list[float]]:
    serve = Serve(home)
    latencies: list[float] = []
    done = threading.Event()

    def probe() -> None:
        with httpx.Client(base_url=serve.url, timeout=30) as client:
            while not done.is_set():
                started = time.perf_counter()
                capacity = client.get("/api/v1/capacity").json()
                elapsed = time.perf_counter() - started
                if capacity["active_jobs"] >= capacity["max_workers"]:
                    latencies.append(elapsed)
                done.wait(0.02)

    def one(path: Path) -> None:
        with httpx.Client(base_url=serve.url, timeout=120) as client:
            url = upload_until_accepted(client, path)
            while client.get(url).json()["state"] in ("queued", "running"):
                time.sleep(0.2)

    prober = threading.Thread(target=probe)
    try:
        prober.start()
        started = time.monotonic()
        with ThreadPoolExecutor(len(files)) as pool:
            list(pool.map(one, files))
        wall = time.monotonic() - started
    finally:
        done.set()
        prober.join()
        serve.stop()
    return wall, latencies


def run_memory(home: Path, uploads: int = 100) -> tuple[int, int, int]:
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
        return before, serve.peak_kib(), accepted
    finally:
        serve.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--copies", type=int, default=3, help="copies of each corpus clip")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="verbatim-api-load-") as temp:
        root = Path(temp)
        files = make_batch(root / "batch", args.copies)
        print(f"batch: {len(files)} files; load average {os.getloadavg()[0]:.1f}")
        cli_wall = run_cli(files, root / "cli-home")
        print(f"cli:   {cli_wall:.1f} s")
        http_wall, latencies = run_http(files, root / "http-home")
        print(
            f"http:  {http_wall:.1f} s  (ratio http/cli {http_wall / cli_wall:.2f}, goal <= 1.10)"
        )
        if len(latencies) >= 2:
            p99 = statistics.quantiles(latencies, n=100)[98]
            print(
                f"/capacity while every worker is busy: {len(latencies)} reads, "
                f"p50 {statistics.median(latencies) * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms "
                "(goal p99 <= 50 ms)"
            )
        before, after, accepted = run_memory(root / "memory-home")
        print(
            f"memory: peak {before / 1024:.0f} MiB before, {after / 1024:.0f} MiB after "
            f"{accepted} queued uploads"
        )


if __name__ == "__main__":
    main()
