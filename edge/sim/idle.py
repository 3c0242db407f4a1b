"""Idle standing before and after the action: small, slow, natural postural sway.

Quiet standing sway is a few millimetres to about a centimetre of centre-of-pressure travel at
0.1–1 Hz (Winter 1995, Gait & Posture 3:193, "Human balance and posture control during standing
and walking"). We make each swaying channel a sum of three sinusoids at random frequencies in
0.12–0.7 Hz with random phases, scaled to a given standard deviation, and fade it in and out with
minimum-jerk ramps so the body is still at the start and end of the action itself.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from edge.sim.kinematics import N_CHANNELS, channel_index
from edge.sim.trajectory import minimum_jerk

#: Default sway, standard deviation per channel (deg): ankle strategy (shanks), trunk, head, arms.
DEFAULT_SWAY: dict[str, float] = {
    "shank_sag": 0.35,
    "shank_lat": 0.25,
    "trunk_sag": 0.6,
    "trunk_lat": 0.4,
    "head_sag": 1.5,
    "head_yaw": 2.5,
    "uarm_sag": 1.5,
    "farm_sag": 2.0,
}

RAMP_S = 0.4


def sway_overlay(
    rng: np.random.Generator,
    windows: list[tuple[float, float]],
    amplitudes: dict[str, float] | None = None,
    ramp: float = RAMP_S,
) -> Callable[[np.ndarray], np.ndarray]:
    """An overlay fn(t) -> (n, C) of sway active inside ``windows`` [(t0, t1), ...] and zero
    outside, ramping to zero over ``ramp`` s at each window edge that is not the recording edge
    (t0 <= 0 or t1 = inf keep full amplitude there). Left and right of a limb pair sway together:
    the whole body sways as one."""
    amps = DEFAULT_SWAY if amplitudes is None else amplitudes
    comps: list[tuple[np.ndarray, float, np.ndarray, np.ndarray, np.ndarray]] = []
    for name, sd in amps.items():
        if f"{name}_l" in _names():
            idx = np.array([channel_index(f"{name}_l"), channel_index(f"{name}_r")])
        else:
            idx = np.array([channel_index(name)])
        f = rng.uniform(0.12, 0.7, 3)
        ph = rng.uniform(0, 2 * np.pi, 3)
        a = rng.uniform(0.5, 1.0, 3)
        a = a / np.sqrt(0.5 * (a * a).sum()) * sd
        comps.append((idx, sd, f, ph, a))
    windows = [(float(a), float(b)) for a, b in windows]

    def envelope(t: np.ndarray) -> np.ndarray:
        e = np.zeros_like(t)
        for t0, t1 in windows:
            up = np.ones_like(t) if t0 <= 0 else minimum_jerk((t - t0) / ramp)
            down = np.ones_like(t) if not np.isfinite(t1) else minimum_jerk((t1 - t) / ramp)
            inside = (t >= t0) & (t <= t1)
            e = np.where(inside, np.maximum(e, np.minimum(up, down)), e)
        return e

    def fn(t: np.ndarray) -> np.ndarray:
        t = np.asarray(t, dtype=np.float64)
        out = np.zeros((t.shape[0], N_CHANNELS))
        env = envelope(t)
        if not env.any():
            return out
        for idx, _, f, ph, a in comps:
            s = (a[None, :] * np.sin(2 * np.pi * f[None, :] * t[:, None] + ph[None, :])).sum(axis=1)
            out[:, idx] += (s * env)[:, None]
        return out

    return fn


def _names() -> set[str]:
    from edge.sim.kinematics import CHANNELS

    return set(CHANNELS)
