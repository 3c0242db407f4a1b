"""Sit-up (spec: edge/actions/specs/sit_up.yaml): one repetition of the 1-minute test.

The student lies on the back with the head towards -x, the pelvis on the mat (hip joint centres
``LYING_HIP_HEIGHT`` x H above the floor, about 0.1 m), knees bent and the feet flat on the floor
in front (+x), planted, fingers interlocked behind the head. The repetition: the head and
shoulders curl first (set-up), the trunk rotates about the hip joints up past vertical until the
elbows are over the knees (curl-up), a short turn at the top, the controlled lowering until the
shoulder blades are back on the mat, then the head and arms settle and the student lies still.

How the body is driven. The pelvis is fixed by the root channels (``Scene.root_from_channels``):
the hips never slide. The feet are planted where the leg channels put them, so the knee angle of
the set position (technique ``knee_angle``) is exact and the planted ankles never move. Every
other scalar control (trunk inclination, head flexion relative to the trunk, elbow spread, how
far the hands leave the head, hip lift, trunk twist, leg lift) follows a piecewise minimum-jerk
schedule through the repetition's knot times. The arms are not interpolated: at every instant
the wrists are placed behind the ears (or, with the ``hands_off`` fault, reaching towards the
knees) and each elbow is found by two-link inverse kinematics with the elbow pointing forward and
``spread`` degrees outwards; the limb directions are written back into the arm channels. Bone
lengths are therefore exact.

Keyframes come from the rendered motion: ``start`` the last still frame before the head moves,
``lift_off`` the first frame with the shoulders 1 cm above their resting height, ``top`` and
``descent_start`` the first and last frame with the trunk within 1 deg of its most forward
inclination, ``back_down`` the first frame after the top at which the trunk has stopped going
down (the shoulders are back on the mat, or at the turning point of a short repetition).
"""

from __future__ import annotations

import numpy as np

from edge.sim.anthropometry import Body
from edge.sim.idle import sway_overlay
from edge.sim.poses import limb_channels
from edge.sim.kinematics import CH, ROOT_CHANNELS, SIDE_SIGN, SIDES, FootAnchor, Pose, solve, two_link_ik
from edge.sim.motion import Motion, frame_before, sample_scene
from edge.sim.scene import Scene
from edge.sim.technique import TechniqueParam as P
from edge.sim.trajectory import Trajectory, minimum_jerk
from edge.skeleton.joints import Joint

ACTION_ID = "sit_up"

TECHNIQUE: dict[str, P] = {
    "knee_angle": P(90, 5, 45, 170, 90, 12, 8, "deg", "knee angle in the set position"),
    "top_trunk_lean": P(25, 5, -60, 60, 25, 12, 14, "deg", "trunk inclination past upright at the top", "below"),
    "elbow_spread": P(15, 5, 0, 90, 10, 20, 6, "deg", "elbows turned out from straight forward at the top", "above"),
    "neck_flexion": P(22, 5, 0, 80, 20, 15, 6, "deg", "head flexion relative to the trunk at the top", "above"),
    "hands_off": P(0.02, 0.02, 0.0, 1.0, 0.0, 0.25, 8, "x",
                   "how far the hands leave the head at the top (0 on the head, 1 arms reaching to the knees)", "above"),
    "hip_rise": P(0.004, 0.003, 0.0, 0.2, 0.0, 0.03, 8, "m", "lift of the hips off the mat at the top", "above"),
    "feet_rise": P(0.004, 0.003, 0.0, 0.25, 0.0, 0.03, 6, "m", "lift of the feet off the floor at the top", "above"),
    "curl_time": P(0.75, 0.1, 0.2, 2.5, 0.7, 0.25, 10, "s", "time to curl up from the mat to the top"),
    "top_pause": P(0.06, 0.03, 0.0, 1.5, 0.0, 0.25, 6, "s", "pause at the top", "above"),
    "lower_time": P(0.68, 0.1, 0.33, 2.5, 0.7, 0.25, 10, "s", "time to lower from the top to the mat"),
    "lower_depth": P(1.0, 1.0, 0.0, 60, 0.0, 8, 12, "deg", "trunk angle above the floor when back down", "above"),
    "twist": P(1.5, 1.2, 0.0, 40, 0.0, 7, 6, "deg", "shoulder-line twist at the top", "above"),
    "tempo": P(1.0, 0.08, 0.75, 1.35, 1.0, 0.3, 0, "x", "duration scale of the set-up and settling (not scored)"),
}

