"""Counters and latency windows of the running service, for ``GET /api/metrics`` and the scripts.

Counters only grow (frames captured and dropped, attempts detected and saved, ...). Latencies
(milliseconds) are kept in bounded windows of the last ``WINDOW`` values, so an 8-hour day holds
no more than that in memory; ``snapshot()`` gives count, median, p99 and max of each window.
"""

from __future__ import annotations

import os
import threading
import time
from collections import deque

import numpy as np

WINDOW = 5000
COUNTERS = (
    "captures",           # camera captures read (or skeleton frames for skeleton sources)
    "frames_dropped",     # captures dropped because the pipeline was behind (back-pressure)
    "skeleton_frames",    # fused skeleton frames through the segmenter
    "camera_timeouts",
    "camera_reopens",
    "attempts_detected",
    "attempts_analysed",
    "attempts_saved",
    "attempts_not_saved",
    "analysis_failed",
    "guidance_written",
    "guidance_skipped",   # guidance dropped because newer attempts were waiting
    "guidance_failed",
)
LATENCIES = (
    "end_to_screen_ms",   # segmenter emits the attempt -> its score is on the screen bus
    "end_to_saved_ms",    # ... -> durably saved ("saved" published)
    "analysis_ms",        # analysis alone (scorer + alignment + diagnosis)
    "fusion_ms",          # fusion cost per capture (without the pose model)
    "guidance_ms",        # guidance generation
    "confirm_delay_ms",   # the attempt's last frame -> the segmenter emitting it (stream time)
)


def rss_mb() -> float:
    """Resident memory of this process in MiB (Linux /proc)."""
    with open("/proc/self/statm", "rb") as f:
        pages = int(f.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


class ServiceMetrics:
    """Thread-safe counters and latency windows."""

    def __init__(self, window: int = WINDOW) -> None:
        self._lock = threading.Lock()
        self.started = time.monotonic()
        self._counts = dict.fromkeys(COUNTERS, 0)
        self._lat = {name: deque(maxlen=window) for name in LATENCIES}

    def count(self, name: str, n: int = 1) -> None:
        if name not in self._counts:
            raise KeyError(f"unknown counter {name!r}.")
        with self._lock:
            self._counts[name] += n

    def observe(self, name: str, ms: float) -> None:
        if name not in self._lat:
            raise KeyError(f"unknown latency {name!r}.")
        with self._lock:
            self._lat[name].append(float(ms))

    def extend(self, name: str, values) -> None:
        with self._lock:
            self._lat[name].extend(float(v) for v in values)

    def get(self, name: str) -> int:
        with self._lock:
            return self._counts[name]

    def values(self, name: str) -> np.ndarray:
        with self._lock:
            return np.asarray(self._lat[name], dtype=np.float64)

    def snapshot(self) -> dict:
        with self._lock:
            counts = dict(self._counts)
            lat = {k: np.asarray(v, dtype=np.float64) for k, v in self._lat.items()}
        return {
            "uptime_s": round(time.monotonic() - self.started, 1),
            "rss_mb": round(rss_mb(), 1),
            "counters": counts,
            "latency_ms": {k: summarize(v) for k, v in lat.items()},
        }


def summarize(values: np.ndarray) -> dict:
    """count, median, p99, max (ms, rounded to 0.01); None values when empty."""
    if values.size == 0:
        return {"n": 0, "median": None, "p99": None, "max": None}
    return {
        "n": int(values.size),
        "median": round(float(np.median(values)), 2),
        "p99": round(float(np.percentile(values, 99)), 2),
        "max": round(float(values.max()), 2),
    }
