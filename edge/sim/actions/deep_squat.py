"""Deep squat (spec: edge/actions/specs/deep_squat.yaml); the feet stay planted throughout.

The attempt: idle standing with the arms down; the arms are raised forward (shoulder height) or
overhead (the style is drawn per attempt, overhead as in UI-PRMD); a still moment; a
minimum-jerk descent to the bottom pose (knee angle, trunk lean, heel rise, knee tracking, weight
shift, sideways hip shift onto the stronger leg and left/right difference from the technique; the shins lean so that
the centre of mass sits over the feet); a pause; the ascent to standing (with the lockout deficit
of the technique); the arms come down; idle standing.

Keyframes from the motion: ``start`` the last frame before the descent begins, ``bottom`` the
lowest hip frame, ``mid_descent``/``mid_ascent`` the first frames with the hips at least halfway
down/back up, ``end`` the first frame after mid-ascent from which the hips stay slower than
0.1 m/s for 0.2 s.
"""

from __future__ import annotations

import numpy as np

from edge.sim.anthropometry import Body
from edge.sim.idle import sway_overlay
from edge.sim.kinematics import SIDES, Pose, foot_anchor_from_point, set_arm, set_leg, standing_pose
from edge.sim.motion import Motion, first_still, frame_before, mid_hip, sample_scene
from edge.sim.scene import Scene, balance_over
from edge.sim.technique import TechniqueParam as P
from edge.sim.trajectory import Trajectory

ACTION_ID = "deep_squat"

TECHNIQUE: dict[str, P] = {
    "depth_knee": P(48, 5, 30, 165, 45, 14, 18, "deg", "knee angle at the bottom", "above"),
    "trunk_lean": P(30, 5, 0, 80, 28, 10, 11, "deg", "forward trunk lean at the bottom"),
    "heel_rise": P(1.0, 1.0, 0.0, 40, 0.0, 6, 9, "deg", "heel rise (sole to floor) at the bottom", "above"),
    "knee_track": P(4, 2, -25, 15, 5, 6, 9, "deg", "knees pushed out (+) or caving in (-) at the bottom"),
    "arm_drop": P(4, 3, 0, 80, 0, 15, 7, "deg", "arms sinking below their forward/overhead position", "above"),
    "weight_shift": P(0.0, 0.01, -0.1, 0.15, 0.0, 0.035, 6, "m", "centre of mass in front of mid-foot at the bottom"),
    "descent_time": P(1.9, 0.3, 0.6, 4.0, 2.0, 0.6, 6, "s", "duration of the descent", "below"),
    "ascent_time": P(1.5, 0.25, 0.6, 4.0, 1.5, 0.5, 4, "s", "duration of the ascent", "below"),
    "bottom_pause": P(0.3, 0.12, 0.0, 2.0, 0.3, 0.5, 0, "s", "pause at the bottom (not scored)"),
    "lateral_shift": P(0.008, 0.004, 0.0, 0.15, 0.0, 0.025, 8, "m", "sideways hip shift at the bottom", "above"),
    "knee_asymmetry": P(2.5, 1.5, 0.0, 40, 0.0, 8, 6, "deg", "left/right knee angle difference at the bottom", "above"),
    "lockout_deficit": P(2, 1.5, 0, 60, 0, 8, 9, "deg", "knee extension missing at the finish", "above"),
    "head_drop": P(4, 4, -20, 70, 0, 15, 7, "deg", "head bowed beyond neutral at the bottom", "above"),
}

FAULTS: dict[str, dict[str, float]] = {
    "shallow_squat": {"depth_knee": 55.0},
    "heels_lift": {"heel_rise": 20.0, "weight_shift": 0.02},
    "knees_cave_in": {"knee_track": -18.0},
    "excessive_forward_lean": {"trunk_lean": 28.0, "arm_drop": 12.0},
    "arms_drop": {"arm_drop": 60.0},
    "knees_too_far_forward": {"weight_shift": 0.07, "heel_rise": 4.0},
    "rushed_squat": {"descent_time": -1.2, "ascent_time": -0.9},
    "lateral_shift": {"lateral_shift": 0.08, "knee_asymmetry": 6.0},
    "uneven_squat": {"knee_asymmetry": 22.0, "lateral_shift": 0.02},
    "incomplete_lockout": {"lockout_deficit": 28.0},
    "looking_down": {"head_drop": 45.0},
}

EXCLUSIVE_FAULTS = (frozenset({"excessive_forward_lean", "knees_too_far_forward"}),)

ARM_STYLES = {"forward": 90.0, "overhead": 172.0}