FAULTS: dict[str, dict[str, float]] = {
    "incomplete_sit_up": {"top_trunk_lean": -58.0},
    "elbows_flared": {"elbow_spread": 70.0},
    "incomplete_lowering": {"lower_depth": 32.0},
    "pulling_on_neck": {"neck_flexion": 42.0},
    "hands_off_head": {"hands_off": 0.9, "curl_time": -0.2},
    "hips_lift_off": {"hip_rise": 0.09},
    "feet_lift_off": {"feet_rise": 0.12},
    "knees_too_straight": {"knee_angle": 40.0},
    "knees_too_tight": {"knee_angle": -35.0},
    "jerking_up": {"curl_time": -0.45},
    "struggling_up": {"curl_time": 0.95},
    "flopping_back": {"lower_time": -0.45},
    "resting_at_top": {"top_pause": 0.9},
    "twisting_trunk": {"twist": 24.0},
}

EXCLUSIVE_FAULTS = (
    frozenset({"knees_too_straight", "knees_too_tight"}),
    frozenset({"jerking_up", "struggling_up"}),
)

#: Hip joint centres above the mat when lying on the back, fraction of standing height (about half
#: the pelvis depth: 0.09-0.10 m for a 1.65 m student).
LYING_HIP_HEIGHT = 0.058
#: Trunk inclination lying flat (deg from up; -90 = shoulders level with the hips, behind them).
LYING_TRUNK = -90.0
#: Head flexion relative to the trunk lying on the hands (deg), and after the set-up curl.
NECK_LYING, NECK_CURL = 6.0, 35.0
#: Wrist position relative to the ear on its side, fractions of H: behind the ear (towards the back
#: of the head) and towards the top of the head: fingers interlocked behind the head.
WRIST_BEHIND_EAR, WRIST_ABOVE_EAR = 0.02, 0.01
#: Sway while lying still (deg): breathing and small head and trunk movements only.
LYING_SWAY = {"trunk_sag": 0.25, "head_sag": 1.0, "head_yaw": 2.0}


# ------------------------------------------------------------------------------------------
# Scalar schedules


def knots_curve(knots: list[tuple[float, float]]):
    """fn(t) -> (n,): through the (time, value) knots, minimum-jerk between consecutive knots
    (at rest at every knot), constant before the first and after the last."""
    ts = np.array([k[0] for k in knots], dtype=np.float64)
    vs = np.array([k[1] for k in knots], dtype=np.float64)
    if np.any(np.diff(ts) < 0):
        raise ValueError("schedule knots must be in time order")

    def fn(t: np.ndarray) -> np.ndarray:
        t = np.asarray(t, dtype=np.float64)
        i = np.clip(np.searchsorted(ts, t, side="right") - 1, 0, len(ts) - 2)
        dt = np.maximum(ts[i + 1] - ts[i], 1e-12)
        s = minimum_jerk((t - ts[i]) / dt)
        out = vs[i] + s * (vs[i + 1] - vs[i])
        out = np.where(t <= ts[0], vs[0], out)
        return np.where(t >= ts[-1], vs[-1], out)

    return fn


# ------------------------------------------------------------------------------------------
# Geometry


