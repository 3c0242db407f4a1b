"""KISMAM metrics on hand-built stick figures: each definition type against values worked out by
hand from the figure's construction, yaw invariance, the forward-direction estimate, and NaN
handling (None with a reason, never an invented value).

The stick figure is built in the athlete's frame (x forward, y up, z the athlete's right) from
segment angles, then turned about the vertical axis by a yaw and shifted, as a camera would see
it. Segment angles: ``shank`` is ankle->knee from straight up (+ = knee ahead of the ankle),
``thigh`` knee->hip from straight up (+ = hip ahead of the knee), so the knee's interior angle is
180 - |thigh - shank|; ``trunk`` is hip->shoulder from straight up (+ = forward), ``lean_side``
tips it towards the right; ``arm`` is shoulder->wrist from straight down (+ = forward), arms
straight.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
import pytest

from edge.actions.spec import ACTION_IDS, SPEC_DIR, Metric, load_action
from edge.diagnose.geometry import (
    STATURE_SEGMENT_FRACTION,
    Heading,
    combine_bilateral,
    estimate_heading,
    estimate_stature,
    smoothed_velocity,
)
from edge.diagnose.metrics import MetricContext, check_keyframes, compute_metrics, measure
from edge.skeleton.joints import JOINT_NAMES, LR_PAIRS
from edge.skeleton.sequence import SkeletonSequence

FPS = 30.0
L_SHANK, L_THIGH, L_TRUNK, L_UPPER, L_FORE, L_NECK = 0.42, 0.42, 0.49, 0.30, 0.25, 0.17
HIP_HALF, SHOULDER_HALF, EAR_HALF, EYE_HALF, NOSE_FWD = 0.09, 0.18, 0.07, 0.03, 0.10
J = {n: i for i, n in enumerate(JOINT_NAMES)}
KNEE = ["{side}_hip", "{side}_knee", "{side}_ankle"]


@dataclass(frozen=True)
class Pose:
    pelvis: tuple[float, float, float] = (0.0, L_SHANK + L_THIGH + 0.07, 0.0)  # forward, up, right
    shank: float = 0.0
    thigh: float = 0.0
    shank_r: float | None = None  # right leg, when it differs from the left
    thigh_r: float | None = None
    trunk: float = 0.0
    lean_side: float = 0.0
    arm: float = 0.0


def _d(deg: float) -> tuple[float, float]:
    r = math.radians(deg)
    return math.sin(r), math.cos(r)


def pose_joints(p: Pose) -> np.ndarray:
    """(17, 3) joints of a pose in the athlete's frame."""
    out = np.zeros((17, 3))
    px, py, pz = p.pelvis
    for side, sgn, shank, thigh in (
        ("left", -1.0, p.shank, p.thigh),
        ("right", 1.0, p.shank if p.shank_r is None else p.shank_r, p.thigh if p.thigh_r is None else p.thigh_r),
    ):
        hip = np.array([px, py, pz + sgn * HIP_HALF])
        st, ct = _d(thigh)
        knee = hip - L_THIGH * np.array([st, ct, 0.0])
        ss, cs = _d(shank)
        ankle = knee - L_SHANK * np.array([ss, cs, 0.0])
        out[J[f"{side}_hip"]], out[J[f"{side}_knee"]], out[J[f"{side}_ankle"]] = hip, knee, ankle
    sr, cr = _d(p.trunk)
    sl, cl = _d(p.lean_side)
    up_dir = np.array([sr * cl, cr * cl, sl])  # sagittal angle = trunk exactly
    mid_sh = np.array(p.pelvis) + L_TRUNK * up_dir
    face = np.array([cr, -sr, 0.0])  # perpendicular to the trunk, forward
    sa, ca = _d(p.arm)
    arm_dir = np.array([sa, -ca, 0.0])
    for side, sgn in (("left", -1.0), ("right", 1.0)):
        sh = mid_sh + np.array([0.0, 0.0, sgn * SHOULDER_HALF])
        out[J[f"{side}_shoulder"]] = sh
        out[J[f"{side}_elbow"]] = sh + L_UPPER * arm_dir
        out[J[f"{side}_wrist"]] = sh + (L_UPPER + L_FORE) * arm_dir
    mid_ear = mid_sh + L_NECK * up_dir
    out[J["left_ear"]] = mid_ear + [0, 0, -EAR_HALF]
    out[J["right_ear"]] = mid_ear + [0, 0, EAR_HALF]
    out[J["left_eye"]] = mid_ear + 0.08 * face + 0.03 * up_dir + [0, 0, -EYE_HALF]
    out[J["right_eye"]] = mid_ear + 0.08 * face + 0.03 * up_dir + [0, 0, EYE_HALF]
    out[J["nose"]] = mid_ear + NOSE_FWD * face
    return out


