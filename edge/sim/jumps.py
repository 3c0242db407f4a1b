"""Take-off and landing for actions that leave the ground (standing long jump; any jump).

Physics kept by these helpers:

- ``ComDriven``: a stance piece (push-off, landing absorption) whose pose is solved at every
  instant so that the centre of mass (CoM) follows a prescribed path, e.g. ``quintic_path`` from
  rest at the bottom of a countermovement to the take-off velocity, arriving with the
  acceleration of gravity (0, -g): the ground reaction force has fallen to zero, as it does at
  toe-off. The take-off velocity is thus exactly the one the push-off produced;
- in flight the CoM is ballistic (``Scene.flight``), and the landing is the first instant the
  lowest foot point reaches the floor (``find_touchdown``);
- at touchdown the feet are planted where they touch and a ``ComDriven`` absorption starts from
  the CoM's touchdown velocity and brings it to rest, so the CoM path has no kink. The impact shows
  as the feet stopping and as a short, strong deceleration of the CoM.
"""

from __future__ import annotations

import numpy as np

from edge.sim.kinematics import CH, N_CHANNELS
from edge.sim.scene import Scene



def direction(**weights: float) -> np.ndarray:
    """A pose direction (C,) from channel weights; names without side set both sides."""
    d = np.zeros(N_CHANNELS)
    for name, w in weights.items():
        if name in CH:
            d[CH[name]] = w
        elif f"{name}_l" in CH:
            d[CH[f"{name}_l"]] = w
            d[CH[f"{name}_r"]] = w
        else:
            raise ValueError(f"unknown pose channel {name!r}")
    return d


def forward_rotation(pivot: str = "ball", arms: bool = False) -> np.ndarray:
    """Direction (C,) of a rigid forward rotation of the body (deg per unit) about the planted
    feet: limb inclinations from down decrease, trunk and head inclinations from up increase.
    ``pivot='ball'``: about the balls of the feet (the heels rise with it); ``'ankle'``: about the
    ankles (the feet stay as they are)."""
    if pivot not in ("ball", "ankle"):
        raise ValueError(f"pivot must be 'ball' or 'ankle', got {pivot!r}")
    d = direction(thigh_sag=-1.0, shank_sag=-1.0, trunk_sag=1.0, head_sag=1.0)
    if arms:
        d += direction(uarm_sag=-1.0, farm_sag=-1.0)
    if pivot == "ball":
        d += direction(foot_pitch=1.0)
    return d


def mask(channels) -> np.ndarray:
    """(C,) 0/1 mask of the named channels (side-less names expand to both sides)."""
    return (direction(**{c: 1.0 for c in channels}) != 0).astype(np.float64)


def lowest_foot(scene: Scene, t: np.ndarray) -> np.ndarray:
    """Height (n,) of the lowest foot point (heel, ball, toe of either foot) at times t."""
    return scene.render(t).feet[..., 1].min(axis=(1, 2))


def find_touchdown(scene: Scene, t0: float, t1: float, dt: float = 0.002) -> float:
    """First time after the feet have risen (after t0) at which the lowest foot point reaches
    the floor, searched up to t1 and refined to 1e-6 s. ValueError if there is none."""
    ts = np.arange(t0, t1 + dt, dt)
    h = lowest_foot(scene, ts)
    top = int(np.argmax(h))
    below = np.nonzero(h[top:] <= 0.0)[0]
    if below.size == 0:
        raise ValueError("the feet never reach the floor again within the flight window")
    k = top + int(below[0])
    lo, hi = ts[k - 1], ts[k]
    while hi - lo > 1e-6:  # refine the bracket 20-fold per step, one batched render each
        grid = np.linspace(lo, hi, 21)
        j = int(np.argmax(lowest_foot(scene, grid) <= 0.0))
        lo, hi = grid[max(j - 1, 0)], grid[j]
    return float(hi)


def quintic_path(t0, t1, start, end):
    """A CoM path fn(t) -> (n, 3): per axis a quintic from (c0, v0, a0) at t0 to (c1, v1, a1) at
    t1. t0 and t1 are scalars or one time per axis; an axis holds its start position before its
    t0 and its end position after its t1."""
    from edge.sim.trajectory import Segment

    t0s = np.broadcast_to(np.asarray(t0, dtype=np.float64), (3,))
    t1s = np.broadcast_to(np.asarray(t1, dtype=np.float64), (3,))
    segs = [Segment.hermite(t0s[a], t1s[a], *(np.asarray(x, dtype=np.float64)[a:a + 1] for x in start),
                            *(np.asarray(x, dtype=np.float64)[a:a + 1] for x in end)) for a in range(3)]

    def fn(t):
        t = np.asarray(t, dtype=np.float64)
        return np.stack([seg.eval(np.clip(t, seg.t0, seg.t1))[:, 0] for seg in segs], axis=1)

    return fn