def lying_leg(body: Body, knee: float, hip_y: float, lat: float = 0.0) -> tuple[float, float]:
    """(thigh_sag, shank_sag) in degrees of a leg whose hip joint is at ``hip_y`` and whose ankle
    is at ankle height (sole flat on the floor) with the given knee interior angle; ``lat`` (deg)
    is the outward angle of thigh and shank."""
    lt, ls = body.thigh, body.shank
    drop = (hip_y - body.ankle_height) / np.cos(np.radians(lat))
    flex = 180.0 - knee
    lo, hi = 90.0, 180.0  # thigh from horizontal-forward to straight up
    for _ in range(60):
        th = 0.5 * (lo + hi)
        sh = th - flex
        # vertical drop from hip to ankle (positive down) for this thigh inclination
        d = lt * np.cos(np.radians(th)) + ls * np.cos(np.radians(sh))
        if d > drop:
            lo = th
        else:
            hi = th
    th = 0.5 * (lo + hi)
    return th, th - flex


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-12)


def place_arms(body: Body, q: np.ndarray, spread: np.ndarray, reach: np.ndarray, knees: np.ndarray) -> np.ndarray:
    """Poses q (n, C) with the arm channels set: wrists behind the ears (reach 0) or reaching
    towards ``knees`` (n, 3) (reach 1), elbows by two-link IK pointing forward from the trunk and
    ``spread`` (n,) degrees outwards."""
    q = q.copy()
    fr = solve(body, q, root_mode=np.full(q.shape[0], ROOT_CHANNELS))
    j = fr.joints
    mid_sh = 0.5 * (j[:, Joint.LEFT_SHOULDER] + j[:, Joint.RIGHT_SHOULDER])
    mid_hip = 0.5 * (j[:, Joint.LEFT_HIP] + j[:, Joint.RIGHT_HIP])
    mid_ear = 0.5 * (j[:, Joint.LEFT_EAR] + j[:, Joint.RIGHT_EAR])
    t_up = _unit(mid_sh - mid_hip)
    lat_axis = _unit(j[:, Joint.RIGHT_SHOULDER] - j[:, Joint.LEFT_SHOULDER])
    t_fwd = _unit(np.cross(t_up, lat_axis))  # front of the chest
    h_up = _unit(mid_ear - mid_sh)
    h_fwd = _unit(np.cross(h_up, lat_axis))  # front of the face
    sp = np.radians(spread)[:, None]
    w = np.clip(reach, 0.0, 1.0)[:, None]
    reach_len = 0.92 * (body.upper_arm + body.forearm)
    for s, (sh_i, ear_i) in (("l", (Joint.LEFT_SHOULDER, Joint.LEFT_EAR)), ("r", (Joint.RIGHT_SHOULDER, Joint.RIGHT_EAR))):
        sg = SIDE_SIGN[s]
        sh = j[:, sh_i]
        w_head = j[:, ear_i] - WRIST_BEHIND_EAR * body.height * h_fwd + WRIST_ABOVE_EAR * body.height * h_up
        w_reach = sh + reach_len * _unit(knees + sg * 0.5 * body.shoulder_width * lat_axis - sh)
        wrist = (1.0 - w) * w_head + w * w_reach
        pole = np.cos(sp) * t_fwd + np.sin(sp) * sg * lat_axis
        pole = (1.0 - w) * pole + w * _unit(pole - t_up)
        elbow = two_link_ik(sh, wrist, body.upper_arm, body.forearm, pole)
        u_sag, u_lat = limb_channels(_unit(elbow - sh), sg)
        f_sag, f_lat = limb_channels(_unit(wrist - elbow), sg)
        f_sag = u_sag + (f_sag - u_sag) % 360.0  # same direction, never read as hyperextension
        q[:, CH[f"uarm_sag_{s}"]], q[:, CH[f"uarm_lat_{s}"]] = u_sag, u_lat
        q[:, CH[f"farm_sag_{s}"]], q[:, CH[f"farm_lat_{s}"]] = f_sag, f_lat
    return q


# ------------------------------------------------------------------------------------------


def _trunk_inclination(joints: np.ndarray) -> np.ndarray:
    """(T,) signed inclination (deg) of mid-hip -> mid-shoulder from up, + towards +x."""
    d = 0.5 * (joints[:, Joint.LEFT_SHOULDER] + joints[:, Joint.RIGHT_SHOULDER]) - 0.5 * (
        joints[:, Joint.LEFT_HIP] + joints[:, Joint.RIGHT_HIP]
    )
    return np.degrees(np.arctan2(d[:, 0], d[:, 1]))


