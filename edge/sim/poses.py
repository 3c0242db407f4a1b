"""Pose helpers shared by the action plugins: probing scenes with planted feet, leg tilts that
put a measure (centre of mass, hips) over a target, arm placement by two-link IK, and timing
overlays. Pure functions of a Body, a Scene and a Pose; no randomness."""

from __future__ import annotations

import numpy as np

from edge.sim.anthropometry import Body
from edge.sim.kinematics import CH, N_CHANNELS, SIDE_SIGN, SIDES, Pose, foot_anchor_from_point, set_arm, two_link_ik
from edge.sim.physics import center_of_mass
from edge.sim.scene import Scene
from edge.sim.trajectory import Trajectory, minimum_jerk
from edge.skeleton.joints import Joint

#: Leg and foot channels (timed by the legs' own schedule).
LEG_CHANNELS = tuple(f"{c}_{s}" for s in SIDES for c in ("thigh_sag", "thigh_lat", "shank_sag", "shank_lat",
                                                          "foot_pitch", "toe"))
LEG_MASK = np.zeros(N_CHANNELS)
LEG_MASK[[CH[c] for c in LEG_CHANNELS]] = 1.0

def limb_channels(d: np.ndarray, side_sign: float) -> tuple[np.ndarray, np.ndarray]:
    """(sag, lat) degrees of unit limb directions d (n, 3) for heading 0 (inverse of
    ``kinematics.limb_dir``); sag in [0, 360)."""
    lat = np.degrees(np.arcsin(np.clip(side_sign * d[:, 2], -1.0, 1.0)))
    sag = np.degrees(np.arctan2(d[:, 0], -d[:, 1])) % 360.0
    return sag, lat


def stance_scene(body: Body, anchors) -> Scene:
    """A scene with both feet planted at ``anchors`` (left, right) for all time (pose probing)."""
    sc = Scene(body, Trajectory(Pose()))
    for s, a in zip(SIDES, anchors):
        sc.plant(s, -np.inf, np.inf, a)
    return sc


def render_pose(sc: Scene, pose: Pose) -> np.ndarray:
    """Joints (17, 3) of one pose in a probing scene."""
    return sc.render(np.zeros(1), pose.v[None]).joints[0]


def midpoint(j: np.ndarray, a: int, b: int) -> np.ndarray:
    return 0.5 * (j[a] + j[b])


def hip_x(j: np.ndarray) -> float:
    return float(midpoint(j, Joint.LEFT_HIP, Joint.RIGHT_HIP)[0])


def com_x(j: np.ndarray) -> float:
    return float(center_of_mass(j)[0])


def tilt_legs(sc: Scene, pose: Pose, measure, target: float, iters: int = 8) -> Pose:
    """Rotate both legs about the planted ankles (thigh and shank together, knee angles kept)
    until ``measure(joints)`` equals ``target`` (secant steps, at most 15 deg each)."""
    p = pose
    for _ in range(iters):
        f0 = measure(render_pose(sc, p)) - target
        if abs(f0) < 5e-4:
            break
        d = 0.5
        f1 = measure(render_pose(sc, p.add(shank_sag=-d, thigh_sag=-d))) - target
        slope = (f1 - f0) / d
        if abs(slope) < 1e-6:
            break
        step = float(np.clip(-f0 / slope, -15.0, 15.0))
        p = p.add(shank_sag=-step, thigh_sag=-step)
    return p


def arm_to(body: Body, sc: Scene, pose: Pose, side: str, target, pole) -> Pose:
    """Pose with the arm of ``side`` placed by two-link IK so that its wrist is at ``target``
    (world, m; pulled in along the line if out of reach), the elbow bending towards ``pole``."""
    j = render_pose(sc, pose)
    sh = j[Joint.LEFT_SHOULDER if side == "l" else Joint.RIGHT_SHOULDER][None]
    tgt = np.asarray(target, dtype=np.float64)[None]
    reach = 0.995 * (body.upper_arm + body.forearm)
    d = tgt - sh
    n = float(np.linalg.norm(d))
    if n > reach:
        tgt = sh + d * (reach / n)
    elbow = two_link_ik(sh, tgt, body.upper_arm, body.forearm, np.asarray(pole, dtype=np.float64)[None])
    sg = SIDE_SIGN[side]
    u = (elbow - sh) / body.upper_arm
    f = (tgt - elbow) / np.linalg.norm(tgt - elbow)
    u_sag, u_lat = limb_channels(u, sg)
    f_sag, f_lat = limb_channels(f, sg)
    # Same branch as the upper arm (sag in [-90, 270)), forearm never read as hyperextended.
    u_s = (float(u_sag[0]) + 90.0) % 360.0 - 90.0
    f_s = u_s + (float(f_sag[0]) - u_s) % 360.0
    return pose.set(**{f"uarm_sag_{side}": u_s, f"uarm_lat_{side}": float(u_lat[0]),
                       f"farm_sag_{side}": f_s, f"farm_lat_{side}": float(f_lat[0])})


