"""Basketball free throw (spec: edge/actions/specs/basketball_free_throw.yaml), right-handed.

The attempt: idle standing at the line, feet about shoulder-width with the right foot a little
ahead, ball held at the chest with both hands; the dip (knees bend to ``dip_knee`` with the trunk
leaning ``dip_trunk``, centre of mass kept over the feet); the lift (legs start to extend, both
hands carry the ball to the set point above the forehead: shooting elbow at ``set_elbow`` under
the ball, turned out by ``set_uarm_lat``, wrist at ``set_height`` body heights); an optional hold
at the set point (``set_hold``); the release (shooting arm extends to ``release_elbow`` with the
shoulder-to-wrist line ``release_arm`` degrees forward of vertical, guide arm at ``guide_elbow``);
the held follow-through (``follow_time``), the heels settle, the arm comes down; idle standing.

Legs and upper body are timed apart: the legs (knees, heel rise, hip travel) reach their most
extended pose ``leg_lead`` seconds before the release, so a shot whose legs finish early (two
motions) is the same machinery with a larger lead. Feet are planted throughout: the heels rise
about the balls of the feet, so planted ankles never slide. Hips travel forward by
``forward_drift`` (fading back: negative) at the follow-through by rotating both legs about the
ankles, and sway sideways by ``lateral_sway`` (both legs tilting together).

Keyframes from the rendered motion: ``set_stance`` the still frame before the dip, ``dip`` the
lowest hip frame before the set point, ``set_point`` the frame, going back from the release, at which the
shooting elbow stopped flexing (extension starts; a hold at the set point counts from its start),
``release`` the first frame at which the shooting elbow is within 3 deg of its
full extension, ``follow_through`` the last frame before the shooting wrist drops 4 cm (relative
to the shoulder) below its height at release.

Helpers here (``render_pose``, ``tilt_legs``, ``arm_to``) are also used by the volleyball pass.
"""

from __future__ import annotations

import numpy as np

from edge.sim.anthropometry import Body
from edge.sim.idle import sway_overlay
from edge.sim.kinematics import SIDES, Pose, set_arm, set_leg, standing_pose
from edge.sim.motion import Motion, frame_after, frame_before, sample_scene
from edge.sim.poses import (
    arm_to,
    com_x,
    elbow_angle,
    LEG_MASK,
    hip_x,
    lateral_sway_overlay,
    midpoint,
    render_pose,
    solve_arm_angle,
    staggered_stance,
    tilt_legs,
    two_timings,
)
from edge.sim.scene import Scene
from edge.sim.technique import TechniqueParam as P
from edge.sim.trajectory import Trajectory
from edge.skeleton.joints import Joint

ACTION_ID = "basketball_free_throw"

