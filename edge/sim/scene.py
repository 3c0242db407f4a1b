"""A scene: a pose trajectory plus where the feet are planted and when the body flies.

The scene is evaluated at any continuous time, so events (take-off velocity, the moment the feet
reach the floor) are computed exactly rather than at frame resolution. Root rules per instant:

1. inside a ``flight`` window with no foot planted: the centre of mass follows the ballistic
   parabola of the window (g = 9.81 m/s^2) and the root is placed so that the body's centre of
   mass is on it;
2. otherwise, with a foot planted and no ``root_from_channels`` window: the root comes from the
   planted feet (``kinematics.solve``);
3. otherwise the root channels give the root (planted legs are still solved onto their anchors).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edge.sim.anthropometry import Body
from edge.sim.kinematics import CH, ROOT_CHANNELS, ROOT_FEET, SIDES, FootAnchor, Frames, solve
from edge.sim.physics import ballistic, center_of_mass
from edge.sim.trajectory import Trajectory

#: A planted foot counts as flat while |foot_pitch| is below this (deg).
FLAT_PITCH_DEG = 0.5


@dataclass(frozen=True)
class Contact:
    foot: int  # 0 left, 1 right
    t0: float
    t1: float
    anchor: FootAnchor


@dataclass(frozen=True)
class Flight:
    t0: float
    t1: float
    com0: tuple[float, float, float]
    vel0: tuple[float, float, float]


class Scene:
    """Trajectory + contacts + flight windows of one simulated attempt."""

    def __init__(self, body: Body, traj: Trajectory):
        self.body = body
        self.traj = traj
        self.contacts: list[Contact] = []
        self.flights: list[Flight] = []
        self.root_windows: list[tuple[float, float]] = []

    # Building ---------------------------------------------------------------------------------
    def plant(self, side: str, t0: float, t1: float, anchor: FootAnchor) -> None:
        """Foot ``side`` ('l' or 'r') planted at ``anchor`` on [t0, t1] (t1 may be inf)."""
        if side not in SIDES:
            raise ValueError(f"side must be 'l' or 'r', got {side!r}")
        if not t1 >= t0:
            raise ValueError(f"a contact must not end before it starts ({t0}, {t1})")
        self.contacts.append(Contact(SIDES.index(side), float(t0), float(t1), anchor))

    def end_contacts(self, at: float) -> None:
        """End every contact at ``at`` (the feet leave the ground); later contacts are dropped."""
        self.contacts = [Contact(c.foot, c.t0, min(c.t1, at), c.anchor) for c in self.contacts if c.t0 <= at]

    def flight(self, t0: float, t1: float, com0, vel0) -> None:
        self.flights.append(Flight(float(t0), float(t1), tuple(map(float, com0)), tuple(map(float, vel0))))

    def root_from_channels(self, t0: float, t1: float) -> None:
        self.root_windows.append((float(t0), float(t1)))

    # Evaluation -------------------------------------------------------------------------------
    def support(self, t: np.ndarray):
        """planted (n, 2), anchors (n, 2, 3), anchor yaw (n, 2) at times t."""
        n = t.shape[0]
        planted = np.zeros((n, 2), bool)
        anchors = np.zeros((n, 2, 3))
        yaw = np.zeros((n, 2))
        for c in self.contacts:
            m = (t >= c.t0) & (t <= c.t1)
            planted[m, c.foot] = True
            anchors[m, c.foot] = c.anchor.ankle
            yaw[m, c.foot] = c.anchor.yaw
        return planted, anchors, yaw

    def render(self, t, q: np.ndarray | None = None) -> Frames:
        """Solved frames at times t (n,). ``q`` replaces the trajectory's poses if given."""
        t = np.atleast_1d(np.asarray(t, dtype=np.float64))
        q = self.traj(t) if q is None else np.asarray(q, dtype=np.float64)
        planted, anchors, yaw = self.support(t)
        mode = np.full(t.shape[0], ROOT_FEET)
        for t0, t1 in self.root_windows:
            mode[(t >= t0) & (t <= t1)] = ROOT_CHANNELS
        fl = np.zeros(t.shape[0], bool)
        com_fl = np.zeros((t.shape[0], 3))
        for f in self.flights:
            m = (t >= f.t0) & (t <= f.t1) & ~planted.any(axis=1)
            if m.any():
                fl |= m
                com_fl[m] = ballistic(t[m], f.t0, np.array(f.com0), np.array(f.vel0))
        joints = np.empty((t.shape[0], 17, 3))
        feet = np.empty((t.shape[0], 2, 3, 3))
        root = np.empty((t.shape[0], 3))
        if (~fl).any():
            g = ~fl
            fr = solve(self.body, q[g], planted[g], anchors[g], yaw[g], mode[g])
            joints[g], feet[g], root[g] = fr.joints, fr.feet, fr.root
        if fl.any():
            qf = q[fl].copy()
            qf[:, [CH["root_x"], CH["root_y"], CH["root_z"]]] = 0.0
            fr = solve(self.body, qf, None, None, None, np.full(qf.shape[0], ROOT_CHANNELS))
            fr = fr.translate(com_fl[fl] - center_of_mass(fr.joints))
            joints[fl], feet[fl], root[fl] = fr.joints, fr.feet, fr.root
        return Frames(joints, feet, root)

    def com(self, t, q: np.ndarray | None = None) -> np.ndarray:
        """Centre of mass (n, 3) at times t."""
        return center_of_mass(self.render(t, q).joints)

    def com_rates(self, t: float, h: float = 2e-4, side: str = "before") -> tuple[np.ndarray, np.ndarray]:
        """CoM velocity and acceleration at time t from one-sided differences (``before``: using
        t, t-h, t-2h, t-3h, so a contact that ends at t is honoured)."""
        sgn = -1.0 if side == "before" else 1.0
        ts = t + sgn * h * np.arange(4)
        c = self.com(ts)
        v = -sgn * (11 * c[0] - 18 * c[1] + 9 * c[2] - 2 * c[3]) / (6 * h)
        a = (2 * c[0] - 5 * c[1] + 4 * c[2] - c[3]) / (h * h)
        return v, a

    def flat(self, t: np.ndarray, planted: np.ndarray) -> np.ndarray:
        """(n, 2) planted and flat (|foot_pitch| below FLAT_PITCH_DEG)."""
        q = self.traj(t)
        pitch = np.stack([q[:, CH["foot_pitch_l"]], q[:, CH["foot_pitch_r"]]], axis=1)
        return planted & (np.abs(pitch) < FLAT_PITCH_DEG)


def balance_over(sc: "Scene", pose, target_x: float):
    """Rotate both legs about the ankles (shank and thigh together, knee angles kept) until the
    centre of mass of ``pose`` rendered in ``sc`` is at ``target_x`` (secant steps, at most 8)."""
    p, d = pose, 0.5
    for _ in range(8):
        q = np.stack([p.v, p.add(shank_sag=-d, thigh_sag=-d).v])
        c = center_of_mass(sc.render(np.zeros(2), q).joints)[:, 0] - target_x
        if abs(c[0]) < 5e-4:
            break
        slope = (c[1] - c[0]) / d
        if abs(slope) < 1e-6:
            break
        step = float(np.clip(-c[0] / slope, -15.0, 15.0))
        p = p.add(shank_sag=-step, thigh_sag=-step)
    return p