def yaw_matrix(deg: float) -> np.ndarray:
    """Rotation about +y (right-handed): the athlete's +x goes to (cos, 0, -sin)."""
    c, s = math.cos(math.radians(deg)), math.sin(math.radians(deg))
    return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])


def true_heading(yaw: float) -> Heading:
    return Heading(yaw_matrix(yaw) @ np.array([1.0, 0.0, 0.0]), "body", "nose", True)


def build(poses, yaw: float = 0.0, offset=(0.0, 0.0, 0.0), t=None) -> SkeletonSequence:
    """A sequence from a list of poses (or (T, 17, 3) athlete-frame joints), turned and shifted."""
    body = np.stack([pose_joints(p) for p in poses]) if not isinstance(poses, np.ndarray) else poses
    world = body @ yaw_matrix(yaw).T + np.asarray(offset)
    seq = SkeletonSequence.from_positions(world, FPS)
    if t is not None:
        seq = replace(seq, t=np.asarray(t, dtype=np.float64))
    return seq


def smooth(u: float) -> float:
    u = min(max(u, 0.0), 1.0)
    return u * u * (3.0 - 2.0 * u)


def _right(p: Pose, name: str) -> float:
    v = getattr(p, f"{name}_r")
    return getattr(p, name) if v is None else v


def interpolate(keyposes: list[tuple[int, Pose]], n: int) -> list[Pose]:
    """Poses for frames 0..n-1, eased between (frame, pose) keys, held outside them."""
    out = []
    for f in range(n):
        i = max([k for k, (fr, _) in enumerate(keyposes) if fr <= f], default=0)
        (f0, p0), (f1, p1) = keyposes[i], keyposes[min(i + 1, len(keyposes) - 1)]
        u = smooth((f - f0) / (f1 - f0)) if f1 > f0 else 0.0
        names = ("shank", "thigh", "trunk", "lean_side", "arm")
        vals = {k: getattr(p0, k) + u * (getattr(p1, k) - getattr(p0, k)) for k in names}
        for k in ("shank", "thigh"):
            vals[f"{k}_r"] = _right(p0, k) + u * (_right(p1, k) - _right(p0, k))
        pel = tuple(a + u * (b - a) for a, b in zip(p0.pelvis, p1.pelvis))
        out.append(Pose(pelvis=pel, **vals))
    return out


def test_metric(defn: dict, unit: str = "deg") -> Metric:
    return Metric(
        id="m", title="Test metric", unit=unit, definition=defn, range=(0.0, 1.0), dimension="trunk", source="test"
    )


test_metric.__test__ = False  # a helper, not a test


def measure_on(seq, defn, keyframes, yaw=0.0, unit="deg", heading=None, first="a"):
    ctx = MetricContext(seq, keyframes, heading or true_heading(yaw), first)
    return measure(test_metric(defn, unit), ctx)


YAWS = [0.0, 25.0, -30.0]
OFFSET = (1.7, 0.0, -2.3)