def generate(body: Body, technique: dict, rng: np.random.Generator, *, fps: float = 30.0,
             idle: tuple[float, float] = (1.0, 1.0)) -> Motion:
    """A clean sit-up repetition for ``body`` with the given technique values."""
    x = dict(technique)
    tempo = x["tempo"]
    hip_y = LYING_HIP_HEIGHT * body.height
    toe_out = float(rng.uniform(2.0, 10.0))
    leg_lat = float(rng.uniform(0.0, 4.0))
    thigh, shank = lying_leg(body, x["knee_angle"], hip_y, leg_lat)
    p0 = Pose().set(
        trunk_sag=LYING_TRUNK, head_sag=LYING_TRUNK + NECK_LYING, thigh_sag=thigh, shank_sag=shank,
        thigh_lat=leg_lat, shank_lat=leg_lat, foot_yaw=toe_out, root_y=hip_y,
    )

    # Knot times of the repetition.
    t0 = float(idle[0])
    t1 = t0 + float(rng.uniform(0.18, 0.3)) * tempo  # head and shoulders curl: lift-off
    t2 = t1 + x["curl_time"]  # top
    t3 = t2 + x["top_pause"]  # descent starts
    t4 = t3 + x["lower_time"]  # back down (or the turning point of a short repetition)
    short = x["lower_depth"] > 6.0
    t5 = t4 + (float(rng.uniform(0.25, 0.45)) if short else 0.0)
    t6 = t5 + (float(rng.uniform(0.6, 0.9)) * tempo if short else 0.0)  # lie back down
    t_end = t6 + float(rng.uniform(0.3, 0.45)) * tempo  # head and arms settle
    t_lift = t1 + 0.3 * (t2 - t1)

    twist_sign = float(rng.choice([-1.0, 1.0]))
    spread_rest = float(rng.uniform(75.0, 90.0))  # elbows out to the sides, near the mat
    trunk_back = LYING_TRUNK + x["lower_depth"]
    trunk = knots_curve([(t1, LYING_TRUNK), (t2, x["top_trunk_lean"]), (t3, x["top_trunk_lean"]),
                         (t4, trunk_back), (t5, trunk_back), (t6, LYING_TRUNK)])
    neck = knots_curve([(t0, NECK_LYING), (t1, NECK_CURL), (t2, x["neck_flexion"]), (t3, x["neck_flexion"]),
                        (t4, NECK_CURL), (t6, NECK_CURL), (t_end, NECK_LYING)])
    spread = knots_curve([(t0, spread_rest), (t1, 40.0), (t2, x["elbow_spread"]), (t3, x["elbow_spread"]),
                          (t4, 40.0), (t6, 40.0), (t_end, spread_rest)])
    reach = knots_curve([(t1, 0.0), (t2, x["hands_off"]), (t3, x["hands_off"]), (t4, 0.0)])
    hip = knots_curve([(t1, 0.0), (t2, x["hip_rise"]), (t3, x["hip_rise"]), (t4, 0.0)])
    twist = knots_curve([(t1, 0.0), (t2, twist_sign * x["twist"]), (t3, twist_sign * x["twist"]), (t4, 0.0)])

    # Leg lift (feet off the floor): the whole leg turns up about the hip by the angle that
    # raises the ankle by ``feet_rise`` at the top; the feet are not planted meanwhile.
    probe = solve(body, p0.v[None], root_mode=np.array([ROOT_CHANNELS]))
    ankle_l = probe.joints[0, Joint.LEFT_ANKLE]
    hip_l = probe.joints[0, Joint.LEFT_HIP]
    reach_leg = float(np.hypot(*(ankle_l - hip_l)[:2]))
    elev0 = float(np.arctan2(ankle_l[1] - hip_l[1], ankle_l[0] - hip_l[0]))
    lift_deg = float(np.degrees(np.arcsin(np.clip(np.sin(elev0) + x["feet_rise"] / reach_leg, -1, 1)) - elev0))
    feet_lift = x["feet_rise"] > 0.01
    leg_up = knots_curve([(t_lift, 0.0), (t2, lift_deg), (t3, lift_deg), (t4, 0.0)]) if feet_lift else None

    i_legs = [CH[f"{c}_{s}"] for s in SIDES for c in ("thigh_sag", "shank_sag")]
    i_pitch = [CH["foot_pitch_l"], CH["foot_pitch_r"]]

    def body_poses(t: np.ndarray) -> np.ndarray:
        n = t.shape[0]
        q = np.repeat(p0.v[None], n, axis=0)
        tr = trunk(t)
        q[:, CH["trunk_sag"]] = tr
        q[:, CH["head_sag"]] = tr + neck(t)
        q[:, CH["trunk_twist"]] = twist(t)
        q[:, CH["root_y"]] = hip_y + hip(t)
        if leg_up is not None:
            lu = leg_up(t)
            q[:, i_legs] += lu[:, None]
            q[:, i_pitch] = -lu[:, None]
        return q

    def poses(t: np.ndarray) -> np.ndarray:
        t = np.atleast_1d(np.asarray(t, dtype=np.float64))
        q = body_poses(t)
        fr = solve(body, q, root_mode=np.full(t.shape[0], ROOT_CHANNELS))
        knees = 0.5 * (fr.joints[:, Joint.LEFT_KNEE] + fr.joints[:, Joint.RIGHT_KNEE])
        return place_arms(body, q, spread(t), reach(t), knees)

    traj = Trajectory(Pose(poses(np.array([0.0]))[0]), 0.0)
    traj.follow(poses, t_end + float(idle[1]))
    traj.overlays.append(sway_overlay(rng, [(-np.inf, t0), (t_end, np.inf)], amplitudes=LYING_SWAY))

    scene = Scene(body, traj)
    scene.root_from_channels(-np.inf, np.inf)
    for k, s in enumerate(SIDES):
        ank = probe.joints[0, Joint.LEFT_ANKLE if s == "l" else Joint.RIGHT_ANKLE]
        anchor = FootAnchor(ankle=tuple(float(a) for a in ank), yaw=float(-SIDE_SIGN[s] * toe_out))
        if feet_lift:
            scene.plant(s, -np.inf, t_lift, anchor)
            scene.plant(s, t4, np.inf, anchor)
        else:
            scene.plant(s, -np.inf, np.inf, anchor)

    t, arr = sample_scene(scene, traj.end_time, fps)
    joints = arr["joints"]
    sh_y = 0.5 * (joints[:, Joint.LEFT_SHOULDER, 1] + joints[:, Joint.RIGHT_SHOULDER, 1])
    incl = _trunk_inclination(joints)
    k_start = frame_before(t0, fps)
    k_end = frame_before(t6 if short else t4, fps) + 2
    rest = sh_y[k_start]
    risen = np.nonzero(sh_y[k_start:] > rest + 0.01)[0]
    k_lift = k_start + int(risen[0])
    k_top_win = slice(k_lift, min(k_end, len(incl)))
    top_val = float(incl[k_top_win].max())
    near = k_lift + np.nonzero(incl[k_top_win] >= top_val - 1.0)[0]
    k_top, k_desc = int(near[0]), int(near[-1])
    # back down: the trunk has stopped going down (less than 0.3 deg in the next frame)
    k_back = k_desc + 1
    while k_back < len(incl) - 1 and (incl[k_back] - incl[k_back + 1] >= 0.3 or incl[k_back] > top_val - 5.0):
        k_back += 1
    keyframes = {"start": k_start, "lift_off": k_lift, "top": k_top, "descent_start": k_desc, "back_down": k_back}
    events = {"onset": t0, "lift_off": t1, "top": t2, "descent_start": t3, "back_down": t4, "still": t_end}
    info = {
        "lying_hip_height": hip_y,
        "leg_lift_deg": lift_deg if feet_lift else 0.0,
        "short_repetition": bool(short),
        "twist_sign": twist_sign,
    }
    return Motion.from_arrays(arr, fps, keyframes, events, info)
