"""Standing long jump (spec: edge/actions/specs/standing_long_jump.yaml).

The attempt: idle standing; an optional forward-up arm pre-swing with a small heel rise; the
countermovement (dip) with the arms swinging back to the bottom pose (knee angle, trunk lean and
arm backswing from the technique, shank lean chosen so the centre of mass is over the feet); a
pause; the push-off to the take-off pose (knee extension, heel rise about the balls of the
feet, whole-body lean, forward arm drive) reached with the take-off velocity of the technique
(speed and angle of the centre of mass) and with the ground force fallen to zero; ballistic
flight with a tuck and the legs reaching forward; touchdown heels first; absorption (knee
flexion, forward rotation over the feet) that brings the centre of mass to rest, a settling
move, lateral sway and backward rocking as the technique says; standing up; idle standing.

Keyframes come from the motion's events: ``start`` the last frame before the movement begins,
``countermovement_bottom`` the first frame with the hips within 5 mm of their lowest before
take-off, ``takeoff`` the last frame with
the feet on the ground, ``peak`` the highest hip frame in flight, ``landing`` the first frame with
the feet back on the ground, ``stabilized`` the first frame after landing from which the hips
stay slower than 0.1 m/s for 0.2 s.
"""

from __future__ import annotations

import numpy as np

from edge.sim.anthropometry import Body
from edge.sim.idle import sway_overlay
from edge.sim.jumps import ComDriven, direction, find_touchdown, forward_rotation, lowest_foot, mask, quintic_path
from edge.sim.kinematics import (
    CH, N_CHANNELS, SIDES, FootAnchor, Pose, foot_anchor_from_point, knee_angle, set_arm, set_leg, standing_pose,
    synced_to,
)
from edge.sim.motion import Motion, first_still, frame_after, frame_before, mid_hip, sample_scene
from edge.sim.physics import G, center_of_mass, flight_time
from edge.sim.scene import Scene, balance_over
from edge.sim.technique import TechniqueParam as P
from edge.sim.trajectory import Trajectory, minimum_jerk
from edge.skeleton.joints import Joint

ACTION_ID = "standing_long_jump"

TECHNIQUE: dict[str, P] = {
    "cm_knee_angle": P(102, 7, 55, 170, 100, 15, 9, "deg", "knee angle at the bottom of the countermovement"),
    "cm_trunk_lean": P(51, 5, 5, 75, 52, 12, 6, "deg", "forward trunk lean at the bottom of the countermovement"),
    "arm_backswing": P(-58, 9, -100, 20, -62, 20, 7, "deg", "arm inclination behind the body at the bottom"),
    "cm_pause": P(0.04, 0.025, 0.0, 0.9, 0.0, 0.2, 4, "s", "pause at the bottom before the push", "above"),
    "arm_drive": P(128, 10, 30, 175, 132, 24, 8, "deg", "forward-up arm inclination at take-off"),
    "takeoff_knee_angle": P(171, 3, 130, 179, 174, 8, 8, "deg", "knee extension at toe-off", "below"),
    "takeoff_body_lean": P(42, 3.5, 15, 62, 43, 8, 5, "deg", "ankle-to-shoulder lean at take-off"),
    "takeoff_angle": P(37, 2.5, 8, 62, 35, 8, 10, "deg", "angle of the centre of mass velocity at take-off"),
    "takeoff_speed": P(2.72, 0.22, 1.7, 3.2, 3.0, 0.35, 12, "m/s", "centre of mass speed at take-off", "below"),
    "landing_knee_flexion": P(76, 9, 8, 110, 76, 18, 8, "deg", "knee flexion from touchdown absorbing the landing", "below"),
    "landing_trunk_lean": P(34, 5, -15, 60, 35, 12, 6, "deg", "forward trunk lean at touchdown"),
    "landing_sway": P(0.012, 0.004, 0.0, 0.15, 0.008, 0.025, 5, "m", "sideways hip sway after landing", "above"),
    "stabilization_time": P(0.45, 0.07, 0.2, 2.0, 0.4, 0.3, 4, "s", "time from touchdown to standing still", "above"),
    "takeoff_asymmetry": P(2.5, 1.5, 0.0, 40, 0.0, 8, 4, "deg", "left/right knee angle difference at take-off", "above"),
    "landing_asymmetry": P(3.0, 1.8, 0.0, 40, 0.0, 9, 4, "deg", "left/right knee angle difference at touchdown", "above"),
    "tempo": P(1.0, 0.08, 0.75, 1.35, 1.0, 0.3, 0, "x", "duration scale of the preparation and push (not scored)"),
}