# joint_angle ---------------------------------------------------------------------------------
@pytest.mark.parametrize("yaw", YAWS)
def test_joint_angle_by_hand_with_every_bilateral_rule(yaw):
    p = Pose(shank=30, thigh=-50, shank_r=20, thigh_r=-40, trunk=55)
    seq = build([Pose(), p, Pose()], yaw, OFFSET)
    kf = {"a": 0, "b": 1}
    left, right = 180 - 80, 180 - 60  # 180 - |thigh - shank|
    expect = {"mean": (left + right) / 2, "left": left, "right": right, "min": left, "max": right, "abs_diff": 20.0}
    for how, val in expect.items():
        d = {"type": "joint_angle", "joints": KNEE, "keyframe": "b", "bilateral": how}
        r = measure_on(seq, d, kf, yaw)
        assert r.value == pytest.approx(val, abs=1e-3), how
    # hip angle on the midline (mean thigh -45): 180 - |trunk - thigh|
    d = {"type": "joint_angle", "joints": ["mid_shoulder", "mid_hip", "mid_knee"], "keyframe": "b"}
    assert measure_on(seq, d, kf, yaw).value == pytest.approx(180 - 100, abs=1e-3)
    # left side: the shoulder sits 0.09 m further out than the hip, so the angle is a 3D one
    d = {"type": "joint_angle", "joints": ["left_shoulder", "left_hip", "left_knee"], "keyframe": "b"}
    r55 = math.radians(55)
    to_sh = np.array([L_TRUNK * math.sin(r55), L_TRUNK * math.cos(r55), -(SHOULDER_HALF - HIP_HALF)])
    to_kn = np.array([L_THIGH * math.sin(math.radians(50)), -L_THIGH * math.cos(math.radians(50)), 0.0])
    expect = math.degrees(math.acos(to_sh @ to_kn / np.linalg.norm(to_sh) / np.linalg.norm(to_kn)))
    assert measure_on(seq, d, kf, yaw).value == pytest.approx(expect, abs=1e-3)
    d = {"type": "joint_angle", "joints": ["mid_hip", "mid_knee", "mid_ankle"], "keyframe": "a"}
    assert measure_on(seq, d, kf, yaw).value == pytest.approx(180.0, abs=1e-2)


# inclination ----------------------------------------------------------------------------------
@pytest.mark.parametrize("yaw", YAWS)
def test_inclination_references_and_signs_by_hand(yaw):
    poses = [Pose(trunk=55, arm=-60), Pose(trunk=-20, arm=120), Pose(trunk=30, lean_side=20), Pose(trunk=-95)]
    seq = build(poses, yaw, OFFSET)
    kf = {"a": 0, "b": 1, "c": 2, "d": 3}

    def inc(frm, to, ref, k, signed):
        d = {"type": "inclination", "from_point": frm, "to_point": to, "reference": ref, "keyframe": k,
             "signed": signed}
        return measure_on(seq, d, kf, yaw).value

    assert inc("mid_hip", "mid_shoulder", "vertical", "a", True) == pytest.approx(55, abs=1e-3)
    assert inc("mid_hip", "mid_shoulder", "vertical", "b", True) == pytest.approx(-20, abs=1e-3)
    assert inc("mid_hip", "mid_shoulder", "vertical", "b", False) == pytest.approx(20, abs=1e-3)
    # arms from straight down: swung back negative, forward-and-up beyond 90
    assert inc("mid_shoulder", "mid_wrist", "down", "a", True) == pytest.approx(-60, abs=1e-3)
    assert inc("mid_shoulder", "mid_wrist", "down", "b", True) == pytest.approx(120, abs=1e-3)
    assert inc("mid_shoulder", "mid_wrist", "down", "b", False) == pytest.approx(120, abs=1e-3)
    # a sideways lean: the signed angle is the sagittal one, the unsigned one the full 3D angle
    assert inc("mid_hip", "mid_shoulder", "vertical", "c", True) == pytest.approx(30, abs=1e-3)
    full = math.degrees(math.acos(math.cos(math.radians(30)) * math.cos(math.radians(20))))
    assert inc("mid_hip", "mid_shoulder", "vertical", "c", False) == pytest.approx(full, abs=1e-3)
    # from the floor plane: 90 - trunk; a trunk tipped 95 deg back points 5 deg below the floor
    assert inc("mid_hip", "mid_shoulder", "horizontal", "a", False) == pytest.approx(35, abs=1e-3)
    assert inc("mid_hip", "mid_shoulder", "horizontal", "d", True) == pytest.approx(-5, abs=1e-3)
    assert inc("mid_hip", "mid_shoulder", "horizontal", "d", False) == pytest.approx(5, abs=1e-3)


def test_signed_inclination_of_a_sideways_segment_is_none_with_a_reason():
    seq = build([Pose()])
    d = {"type": "inclination", "from_point": "left_hip", "to_point": "right_hip", "keyframe": "a", "signed": True}
    r = measure_on(seq, d, {"a": 0})
    assert r.value is None and "sideways" in r.reason
    d["signed"] = False
    assert measure_on(seq, d, {"a": 0}).value == pytest.approx(90.0, abs=1e-3)


