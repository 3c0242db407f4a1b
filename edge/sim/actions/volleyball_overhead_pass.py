"""Volleyball overhead pass, the set (spec: edge/actions/specs/volleyball_overhead_pass.yaml).

The attempt: idle in a medium ready stance (feet a little wider than the hips, right foot slightly
ahead, knees at ``ready_knee``, trunk leaning forward, hands in front of the chest); the hands rise
to the window above the forehead (``hands_up``) while the knees keep bending; the ball arrives
``hands_up_lead`` seconds later and is received in the window: the hands give a few centimetres,
elbows and knees flex to the contact pose (wrists at ``window_angle`` from the eyes, forward of
vertical, ``window_dist`` trunk lengths away; elbows turned out by ``elbow_out``; knees at
``contact_knee``; trunk at ``contact_trunk``); knees and elbows then extend together
(``extension_time``) to full extension (elbows at ``ext_elbow``, one arm ``ext_asym`` less, the
shoulder-to-wrist line ``ext_dir`` degrees forward of vertical, knees at ``ext_knee``, heels up a
little); a short hold; the recovery to a balanced stance with the hands lowered
(``recovery_time``, with a decaying wobble when it is long); idle.

Legs and arms are timed apart: the legs reach full extension ``leg_lead`` seconds before the arms
(legs finishing first is the "legs and arms not together" fault). Feet are planted throughout (the
heels rise about the balls of the feet). Sideways hip sway of ``lateral_sway`` metres comes from
both legs tilting together.

Keyframes from the rendered motion: ``ready`` the still frame before the hands move, ``hands_up``
the first frame with the wrists within 1 cm of their highest point before contact, ``contact`` the
lowest wrist frame between hands-up and the extension, ``full_extension`` the first frame after
contact with the wrists within 1 cm of their highest point, ``recovery`` the first frame,
once the wrists have come down 10 cm from full extension, from which hips and wrists stay slower
than 0.1 m/s for 0.2 s, and at the latest the frame at which the recovery movement ends. The idle
sway that fades in after the recovery is not part of the attempt: its 0.4 s fade-in can move the
lowered hands at up to about 0.15 m/s (faster than the sway itself), which would otherwise carry
the recovery up to 10 frames past the stop.
"""

from __future__ import annotations

import numpy as np

from edge.sim.poses import (
    arm_to,
    com_x,
    lateral_sway_overlay,
    render_pose,
    solve_arm_angle,
    staggered_stance,
    tilt_legs,
    two_timings,
)
from edge.sim.anthropometry import Body
from edge.sim.idle import sway_overlay
from edge.sim.kinematics import CH, N_CHANNELS, SIDES, Pose, set_leg, standing_pose
from edge.sim.motion import Motion, first_still, frame_after, frame_before, sample_scene
from edge.sim.scene import Scene
from edge.sim.technique import TechniqueParam as P
from edge.sim.trajectory import Trajectory, minimum_jerk
from edge.skeleton.joints import Joint

ACTION_ID = "volleyball_overhead_pass"

TECHNIQUE: dict[str, P] = {
    "ready_knee": P(140, 6, 90, 178, 138, 14, 6, "deg", "knee angle in the ready stance"),
    "hands_up_lead": P(0.55, 0.1, 0.03, 1.5, 0.6, 0.2, 6, "s", "hands in the window this long before contact", "below"),
    "window_angle": P(50, 7, -40, 150, 50, 15, 9, "deg", "direction from the eyes to the wrists at contact (+ forward of up)"),
    "window_dist": P(0.32, 0.04, 0.1, 1.0, 0.32, 0.1, 6, "x", "eyes-to-wrists distance at contact (trunk lengths)"),
    "elbow_out": P(28, 5, 0, 100, 28, 15, 6, "deg", "elbows turned out from straight down at contact"),
    "contact_knee": P(128, 7, 80, 178, 125, 14, 7, "deg", "knee angle at contact"),
    "contact_trunk": P(4, 3, -40, 40, 3, 8, 5, "deg", "trunk lean at contact (+ forward)"),
    "ext_elbow": P(168, 4, 110, 179, 172, 10, 8, "deg", "elbow extension at full extension", "below"),
    "ext_asym": P(2, 1.5, 0, 45, 0, 8, 5, "deg", "one elbow less extended than the other", "above"),
    "ext_knee": P(170, 4, 120, 179, 173, 10, 7, "deg", "knee extension at full extension", "below"),
    "ext_dir": P(15, 5, -30, 80, 15, 12, 9, "deg", "shoulder-to-wrist line from vertical at full extension (+ forward)"),
    "leg_lead": P(0.0, 0.025, -0.1, 0.6, 0.0, 0.1, 7, "s", "legs fully extended this long before the arms"),
    "extension_time": P(0.25, 0.04, 0.08, 1.2, 0.24, 0.1, 7, "s", "time from contact to full extension"),
    "recovery_time": P(0.6, 0.1, 0.25, 3.0, 0.6, 0.35, 6, "s", "time from full extension to a still, balanced stance", "above"),
    "lateral_sway": P(0.012, 0.006, 0.0, 0.25, 0.0, 0.03, 6, "m", "sideways hip sway during the pass", "above"),
    "tempo": P(1.0, 0.08, 0.75, 1.35, 1.0, 0.3, 0, "x", "duration scale of the hand raise (not scored)"),
}