FAULTS: dict[str, dict[str, float]] = {
    "shallow_countermovement": {"cm_knee_angle": 38.0, "cm_trunk_lean": -8.0, "takeoff_speed": -0.35},
    "excessive_countermovement": {"cm_knee_angle": -38.0, "cm_pause": 0.45, "takeoff_speed": -0.25},
    "no_arm_backswing": {"arm_backswing": 62.0, "takeoff_speed": -0.3},
    "weak_arm_drive": {"arm_drive": -75.0, "takeoff_speed": -0.25},
    "incomplete_extension": {"takeoff_knee_angle": -26.0, "takeoff_speed": -0.3},
    "takeoff_too_steep": {"takeoff_angle": 22.0, "takeoff_body_lean": -12.0},
    "takeoff_too_flat": {"takeoff_angle": -19.0, "takeoff_body_lean": 5.0},
    "upright_preparation": {"cm_trunk_lean": -28.0, "takeoff_body_lean": -8.0},
    "stiff_landing": {"landing_knee_flexion": -42.0, "stabilization_time": 0.35},
    "falling_backward": {"landing_trunk_lean": -32.0, "stabilization_time": 0.4},
    "unstable_landing": {"landing_sway": 0.07, "stabilization_time": 0.5},
    "asymmetric_takeoff": {"takeoff_asymmetry": 20.0},
    "asymmetric_landing": {"landing_asymmetry": 22.0},
}

EXCLUSIVE_FAULTS = (
    frozenset({"shallow_countermovement", "excessive_countermovement"}),
    frozenset({"takeoff_too_steep", "takeoff_too_flat"}),
)

#: Arm channels, timed apart from the legs and trunk in push-off and landing.
_ARMS = mask(("uarm_sag", "farm_sag"))
#: Hip-line channels (used only when the feet are not both planted) and leg abduction channels.
_PELVIS = mask(("pelvis_roll", "pelvis_yaw"))
_LEG_LAT = mask(("thigh_lat", "shank_lat"))
#: Push-off timing of the channels (see ComDriven): the heels rise late, the knee a little late,
#: the hip extension (trunk, head) is finished early so the trunk only tips with the body at take-off.
_PUSH_POWERS = np.ones(N_CHANNELS)
for _name, _p in (("foot_pitch", 2.2), ("toe", 2.2), ("shank_sag", 1.0), ("thigh_sag", -2.0), ("trunk_sag", -2.0), ("head_sag", -2.0)):
    _PUSH_POWERS[direction(**{_name: 1.0}) != 0] = _p
#: How far (deg) each joint may still travel after toe-off while it brakes (joint ranges): the
#: heels and the knees are near their limits, the arms keep rising.
_FOLLOW_THROUGH = np.full(N_CHANNELS, 12.0)
for _name, _p in (("foot_pitch", 6.0), ("toe", 6.0), ("thigh_sag", 6.0), ("shank_sag", 4.0), ("uarm_sag", 5.0),
                  ("farm_sag", 5.0), ("pelvis_roll", 2.0), ("pelvis_yaw", 2.0)):
    _FOLLOW_THROUGH[direction(**{_name: 1.0}) != 0] = _p
#: Channels the landing absorption drives (legs, trunk, head, hip line).
_LAND_MASK = mask(("thigh_sag", "thigh_lat", "shank_sag", "shank_lat", "trunk_sag", "trunk_lat", "head_sag",
                   "pelvis_roll", "pelvis_yaw"))


def technique_means(body: Body) -> dict[str, float]:
    """Take-off speed grows with age, more for boys: means 2.55 m/s at 12 to 2.94 m/s at 18 for
    boys and 2.48 to 2.66 m/s for girls (sd 0.22 m/s), which with this model's take-off and
    landing geometry give jumps of about 1.5-2.6 m, the range of the national student fitness
    standard's fail-to-excellent bands for ages 12-18."""
    a = body.age - 12.0
    v = 2.55 + 0.065 * a if body.sex == "male" else 2.48 + 0.03 * a
    return {"takeoff_speed": v}


# ------------------------------------------------------------------------------------------
# Poses


def _stance_scene(body: Body, anchors) -> Scene:
    sc = Scene(body, Trajectory(Pose()))
    for s, a in zip(SIDES, anchors):
        sc.plant(s, -np.inf, np.inf, a)
    return sc


def _render(sc: Scene, pose: Pose):
    return sc.render(np.zeros(1), pose.v[None])


def _angle(a, b, c) -> float:
    u, v = a - b, c - b
    return float(np.degrees(np.arccos(np.clip(u @ v / np.linalg.norm(u) / np.linalg.norm(v), -1, 1))))


def _knees(j: np.ndarray) -> tuple[float, float]:
    J = Joint
    return (
        _angle(j[J.LEFT_HIP], j[J.LEFT_KNEE], j[J.LEFT_ANKLE]),
        _angle(j[J.RIGHT_HIP], j[J.RIGHT_KNEE], j[J.RIGHT_ANKLE]),
    )