# velocity_angle -----------------------------------------------------------------------------
def _moving(pelvis_fn, n=30, pose=Pose()):
    return [replace(pose, pelvis=tuple(pelvis_fn(f / FPS))) for f in range(n)]


@pytest.mark.parametrize("yaw", YAWS)
def test_velocity_angle_by_hand(yaw):
    v = np.array([2.0, 1.2, 0.3])  # forward, up, right (m/s)
    seq = build(_moving(lambda t: np.array([0.0, 0.9, 0.0]) + v * t), yaw, OFFSET)
    d = {"type": "velocity_angle", "point": "mid_hip", "keyframe": "a"}
    expect = math.degrees(math.atan2(1.2, math.hypot(2.0, 0.3)))
    for f in (0, 10, 29):  # the window is clipped at both ends and still exact for straight motion
        assert measure_on(seq, d, {"a": f}, yaw).value == pytest.approx(expect, abs=1e-3)
    # ballistic flight: the smoothed slope is exact for constant acceleration (symmetric window)
    g, vx, vy = 9.81, 2.5, 1.6
    seq = build(_moving(lambda t: np.array([vx * t, 1.0 + vy * t - 0.5 * g * t * t, 0.0])), yaw, OFFSET)
    for f in (5, 12, 20):
        expect = math.degrees(math.atan2(vy - g * f / FPS, vx))
        assert measure_on(seq, d, {"a": f}, yaw).value == pytest.approx(expect, abs=1e-2)


def test_velocity_angle_of_a_still_point_is_none():
    seq = build([Pose()] * 10)
    r = measure_on(seq, {"type": "velocity_angle", "point": "mid_hip", "keyframe": "a"}, {"a": 5})
    assert r.value is None and "still" in r.reason


def test_smoothed_velocity_matches_central_difference_on_a_quadratic():
    t = np.arange(20) / FPS
    track = np.stack([3 * t**2, np.zeros_like(t), -t], axis=1)
    v = smoothed_velocity(track, t, np.arange(2, 18))
    np.testing.assert_allclose(v[:, 0], 6 * t[2:18], atol=1e-9)
    np.testing.assert_allclose(v[:, 2], -1.0, atol=1e-9)


# interval -----------------------------------------------------------------------------------
def test_interval_uses_the_timestamps_not_the_frame_rate():
    rng = np.random.default_rng(3)
    t = 10.0 + np.cumsum(rng.uniform(0.02, 0.05, 12))
    seq = build([Pose()] * 12, t=t)
    r = measure_on(seq, {"type": "interval", "from_keyframe": "a", "to_keyframe": "b"}, {"a": 2, "b": 9}, unit="s")
    assert r.value == pytest.approx(t[9] - t[2], abs=1e-12)
    assert r.value != pytest.approx(7 / FPS, abs=1e-3)


# displacement --------------------------------------------------------------------------------
@pytest.mark.parametrize("yaw", YAWS)
def test_displacement_along_each_axis_by_hand(yaw):
    start = Pose()
    end = replace(Pose(), pelvis=(1.3, start.pelvis[1] + 0.2, -0.15))
    seq = build([start, end], yaw, OFFSET)
    kf = {"a": 0, "b": 1}
    expect = {"forward": 1.3, "lateral": -0.15, "vertical": 0.2, "horizontal": math.hypot(1.3, 0.15)}
    for axis, val in expect.items():
        d = {"type": "displacement", "point": "mid_ankle", "from_keyframe": "a", "to_keyframe": "b", "axis": axis}
        assert measure_on(seq, d, kf, yaw, unit="m").value == pytest.approx(val, abs=1e-5), axis


# height ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("yaw", YAWS)
def test_height_relative_to_floor_start_and_body_height(yaw):
    y0 = Pose().pelvis[1]
    seq = build([Pose(), replace(Pose(), pelvis=(0.5, y0 + 0.23, 0.0), arm=170)], yaw, (OFFSET[0], 0.0, OFFSET[2]))
    kf = {"a": 0, "b": 1}
    stature = (L_THIGH + L_SHANK + L_TRUNK) / STATURE_SEGMENT_FRACTION

    def h(point, rel):
        d = {"type": "height", "point": point, "keyframe": "b", "relative_to": rel}
        return measure_on(seq, d, kf, yaw, unit="m").value

    assert h("mid_hip", "floor") == pytest.approx(y0 + 0.23, abs=1e-5)
    assert h("mid_hip", "start") == pytest.approx(0.23, abs=1e-5)
    wrist_y = y0 + 0.23 + L_TRUNK + (L_UPPER + L_FORE) * math.cos(math.radians(10))
    assert h("right_wrist", "body_height") == pytest.approx(wrist_y / stature, abs=1e-5)
    assert estimate_stature(seq.joints) == pytest.approx(stature, abs=1e-5)