TECHNIQUE: dict[str, P] = {
    "dip_knee": P(125, 7, 70, 178, 122, 14, 8, "deg", "knee angle at the bottom of the dip"),
    "dip_trunk": P(10, 4, -10, 60, 8, 8, 5, "deg", "forward trunk lean at the bottom of the dip"),
    "set_elbow": P(80, 6, 30, 150, 85, 15, 6, "deg", "shooting-elbow angle at the set point"),
    "set_height": P(0.93, 0.02, 0.6, 1.05, 0.94, 0.05, 8, "H", "shooting-wrist height at the set point (body heights)"),
    "set_uarm_lat": P(3, 4, -20, 70, 0, 12, 6, "deg", "shooting upper arm turned out at the set point"),
    "release_elbow": P(168, 4, 110, 179, 172, 10, 8, "deg", "shooting-elbow extension at release", "below"),
    "release_arm": P(25, 5, -10, 80, 25, 12, 8, "deg", "shoulder-to-wrist line from vertical at release (+ forward)"),
    "release_knee": P(170, 3.5, 120, 179, 173, 10, 7, "deg", "knee extension at release", "below"),
    "heel_rise": P(18, 5, 0, 45, 20, 12, 3, "deg", "heel rise at release (sole to floor)"),
    "leg_lead": P(0.02, 0.025, -0.1, 0.6, 0.0, 0.1, 7, "s", "legs fully extended this long before release"),
    "set_hold": P(0.02, 0.02, 0.0, 1.0, 0.0, 0.15, 5, "s", "hold of the ball at the set point", "above"),
    "shot_time": P(0.55, 0.06, 0.15, 1.2, 0.58, 0.15, 5, "s", "time from the bottom of the dip to release"),
    "follow_time": P(0.8, 0.15, 0.02, 2.0, 0.9, 0.35, 6, "s", "follow-through hold after release", "below"),
    "guide_elbow": P(105, 9, 50, 178, 100, 20, 5, "deg", "guide-arm elbow angle at release"),
    "release_trunk": P(3, 2.5, -30, 35, 2, 7, 5, "deg", "trunk lean at release (+ forward)"),
    "forward_drift": P(0.03, 0.02, -0.2, 0.3, 0.02, 0.06, 4, "m", "hip travel towards the basket by the follow-through"),
    "lateral_sway": P(0.01, 0.005, 0.0, 0.2, 0.0, 0.03, 4, "m", "sideways sway of the hips during the shot", "above"),
    "tempo": P(1.0, 0.08, 0.75, 1.35, 1.0, 0.3, 0, "x", "duration scale of the dip and the recovery (not scored)"),
}

FAULTS: dict[str, dict[str, float]] = {
    "no_knee_bend": {"dip_knee": 42.0},
    "excessive_dip": {"dip_knee": -50.0},
    "bending_at_waist": {"dip_trunk": 30.0, "release_trunk": 8.0},
    "low_set_point": {"set_height": -0.17, "release_arm": 15.0},
    "ball_behind_head": {"set_elbow": -40.0},
    "elbow_flare": {"set_uarm_lat": 42.0},
    "short_arm": {"release_elbow": -36.0},
    "flat_shot": {"release_arm": 36.0},
    "legs_not_extended": {"release_knee": -32.0, "heel_rise": -12.0},
    "legs_arms_disconnected": {"leg_lead": 0.36, "set_hold": 0.12},
    "hitch_at_set_point": {"set_hold": 0.45},
    "rushed_shot": {"shot_time": -0.28},
    "no_follow_through": {"follow_time": -0.74},
    "guide_hand_push": {"guide_elbow": 66.0},
    "fading_back": {"release_trunk": -19.0, "forward_drift": -0.12},
    "lunging_forward": {"forward_drift": 0.17, "release_trunk": 10.0},
    "off_balance_sideways": {"lateral_sway": 0.075},
}

EXCLUSIVE_FAULTS = (
    frozenset({"no_knee_bend", "excessive_dip"}),
    frozenset({"fading_back", "lunging_forward", "bending_at_waist"}),
)

#: Shortest shooting-arm extension from the set point to release (s): wrist speed at release
#: stays near the ball's release speed (about 7 m/s, Tran & Silverberg 2008) even in a rushed shot.
MIN_EXTENSION_S = 0.15
#: Shortest lift of the ball from the dip to the set point (s).
MIN_LIFT_S = 0.14
#: Ball radius (m, size 7; size 6 is 0.116).
BALL_R = 0.12


# ------------------------------------------------------------------------------------------
# Key poses


def _ball_hold(body: Body, sc: Scene, pose: Pose, ball: np.ndarray) -> Pose:
    """Both hands on a ball at ``ball`` (world): the right hand behind and under it, the left on
    its left side, elbows down and out."""
    r = arm_to(body, sc, pose, "r", ball + np.array([-0.09, -0.05, 0.05]), (0.0, -1.0, 0.6))
    return arm_to(body, sc, r, "l", ball + np.array([-0.02, 0.0, -0.13]), (0.0, -1.0, -0.6))