def _bottom_pose(body, sc, p0, x, foot_mid_x) -> Pose:
    k = x["cm_knee_angle"]
    p = set_leg(p0, "both", k, -25.0)
    p = p.set(trunk_sag=x["cm_trunk_lean"], head_sag=x["cm_trunk_lean"] - 30.0, foot_pitch=0.0, toe=0.0)
    p = set_arm(p, "both", x["arm_backswing"] - 3.0, 168.0).set(uarm_lat=6.0, farm_lat=4.0)
    return balance_over(sc, p, foot_mid_x)


def _mid(j, a, b):
    return 0.5 * (j[a] + j[b])


def _takeoff_pose(body, sc, p0, x, weak: int, pitch: float) -> Pose:
    """Take-off pose: knees from the technique (weak side less extended by the asymmetry),
    heels up by ``pitch`` deg about the balls of the feet, ankle-to-shoulder lean from the
    technique."""
    J = Joint
    kt, asym = x["takeoff_knee_angle"], x["takeoff_asymmetry"]
    lean = x["takeoff_body_lean"]
    leg_lean = lean - 4.0
    delta = asym
    p = p0
    for _ in range(4):
        ks = [kt + delta / 2.0, kt + delta / 2.0]
        ks[weak] = kt - delta / 2.0
        ks = [min(k, 179.0) for k in ks]
        p = p0
        for s, k in zip(SIDES, ks):
            fl = 180.0 - k
            p = p.set(**{f"shank_sag_{s}": -leg_lean - fl / 2.0, f"thigh_sag_{s}": -leg_lean + fl / 2.0})
        # weak leg: its heel rises less
        pw = max(pitch - 0.3 * delta, pitch - 12.0)
        p = p.set(foot_pitch=pitch, toe=pitch, trunk_sag=leg_lean + 10.0, head_sag=leg_lean - 18.0)
        p = p.set(**{f"foot_pitch_{SIDES[weak]}": pw, f"toe_{SIDES[weak]}": pw})
        p = set_arm(p, "both", x["arm_drive"] - 4.0, 165.0).set(uarm_lat=8.0, farm_lat=6.0)
        j = _render(sc, p).joints[0]
        measured_lean = np.degrees(
            np.arctan2(*(_mid(j, J.LEFT_SHOULDER, J.RIGHT_SHOULDER) - _mid(j, J.LEFT_ANKLE, J.RIGHT_ANKLE))[[0, 1]])
        )
        kl, kr = _knees(j)
        m_asym = abs(kl - kr)
        leg_lean += lean - measured_lean
        if asym > 0.5 and m_asym > 0.1:
            delta *= asym / m_asym
        delta = float(np.clip(delta, 0.0, 2.0 * asym + 5.0))
    return p


def _flight_poses(body, x, rng, weak_land: int):
    """Heels-up (early flight), tuck (mid-flight) and touchdown poses (free flight, root at 0)."""
    heels = Pose().set(head_sag=10.0, trunk_sag=30.0, foot_pitch=35.0, toe=0.0, foot_yaw=8.0)
    heels = set_leg(heels, "both", 65.0, -110.0)  # heels kicked up behind
    heels = set_arm(heels, "both", min(x["arm_drive"] + 15.0, 172.0), 155.0).set(uarm_lat=10.0, farm_lat=8.0)
    tuck = Pose().set(head_sag=5.0, trunk_sag=22.0, foot_pitch=18.0, toe=0.0, foot_yaw=8.0)
    tuck = set_leg(tuck, "both", 75.0, -5.0)  # knees pulled up to hip height, shanks hanging
    tuck = set_arm(tuck, "both", min(x["arm_drive"] + 20.0, 170.0), 150.0).set(uarm_lat=10.0, farm_lat=8.0)

    lean = x["landing_trunk_lean"]
    thigh = float(rng.uniform(80.0, 88.0))
    knee = float(rng.uniform(140.0, 150.0))
    land = Pose().set(trunk_sag=lean, head_sag=lean - 25.0, foot_pitch=-14.0, toe=0.0, foot_yaw=8.0)
    land = set_arm(land, "both", 55.0, 110.0).set(uarm_lat=12.0, farm_lat=8.0)
    land = set_leg(land, "both", knee, thigh - (180.0 - knee))
    # Asymmetric landing: one leg more flexed at hip and knee with the same foot height.
    asym = x["landing_asymmetry"]
    if asym > 0.0:
        s = SIDES[weak_land]
        lt, ls = body.thigh, body.shank
        shank0 = np.radians(land[f"shank_sag_{s}"])
        drop = lt * np.cos(np.radians(thigh)) + ls * np.cos(shank0)
        lo, hi = 0.0, 30.0
        for _ in range(40):
            d = 0.5 * (lo + hi)
            th = np.radians(thigh + d)
            c = np.clip((drop - lt * np.cos(th)) / ls, -1.0, 1.0)
            sh = np.arccos(c)
            k = 180.0 - (np.degrees(th) - np.degrees(sh))
            if knee - k < asym:
                lo = d
            else:
                hi = d
        th = thigh + 0.5 * (lo + hi)
        sh = np.degrees(np.arccos(np.clip((drop - lt * np.cos(np.radians(th))) / ls, -1.0, 1.0)))
        land = land.set(**{f"thigh_sag_{s}": th, f"shank_sag_{s}": sh})
    return heels, tuck, land