FAULTS: dict[str, dict[str, float]] = {
    "standing_tall": {"ready_knee": 36.0},
    "late_hands": {"hands_up_lead": -0.6},
    "ball_taken_low": {"window_angle": 72.0},
    "ball_behind_head": {"window_angle": -62.0, "contact_trunk": -8.0},
    "straight_arms_at_contact": {"window_dist": 0.38},
    "elbows_pinched": {"elbow_out": -24.0},
    "elbows_too_wide": {"elbow_out": 62.0},
    "no_knee_bend": {"contact_knee": 50.0, "ready_knee": 20.0},
    "incomplete_arm_extension": {"ext_elbow": -36.0},
    "no_leg_drive": {"ext_knee": -36.0},
    "legs_arms_disconnected": {"leg_lead": 0.35, "extension_time": 0.12},
    "carrying_the_ball": {"extension_time": 0.42},
    "flat_set": {"ext_dir": 40.0},
    "uneven_hands": {"ext_asym": 26.0},
    "leaning_back": {"contact_trunk": -24.0},
    "drifting_sideways": {"lateral_sway": 0.085},
    "unsteady_finish": {"recovery_time": 1.1, "lateral_sway": 0.02},
}

EXCLUSIVE_FAULTS = (
    frozenset({"ball_taken_low", "ball_behind_head"}),
    frozenset({"elbows_pinched", "elbows_too_wide"}),
)

#: Half the lateral spacing of the wrists on the ball (m): a size-5 ball is about 0.21 m across.
WRIST_HALF_SPACING = 0.085
#: How far the hands give (move down) as the ball is received (m).
HANDS_GIVE = 0.05
#: Extra half spacing of the wrists per degree of elbow turn-out beyond 60 deg (m/deg).
WIDE_SPREAD = 0.002


def _legs(pose: Pose, knee: float, pitch: float = 0.0) -> Pose:
    return set_leg(pose, "both", knee, -0.5 * (180.0 - knee)).set(foot_pitch=pitch, toe=pitch)


def midpoint(j: np.ndarray, a: int, b: int) -> np.ndarray:
    return 0.5 * (j[a] + j[b])


def _window(body: Body, sc: Scene, pose: Pose, angle: float, dist: float, elbow_out: float) -> Pose:
    """Both wrists in the window: their midpoint at ``angle`` deg (forward of up) from the eyes,
    ``dist`` trunk lengths away; elbows bending down and ``elbow_out`` deg out."""
    J = Joint
    j = render_pose(sc, pose)
    eye = midpoint(j, J.LEFT_EYE, J.RIGHT_EYE)
    a = np.radians(angle)
    centre = eye + dist * body.trunk * np.array([np.sin(a), np.cos(a), 0.0])
    e = np.radians(elbow_out)
    half = WRIST_HALF_SPACING + WIDE_SPREAD * max(elbow_out - 60.0, 0.0)  # splayed elbows flatten the hands
    p = pose
    for s, sg in (("l", -1.0), ("r", 1.0)):
        pole = (0.15, -np.cos(e), sg * np.sin(e))
        p = arm_to(body, sc, p, s, centre + np.array([0.0, 0.0, sg * half]), pole)
    return p


def _wobble_overlay(amplitude_deg: float, t0: float, t1: float):
    """A decaying lateral wobble of both legs (deg) between t0 and t1: an unsteady finish."""
    idx = [CH["shank_lat_l"], CH["shank_lat_r"], CH["thigh_lat_l"], CH["thigh_lat_r"]]
    sgn = np.array([-1.0, 1.0, -1.0, 1.0])

    def fn(t):
        out = np.zeros((t.shape[0], N_CHANNELS))
        u = np.clip((t - t0) / max(t1 - t0, 1e-6), 0.0, 1.0)
        env = minimum_jerk(u / 0.15) * (1.0 - minimum_jerk(u))
        w = amplitude_deg * env * np.sin(2.0 * np.pi * 1.6 * (t - t0))
        out[:, idx] = np.where((t > t0) & (t < t1), w, 0.0)[:, None] * sgn[None, :]
        return out

    return fn


