"""Gap filling (paper Sec. 2): a joint whose confidence is below 0.5 is missing; cubic spline over it.

Streaming: frames enter ``push`` and leave ``delay`` frames later (``flush`` empties the line at
the end of a stream). When a frame leaves with a joint missing, the run of missing frames that
starts there is looked up in the frames still waiting; if it ends within ``max_gap`` frames, a
cubic spline (``cubic_spline``: not-a-knot end conditions like scipy's ``CubicSpline``, which
the tests compare it with; a parabola with three knots, a straight line with two)
through up to ``context`` good frames on each side fills the whole run, in time (seconds), and
the filled joints get confidence ``FILLED_CONFIDENCE``. Only measured joints are knots: a filled
value (confidence 0.5) is never used to fill the next gap, so errors cannot compound along a
joint that flickers in and out; a spline that overshoots its knots' range by more than
``OVERSHOOT_M`` (sparse knots with a step between them) gives way to the straight line between
the gap's two bracketing knots. Longer gaps, or gaps at the ends of the
stream without good frames on both sides, are left as they were: measured with their low
confidence, or NaN with confidence 0 (DESIGN.md's contract for an unseen joint).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np
from numba import njit

THRESHOLD = 0.5
FILLED_CONFIDENCE = 0.5
#: A spline that leaves its knots' range by more than this (m) is replaced by the straight line
#: between the gap's two bracketing knots.
OVERSHOOT_M = 0.05
#: How a joint of a frame was placed (``Frame.extra['status']``, written by ``edge.fusion.complete``):
#: not at all, from its own depth sample, or by the body model. Here, beside ``Frame``, so that
#: the smoother and the segmenter read them without depending on the completion module.
MISSING, RAW, COMPLETED = 0, 1, 2


@dataclass
class Frame:
    """One skeleton frame on the depth clock: t (s), joints float64 (17, 3), confidence (17,), extra."""

    t: float
    joints: np.ndarray
    confidence: np.ndarray
    extra: dict
    good: np.ndarray | None = None  # (17,) bool: measured with confidence >= 0.5 (set by GapFiller.push)


def _good(f: Frame) -> np.ndarray:
    if f.good is None:
        f.good = (f.confidence >= THRESHOLD) & np.isfinite(f.joints).all(axis=1)
    return f.good


class GapFiller:
    """Streaming cubic-spline gap filler (see the module docstring)."""

    def __init__(self, max_gap: int = 15, context: int = 4):
        if max_gap < 1 or context < 1:
            raise ValueError("max_gap and context must be at least 1.")
        self.max_gap = int(max_gap)
        self.context = int(context)
        self.delay = self.max_gap + self.context
        self._queue: deque[Frame] = deque()
        self._history: deque[Frame] = deque(maxlen=self.context)
        self.filled = 0

    def push(self, frame: Frame) -> list[Frame]:
        frame.good = None
        _good(frame)  # decided on the measurement: a joint filled later never becomes a knot
        self._queue.append(frame)
        out = []
        while len(self._queue) > self.delay:
            out.append(self._release())
        return out

    def flush(self) -> list[Frame]:
        out = []
        while self._queue:
            out.append(self._release())
        return out

    def reset(self) -> list[Frame]:
        """Empty the line (a break in the stream): returns what was waiting."""
        out = self.flush()
        self._history.clear()
        return out

    def _release(self) -> Frame:
        f = self._queue[0]
        bad = ~_good(f)
        if bad.any() and self._history:
            for j in np.nonzero(bad)[0]:
                if j not in f.extra.get("filled", ()):
                    self._fill(int(j))
        self._queue.popleft()
        self._history.append(f)
        return f

    def _fill(self, j: int) -> None:
        before = [h for h in self._history if _good(h)[j]][-self.context :]
        if not before:
            return
        q = self._queue
        end = None
        for i in range(min(len(q), self.max_gap + 1)):
            if _good(q[i])[j]:
                end = i
                break
        if end is None or end == 0:
            return
        after = [f for f in list(q)[end:] if _good(f)[j]][: self.context]
        knots = before + after
        t = np.array([f.t for f in knots])
        y = np.stack([f.joints[j] for f in knots])
        gap = list(q)[:end]
        at = np.array([f.t for f in gap])
        values = cubic_spline(t, y, at)
        lo, hi = y.min(axis=0) - OVERSHOOT_M, y.max(axis=0) + OVERSHOOT_M
        if ((values < lo) | (values > hi)).any():  # inconsistent knots (an outlier, a step): the straight line
            values = cubic_spline(t[len(before) - 1 : len(before) + 1], y[len(before) - 1 : len(before) + 1], at)
        for f, v in zip(gap, values):
            f.joints[j] = v
            f.confidence[j] = FILLED_CONFIDENCE
            f.extra.setdefault("filled", set()).add(j)
            self.filled += 1


def cubic_spline(t: np.ndarray, y: np.ndarray, at: np.ndarray) -> np.ndarray:
    """Interpolating cubic spline with not-a-knot ends through (t (n,), y (n, k)), evaluated at ``at`` (m,).

    n = 2: straight line; n = 3: the parabola through the points (as scipy); n >= 4: the C2
    piecewise cubic whose third derivative is continuous at the second and second-to-last knots.
    Solves the (n, n) system for the knot slopes directly (n is small here).
    """
    t = np.asarray(t, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    at = np.asarray(at, dtype=np.float64)
    n = t.shape[0]
    if n < 2 or y.shape[0] != n or np.any(np.diff(t) <= 0):
        raise ValueError("a spline needs at least two knots with increasing times.")
    if n == 2:
        w = ((at - t[0]) / (t[1] - t[0]))[:, None]
        return y[0] + w * (y[1] - y[0])
    if n == 3:
        c = np.polyfit(t - t[0], y, 2)
        x = (at - t[0])[:, None]
        return c[0] * x * x + c[1] * x + c[2]
    return _not_a_knot(t, np.ascontiguousarray(y), at)


@njit(cache=True)
def _not_a_knot(t, y, at):
    """The n >= 4 case of ``cubic_spline`` (compiled: it runs for every gap the fusion fills)."""
    n = t.shape[0]
    k = y.shape[1]
    h = t[1:] - t[:-1]
    dy = np.empty((n - 1, k))
    for i in range(n - 1):
        dy[i] = (y[i + 1] - y[i]) / h[i]
    a = np.zeros((n, n))
    b = np.zeros((n, k))
    # interior: h[i] s[i-1] + 2 (h[i-1] + h[i]) s[i] + h[i-1] s[i+1] = 3 (h[i] dy[i-1] + h[i-1] dy[i])
    for i in range(1, n - 1):
        a[i, i - 1] = h[i]
        a[i, i] = 2.0 * (h[i - 1] + h[i])
        a[i, i + 1] = h[i - 1]
        b[i] = 3.0 * (h[i] * dy[i - 1] + h[i - 1] * dy[i])
    # not-a-knot at the second knot and at the second-to-last knot (as scipy's CubicSpline)
    a[0, 0], a[0, 1] = h[1], h[0] + h[1]
    b[0] = ((h[0] + 2 * (h[0] + h[1])) * h[1] * dy[0] + h[0] ** 2 * dy[1]) / (h[0] + h[1])
    a[n - 1, n - 2], a[n - 1, n - 1] = h[n - 2] + h[n - 3], h[n - 3]
    b[n - 1] = (h[n - 2] ** 2 * dy[n - 3] + (2 * (h[n - 3] + h[n - 2]) + h[n - 2]) * h[n - 3] * dy[n - 2]) / (h[n - 3] + h[n - 2])
    slopes = _gauss_solve(a, b)
    out = np.empty((at.shape[0], k))
    for m in range(at.shape[0]):
        i = min(max(np.searchsorted(t, at[m], side="right") - 1, 0), n - 2)
        x = at[m] - t[i]
        for j in range(k):
            s0, s1 = slopes[i, j], slopes[i + 1, j]
            c2 = (3 * dy[i, j] - 2 * s0 - s1) / h[i]
            c3 = (s0 + s1 - 2 * dy[i, j]) / (h[i] * h[i])
            out[m, j] = y[i, j] + x * (s0 + x * (c2 + x * c3))
    return out


@njit(cache=True)
def _gauss_solve(a, b):
    """x with a x = b, a (n, n) small and non-singular, b (n, k): Gaussian elimination with
    partial pivoting on copies (no LAPACK binding to compile)."""
    a = a.copy()
    x = b.copy()
    n = a.shape[0]
    for c in range(n):
        p = c + np.argmax(np.abs(a[c:, c]))
        if p != c:
            for j in range(n):
                a[c, j], a[p, j] = a[p, j], a[c, j]
            for j in range(x.shape[1]):
                x[c, j], x[p, j] = x[p, j], x[c, j]
        for r in range(c + 1, n):
            f = a[r, c] / a[c, c]
            if f != 0.0:
                for j in range(c, n):
                    a[r, j] -= f * a[c, j]
                for j in range(x.shape[1]):
                    x[r, j] -= f * x[c, j]
    for c in range(n - 1, -1, -1):
        for j in range(x.shape[1]):
            acc = x[c, j]
            for m in range(c + 1, n):
                acc -= a[c, m] * x[m, j]
            x[c, j] = acc / a[c, c]
    return x