#: Frames with the hips within this of their lowest count as the bottom of the countermovement (m).
BOTTOM_TOLERANCE_M = 0.005

#: Largest mean upward acceleration of the CoM a student sustains in the push (m/s^2, about 2.2
#: body weights of ground force): the CoM must rise at least vy^2 / (2 A) from the bottom.
MAX_PUSH_ACCEL = 12.0


def realize(body: Body, technique: dict) -> dict:
    """Make the technique physically possible for this body (applied after the faults):

    - the legs must be straighter at take-off than at the bottom of the countermovement: the
      countermovement knee angle is at most the take-off knee angle - 12 deg;
    - a take-off with vertical velocity vy needs the CoM to rise at least vy^2 / (2 MAX_PUSH_ACCEL)
      between the bottom and take-off, and the hips to rise at least 4 cm. If the bottom is too
      high for the take-off pose (a shallow or upright dip), the student takes off more upright:
      ``takeoff_body_lean`` is reduced until both hold (not below 15 deg).
    """
    x = dict(technique)
    x["cm_knee_angle"] = min(x["cm_knee_angle"], x["takeoff_knee_angle"] - 12.0)
    stance = body.pelvis_width + 0.06
    p0 = standing_pose(body, stance, 8.0)
    anchors = (FootAnchor((0.0, body.ankle_height, -stance / 2), 8.0), FootAnchor((0.0, body.ankle_height, stance / 2), -8.0))
    sc = _stance_scene(body, anchors)
    vy = x["takeoff_speed"] * np.sin(np.radians(x["takeoff_angle"]))
    need = vy * vy / (2.0 * MAX_PUSH_ACCEL)
    target = 0.12 * body.foot_length + (0.0 if x["cm_pause"] > 0.05 else 0.10)
    jb = _render(sc, _bottom_pose(body, sc, p0, x, target)).joints
    c_b = center_of_mass(jb)[0, 1]
    h_b = _mid(jb[0], Joint.LEFT_HIP, Joint.RIGHT_HIP)[1]

    def ok(lean):
        j = _render(sc, _takeoff_pose(body, sc, p0, {**x, "takeoff_body_lean": lean}, 0, 49.0)).joints
        return center_of_mass(j)[0, 1] - c_b >= need and _mid(j[0], Joint.LEFT_HIP, Joint.RIGHT_HIP)[1] - h_b >= 0.04

    lean = x["takeoff_body_lean"]
    if ok(lean):
        return x
    lo, hi = 15.0, lean
    if not ok(lo):
        x["takeoff_body_lean"] = lo
        return x
    for _ in range(7):  # to about 0.3 deg
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if ok(mid) else (lo, mid)
    x["takeoff_body_lean"] = float(lo)
    return x


def _com_lean(sc: Scene, pose: Pose) -> float:
    """Forward inclination (deg from vertical) of the line from the mid-ankle to the CoM."""
    j = _render(sc, pose).joints[0]
    d = center_of_mass(j) - _mid(j, Joint.LEFT_ANKLE, Joint.RIGHT_ANKLE)
    return float(np.degrees(np.arctan2(d[0], d[1])))


def _forward_limit(sc: Scene, pose: Pose, max_com_y: float, max_com_x: float) -> float:
    """Largest forward rotation of the legs about the ankles (deg, 0-60) keeping the CoM at or
    below ``max_com_y`` and at or behind ``max_com_x``; 0 if even no rotation exceeds them."""
    rhos = np.linspace(0.0, 60.0, 31)
    q = np.stack([pose.add(shank_sag=-r, thigh_sag=-r).v for r in rhos])
    c = center_of_mass(sc.render(np.zeros(len(rhos)), q).joints)
    ok = (c[:, 1] <= max_com_y) & (c[:, 0] <= max_com_x)
    if not ok[0]:
        return 0.0
    bad = np.nonzero(~ok)[0]
    return float(rhos[bad[0] - 1]) if bad.size else float(rhos[-1])


def _absorb_pose(q_land: np.ndarray, x: dict) -> Pose:
    """Deepest landing pose: each knee flexes by ``landing_knee_flexion`` from touchdown (so the
    touchdown asymmetry is kept), the trunk leans 10 deg more, the arms reach forward."""
    pa = Pose(q_land).set(foot_pitch=0.0, toe=0.0, pelvis_roll=0.0, pelvis_yaw=0.0)
    flex = x["landing_knee_flexion"]
    for s in SIDES:
        k = 180.0 - (q_land[CH[f"thigh_sag_{s}"]] - q_land[CH[f"shank_sag_{s}"]])
        pa = set_leg(pa, s, k - flex, q_land[CH[f"shank_sag_{s}"]] - 0.45 * flex)
    lean = x["landing_trunk_lean"] + 10.0
    pa = pa.set(trunk_sag=lean, head_sag=lean - 30.0)
    return set_arm(pa, "both", 75.0, 120.0)


