"""Per-client limits: a request rate (token bucket) and a count of open live streams."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable


class RateLimiter:
    """``per_minute`` requests per client, refilled continuously, so a burst of that size is
    allowed and a steady client is never refused while it stays under the rate."""

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self._capacity = float(per_minute)
        self._refill_per_s = per_minute / 60.0
        self._clock = clock
        self._lock = threading.Lock()
        self._buckets: dict[str, tuple[float, float]] = {}  # client -> (tokens, at)

    def take(self, client: str) -> float:
        """Take one request for ``client``: 0 when allowed, else the seconds to wait."""
        now = self._clock()
        with self._lock:
            tokens, at = self._buckets.get(client, (self._capacity, now))
            tokens = min(self._capacity, tokens + (now - at) * self._refill_per_s)
            if tokens >= 1.0:
                self._buckets[client] = (tokens - 1.0, now)
                return 0.0
            self._buckets[client] = (tokens, now)
            if len(self._buckets) > 10_000:  # forget full buckets: they equal a new client's
                self._buckets = {
                    key: value for key, value in self._buckets.items() if value[0] < self._capacity
                }
            return (1.0 - tokens) / self._refill_per_s


def retry_after(seconds: float) -> str:
    """``Retry-After`` takes whole seconds; never 0, which would invite an immediate retry."""
    return str(max(1, math.ceil(seconds)))


class StreamSlots:
    """How many live streams each client holds; ``acquire`` refuses beyond ``per_client``."""

    def __init__(self, per_client: int) -> None:
        self._per_client = per_client
        self._lock = threading.Lock()
        self._open: dict[str, int] = {}

    def acquire(self, client: str) -> bool:
        with self._lock:
            if self._open.get(client, 0) >= self._per_client:
                return False
            self._open[client] = self._open.get(client, 0) + 1
            return True

    def release(self, client: str) -> None:
        with self._lock:
            left = self._open.get(client, 0) - 1
            if left > 0:
                self._open[client] = left
            else:
                self._open.pop(client, None)
