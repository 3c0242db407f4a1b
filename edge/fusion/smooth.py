"""Smoothing that does not lag take-off: centred Savitzky-Golay filters on a short look-ahead.

A causal filter (exponential average, One-Euro, Kalman without a jump model) shifts a sudden
change of velocity - the take-off of a jump, the release of a shot - later in time, and the
keyframes and velocities the scorer reads move with it. A Savitzky-Golay filter fits a
polynomial of order ``order`` to ``window`` frames centred on the output frame and evaluates it
there: zero phase, no lag, and it keeps peaks and corners better than a moving average of the
same width. The price is latency, not lag.

Two such filters run side by side. Joints measured well (own depth, confident 2D keypoint) get
the short one (default 9-frame cubic: it keeps the take-off's velocity peak). *Weak* joints -
placed by the body model (``complete``: status COMPLETED), or with a confidence below
``weak_conf`` (a hidden or badly lit keypoint, a gap filled by spline) - carry 2.5-4x the 2D
noise of the others, and their error is most of the fused stream's frame-to-frame joint-angle
wobble; they get the long one (default 15-frame quadratic). Each joint's output is the blend
``(1 - w) short + w long`` with w the share of weak frames of that joint in the long window, so a
joint that flickers between the two states is not switched abruptly; where the two outputs
differ by more than ``FOLLOW_M`` (1-2 cm: the motion, not the noise, outruns the long filter, as
at a take-off), w falls to 0, so peaks keep the short filter's shape. Both filters are zero phase.
A frame leaves ``half`` = ``max(window, long_window) // 2`` frames after it came in (233 ms at
30 Hz for the defaults). At the ends of the stream the polynomials are evaluated off-centre
(``scipy.signal.savgol_coeffs(pos=...)``). A joint with a NaN in the window is passed through
unchanged. tests/test_fusion.py measures the lag at take-off against an exponential filter of
similar noise reduction, and the wobble of weak joints with and without the long filter.
"""

from __future__ import annotations

from collections import deque

import numpy as np

from edge.fusion.gaps import COMPLETED, Frame

#: Where the long filter departs from the short one by more than FOLLOW_M[0] (m) it is trusted
#: less, by FOLLOW_M[1] not at all: the motion outruns it (a take-off), not the noise.
FOLLOW_M = (0.01, 0.02)


def savgol_weights(window: int, order: int, pos: int | None = None) -> np.ndarray:
    """Weights (window,) that evaluate a least-squares polynomial of ``order`` at position ``pos``."""
    from scipy.signal import savgol_coeffs

    if window < order + 2 or window % 2 == 0:
        raise ValueError(f"window must be odd and at least order + 2, got window {window}, order {order}.")
    return savgol_coeffs(window, order, pos=pos, use="dot")


def _placed_weights(span: int, window: int, order: int, pos: int) -> np.ndarray:
    """Weights (span,) evaluating a ``window``-frame fit at position ``pos`` of a ``span``-frame
    buffer: the fit's frames are the ``window`` consecutive ones most nearly centred on ``pos``."""
    start = int(np.clip(pos - window // 2, 0, span - window))
    w = np.zeros(span)
    w[start : start + window] = savgol_weights(window, order, pos=pos - start)
    return w


class Smoother:
    """Streaming centred Savitzky-Golay over frames (joints only; confidence passes through).

    window / order: the filter of well-measured joints; long_window / long_order: the filter of
    weak joints (see the module docstring), None for a single filter; weak_conf: confidence below
    which a joint is weak; follow_m: distances (m) between the two filters' outputs over which
    the long one's weight falls from full to none.
    """

    def __init__(self, window: int = 9, order: int = 3, long_window: int | None = None, long_order: int = 2,
                 weak_conf: float = 0.6, follow_m: tuple[float, float] = FOLLOW_M):
        self.window = int(window)
        self.order = int(order)
        self.long_window = None if long_window is None else int(long_window)
        self.long_order = int(long_order)
        self.weak_conf = float(weak_conf)
        self.follow_m = (float(follow_m[0]), float(follow_m[1]))
        if not 0.0 <= self.follow_m[0] < self.follow_m[1]:
            raise ValueError(f"follow_m must be two increasing distances (m), got {follow_m}.")
        savgol_weights(self.window, self.order)  # validates
        if self.long_window is not None:
            savgol_weights(self.long_window, self.long_order)
            if self.long_window < self.window:
                raise ValueError(f"long_window ({self.long_window}) must be at least window ({self.window}).")
        self.span = max(self.window, self.long_window or 0)
        self.half = self.span // 2
        self._short = [_placed_weights(self.span, self.window, self.order, p) for p in range(self.span)]
        self._long = None if self.long_window is None else [
            _placed_weights(self.span, self.long_window, self.long_order, p) for p in range(self.span)]
        self._pair = None if self._long is None else [np.stack([a, b]) for a, b in zip(self._short, self._long)]
        self._raw: deque[np.ndarray] = deque(maxlen=self.span)
        self._weak: deque[np.ndarray] = deque(maxlen=self.span)
        self._pending: deque[Frame] = deque()
        self._started = False

    def push(self, frame: Frame) -> list[Frame]:
        self._raw.append(frame.joints.copy())
        self._weak.append(self._is_weak(frame))
        self._pending.append(frame)
        out = []
        if len(self._raw) == self.span:
            if not self._started:  # the first half window: off-centre evaluations
                for p in range(self.half):
                    first = self._pending.popleft()
                    self._apply(first, p)
                    out.append(first)
                self._started = True
            out_frame = self._pending.popleft()
            self._apply(out_frame, self.half)
            out.append(out_frame)
        return out

    def flush(self) -> list[Frame]:
        out = []
        n = len(self._raw)
        if n == 0:
            return out
        if n < self.span:  # a short stream: pass through
            out = list(self._pending)
        else:
            k = len(self._pending)
            for i, f in enumerate(self._pending):
                self._apply(f, self.span - k + i)
            out = list(self._pending)
        self._pending.clear()
        self._raw.clear()
        self._weak.clear()
        self._started = False
        return out

    def _is_weak(self, frame: Frame) -> np.ndarray:
        weak = np.asarray(frame.confidence) < self.weak_conf
        status = frame.extra.get("status") if frame.extra else None
        if status is not None:
            weak = weak | (np.asarray(status) == COMPLETED)
        return weak

    def _apply(self, frame: Frame, pos: int) -> None:
        raw = np.stack(self._raw)  # (span, 17, 3), oldest first
        ok = np.isfinite(raw).all(axis=(0, 2))
        if not ok.any():
            return
        flat = raw.reshape(self.span, -1)
        if self._long is None:
            frame.joints[ok] = (self._short[pos] @ flat).reshape(-1, 3)[ok]
            return
        weak = np.count_nonzero(np.stack(self._weak), axis=0) / self.span  # share of weak frames per joint
        if not weak[ok].any():
            frame.joints[ok] = (self._short[pos] @ flat).reshape(-1, 3)[ok]
            return
        both = (self._pair[pos] @ flat).reshape(2, -1, 3)  # short, long
        diff = both[1] - both[0]
        gap = np.sqrt(np.einsum("ij,ij->i", diff, diff))
        w = weak * np.clip((self.follow_m[1] - gap) / (self.follow_m[1] - self.follow_m[0]), 0.0, 1.0)
        frame.joints[ok] = (both[0] + w[:, None] * diff)[ok]
