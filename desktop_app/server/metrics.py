"""``GET /metrics``: the queue and the server in the Prometheus text format (version 0.0.4).

Written directly: a dozen series do not earn a dependency. Jobs are counted when a scrape (or
:meth:`Metrics.collect_finished`) first sees them finished, keyed by id and finish time, so a
retried job counts again and a job restored from the store, finished before the server started,
does not count at all. Counters only grow; gauges are read from the queue at scrape time.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterable

from desktop_app.core.jobs import JobSnapshot, JobState
from desktop_app.job_queue import Capacity
from desktop_app.server.errors import ErrorCode

#: Upper bounds (seconds) of the processing-time histogram's buckets.
PROCESSING_BUCKETS_S = (1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class Metrics:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._since = time.time()
        self._seen: set[tuple[str, float]] = set()
        self._finished: Counter[JobState] = Counter()
        self._refusals: Counter[ErrorCode] = Counter()
        self._audio_seconds = 0.0
        self._processing_seconds = 0.0
        self._buckets = [0] * len(PROCESSING_BUCKETS_S)
        self._open_streams = 0

    def refused(self, code: ErrorCode) -> None:
        with self._lock:
            self._refusals[code] += 1

    def refusals(self, code: ErrorCode) -> int:
        with self._lock:
            return self._refusals[code]

    def stream_opened(self) -> None:
        with self._lock:
            self._open_streams += 1

    def stream_closed(self) -> None:
        with self._lock:
            self._open_streams -= 1

    def collect_finished(self, jobs: Iterable[JobSnapshot]) -> None:
        with self._lock:
            for job in jobs:
                finished_at = job.finished_at
                if not job.state.finished or finished_at is None or finished_at < self._since:
                    continue
                key = (job.id, finished_at)
                if key in self._seen:
                    continue
                self._seen.add(key)
                self._finished[job.state] += 1
                elapsed = job.elapsed()
                # A done job's duration is its transcript's (a list snapshot holds no text).
                if job.state is JobState.DONE and job.duration is not None and elapsed:
                    self._audio_seconds += job.duration
                    self._processing_seconds += elapsed
                    for index, bound in enumerate(PROCESSING_BUCKETS_S):
                        if elapsed <= bound:
                            self._buckets[index] += 1

    def render(self, capacity: Capacity, jobs: Iterable[JobSnapshot]) -> str:
        self.collect_finished(jobs)
        with self._lock:
            done = self._finished[JobState.DONE]
            lines = [
                *_gauge("verbatim_active_jobs", "Jobs being transcribed now.", capacity.active),
                *_gauge("verbatim_queued_jobs", "Jobs waiting for a worker.", capacity.queued),
                *_gauge("verbatim_max_workers", "Worker limit.", capacity.max_workers),
                *_gauge("verbatim_max_queue_size", "Queue limit.", capacity.max_queue_size),
                "# HELP verbatim_jobs_finished_total Jobs that finished, by final state.",
                "# TYPE verbatim_jobs_finished_total counter",
                *(
                    f'verbatim_jobs_finished_total{{state="{state.value}"}} {self._finished[state]}'
                    for state in JobState
                    if state.finished
                ),
                "# HELP verbatim_refusals_total Requests refused, by reason.",
                "# TYPE verbatim_refusals_total counter",
                *(
                    f'verbatim_refusals_total{{reason="{code.value}"}} {self._refusals[code]}'
                    for code in ErrorCode
                ),
                "# HELP verbatim_audio_seconds_total Seconds of audio transcribed.",
                "# TYPE verbatim_audio_seconds_total counter",
                f"verbatim_audio_seconds_total {self._audio_seconds:.3f}",
                "# HELP verbatim_processing_seconds Time from a job's start to its end.",
                "# TYPE verbatim_processing_seconds histogram",
                *(
                    f'verbatim_processing_seconds_bucket{{le="{bound:g}"}} {count}'
                    for bound, count in zip(PROCESSING_BUCKETS_S, self._buckets, strict=True)
                ),
                f'verbatim_processing_seconds_bucket{{le="+Inf"}} {done}',
                f"verbatim_processing_seconds_sum {self._processing_seconds:.3f}",
                f"verbatim_processing_seconds_count {done}",
                *_gauge(
                    "verbatim_real_time_factor",
                    "Processing seconds per second of audio, over the jobs done.",
                    self._processing_seconds / self._audio_seconds if self._audio_seconds else 0.0,
                ),
                *_gauge("verbatim_open_streams", "Live WebSocket streams.", self._open_streams),
            ]
        return "\n".join(lines) + "\n"


def _gauge(name: str, help_text: str, value: float) -> list[str]:
    shown = f"{value:.6g}" if isinstance(value, float) else str(value)
    return [f"# HELP {name} {help_text}", f"# TYPE {name} gauge", f"{name} {shown}"]
