"""Alignment on the depth clock (paper Sec. 2): color keypoints and IMU resampled linearly.

"Using the depth sensor timestamp as the reference, the RGB and IMU data are resampled to the same
time grid via linear interpolation." Every timestamp here is the camera's device clock in
microseconds (``*_device_ts_usec``).

- :class:`ClockCheck` guards one stream against timestamps that do not increase: a small step
  back (a repeated or reordered frame) is dropped and logged; a big jump back (more than
  ``reset_after_usec``: the device restarted, e.g. after an unplug) is a clock reset the caller
  must act on; more than ``max_drops`` consecutive drops raise :class:`TimestampError` - the
  stream is broken, and the loop stops with a clear sentence instead of spinning.
- :class:`LinearTrack` keeps recent timestamped vectors and interpolates them linearly at any
  time between two samples (``at``); outside the samples it holds the nearest one when it is at
  most ``hold_usec`` away, else reports nothing.
"""

from __future__ import annotations

import logging
from collections import deque

import numpy as np

from edge.capture.frames import CaptureError

log = logging.getLogger(__name__)

OK, DROP, RESET = "ok", "drop", "reset"


class TimestampError(CaptureError):
    """A stream's timestamps keep running backwards; the message names the stream and the values."""


class ClockCheck:
    """Monotonic-timestamp guard for one stream (see the module docstring)."""

    def __init__(self, name: str, *, reset_after_usec: int = 1_000_000, max_drops: int = 30):
        self.name = name
        self.reset_after_usec = int(reset_after_usec)
        self.max_drops = int(max_drops)
        self.last: int | None = None
        self.drops = 0
        self.total_drops = 0
        self.resets = 0

    def check(self, ts_usec: int) -> str:
        """OK (newer than the last), DROP (not newer: drop it), or RESET (far back: clock restarted)."""
        ts = int(ts_usec)
        if self.last is None or ts > self.last:
            self.last = ts
            self.drops = 0
            return OK
        back = self.last - ts
        if back > self.reset_after_usec:
            log.warning("%s clock jumped back by %.3f s: treating it as a device restart.", self.name, back / 1e6)
            self.last = ts
            self.drops = 0
            self.resets += 1
            return RESET
        self.drops += 1
        self.total_drops += 1
        log.warning("%s timestamp %d us is not after %d us: frame dropped.", self.name, ts, self.last)
        if self.drops > self.max_drops:
            raise TimestampError(
                f"the {self.name} timestamps ran backwards {self.drops} times in a row "
                f"(last good {self.last} us, now {ts} us); the stream is unusable."
            )
        return DROP

    def reset(self) -> None:
        self.last = None
        self.drops = 0


class LinearTrack:
    """Timestamped vectors (any shape) with linear interpolation; keeps at most ``maxlen`` samples.

    ``push`` requires increasing timestamps (guard them with ClockCheck first). NaN entries of a
    vector stay NaN unless the other bracketing sample is finite, in which case the nearer finite
    one is used (a keypoint seen in one color frame only).
    """

    def __init__(self, maxlen: int = 64, hold_usec: int = 40_000):
        self._ts: deque[int] = deque(maxlen=maxlen)
        self._v: deque[np.ndarray] = deque(maxlen=maxlen)
        self.hold_usec = int(hold_usec)

    def __len__(self) -> int:
        return len(self._ts)

    @property
    def latest_ts(self) -> int | None:
        return self._ts[-1] if self._ts else None

    def clear(self) -> None:
        self._ts.clear()
        self._v.clear()

    def push(self, ts_usec: int, value: np.ndarray) -> None:
        if self._ts and ts_usec <= self._ts[-1]:
            raise ValueError(f"LinearTrack timestamps must increase: {ts_usec} after {self._ts[-1]}.")
        self._ts.append(int(ts_usec))
        self._v.append(np.asarray(value, dtype=np.float64))

    def push_many(self, ts_usec: np.ndarray, values: np.ndarray) -> None:
        for t, v in zip(ts_usec, values):
            self.push(int(t), v)

    def at(self, ts_usec: int) -> np.ndarray | None:
        """The value at ``ts_usec`` (linear between the bracketing samples), or None."""
        if not self._ts:
            return None
        ts = self._ts
        t = int(ts_usec)
        if t <= ts[0]:
            return self._v[0].copy() if ts[0] - t <= self.hold_usec else None
        if t >= ts[-1]:
            return self._v[-1].copy() if t - ts[-1] <= self.hold_usec else None
        arr = np.fromiter(ts, dtype=np.int64, count=len(ts))
        i = int(np.searchsorted(arr, t, side="right"))
        t0, t1 = arr[i - 1], arr[i]
        v0, v1 = self._v[i - 1], self._v[i]
        if t1 - t0 > 2 * self.hold_usec + 1:  # a hole in the stream: only hold near its edges
            if t - t0 <= self.hold_usec:
                return v0.copy()
            if t1 - t <= self.hold_usec:
                return v1.copy()
            return None
        w = (t - t0) / (t1 - t0)
        out = (1.0 - w) * v0 + w * v1
        bad = ~np.isfinite(out)
        if bad.any():
            nearer = v0 if w < 0.5 else v1
            other = v1 if w < 0.5 else v0
            out[bad] = np.where(np.isfinite(nearer[bad]), nearer[bad], other[bad])
        return out

    def brackets(self, ts_usec: int) -> bool:
        """True when a sample at or after ``ts_usec`` exists (interpolation need not wait)."""
        return bool(self._ts) and self._ts[-1] >= ts_usec


def resample_imu(ts_usec: np.ndarray, values: np.ndarray, at_usec: np.ndarray) -> np.ndarray:
    """Linear interpolation of IMU vectors (N, k) at times (M,) (all device-clock us) -> (M, k)."""
    ts = np.asarray(ts_usec, dtype=np.float64)
    v = np.asarray(values, dtype=np.float64)
    at = np.asarray(at_usec, dtype=np.float64)
    if ts.ndim != 1 or v.shape[0] != ts.shape[0]:
        raise ValueError(f"need one IMU timestamp per sample, got {ts.shape} and {v.shape}.")
    if ts.size == 0:
        return np.full((at.shape[0], v.shape[1]), np.nan)
    return np.stack([np.interp(at, ts, v[:, i]) for i in range(v.shape[1])], axis=1)