# ------------------------------------------------------------------------------------------


def generate(body: Body, technique: dict, rng: np.random.Generator, *, fps: float = 30.0,
             idle: tuple[float, float] = (1.0, 1.0)) -> Motion:
    """A clean standing long jump for ``body`` with the given technique values."""
    x = dict(technique)
    tempo = x["tempo"]
    stance = body.pelvis_width + float(rng.uniform(0.02, 0.10))
    toe_out = float(rng.uniform(0.0, 6.0))  # feet nearly parallel behind the line
    p0 = standing_pose(body, stance, toe_out)
    anchors0 = (
        foot_anchor_from_point(body, "heel", (body.foot_offset("heel"), -stance / 2), toe_out),
        foot_anchor_from_point(body, "heel", (body.foot_offset("heel"), stance / 2), -toe_out),
    )
    # anchors0 put the ankles at x = 0 (the heel is behind the ankle by the heel offset).
    anchors0 = tuple(type(a)((0.0, a.ankle[1], a.ankle[2]), a.yaw) for a in anchors0)
    sc0 = _stance_scene(body, anchors0)
    foot_mid_x = 0.12 * body.foot_length

    weak_to = int(rng.integers(2))
    weak_land = int(rng.integers(2))
    paused = x["cm_pause"] > 0.05
    # Without a pause the body is already tipping forward at the bottom (CoM ahead of mid-foot).
    pb = _bottom_pose(body, sc0, p0, x, foot_mid_x + (0.0 if paused else 0.10))
    pt = _takeoff_pose(body, sc0, p0, x, weak_to, float(rng.uniform(44.0, 54.0)))

    # Timeline up to take-off: idle, optional arm pre-swing, countermovement (dip) to the bottom,
    # optional pause, push-off. The dip and the push are driven by the CoM path: the body starts
    # moving forward during the dip (the CoM leaves the bottom moving forward unless the student
    # pauses there), drives forward through the push and upward in its last part, leaving with the
    # take-off velocity of the technique and the acceleration of gravity (ground force zero).
    t_on = float(idle[0])
    traj = Trajectory(p0, 0.0).hold(t_on)
    scene = Scene(body, traj)
    for s, a in zip(SIDES, anchors0):
        scene.plant(s, 0.0, np.inf, a)
    preswing = rng.random() < 0.75
    t_dip = 0.62 * tempo
    if preswing:
        pre = set_arm(p0, "both", float(rng.uniform(70.0, 110.0)), 160.0).set(foot_pitch=5.0, toe=5.0, trunk_sag=0.0)
        traj.move(pre, 0.42 * tempo)
        t_dip = 0.50 * tempo
    q_pre = traj.end_pose
    # Legs and hip line as the planted feet make them (IK), so the flight starts seamlessly.
    pb = synced_to(pb, _render(sc0, pb).joints[0])
    pt = synced_to(pt, _render(sc0, pt).joints[0])
    th = np.radians(x["takeoff_angle"])
    v0 = x["takeoff_speed"] * np.array([np.cos(th), np.sin(th), 0.0])
    c_pre = center_of_mass(_render(sc0, q_pre).joints)[0]
    c_b = center_of_mass(_render(sc0, pb).joints)[0]
    c_t = center_of_mass(_render(sc0, pt).joints)[0]
    vb = 0.0 if paused else float(min(0.45, 1.8 * max(c_b[0] - c_pre[0], 0.0) / t_dip))
    vel_b = np.array([vb, 0.0, 0.0])
    t_d0 = traj.end_time
    dpath = quintic_path(t_d0, t_d0 + t_dip, (c_pre, np.zeros(3), np.zeros(3)), (c_b, vel_b, np.zeros(3)))
    arms_d = Trajectory(q_pre, t_d0).move(pb, t_dip)
    rot = forward_rotation("ankle")
    lean_pre, lean_b, lean_t = (_com_lean(sc0, p) for p in (q_pre, pb, pt))
    dip = ComDriven(scene, t_d0, t_d0 + t_dip, q_pre.v, pb.v, 1.0 - _ARMS, rot, dpath, arms_d,
                    r_end=lean_b - lean_pre)
    if paused:  # the student stops at the bottom
        end_q = dip(np.array([t_d0 + t_dip]))[0]
        traj.follow(dip, t_dip, end_state=(end_q, np.zeros(N_CHANNELS), np.zeros(N_CHANNELS)))
    else:
        traj.follow(dip, t_dip)
    if paused:
        traj.hold(x["cm_pause"])
    t_push0 = traj.end_time

    # Push: a near-linear ramp of the forward velocity; the upward drive in the last part, short
    # enough that the CoM height rises monotonically (end slope <= 2 of the quintic).
    t_push = float(np.clip(2.0 * (c_t[0] - c_b[0]) / (vb + v0[0]), 0.2, 0.6))
    t_up = float(np.clip(2.0 * (c_t[1] - c_b[1]) / max(v0[1], 1e-3), 0.1, t_push))
    t_to = t_push0 + t_push
    scene.end_contacts(t_to)
    starts = np.array([t_push0, t_to - t_up, t_push0])
    path = quintic_path(starts, t_to, (c_b, vel_b, np.zeros(3)), (c_t, v0, np.array([0.0, -G, 0.0])))
    arms = Trajectory(pb, t_push0).move(pt, t_push, velocity=150.0 * _ARMS)
    # Arms, hip line and leg abduction are timed apart (minimum-jerk, at rest at toe-off): with both
    # feet planted the IK decides the last two, so they must not carry a rate into the flight.
    push = ComDriven(scene, t_push0, t_to, pb.v, pt.v, 1.0 - _ARMS - _PELVIS - _LEG_LAT, rot, path, arms,
                     powers=_PUSH_POWERS,
                     r_end=lean_t - lean_b)
    traj.follow(push, t_push)
    com0 = path(np.array([t_to]))[0]
    vel0, acc0 = scene.com_rates(t_to)

    # Flight: joints brake after toe-off, the heels come up behind, the knees are pulled up, the
    # legs reach forward for a heels-first landing. If a foot would graze the floor on the way
    # (a low, flat flight), the tuck is made deeper.
    heels, tuck, land = _flight_poses(body, x, rng, weak_land)
    probe = Scene(body, Trajectory(land))
    fr = probe.render(np.zeros(1))
    h_land = float(center_of_mass(fr.joints)[0, 1] - fr.feet[0, ..., 1].min())
    t_flight = flight_time(v0[1], com0[1] - h_land)
    takeoff_state = traj.end_state
    scene.flight(t_to, t_to + t_flight + 1.0, com0, v0)
    t_brake = min(0.09, 0.25 * t_flight)  # the body stays extended briefly after toe-off
    for _ in range(4):
        traj.restart(t_to, takeoff_state)
        traj.brake(t_brake, _FOLLOW_THROUGH)
        traj.move(heels, max(0.35 * t_flight - t_brake, 0.03)).move(tuck, 0.30 * t_flight).move(land, 0.35 * t_flight)
        traj.hold(1.0)
        probe_t = np.arange(t_to + 0.02, t_to + 0.85 * t_flight, 0.005)
        if probe_t.size == 0 or lowest_foot(scene, probe_t).min() > 0.01:
            break
        heels = set_leg(heels, "both", knee_angle(heels, "l") - 12.0, heels["shank_sag_l"] - 12.0)
        tuck = set_leg(tuck, "both", knee_angle(tuck, "l") - 12.0, tuck["shank_sag_l"] - 6.0)
    t_land = find_touchdown(scene, t_to + 1e-4, t_to + t_flight + 0.6)

    # Touchdown: plant each foot where it is, pivoting on its lowest point (normally the heel).
    frl = scene.render(np.array([t_land]))
    q_land = traj(np.array([t_land]))[0]
    qdot_land = traj.velocity(np.array([t_land - 2e-4]))[0]
    vel_land = v0 + np.array([0.0, -G * (t_land - t_to), 0.0])
    land_anchors = []
    for k, s in enumerate(SIDES):
        pts = frl.feet[0, k]  # heel, ball, toe
        point = "heel" if q_land[CH[f"foot_pitch_{s}"]] < 0 else "ball"
        at = pts[0] if point == "heel" else pts[1]
        yaw = np.degrees(np.arctan2(-(pts[1, 2] - pts[0, 2]), pts[1, 0] - pts[0, 0]))
        land_anchors.append(foot_anchor_from_point(body, point, (at[0], at[2]), yaw))
    scene.flights[-1] = type(scene.flights[-1])(t_to, t_land - 1e-9, tuple(com0), tuple(v0))
    for s, a in zip(SIDES, land_anchors):
        scene.plant(s, t_land, np.inf, a)
    sc_land = _stance_scene(body, land_anchors)
    c_land = center_of_mass(_render(sc_land, Pose(q_land)).joints)[0]

    # Absorption: the knees flex by the technique's amount and the legs rotate forward over the
    # feet as far as the CoM can go while still moving down (>= 3 cm below touchdown) and not past
    # the balance point; the CoM comes to rest there, stopping vertically in 2 dy / |vy| and
    # horizontally in 2 dx / vx (constant-deceleration times). Settling over the feet follows.
    land_mid_x = 0.5 * (land_anchors[0].ankle[0] + land_anchors[1].ankle[0]) + 0.12 * body.foot_length
    sit_back = 0.12 * max(0.0, (20.0 - x["landing_trunk_lean"]) / 20.0)  # an upright trunk stays behind
    pa = _absorb_pose(q_land, x)
    rho = _forward_limit(sc_land, pa, c_land[1] - 0.03, land_mid_x - sit_back)
    pa = pa.add(shank_sag=-rho, thigh_sag=-rho)
    c_abs = center_of_mass(_render(sc_land, pa).joints)[0]
    t_abs = float(np.clip(2.0 * (c_land[1] - c_abs[1]) / max(-vel_land[1], 0.3), 0.06, 0.5))
    t_fwd = float(np.clip(2.0 * (c_abs[0] - c_land[0]) / max(vel_land[0], 0.3), 0.05, 0.8))
    t_done = max(t_abs, t_fwd)
    dec = np.array([-2.0 * vel_land[0] / t_fwd, -2.0 * vel_land[1] / t_abs, 0.0])
    ends = np.array([t_fwd, t_abs, t_done]) + t_land
    lpath = quintic_path(t_land, ends, (c_land, vel_land * np.array([1, 1, 0]), dec), (c_abs, np.zeros(3), np.zeros(3)))
    free = Trajectory(Pose(q_land), t_land)
    free.restart(t_land, (q_land, qdot_land * _ARMS, np.zeros(N_CHANNELS)))
    free.move(pa, t_done)
    for s in SIDES:
        free.override(f"foot_pitch_{s}", t_land, np.inf,
                      _flatten(t_land, q_land[CH[f"foot_pitch_{s}"]], min(0.07, t_done)))
    r_land = _com_lean(sc_land, pa) - _com_lean(sc_land, Pose(q_land).set(foot_pitch=0.0))
    absorb = ComDriven(scene, t_land, t_land + t_done, q_land, pa.v, _LAND_MASK, forward_rotation("ankle"), lpath,
                       free, r_end=r_land)
    traj.restart(t_land, (q_land, qdot_land, np.zeros(N_CHANNELS)))
    end_q = absorb(np.array([t_land + t_done]))[0]

    # Settle to a balanced stick position, hold, stand up, idle.
    stick = Pose(pa.v)
    for s in SIDES:  # rise a little from the deepest point, never above the touchdown knee angle
        k = 180.0 - (pa[f"thigh_sag_{s}"] - pa[f"shank_sag_{s}"])
        k_td = 180.0 - (q_land[CH[f"thigh_sag_{s}"]] - q_land[CH[f"shank_sag_{s}"]])
        stick = set_leg(stick, s, max(min(k + 10.0, k_td - 5.0), k), pa[f"shank_sag_{s}"])
    lean_s = max(x["landing_trunk_lean"] + 2.0, 5.0)
    stick = stick.set(trunk_sag=lean_s, head_sag=lean_s - 25.0)
    stick = set_arm(stick, "both", 50.0, 130.0)
    stick = balance_over(sc_land, stick, land_mid_x)
    # A rise in stance cannot decelerate faster than gravity (minimum-jerk peak 5.77 dh / T^2 <=
    # 0.8 g); a student who is slow to stabilize (the technique's time beyond 0.4 s) takes longer.
    dh = center_of_mass(_render(sc_land, stick).joints)[0, 1] - c_abs[1]
    t_min = max(float(np.sqrt(5.77 * abs(dh) / (0.8 * G))), 0.15)
    t_settle = min(t_min + 0.9 * max(0.0, x["stabilization_time"] - 0.4), 2.5)
    # The CoM comes to rest at the end of the absorption and the student goes straight on into
    # the settling move (no still moment in between).
    settle_v = 0.6 * (stick.v - end_q) / t_settle
    traj.follow(absorb, t_done, end_state=(end_q, settle_v, np.zeros(N_CHANNELS)))
    traj.move(stick, t_settle)
    t_hold = float(rng.uniform(0.35, 0.8))
    traj.hold(t_hold)
    land_stance = abs(land_anchors[1].ankle[2] - land_anchors[0].ankle[2])
    pf = standing_pose(body, land_stance, toe_out)
    pf = pf.set(**{f"foot_yaw_{s}": p0[f"foot_yaw_{s}"] for s in SIDES})
    pf = balance_over(sc_land, pf, land_mid_x - 0.1 * body.foot_length)
    dh = center_of_mass(_render(sc_land, pf).joints)[0, 1] - center_of_mass(_render(sc_land, stick).joints)[0, 1]
    t_rise = max(float(rng.uniform(0.6, 0.9)) * tempo, float(np.sqrt(5.77 * abs(dh) / (0.8 * G))))
    traj.move(pf, t_rise)
    t_still = traj.end_time
    t_end = t_still + float(idle[1])
    traj.hold(max(t_end - t_still, 0.0) + 0.1)

    # Landing sway (lateral) and backward rocking, decaying.
    traj.overlays.append(_landing_overlay(x, body, t_land, t_done, t_still, weak_land))
    traj.overlays.append(sway_overlay(rng, [(-np.inf, t_on), (t_still, np.inf)]))

    t, arr = sample_scene(scene, t_end, fps)
    joints = arr["joints"]
    hip = mid_hip(joints)
    k_start = frame_before(t_on, fps)
    k_to = frame_before(t_to, fps)
    k_land = frame_after(t_land, fps)
    # The bottom: the first frame with the hips within 5 mm of their lowest before take-off (a
    # last few millimetres of drop while the body tips forward in the push do not count).
    low = hip[k_start : k_to + 1, 1]
    k_bottom = k_start + int(np.argmax(low <= low.min() + BOTTOM_TOLERANCE_M))
    k_peak = k_to + 1 + int(np.argmax(hip[k_to + 1 : k_land, 1])) if k_land > k_to + 1 else k_to
    k_stab = first_still(hip, fps, k_land + 1)
    keyframes = {
        "start": k_start,
        "countermovement_bottom": k_bottom,
        "takeoff": k_to,
        "peak": k_peak,
        "landing": k_land,
        "stabilized": k_stab,
    }
    ank = 0.5 * (joints[:, Joint.LEFT_ANKLE] + joints[:, Joint.RIGHT_ANKLE])
    info = {
        "takeoff_velocity": vel0.tolist(),
        "takeoff_velocity_target": v0.tolist(),
        "takeoff_com": com0.tolist(),
        "takeoff_com_acceleration": acc0.tolist(),
        "landing_com": c_land.tolist(),
        "landing_velocity": vel_land.tolist(),
        "flight_time": t_land - t_to,
        "jump_distance_ankles": float(ank[k_land, 0] - ank[k_start, 0]),
        "jump_distance_heels": float(arr["feet"][k_land, :, 0, 0].min() - arr["feet"][k_start, :, 0, 0].min()),
        "absorb_time": t_abs,
        "absorb_forward_time": t_fwd,
        "preswing": bool(preswing),
    }
    events = {"onset": t_on, "takeoff": t_to, "landing": t_land, "still": t_still}
    return Motion.from_arrays(arr, fps, keyframes, events, info)