# range_of_motion ------------------------------------------------------------------------------
@pytest.mark.parametrize("yaw", YAWS)
def test_range_of_motion_is_max_minus_min_over_the_window(yaw):
    # left knee 170 -> 100 -> 130 (not monotone: the range is max - min, not end - start)
    keys = [(0, Pose(shank=-5, thigh=-15, shank_r=0, thigh_r=-10)),
            (10, Pose(shank=30, thigh=-50, shank_r=30, thigh_r=-30)),
            (20, Pose(shank=20, thigh=-30, shank_r=20, thigh_r=20))]
    seq = build(interpolate(keys, 25), yaw, OFFSET)
    kf = {"a": 0, "b": 20}
    left, right = 170 - 100, 180 - 120  # right knee 170 -> 120 -> 180
    expect = {"left": left, "right": right, "mean": (left + right) / 2, "abs_diff": abs(left - right)}
    for how, val in expect.items():
        d = {"type": "range_of_motion", "joints": KNEE, "from_keyframe": "a", "to_keyframe": "b", "bilateral": how}
        assert measure_on(seq, d, kf, yaw).value == pytest.approx(val, abs=1e-3), how


# sway ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("yaw", YAWS)
def test_sway_peak_to_peak_and_horizontal_radius(yaw):
    y0 = Pose().pelvis[1]
    n, amp = 41, 0.03
    lateral = [replace(Pose(), pelvis=(0.0, y0, amp * math.sin(2 * math.pi * f / 20))) for f in range(n)]
    seq = build(lateral, yaw, OFFSET)
    d = {"type": "sway", "point": "mid_hip", "from_keyframe": "a", "to_keyframe": "b", "axis": "lateral"}
    assert measure_on(seq, d, {"a": 0, "b": 40}, yaw, unit="m").value == pytest.approx(2 * amp, abs=1e-5)
    d["axis"] = "forward"
    assert measure_on(seq, d, {"a": 0, "b": 40}, yaw, unit="m").value == pytest.approx(0.0, abs=1e-5)
    # a circle of radius r in the floor plane, sampled evenly over whole turns
    r = 0.05
    circle = [
        replace(Pose(), pelvis=(r * math.cos(math.pi * f / 10), y0 + 0.01 * (f % 2), r * math.sin(math.pi * f / 10)))
        for f in range(n)
    ]
    seq = build(circle, yaw, OFFSET)
    kf = {"a": 0, "b": 39}
    for axis, val in (("horizontal", r), ("forward", 2 * r), ("vertical", 0.01)):
        d = {"type": "sway", "point": "mid_hip", "from_keyframe": "a", "to_keyframe": "b", "axis": axis}
        assert measure_on(seq, d, kf, yaw, unit="m").value == pytest.approx(val, abs=1e-5), axis


# distance_ratio -------------------------------------------------------------------------------
@pytest.mark.parametrize("yaw", YAWS)
def test_distance_ratio_by_hand(yaw):
    seq = build([Pose(), Pose(arm=90)], yaw, OFFSET)
    kf = {"a": 0, "b": 1}
    arm = L_UPPER + L_FORE
    d = {"type": "distance_ratio", "numerator": ["mid_wrist", "mid_hip"], "denominator": ["mid_hip", "mid_shoulder"],
         "keyframe": "a"}  # arms hanging: the wrists are (arm - trunk) below the hips
    assert measure_on(seq, d, kf, yaw, unit="ratio").value == pytest.approx(abs(arm - L_TRUNK) / L_TRUNK, abs=1e-5)
    d["keyframe"] = "b"  # arms straight forward: wrist at (arm, trunk) from the hip
    expect = math.hypot(arm, L_TRUNK) / L_TRUNK
    assert measure_on(seq, d, kf, yaw, unit="ratio").value == pytest.approx(expect, abs=1e-5)
    d = {"type": "distance_ratio", "numerator": ["left_elbow", "right_elbow"],
         "denominator": ["left_shoulder", "right_shoulder"], "keyframe": "b"}
    assert measure_on(seq, d, kf, yaw, unit="ratio").value == pytest.approx(1.0, abs=1e-5)