def solve_arm_angle(sc: Scene, pose: Pose, side: str, elbow: float, lat: float, measure, target: float,
                    lo: float, hi: float) -> Pose:
    """Arm of ``side`` with the given elbow angle and outward angle, its upper-arm inclination
    (deg from down) in [lo, hi] chosen so that ``measure(joints)`` (increasing with the
    inclination) equals ``target``: three rounds of a 25-point grid (batched renders), then linear
    interpolation; the nearest grid value if the target is out of reach."""

    def at(u):
        return set_arm(pose, side, u, elbow).set(**{f"uarm_lat_{side}": lat, f"farm_lat_{side}": 0.0})

    a, b = lo, hi
    for _ in range(3):
        us = np.linspace(a, b, 25)
        js = sc.render(np.zeros(us.size), np.stack([at(u).v for u in us])).joints
        m = np.array([measure(jj) for jj in js])
        above = np.nonzero(m >= target)[0]
        if above.size == 0 or above[0] == 0:
            return at(float(us[int(np.argmin(np.abs(m - target)))]))
        k = int(above[0])
        a, b, ma, mb = float(us[k - 1]), float(us[k]), float(m[k - 1]), float(m[k])
    return at(a + (b - a) * (target - ma) / (mb - ma) if mb > ma else b)


def two_timings(upper: Trajectory, legs: Trajectory):
    """fn(t) -> (n, C): leg and foot channels from ``legs``, all others from ``upper``."""

    def fn(t):
        return upper(t) * (1.0 - LEG_MASK) + legs(t) * LEG_MASK

    return fn


def lateral_sway_overlay(amplitude_m: float, leg_length: float, t0: float, t1: float, sign: float):
    """Overlay (n, C): both legs tilt sideways together (hips move about ``amplitude_m`` to one
    side) in a smooth bump from t0 to t1, largest at the middle."""
    amp = np.degrees(np.arcsin(np.clip(amplitude_m / leg_length, -0.5, 0.5)))
    idx = [CH["thigh_lat_l"], CH["shank_lat_l"], CH["thigh_lat_r"], CH["shank_lat_r"]]
    sgn = sign * np.array([-1.0, -1.0, 1.0, 1.0])

    def fn(t):
        out = np.zeros((t.shape[0], N_CHANNELS))
        u = np.clip((t - t0) / max(t1 - t0, 1e-6), 0.0, 1.0)
        bump = np.sin(np.pi * minimum_jerk(u)) ** 2
        out[:, idx] = (amp * bump)[:, None] * sgn[None, :]
        return out

    return fn


def elbow_angle(joints: np.ndarray, side: str) -> np.ndarray:
    """(T,) interior elbow angle (deg) of one side."""
    J = Joint
    s, e, w = (J.LEFT_SHOULDER, J.LEFT_ELBOW, J.LEFT_WRIST) if side == "l" else (J.RIGHT_SHOULDER, J.RIGHT_ELBOW,
                                                                                  J.RIGHT_WRIST)
    u, v = joints[:, s] - joints[:, e], joints[:, w] - joints[:, e]
    c = (u * v).sum(-1) / np.linalg.norm(u, axis=-1) / np.linalg.norm(v, axis=-1)
    return np.degrees(np.arccos(np.clip(c, -1.0, 1.0)))




def staggered_stance(body: Body, rng: np.random.Generator, extra_width: tuple[float, float],
                     stagger: tuple[float, float]):
    """(anchors, scene, width, ahead, toe_out): feet planted heel-first ``width`` apart (pelvis width
    plus ``extra_width``, drawn), the right foot ``ahead`` m in front (``stagger``, drawn), toes out
    4-12 deg (drawn), in that draw order."""
    width = body.pelvis_width + float(rng.uniform(*extra_width))
    ahead = float(rng.uniform(*stagger))
    toe_out = float(rng.uniform(4.0, 12.0))
    anchors = (
        foot_anchor_from_point(body, "heel", (body.foot_offset("heel"), -width / 2), toe_out),
        foot_anchor_from_point(body, "heel", (body.foot_offset("heel") + ahead, width / 2), -toe_out),
    )
    return anchors, stance_scene(body, anchors), width, ahead, toe_out