def _bottom_pose(body: Body, sc: Scene, base: Pose, x: dict, arm: float, weak: int, mid_foot: float,
                 ball: float) -> Pose:
    """The deepest position: knees (weak side deeper), trunk, head, arms, heels, knee tracking,
    sideways shift, shins leaning so the CoM is at mid-foot (+ the weight shift; over the balls of
    the feet when the heels are up)."""
    k, asym = x["depth_knee"], x["knee_asymmetry"]
    p = base
    for i, s in enumerate(SIDES):
        ks = k - asym / 2.0 if i == weak else k + asym / 2.0
        p = set_leg(p, s, min(ks, 178.0), -20.0)
    lean = x["trunk_lean"]
    p = p.set(trunk_sag=lean, head_sag=lean - 18.0 + x["head_drop"], foot_pitch=x["heel_rise"], toe=x["heel_rise"])
    p = set_arm(p, "both", arm - x["arm_drop"], 170.0)
    lat0 = base["thigh_lat_l"]
    track = x["knee_track"]
    # Sideways shift: both legs tilt the same way (about the ankles).
    shift = np.degrees(np.arcsin(np.clip(x["lateral_shift"] / (0.8 * body.leg_length), -0.5, 0.5)))
    sgn = -1.0 if weak == 1 else 1.0  # away from the weaker (deeper) side, onto the stronger leg
    for s, side_sign in (("l", -1.0), ("r", 1.0)):
        p = p.set(**{
            f"thigh_lat_{s}": lat0 + track + side_sign * sgn * shift,
            f"shank_lat_{s}": lat0 - 0.3 * track + side_sign * sgn * shift,
        })
    on_toes = min(1.0, x["heel_rise"] / 15.0)
    target = mid_foot + x["weight_shift"] + on_toes * (ball - mid_foot)
    return balance_over(sc, p, target)


def generate(body: Body, technique: dict, rng: np.random.Generator, *, fps: float = 30.0,
             idle: tuple[float, float] = (1.0, 1.0)) -> Motion:
    """A clean deep squat for ``body`` with the given technique values."""
    x = dict(technique)
    stance = body.pelvis_width + float(rng.uniform(0.10, 0.20))
    toe_out = float(rng.uniform(8.0, 20.0))
    style = "overhead" if rng.random() < 0.5 else "forward"
    arm = ARM_STYLES[style] + float(rng.normal(0.0, 4.0))
    weak = int(rng.integers(2))
    p0 = standing_pose(body, stance, toe_out)
    anchors = {
        s: foot_anchor_from_point(body, "heel", (body.foot_offset("heel"), sg * stance / 2.0), -sg * toe_out)
        for s, sg in (("l", -1.0), ("r", 1.0))
    }
    sc0 = Scene(body, Trajectory(p0))
    for s in SIDES:
        sc0.plant(s, -np.inf, np.inf, anchors[s])
    mid_foot = 0.12 * body.foot_length
    ball = body.foot_offset("ball") - 0.02
    p0 = balance_over(sc0, p0, mid_foot)
    ready = set_arm(p0, "both", arm, 172.0).set(uarm_lat=6.0 if style == "forward" else 10.0)
    ready = balance_over(sc0, ready, mid_foot)
    bottom = _bottom_pose(body, sc0, ready, x, arm, weak, mid_foot, ball)
    finish = Pose(ready.v)
    deficit = x["lockout_deficit"]
    if deficit > 0:
        finish = set_leg(finish, "both", 178.0 - deficit, -0.6 * deficit)
        finish = finish.set(trunk_sag=ready["trunk_sag"] + 0.9 * deficit)
        finish = balance_over(sc0, finish, mid_foot)

    t_on = float(idle[0])
    traj = Trajectory(p0, 0.0).hold(t_on)
    traj.move(ready, float(rng.uniform(0.7, 1.0)))
    traj.hold(float(rng.uniform(0.3, 0.7)))
    t_descent = traj.end_time
    traj.move(bottom, x["descent_time"]).hold(x["bottom_pause"])
    traj.move(finish, x["ascent_time"])
    t_up = traj.end_time
    traj.hold(float(rng.uniform(0.4, 0.8)))
    traj.move(p0, float(rng.uniform(0.7, 1.0)))
    t_still = traj.end_time
    t_end = t_still + float(idle[1])
    traj.hold(float(idle[1]) + 0.1)
    traj.overlays.append(sway_overlay(rng, [(-np.inf, t_on), (t_still, np.inf)]))

    scene = Scene(body, traj)
    for s in SIDES:
        scene.plant(s, 0.0, np.inf, anchors[s])
    _, arr = sample_scene(scene, t_end, fps)
    joints = arr["joints"]
    hip_y = mid_hip(joints)[:, 1]
    k_start = frame_before(t_descent, fps)
    k_up = frame_before(t_up, fps)
    k_bottom = k_start + int(np.argmin(hip_y[k_start : k_up + 1]))
    half_down = 0.5 * (hip_y[k_start] + hip_y[k_bottom])
    k_mid_d = k_start + int(np.argmax(hip_y[k_start : k_bottom + 1] <= half_down))
    half_up = 0.5 * (hip_y[k_bottom] + hip_y[k_up])
    k_mid_a = k_bottom + int(np.argmax(hip_y[k_bottom : k_up + 1] >= half_up))
    k_end = first_still(mid_hip(joints), fps, k_mid_a)
    keyframes = {"start": k_start, "mid_descent": k_mid_d, "bottom": k_bottom, "mid_ascent": k_mid_a, "end": k_end}
    info = {"arm_style": style, "weak_side": SIDES[weak], "stance_width": stance, "toe_out": toe_out}
    events = {"onset": t_on, "descent": t_descent, "standing": t_up, "still": t_still}
    return Motion.from_arrays(arr, fps, keyframes, events, info)