# peak_speed ------------------------------------------------------------------------------------
@pytest.mark.parametrize("yaw", YAWS)
def test_peak_speed_by_hand(yaw):
    acc = 3.0  # x = acc t^2 / 2: speed acc * t, exact with the symmetric smoothing window
    seq = build(_moving(lambda t: np.array([0.5 * acc * t * t, 0.9, 0.0]), n=30), yaw, OFFSET)
    d = {"type": "peak_speed", "point": "mid_hip", "from_keyframe": "a", "to_keyframe": "b"}
    assert measure_on(seq, d, {"a": 5, "b": 20}, yaw, unit="m/s").value == pytest.approx(acc * 20 / FPS, abs=1e-4)


# event_offset ---------------------------------------------------------------------------------
@pytest.mark.parametrize("yaw", YAWS)
def test_event_offset_for_each_extremum(yaw):
    # hips: up to a top at frame 12, then down to a low at frame 27
    def pelvis(t):
        f = t * FPS
        y = 0.9 - 0.001 * (f - 12) ** 2 if f <= 20 else 0.836 - 0.002 * (f - 20) * (34 - f)
        return np.array([0.0, y, 0.0])

    seq = build(_moving(pelvis, n=40), yaw, OFFSET)
    kf = {"a": 2, "rel": 8, "b": 33}
    base = {"type": "event_offset", "description": "test event", "point": "mid_hip", "from_keyframe": "a",
            "to_keyframe": "b", "relative_to": "rel"}

    def offset(extremum, kf):
        return measure_on(seq, {**base, "extremum": extremum}, kf, yaw, unit="s").value

    assert offset("max_height", kf) == pytest.approx((12 - 8) / FPS, abs=1e-9)
    assert offset("min_height", kf) == pytest.approx((27 - 8) / FPS, abs=1e-9)
    # forward speed 0.1 w |cos(w t)| is largest where w t = pi: frame 20 within frames 14..26
    w = math.pi / (20 / FPS)
    seq = build(_moving(lambda t: np.array([0.1 * math.sin(w * t), 0.9, 0.0]), n=40), yaw, OFFSET)
    kf = {"a": 14, "rel": 8, "b": 26}
    assert offset("max_speed", kf) == pytest.approx((20 - 8) / FPS, abs=1e-9)


# Missing data ---------------------------------------------------------------------------------
def _with_nan(seq: SkeletonSequence, frame, joint: str) -> SkeletonSequence:
    joints = seq.joints.copy()
    joints[frame, J[joint]] = np.nan
    return SkeletonSequence.from_positions(joints, FPS)


def test_a_joint_missing_at_the_keyframe_gives_none_with_a_reason():
    seq = _with_nan(build([Pose(), Pose(shank=30, thigh=-50, shank_r=20, thigh_r=-40)]), 1, "left_knee")
    kf = {"a": 0, "b": 1}
    d = {"type": "joint_angle", "joints": KNEE, "keyframe": "b", "bilateral": "abs_diff"}
    r = measure_on(seq, d, kf)
    assert r.value is None and "left_knee" in r.reason and "b (frame 1)" in r.reason
    d["bilateral"] = "left"
    assert measure_on(seq, d, kf).value is None
    d["bilateral"] = "mean"  # the mean falls back to the side that was seen, and says so
    r = measure_on(seq, d, kf)
    assert r.value == pytest.approx(120.0, abs=1e-3) and "right side only" in r.note
    d = {"type": "inclination", "from_point": "mid_hip", "to_point": "mid_shoulder", "keyframe": "b", "signed": True}
    r = measure_on(_with_nan(seq, 1, "right_hip"), d, kf)
    assert r.value is None and "right_hip" in r.reason
    assert measure_on(seq, d, {"a": 0}).reason.startswith("the keyframe b was not found")