def _flatten(t0: float, pitch0: float, duration: float):
    def fn(t):
        return pitch0 * (1.0 - minimum_jerk((t - t0) / duration))

    return fn


def _landing_overlay(x: dict, body: Body, t_land: float, t_abs: float, t_still: float, weak: int):
    """After the absorption (which ends at t_land + t_abs): lateral hip sway (the shanks tilting
    sideways together) of amplitude ``landing_sway``, a sideways shift of the hips towards the
    more flexed leg after an uneven landing (1.5 mm per degree of ``landing_asymmetry``), and a
    backward rock when the trunk lands too upright; all fade out before the stand-up ends."""
    amp_m = x["landing_sway"]
    leg = 0.8 * body.leg_length
    amp_deg = np.degrees(amp_m / leg)
    shift_deg = np.degrees(0.0015 * x["landing_asymmetry"] / leg) * (1.0 if SIDES[weak] == "r" else -1.0)
    tau = 0.25 + 4.0 * amp_m
    freq = 1.4
    rock = max(0.0, (20.0 - x["landing_trunk_lean"]) / 20.0)
    t_s = t_land + t_abs
    i_lat = [CH["shank_lat_l"], CH["shank_lat_r"], CH["thigh_lat_l"], CH["thigh_lat_r"]]
    sgn_lat = np.array([-1.0, 1.0, -1.0, 1.0])  # both legs tilt towards +z together
    i_rock = [CH["shank_sag_l"], CH["shank_sag_r"], CH["thigh_sag_l"], CH["thigh_sag_r"]]
    i_arm = [CH["uarm_sag_l"], CH["uarm_sag_r"]]

    def fn(t):
        out = np.zeros((t.shape[0], N_CHANNELS))
        u = t - t_s
        on = (u > 0) & (t < t_still)
        if not on.any():
            return out
        uc = np.clip(u, 0.0, None)
        ramp = minimum_jerk(uc / 0.15) * (1.0 - minimum_jerk((t - (t_still - 0.3)) / 0.3))
        lat = (amp_deg * np.sin(2 * np.pi * freq * uc) * np.exp(-uc / tau) + shift_deg * minimum_jerk(uc / 0.3)) * ramp
        out[:, i_lat] = np.where(on[:, None], lat[:, None] * sgn_lat[None, :], 0.0)
        if rock > 0:
            r = rock * np.sin(np.pi * np.clip(uc / 0.6, 0, 1)) * np.exp(-uc / 0.5) * ramp
            out[:, i_rock] = np.where(on[:, None], 5.0 * r[:, None], 0.0)
            out[:, i_arm] = np.where(on[:, None], 30.0 * r[:, None], 0.0)
        return out

    return fn