class ComDriven:
    """A stance piece whose pose is solved so that the centre of mass follows a prescribed path.

    The pose at time t is
        q = free(t) on the channels outside ``e_mask``
          + q_start + (e ** powers) * (q_end - q_start) on the channels in ``e_mask``
          + r * rot,
    with the progress e (0 -> 1) and the rotation r (deg, along ``rot``) solved by Newton's method
    so that the sagittal (x, y) CoM of the scene at t equals ``path(t)``. ``powers`` > 1 make a
    channel move late (heel rise at the end of a push-off), powers < -1 early (1 - (1 - e)^|p|).
    ``r_end`` is the part of the change
    from q_start to q_end that is a rotation along ``rot`` (e.g. the body tipping forward over its
    feet): it is left to r, so the body rotates as the CoM path demands. Callable: fn(t) -> (n, C).
    The caller makes path(t0) and path(t1) the CoM of the start and end poses, so e runs 0 -> 1 and
    r from 0 to r_end.
    """

    def __init__(self, scene: Scene, t0: float, t1: float, q_start, q_end, e_mask, rot, path, free,
                 powers=None, r_end: float = 0.0, n_grid: int = 25):
        self.scene, self.t0, self.t1 = scene, float(t0), float(t1)
        self.rot = np.asarray(rot, dtype=np.float64)
        self.r_end = float(r_end)
        self.q0 = np.asarray(q_start, dtype=np.float64)
        self.dq = (np.asarray(q_end, dtype=np.float64) - self.r_end * self.rot - self.q0) * e_mask
        self.e_mask = np.asarray(e_mask, dtype=np.float64)
        self.path, self.free = path, free
        self.powers = np.ones(N_CHANNELS) if powers is None else np.asarray(powers, dtype=np.float64)
        from edge.sim.trajectory import minimum_jerk

        self._tg = np.linspace(self.t0, self.t1, n_grid)
        e = minimum_jerk((self._tg - self.t0) / (self.t1 - self.t0))
        self._eg, self._rg = self._newton(self._tg, e, e * self.r_end, iters=25)

    def pose(self, t: np.ndarray, e: np.ndarray, r: np.ndarray) -> np.ndarray:
        ee = np.clip(e, -0.5, 1.5)[:, None]
        pw = self.powers[None, :]
        late = np.abs(ee) ** np.abs(pw)
        early = 1.0 - np.abs(1.0 - ee) ** np.abs(pw)
        prog = np.where(ee >= 0, np.where(pw > 0, late, early), ee)
        q = self.free(t) * (1.0 - self.e_mask) + (self.q0 + prog * self.dq) * self.e_mask
        return q + r[:, None] * self.rot[None, :]

    def _newton(self, t, e, r, iters: int = 8, tol: float = 1e-11):
        target = self.path(t)[:, :2]
        n = t.shape[0]
        de, dr = 1e-6, 1e-4
        tt = np.concatenate([t, t, t])
        for _ in range(iters):
            q = np.concatenate([self.pose(t, e, r), self.pose(t, e + de, r), self.pose(t, e, r + dr)])
            c = self.scene.com(tt, q)[:, :2]
            c0, ce, cr = c[:n], c[n:2 * n], c[2 * n:]
            f = c0 - target
            if np.abs(f).max() < tol:
                break
            jac = np.stack([(ce - c0) / de, (cr - c0) / dr], axis=2)  # (n, 2, 2)
            step = np.linalg.pinv(jac) @ -f[..., None]
            step = step[..., 0]
            e = e + np.clip(step[:, 0], -0.3, 0.3)
            r = r + np.clip(step[:, 1], -20.0, 20.0)
        return e, r

    def solve(self, t: np.ndarray):
        """(e, r) at times t."""
        t = np.atleast_1d(np.asarray(t, dtype=np.float64))
        e = np.interp(t, self._tg, self._eg)
        r = np.interp(t, self._tg, self._rg)
        return self._newton(t, e, r)

    def __call__(self, t: np.ndarray) -> np.ndarray:
        t = np.atleast_1d(np.asarray(t, dtype=np.float64))
        e, r = self.solve(t)
        return self.pose(t, e, r)