def test_window_metrics_need_enough_seen_frames():
    seq = build(_moving(lambda t: np.array([t, 0.9, 0.0]), n=20))
    joints = seq.joints.copy()
    joints[2:16, J["left_hip"]] = np.nan  # 14 of 19 frames missing
    seq = SkeletonSequence.from_positions(joints, FPS)
    for d in (
        {"type": "sway", "point": "mid_hip", "from_keyframe": "a", "to_keyframe": "b", "axis": "lateral"},
        {"type": "peak_speed", "point": "mid_hip", "from_keyframe": "a", "to_keyframe": "b"},
        {"type": "range_of_motion", "joints": ["left_shoulder", "left_hip", "left_knee"], "from_keyframe": "a",
         "to_keyframe": "b"},
    ):
        r = measure_on(seq, d, {"a": 0, "b": 18}, unit="m")
        assert r.value is None and "seen in only" in r.reason, d["type"]
    r = measure_on(seq, {"type": "velocity_angle", "point": "mid_hip", "keyframe": "a"}, {"a": 8})
    assert r.value is None and "mid_hip" in r.reason


def test_combine_bilateral_rules():
    assert combine_bilateral(10.0, 20.0, "mean") == (15.0, None)
    assert combine_bilateral(10.0, 20.0, "abs_diff") == (10.0, None)
    assert combine_bilateral(None, 20.0, "min") == (None, None)
    assert combine_bilateral(None, 20.0, "right") == (20.0, None)
    v, note = combine_bilateral(None, 20.0, "mean")
    assert v == 20.0 and "right side only" in note


# Forward direction ----------------------------------------------------------------------------
@pytest.mark.parametrize("yaw", [0.0, 25.0, -30.0, 170.0])
def test_facing_from_the_hip_and_shoulder_lines_signed_by_the_nose(yaw):
    seq = build([Pose(trunk=10 * math.sin(f / 3)) for f in range(20)], yaw, OFFSET)
    h = estimate_heading(seq.joints, "none")
    assert h.source == "body" and h.sign_cue == "nose" and h.reliable and h.note is None
    np.testing.assert_allclose(h.forward, true_heading(yaw).forward, atol=1e-5)
    np.testing.assert_allclose(h.lateral, yaw_matrix(yaw) @ [0, 0, 1.0], atol=1e-5)


def test_facing_sign_falls_back_to_knees_then_labels():
    squat = build([Pose(shank=40, thigh=-40, trunk=40)] * 5, 25.0)
    joints = squat.joints.copy()
    joints[:, [J["nose"], J["left_ear"], J["right_ear"]]] = np.nan
    h = estimate_heading(joints, "none")
    assert h.sign_cue == "knees"
    np.testing.assert_allclose(h.forward, true_heading(25.0).forward, atol=1e-5)
    stand = build([Pose()] * 5, 25.0).joints.copy()
    stand[:, J["nose"]] = np.nan
    h = estimate_heading(stand, "none")
    assert h.sign_cue == "left_right_labels"
    np.testing.assert_allclose(h.forward, true_heading(25.0).forward, atol=1e-5)


def test_swapped_left_right_labels_are_caught_by_the_nose():
    joints = build([Pose()] * 5, -30.0).joints.copy()
    for a, b in LR_PAIRS:
        joints[:, [a, b]] = joints[:, [b, a]]
    h = estimate_heading(joints, "none")
    np.testing.assert_allclose(h.forward, true_heading(-30.0).forward, atol=1e-5)
    assert "swapped" in h.note


def test_left_right_labels_swapped_in_some_frames_do_not_spoil_the_axis():
    joints = build([Pose(trunk=20)] * 12, 25.0).joints.copy()
    for a, b in LR_PAIRS:
        joints[::2, [a, b]] = joints[::2, [b, a]]  # every other frame swapped: the normals cancel
    h = estimate_heading(joints, "none")
    assert h.reliable and h.sign_cue == "nose"
    np.testing.assert_allclose(h.forward, true_heading(25.0).forward, atol=1e-5)


def test_travel_direction_for_actions_that_travel():
    poses = [replace(Pose(), pelvis=(0.1 * f, Pose().pelvis[1], 0.0)) for f in range(20)]
    joints = build(poses, 25.0).joints.copy()
    joints[:, J["nose"]] = np.nan
    h = estimate_heading(joints, "forward", 0, 19)
    assert h.source == "travel"
    np.testing.assert_allclose(h.forward, true_heading(25.0).forward, atol=1e-5)
    # too little travel: the facing is used instead, and the note says so
    h = estimate_heading(build([Pose()] * 5, 25.0).joints, "forward")
    assert h.source == "body" and "travelled only" in h.note


