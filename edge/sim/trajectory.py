"""Timing: key poses joined by smooth curves of continuous time (seconds).

Between two key poses every channel follows a quintic Hermite curve fixed by position, velocity
and acceleration at both ends. With zero end velocities and accelerations this is the
minimum-jerk profile 10 s^3 - 15 s^4 + 6 s^5 (Flash & Hogan 1985, J Neurosci 5:1688), the
default; a non-zero end velocity is how push-offs leave the ground moving.

``Trajectory`` holds the main pose curve; ``overlays`` (functions of t returning (n, C) deltas,
e.g. idle sway) are added on top, and ``overrides`` replace single channels inside a time window
(e.g. a foot flattening faster than the rest of the body).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from edge.sim.kinematics import N_CHANNELS, Pose, channel_index


def minimum_jerk(s: np.ndarray) -> np.ndarray:
    """Minimum-jerk progress 0 -> 1 for s in [0, 1] (clipped outside)."""
    s = np.clip(np.asarray(s, dtype=np.float64), 0.0, 1.0)
    return s * s * s * (10.0 - 15.0 * s + 6.0 * s * s)


@dataclass(frozen=True)
class Segment:
    """One quintic piece on [t0, t1]: coefficients (6, C) in s = (t - t0) / (t1 - t0)."""

    t0: float
    t1: float
    coef: np.ndarray

    @staticmethod
    def hermite(t0, t1, p0, v0, a0, p1, v1, a1) -> "Segment":
        T = float(t1 - t0)
        if not T > 0:
            raise ValueError(f"a segment must have positive duration, got {T}")
        p0, v0, a0, p1, v1, a1 = (np.asarray(x, dtype=np.float64) for x in (p0, v0, a0, p1, v1, a1))
        d = p1 - p0
        c = np.empty((6, p0.shape[0]))
        c[0] = p0
        c[1] = v0 * T
        c[2] = 0.5 * a0 * T * T
        c[3] = 10 * d - (6 * v0 + 4 * v1) * T - (1.5 * a0 - 0.5 * a1) * T * T
        c[4] = -15 * d + (8 * v0 + 7 * v1) * T + (1.5 * a0 - a1) * T * T
        c[5] = 6 * d - 3 * (v0 + v1) * T - 0.5 * (a0 - a1) * T * T
        return Segment(float(t0), float(t1), c)

    def eval(self, t: np.ndarray, order: int = 0) -> np.ndarray:
        T = self.t1 - self.t0
        s = (np.asarray(t, dtype=np.float64) - self.t0) / T
        c = self.coef
        if order == 0:
            k = np.arange(6)
            powers = s[:, None] ** k[None, :]
            return powers @ c
        if order == 1:
            k = np.arange(1, 6)
            powers = s[:, None] ** (k - 1)[None, :] * k[None, :]
            return powers @ c[1:] / T
        if order == 2:
            k = np.arange(2, 6)
            powers = s[:, None] ** (k - 2)[None, :] * (k * (k - 1))[None, :]
            return powers @ c[2:] / (T * T)
        raise ValueError("order must be 0, 1 or 2")


@dataclass(frozen=True)
class FunctionSegment:
    """A piece on [t0, t1) given by a function fn(t) -> (n, C) (e.g. a pose solved so that the
    centre of mass follows a prescribed path); derivatives by finite differences."""

    t0: float
    t1: float
    fn: Callable[[np.ndarray], np.ndarray]

    def eval(self, t: np.ndarray, order: int = 0, h: float = 1e-4) -> np.ndarray:
        t = np.asarray(t, dtype=np.float64)
        if order == 0:
            return self.fn(t)
        # one-sided inside the segment near its ends
        tc = np.clip(t, self.t0 + 2 * h, self.t1 - 2 * h)
        f = [self.fn(tc + k * h) for k in (-2, -1, 0, 1, 2)]
        d = tc - t
        if order == 1:
            v = (f[0] - 8 * f[1] + 8 * f[3] - f[4]) / (12 * h)
            a = (-f[0] + 16 * f[1] - 30 * f[2] + 16 * f[3] - f[4]) / (12 * h * h)
            return v - d[:, None] * a
        if order == 2:
            return (-f[0] + 16 * f[1] - 30 * f[2] + 16 * f[3] - f[4]) / (12 * h * h)
        raise ValueError("order must be 0, 1 or 2")


@dataclass(frozen=True)
class Override:
    """Channel ``channel`` follows fn(t) -> (n,) inside [t0, t1]."""

    channel: int
    t0: float
    t1: float
    fn: Callable[[np.ndarray], np.ndarray]


class Trajectory:
    """Piecewise-quintic pose curve q(t) (n, C), degrees and metres, t in seconds.

    Start with a pose at t0; ``move`` appends a segment to a new key pose; ``hold`` keeps the pose.
    Before the first and after the last segment the curve holds still.
    """

    def __init__(self, start: Pose, t0: float = 0.0):
        self.segments: list[Segment | FunctionSegment] = []
        self.start = start.v.copy()
        self.t_start = float(t0)
        self._end_t = float(t0)
        self._end = (start.v.copy(), np.zeros(N_CHANNELS), np.zeros(N_CHANNELS))
        self.overlays: list[Callable[[np.ndarray], np.ndarray]] = []
        self.overrides: list[Override] = []

    @property
    def end_time(self) -> float:
        return self._end_t

    @property
    def end_pose(self) -> Pose:
        return Pose(self._end[0])

    @property
    def end_state(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(position, velocity, acceleration) of the main curve at its end."""
        return tuple(x.copy() for x in self._end)  # type: ignore[return-value]

    def move(self, to: Pose, duration: float, velocity=None, acceleration=None) -> "Trajectory":
        """Go to ``to`` in ``duration`` s, arriving with ``velocity``/``acceleration`` (C,) per second
        (default zero: a minimum-jerk move)."""
        if not duration > 0:
            raise ValueError(f"a move needs a positive duration, got {duration}")
        p0, v0, a0 = self._end
        v1 = np.zeros(N_CHANNELS) if velocity is None else np.asarray(velocity, dtype=np.float64)
        a1 = np.zeros(N_CHANNELS) if acceleration is None else np.asarray(acceleration, dtype=np.float64)
        t1 = self._end_t + float(duration)
        self.segments.append(Segment.hermite(self._end_t, t1, p0, v0, a0, to.v, v1, a1))
        self._end_t, self._end = t1, (to.v.copy(), v1.copy(), a1.copy())
        return self

    def follow(self, fn: Callable[[np.ndarray], np.ndarray], duration: float, end_state=None) -> "Trajectory":
        """Append a piece given by a function of time fn(t) -> (n, C) for ``duration`` s. The end
        state (position, velocity, acceleration) for the next move is ``end_state`` or is taken
        from fn by one-sided finite differences."""
        if not duration > 0:
            raise ValueError(f"a piece needs a positive duration, got {duration}")
        t0 = self._end_t
        t1 = t0 + float(duration)
        if end_state is None:
            h = 1e-3
            ts = t1 - h * np.arange(5)
            f = fn(ts)
            p = f[0]
            v = (25 * f[0] - 48 * f[1] + 36 * f[2] - 16 * f[3] + 3 * f[4]) / (12 * h)
            a = (35 * f[0] - 104 * f[1] + 114 * f[2] - 56 * f[3] + 11 * f[4]) / (12 * h * h)
            end_state = (p, v, a)
        self.segments.append(FunctionSegment(t0, t1, fn))
        self._end_t = t1
        self._end = tuple(np.asarray(x, dtype=np.float64).copy() for x in end_state)  # type: ignore[assignment]
        return self

    def brake(self, duration: float, max_travel=None) -> "Trajectory":
        """Bring every moving channel to rest: each channel c follows its own quintic from the
        current position and velocity (zero acceleration: the muscles switch from driving to
        braking) to rest, travelling v T_c / 2 (a constant-deceleration stop) with
        T_c = min(duration, 2 max_travel_c / |v_c|), then holds. ``max_travel`` (C,) caps how far
        each channel may still go (e.g. a joint near its limit)."""
        if not duration > 0:
            raise ValueError(f"a brake needs a positive duration, got {duration}")
        p0, v0 = self._end[0].copy(), self._end[1].copy()
        cap = np.full(N_CHANNELS, np.inf) if max_travel is None else np.asarray(max_travel, dtype=np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            tc = np.where(np.abs(v0) > 1e-9, np.minimum(duration, 2.0 * cap / np.abs(v0)), duration)
        tc = np.clip(tc, 1e-3, duration)
        p1 = p0 + v0 * tc / 2.0
        t0 = self._end_t
        zero = np.zeros(1)
        segs = [Segment.hermite(t0, t0 + tc[c], p0[c:c + 1], v0[c:c + 1], zero, p1[c:c + 1], zero, zero)
                for c in range(N_CHANNELS)]

        def fn(t):
            t = np.asarray(t, dtype=np.float64)
            return np.stack([sg.eval(np.minimum(t, sg.t1))[:, 0] for sg in segs], axis=1)

        return self.follow(fn, duration, end_state=(p1, np.zeros(N_CHANNELS), np.zeros(N_CHANNELS)))

    def hold(self, duration: float) -> "Trajectory":
        """Stay at the current pose for ``duration`` s (the curve must be at rest)."""
        if duration < 0:
            raise ValueError(f"a hold needs a non-negative duration, got {duration}")
        if duration > 0:
            p, v, a = self._end
            if np.abs(v).max() > 0.05 or np.abs(a).max() > 1.0:
                raise ValueError("can only hold after arriving at rest; use move() to stop first")
            self._end = (p, np.zeros(N_CHANNELS), np.zeros(N_CHANNELS))
            self.move(Pose(p), duration)
        return self

    def restart(self, at: float, state: tuple[np.ndarray, np.ndarray, np.ndarray]) -> "Trajectory":
        """Cut the curve at time ``at`` and continue from the given (position, velocity,
        acceleration); later segments are dropped. Used when an event (landing) is found."""
        keep = []
        for seg in self.segments:
            if seg.t1 <= at:
                keep.append(seg)
            elif seg.t0 < at and isinstance(seg, FunctionSegment):
                keep.append(FunctionSegment(seg.t0, at, seg.fn))
            elif seg.t0 < at:
                p0 = seg.eval(np.array([seg.t0]))[0]
                pa = seg.eval(np.array([at]))
                va = seg.eval(np.array([at]), 1)
                aa = seg.eval(np.array([at]), 2)
                v0 = seg.eval(np.array([seg.t0]), 1)[0]
                a0 = seg.eval(np.array([seg.t0]), 2)[0]
                keep.append(Segment.hermite(seg.t0, at, p0, v0, a0, pa[0], va[0], aa[0]))
        self.segments = keep
        self._end_t = float(at)
        self._end = tuple(np.asarray(x, dtype=np.float64).copy() for x in state)  # type: ignore[assignment]
        return self

    def override(self, channel: str, t0: float, t1: float, fn: Callable[[np.ndarray], np.ndarray]) -> None:
        self.overrides.append(Override(channel_index(channel), float(t0), float(t1), fn))

    def base(self, t: np.ndarray, order: int = 0) -> np.ndarray:
        """The main curve (no overlays/overrides) and its derivatives, (n, C)."""
        t = np.atleast_1d(np.asarray(t, dtype=np.float64))
        out = np.zeros((t.shape[0], N_CHANNELS))
        if order == 0:
            out[:] = self.start
            if self.segments:
                out[t >= self.segments[-1].t1] = self._end[0]
        for seg in self.segments:
            m = (t >= seg.t0) & (t < seg.t1)
            if m.any():
                out[m] = seg.eval(t[m], order)
        return out

    def __call__(self, t: np.ndarray) -> np.ndarray:
        """q(t) (n, C) including overlays and overrides."""
        t = np.atleast_1d(np.asarray(t, dtype=np.float64))
        q = self.base(t)
        for fn in self.overlays:
            q = q + fn(t)
        for ov in self.overrides:
            m = (t >= ov.t0) & (t <= ov.t1)
            if m.any():
                q[m, ov.channel] = ov.fn(t[m])
        return q

    def velocity(self, t: np.ndarray, h: float = 1e-4) -> np.ndarray:
        """dq/dt (n, C) by central differences of the full curve (overlays included)."""
        t = np.atleast_1d(np.asarray(t, dtype=np.float64))
        return (self(t + h) - self(t - h)) / (2 * h)