def generate(body: Body, technique: dict, rng: np.random.Generator, *, fps: float = 30.0,
             idle: tuple[float, float] = (1.0, 1.0)) -> Motion:
    """A clean overhead pass (set) for ``body`` with the given technique values."""
    x = dict(technique)
    tempo = x["tempo"]
    J = Joint
    anchors, sc, width, stagger, toe_out = staggered_stance(body, rng, (0.12, 0.22), (0.05, 0.15))
    foot_mid = 0.5 * (anchors[0].ankle[0] + anchors[1].ankle[0]) + 0.3 * body.foot_offset("ball")
    head_up = float(rng.uniform(-22.0, -14.0))  # eyes on the ball above

    def balanced(p: Pose, target: float = foot_mid) -> Pose:
        return tilt_legs(sc, p, com_x, target)

    # Ready: medium stance, hands in front of the chest.
    ready_trunk = float(rng.uniform(12.0, 20.0))
    p_ready = _legs(standing_pose(body, width, toe_out), x["ready_knee"]).set(trunk_sag=ready_trunk, head_sag=-5.0)
    p_ready = balanced(p_ready)
    for _ in range(2):
        j = render_pose(sc, p_ready)
        chest = midpoint(j, J.LEFT_SHOULDER, J.RIGHT_SHOULDER) + np.array([0.30, -0.22, 0.0])
        for s, sg in (("l", -1.0), ("r", 1.0)):
            p_ready = arm_to(body, sc, p_ready, s, chest + np.array([0.0, 0.0, sg * 0.12]), (0.0, -1.0, sg * 0.5))
        p_ready = balanced(p_ready)

    # Contact: the ball in the window, knees and elbows flexed.
    p_c = _legs(p_ready, x["contact_knee"]).set(trunk_sag=x["contact_trunk"], head_sag=head_up)
    p_c = balanced(p_c)
    for _ in range(2):
        p_c = balanced(_window(body, sc, p_c, x["window_angle"], x["window_dist"], x["elbow_out"]))

    # Hands up: the wrists where they will receive the ball, HANDS_GIVE higher; knees on their way down.
    knee_hu = x["ready_knee"] + 0.6 * (x["contact_knee"] - x["ready_knee"])
    p_hu = _legs(p_c, knee_hu).set(trunk_sag=0.5 * (ready_trunk + x["contact_trunk"]))
    p_hu = balanced(p_hu)
    jc = render_pose(sc, p_c)
    e = np.radians(x["elbow_out"])
    for _ in range(2):
        for s, sg, wr in (("l", -1.0, J.LEFT_WRIST), ("r", 1.0, J.RIGHT_WRIST)):
            p_hu = arm_to(body, sc, p_hu, s, jc[wr] + np.array([0.0, HANDS_GIVE, 0.0]),
                          (0.15, -np.cos(e), sg * np.sin(e)))
        p_hu = balanced(p_hu)

    # Full extension: elbows extended, arms ext_dir forward of vertical, knees extended, heels up.
    def arm_line(side):
        sh, wr = (J.LEFT_SHOULDER, J.LEFT_WRIST) if side == "l" else (J.RIGHT_SHOULDER, J.RIGHT_WRIST)

        def m(jj):
            d = jj[wr] - jj[sh]
            return -float(np.degrees(np.arctan2(d[0], d[1])))

        return m

    weak = SIDES[int(rng.integers(2))]
    pitch = float(rng.uniform(6.0, 14.0))
    p_fe = _legs(p_c, x["ext_knee"], pitch).set(trunk_sag=max(x["contact_trunk"], -5.0) + 2.0, head_sag=head_up - 5)
    p_fe = balanced(p_fe, foot_mid + 0.3 * body.foot_offset("ball"))
    for _ in range(2):
        for s in SIDES:
            el = x["ext_elbow"] - (x["ext_asym"] if s == weak else 0.0)
            p_fe = solve_arm_angle(sc, p_fe, s, el, -4.0, arm_line(s), -x["ext_dir"], 60.0, 210.0)
        p_fe = balanced(p_fe, foot_mid + 0.3 * body.foot_offset("ball"))

    # Recovery: balanced medium stance, hands lowered in front.
    p_end = _legs(standing_pose(body, width, toe_out), max(x["ready_knee"], 150.0)).set(trunk_sag=8.0, head_sag=-5.0)
    p_end = balanced(p_end)
    for _ in range(2):
        j = render_pose(sc, p_end)
        low = midpoint(j, J.LEFT_SHOULDER, J.RIGHT_SHOULDER) + np.array([0.22, -0.40, 0.0])
        for s, sg in (("l", -1.0), ("r", 1.0)):
            p_end = arm_to(body, sc, p_end, s, low + np.array([0.0, 0.0, sg * 0.14]), (0.0, -1.0, sg * 0.5))
        p_end = balanced(p_end)

    # Timeline.
    t_on = float(idle[0])
    t_hu = t_on + float(rng.uniform(0.35, 0.5)) * tempo
    t_c = t_hu + x["hands_up_lead"]
    t_fe = t_c + x["extension_time"]
    t_hold = t_fe + float(rng.uniform(0.1, 0.18))
    t_rec = t_hold + x["recovery_time"]
    t_end = t_rec + float(idle[1]) + 0.3
    t_legs = float(np.clip(t_fe - x["leg_lead"], t_c + 0.08, t_hold))

    upper = Trajectory(p_ready).hold(t_on)
    upper.move(p_hu, t_hu - t_on).move(p_c, t_c - t_hu).move(p_fe, t_fe - t_c).hold(t_hold - t_fe)
    upper.move(p_end, t_rec - t_hold).hold(t_end - t_rec)
    legs = Trajectory(p_ready).hold(t_on)
    legs.move(p_c, t_c - t_on).move(p_fe, t_legs - t_c)  # the hips peak when the legs finish
    legs.move(p_end, t_rec - t_legs).hold(t_end - t_rec)

    traj = Trajectory(p_ready).follow(two_timings(upper, legs), t_end)
    traj.overlays.append(lateral_sway_overlay(x["lateral_sway"], body.leg_length, t_on, t_rec,
                                              float(rng.choice([-1.0, 1.0]))))
    if x["recovery_time"] > 0.9:
        traj.overlays.append(_wobble_overlay(min(2.0 + 2.0 * (x["recovery_time"] - 0.9), 5.0), t_hold, t_rec))
    traj.overlays.append(sway_overlay(rng, [(-np.inf, t_on), (t_rec, np.inf)]))
    scene = Scene(body, traj)
    for s, a in zip(SIDES, anchors):
        scene.plant(s, 0.0, np.inf, a)

    t, arr = sample_scene(scene, t_end, fps)
    joints = arr["joints"]
    wrist_y = 0.5 * (joints[:, J.LEFT_WRIST, 1] + joints[:, J.RIGHT_WRIST, 1])
    k_ready = frame_before(t_on, fps)
    k_cw = frame_after(t_c, fps)
    top = float(wrist_y[k_ready:k_cw + 1].max())
    k_hu = k_ready + int(np.nonzero(wrist_y[k_ready:k_cw + 1] >= top - 0.01)[0][0])
    k_few = min(frame_after(t_hold, fps), len(wrist_y) - 1)
    k_c = k_hu + 1 + int(np.argmin(wrist_y[k_hu + 1:k_few + 1]))
    high = float(wrist_y[k_c:k_few + 1].max())
    k_fe = k_c + max(int(np.nonzero(wrist_y[k_c:k_few + 1] >= high - 0.01)[0][0]), 1)
    mover = np.concatenate([midpoint(joints.transpose(1, 0, 2), J.LEFT_HIP, J.RIGHT_HIP),
                            midpoint(joints.transpose(1, 0, 2), J.LEFT_WRIST, J.RIGHT_WRIST)], axis=1)
    # recovery: once the hands are on their way down (10 cm below full extension), still again
    k_down = k_fe + int(np.nonzero(wrist_y[k_fe:] < wrist_y[k_fe] - 0.10)[0][0])
    k_rec = max(first_still(mover[:, :3], fps, k_down), first_still(mover[:, 3:], fps, k_down))
    k_rec = max(min(k_rec, frame_after(t_rec, fps), len(wrist_y) - 1), k_down)  # idle sway is not the attempt
    keyframes = {"ready": k_ready, "hands_up": k_hu, "contact": k_c, "full_extension": k_fe, "recovery": k_rec}
    events = {"onset": t_on, "hands_up": t_hu, "contact": t_c, "full_extension": t_fe, "legs_extended": t_legs,
              "recovered": t_rec}
    info = {"stance_width": width, "stagger": stagger, "weaker_arm": weak}
    return Motion.from_arrays(arr, fps, keyframes, events, info)