def test_no_hips_or_shoulders_falls_back_to_plus_x_with_a_flag():
    joints = build([Pose()] * 5, 40.0).joints.copy()
    joints[:, [J["left_hip"], J["right_hip"], J["left_shoulder"], J["right_shoulder"]]] = np.nan
    h = estimate_heading(joints, "none")
    assert h.source == "fallback" and not h.reliable and h.note
    np.testing.assert_allclose(h.forward, [1.0, 0.0, 0.0])
    seq = SkeletonSequence.from_positions(joints, FPS)
    d = {"type": "displacement", "point": "mid_ankle", "from_keyframe": "a", "to_keyframe": "b", "axis": "forward"}
    r = measure_on(seq, d, {"a": 0, "b": 4}, heading=h, unit="m")
    assert r.value is not None and "+x" in r.note


# Keyframes ------------------------------------------------------------------------------------
def test_check_keyframes_rejects_bad_input_in_one_sentence():
    spec = load_action("standing_long_jump")
    ok = check_keyframes(spec, {"takeoff": np.int64(30), "start": 2}, 60)
    assert ok == {"start": 2, "takeoff": 30} and list(ok) == ["start", "takeoff"]
    with pytest.raises(ValueError, match="not a keyframe"):
        check_keyframes(spec, {"jump": 3}, 60)
    with pytest.raises(ValueError, match="outside the sequence"):
        check_keyframes(spec, {"start": 60}, 60)
    with pytest.raises(ValueError, match="comes before"):
        check_keyframes(spec, {"start": 10, "takeoff": 5}, 60)
    with pytest.raises(ValueError, match="frame index"):
        check_keyframes(spec, {"start": 1.5}, 60)


# Every spec that exists -----------------------------------------------------------------------
def existing_specs():
    return [a for a in ACTION_IDS if (SPEC_DIR / f"{a}.yaml").exists()]


def generic_motion(n: int = 90) -> list[Pose]:
    """A figure that bends, leans, swings its arms, walks forward and sways: every metric moves."""
    poses = []
    for f in range(n):
        u = f / (n - 1)
        s = math.sin(2 * math.pi * u)
        poses.append(
            Pose(
                pelvis=(1.2 * u, 0.85 + 0.08 * math.sin(4 * math.pi * u), 0.03 * math.sin(6 * math.pi * u)),
                shank=25 * s + 5, thigh=-35 * s, shank_r=22 * s + 4, thigh_r=-30 * s,
                trunk=30 * s + 10, lean_side=4 * math.cos(2 * math.pi * u), arm=150 * math.sin(math.pi * u) - 40,
            )
        )
    return poses


def even_keyframes(spec, n: int) -> dict[str, int]:
    names = spec.keyframe_names
    return {k: 5 + round(i * (n - 11) / (len(names) - 1)) for i, k in enumerate(names)}


@pytest.mark.parametrize("action_id", existing_specs())
def test_every_metric_of_every_spec_is_computed_and_yaw_invariant(action_id):
    spec = load_action(action_id)
    poses = generic_motion()
    kf = even_keyframes(spec, len(poses))
    base = compute_metrics(build(poses), spec, kf)
    turned = compute_metrics(build(poses, 25.0, OFFSET), spec, kf)
    assert list(base) == [m.id for m in spec.metrics]
    for mid, r in base.items():
        assert r.value is not None or r.reason, mid
        assert r.value is None or math.isfinite(r.value), mid
        assert (r.value is None) == (turned[mid].value is None), mid
        if r.value is not None:
            assert turned[mid].value == pytest.approx(r.value, abs=2e-3, rel=1e-4), mid
    # on this fully seen figure everything is measurable
    assert all(r.value is not None for r in base.values()), {k: r.reason for k, r in base.items() if r.value is None}


@pytest.mark.parametrize("action_id", existing_specs())
def test_missing_joints_never_raise_and_always_give_reasons(action_id):
    spec = load_action(action_id)
    poses = generic_motion()
    kf = even_keyframes(spec, len(poses))
    joints = build(poses).joints.copy()
    joints[:, [J["left_knee"], J["right_wrist"]]] = np.nan
    joints[10:60, J["left_hip"]] = np.nan
    res = compute_metrics(SkeletonSequence.from_positions(joints, FPS), spec, kf)
    for mid, r in res.items():
        assert (r.value is None) == bool(r.reason), mid