def _guide_arm(body: Body, sc: Scene, pose: Pose, direction, elbow: float) -> Pose:
    """Guide (left) arm with its wrist along ``direction`` from the shoulder, at the distance
    that makes the interior elbow angle ``elbow`` deg; elbow bending out and down."""
    d = np.asarray(direction, dtype=np.float64)
    d = d / np.linalg.norm(d)
    e = np.radians(elbow)
    dist = np.sqrt(body.upper_arm**2 + body.forearm**2 - 2.0 * body.upper_arm * body.forearm * np.cos(e))
    sh = render_pose(sc, pose)[Joint.LEFT_SHOULDER]
    return arm_to(body, sc, pose, "l", sh + dist * d, (0.0, -0.6, -1.0))


def _legs(pose: Pose, knee: float, pitch: float = 0.0) -> Pose:
    """Both legs with the knee angle, shanks leaning forward by half the knee flexion (the
    balance rotation is applied afterwards), heels raised by ``pitch`` deg."""
    return set_leg(pose, "both", knee, -0.5 * (180.0 - knee)).set(foot_pitch=pitch, toe=pitch)


def generate(body: Body, technique: dict, rng: np.random.Generator, *, fps: float = 30.0,
             idle: tuple[float, float] = (1.0, 1.0)) -> Motion:
    """A clean right-handed free throw for ``body`` with the given technique values."""
    x = dict(technique)
    tempo = x["tempo"]
    J = Joint
    anchors, sc, width, stagger, toe_out = staggered_stance(body, rng, (0.08, 0.16), (0.04, 0.12))
    foot_mid = 0.5 * (anchors[0].ankle[0] + anchors[1].ankle[0]) + 0.25 * body.foot_offset("ball")
    ball_line = 0.5 * (anchors[0].ankle[0] + anchors[1].ankle[0]) + body.foot_offset("ball")
    head_up = float(rng.uniform(-8.0, -2.0))  # eyes on the rim

    def balanced(p: Pose, target: float) -> Pose:
        return tilt_legs(sc, p, com_x, target)

    # Set stance: ball at the chest.
    p0 = standing_pose(body, width, toe_out).set(trunk_sag=3.0, head_sag=head_up, trunk_twist=float(rng.uniform(0, 6)))
    knee_st = min(max(float(rng.uniform(166.0, 174.0)), x["dip_knee"] + 4.0), 178.0)  # the dip goes down
    p_st = balanced(_legs(p0, knee_st), foot_mid)
    j = render_pose(sc, p_st)
    mid_sh = midpoint(j, J.LEFT_SHOULDER, J.RIGHT_SHOULDER)
    p_st = balanced(_ball_hold(body, sc, p_st, mid_sh + np.array([0.30, -0.22, 0.05])), foot_mid)
    hip0 = hip_x(render_pose(sc, p_st))

    # Dip: knees bend, trunk leans, ball lowered a little.
    p_dip = _legs(p_st, x["dip_knee"]).set(trunk_sag=x["dip_trunk"], head_sag=head_up + 0.3 * x["dip_trunk"])
    p_dip = balanced(p_dip, foot_mid)
    for _ in range(2):
        j = render_pose(sc, p_dip)
        mid_sh = midpoint(j, J.LEFT_SHOULDER, J.RIGHT_SHOULDER)
        p_dip = balanced(_ball_hold(body, sc, p_dip, mid_sh + np.array([0.28, -0.26, 0.05])), foot_mid)

    # Legs fully extended (heels up, centre of mass over the balls of the feet).
    trunk_set = 0.5 * (x["dip_trunk"] + x["release_trunk"])
    legs_top = _legs(p_dip, x["release_knee"], x["heel_rise"]).set(trunk_sag=x["release_trunk"])

    # Set point: legs part-extended; shooting arm by elbow angle, turn-out and wrist height.
    knee_set = x["dip_knee"] + 0.6 * (x["release_knee"] - x["dip_knee"])
    p_set = _legs(p_dip, knee_set, 0.4 * x["heel_rise"]).set(trunk_sag=trunk_set, head_sag=head_up)
    p_set = balanced(p_set, foot_mid + 0.3 * (ball_line - foot_mid))
    for _ in range(2):
        p_set = solve_arm_angle(sc, p_set, "r", x["set_elbow"], x["set_uarm_lat"],
                                lambda jj: jj[J.RIGHT_WRIST, 1] / body.height, x["set_height"], 10.0, 135.0)
        jw = render_pose(sc, p_set)[J.RIGHT_WRIST]
        ball = jw + np.array([0.02, 0.10, -0.05])
        p_set = arm_to(body, sc, p_set, "l", ball + np.array([-0.03, -0.01, -0.14]), (-0.2, -0.6, -1.0))
        p_set = balanced(p_set, foot_mid + 0.3 * (ball_line - foot_mid))

    # Release: shooting arm extended, its shoulder-to-wrist line release_arm deg forward of up.
    def arm_line(jj):
        d = jj[J.RIGHT_WRIST] - jj[J.RIGHT_SHOULDER]
        return -float(np.degrees(np.arctan2(d[0], d[1])))  # increases as the arm rises

    # The guide hand stays where it steadied the ball: its wrist keeps the set-point direction
    # from the shoulder, at the distance that gives the guide elbow its angle.
    j = render_pose(sc, p_set)
    guide_dir = j[J.LEFT_WRIST] - j[J.LEFT_SHOULDER]
    guide_dir = guide_dir / np.linalg.norm(guide_dir)
    p_rel = legs_top.set(head_sag=head_up)
    p_rel = balanced(p_rel, ball_line - 0.03)
    for _ in range(2):
        p_rel = solve_arm_angle(sc, p_rel, "r", x["release_elbow"], 4.0, arm_line, -x["release_arm"], 60.0, 200.0)
        p_rel = _guide_arm(body, sc, p_rel, guide_dir, x["guide_elbow"])
        p_rel = balanced(p_rel, ball_line - 0.03)
    legs_top = Pose(p_rel.v)

    # Follow-through: arm held, wrist flexed; heels down, hips where the drift puts them.
    p_fol = Pose(p_rel.v)
    p_fol = set_arm(p_fol, "r", p_rel["uarm_sag_r"] + 3.0, x["release_elbow"]).set(uarm_lat_r=4.0)
    p_fol = _guide_arm(body, sc, p_fol, guide_dir + np.array([0.0, -0.4, 0.0]), max(x["guide_elbow"], 115.0))
    p_fol = _legs(p_fol, max(x["release_knee"] - 4.0, 150.0), 0.0).set(trunk_sag=x["release_trunk"])
    p_fol = tilt_legs(sc, p_fol, hip_x, hip0 + x["forward_drift"])
    # Recovery: relaxed standing over the feet.
    p_end = balanced(_legs(standing_pose(body, width, toe_out).set(head_sag=head_up, trunk_sag=2.0), 172.0), foot_mid)

    # Timeline.
    t_on = float(idle[0])
    t_dip = t_on + float(rng.uniform(0.4, 0.55)) * tempo
    t_ext = max(0.4 * x["shot_time"], MIN_EXTENSION_S)  # arm extension: a rushed shot hurries the lift
    t_set = t_dip + max(x["shot_time"] - t_ext, MIN_LIFT_S)
    t_ext0 = t_set + x["set_hold"]
    t_rel = t_ext0 + t_ext
    t_legs = float(np.clip(t_rel - x["leg_lead"], t_dip + 0.15, t_rel + 0.15))
    t_fol = t_rel + x["follow_time"]
    t_heels = t_legs + float(rng.uniform(0.28, 0.38))  # the hips peak when the legs finish
    t_down = t_fol + float(rng.uniform(0.5, 0.7)) * tempo
    t_still = max(t_down, t_heels + 0.6) + 0.3

    upper = Trajectory(p_st).hold(t_on)
    upper.move(p_dip, t_dip - t_on).move(p_set, t_set - t_dip).hold(x["set_hold"])
    upper.move(p_rel, t_rel - t_ext0)
    if x["follow_time"] >= 0.15:
        upper.move(p_fol, 0.12).hold(x["follow_time"] - 0.12)
    else:  # no follow-through: the arm comes straight down after release
        upper.hold(x["follow_time"])
    upper.move(p_end, t_down - upper.end_time).hold(t_still - t_down + float(idle[1]))

    # Legs: the set-point leg pose is passed with the speed of the straight dip->top extension.
    legs = Trajectory(p_st).hold(t_on).move(p_dip, t_dip - t_on)
    t_lset = t_dip + 0.55 * (t_legs - t_dip)
    v_leg = (legs_top.v - p_dip.v) / (t_legs - t_dip) * 1.2 * LEG_MASK
    p_lset = Pose(p_dip.v + 0.5 * (legs_top.v - p_dip.v))
    legs.move(p_lset, t_lset - t_dip, velocity=v_leg).move(legs_top, t_legs - t_lset)
    legs.move(p_fol, t_heels - t_legs).hold(max(t_down - t_heels, 0.0))
    legs.move(p_end, max(t_still - legs.end_time, 0.2)).hold(float(idle[1]) + 0.5)

    t_end = t_still + float(idle[1])
    traj = Trajectory(p_st).follow(two_timings(upper, legs), t_end)
    traj.overlays.append(lateral_sway_overlay(x["lateral_sway"], body.leg_length, t_dip, t_fol,
                                              float(rng.choice([-1.0, 1.0]))))
    traj.overlays.append(sway_overlay(rng, [(-np.inf, t_on), (t_still, np.inf)]))
    scene = Scene(body, traj)
    for s, a in zip(SIDES, anchors):
        scene.plant(s, 0.0, np.inf, a)

    t, arr = sample_scene(scene, t_end, fps)
    joints = arr["joints"]
    hip_y = 0.5 * (joints[:, J.LEFT_HIP, 1] + joints[:, J.RIGHT_HIP, 1])
    el = elbow_angle(joints, "r")
    k_start = frame_before(t_on, fps)
    k_setw = frame_after(t_set, fps)
    k_dip = k_start + 1 + int(np.argmin(hip_y[k_start + 1:k_setw + 1]))
    k_relw = min(frame_after(t_rel + 0.1, fps), len(el) - 1)
    k_ext = frame_before(t_ext0, fps)
    full = float(el[k_ext:k_relw + 1].max())
    k_rel = k_ext + int(np.nonzero(el[k_ext:k_relw + 1] >= full - 3.0)[0][0])
    # set point: going back from the release, where the elbow stopped flexing (start of extension)
    k_set = k_rel
    while k_set > k_dip + 1 and el[k_set - 1] <= el[k_set] + 0.05:
        k_set -= 1
    rel_h = joints[:, J.RIGHT_WRIST, 1] - joints[:, J.RIGHT_SHOULDER, 1]
    dropped = np.nonzero(rel_h[k_rel + 1:] < rel_h[k_rel] - 0.04)[0]
    k_fol = k_rel + int(dropped[0]) if dropped.size else len(el) - 1
    k_fol = max(k_fol, k_rel + 1)
    keyframes = {"set_stance": k_start, "dip": k_dip, "set_point": k_set, "release": k_rel, "follow_through": k_fol}
    events = {"onset": t_on, "dip": t_dip, "set_point": t_set, "release": t_rel, "legs_extended": t_legs,
              "follow_through_end": t_fol, "still": t_still}
    info = {"stance_width": width, "stagger": stagger, "ball_radius": BALL_R}
    return Motion.from_arrays(arr, fps, keyframes, events, info)
