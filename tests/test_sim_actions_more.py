"""Simulated sit-up, free throw and volleyball pass: plausible bodies, planted feet, keyframes in
order, and every fault moving its first indicator metric the way the spec says.

The spec metrics are computed here from the clean world-frame joints with a small, direct reading
of the spec definitions (no production metric code), so the test checks the simulator against the
spec and not against itself.
"""

from __future__ import annotations

import numpy as np
import pytest

from edge.actions import load_action
from edge.sim.motion import speed
from edge.sim.simulate import simulate
from edge.skeleton.joints import JOINT_NAMES, RIGID_BONES
from edge.skeleton.sequence import bone_lengths

ACTIONS = ("sit_up", "basketball_free_throw", "volleyball_overhead_pass")
SEEDS = (0, 1, 2)
IDLE = (0.4, 0.4)


# --- a direct reading of the spec's metric definitions -----------------------------------------------


def point(joints: np.ndarray, name: str) -> np.ndarray:
    """(T, 3) track of a joint or mid_<pair> point."""
    if name.startswith("mid_"):
        b = name[4:]
        return 0.5 * (joints[:, JOINT_NAMES.index(f"left_{b}")] + joints[:, JOINT_NAMES.index(f"right_{b}")])
    return joints[:, JOINT_NAMES.index(name)]


def angle(joints: np.ndarray, a: str, b: str, c: str) -> np.ndarray:
    u = point(joints, a) - point(joints, b)
    v = point(joints, c) - point(joints, b)
    cos = (u * v).sum(-1) / (np.linalg.norm(u, axis=-1) * np.linalg.norm(v, axis=-1))
    return np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))


def sided_angle(joints, triplet, bilateral: str) -> np.ndarray:
    if not any("{side}" in p for p in triplet):
        return angle(joints, *triplet)
    left = angle(joints, *(p.replace("{side}", "left") for p in triplet))
    right = angle(joints, *(p.replace("{side}", "right") for p in triplet))
    return {
        "mean": 0.5 * (left + right),
        "left": left,
        "right": right,
        "min": np.minimum(left, right),
        "max": np.maximum(left, right),
        "abs_diff": np.abs(left - right),
    }[bilateral]


AXES = {"forward": 0, "vertical": 1, "lateral": 2}


def metric_value(spec, metric_id: str, joints: np.ndarray, keyframes: dict, fps: float, height: float) -> float:
    """Value of one spec metric on clean joints (T, 17, 3) (world frame: +x forward, y up)."""
    d = spec.metric(metric_id).definition
    kf = keyframes
    if d.type == "joint_angle":
        return float(sided_angle(joints, d.joints, d.bilateral)[kf[d.keyframe]])
    if d.type == "inclination":
        v = point(joints, d.to_point)[kf[d.keyframe]] - point(joints, d.from_point)[kf[d.keyframe]]
        if d.reference == "horizontal":
            return float(np.degrees(np.arcsin(abs(v[1]) / np.linalg.norm(v))))
        up = v[1] if d.reference == "vertical" else -v[1]
        if d.signed:
            return float(np.degrees(np.arctan2(v[0], up)))
        return float(np.degrees(np.arccos(up / np.linalg.norm(v))))
    if d.type == "interval":
        return (kf[d.to_keyframe] - kf[d.from_keyframe]) / fps
    if d.type == "displacement":
        p = point(joints, d.point)
        return float(p[kf[d.to_keyframe], AXES[d.axis]] - p[kf[d.from_keyframe], AXES[d.axis]])
    if d.type == "height":
        y = point(joints, d.point)[:, 1]
        k = kf[d.keyframe]
        if d.relative_to == "start":
            return float(y[k] - y[kf[spec.keyframe_names[0]]])
        return float(y[k] / height) if d.relative_to == "body_height" else float(y[k])
    if d.type == "range_of_motion":
        a = sided_angle(joints, d.joints, d.bilateral)[kf[d.from_keyframe] : kf[d.to_keyframe] + 1]
        return float(a.max() - a.min())
    if d.type == "sway":
        c = point(joints, d.point)[kf[d.from_keyframe] : kf[d.to_keyframe] + 1, AXES[d.axis]]
        return float(np.abs(c - c[0]).max())
    if d.type == "distance_ratio":
        k = kf[d.keyframe]
        num = np.linalg.norm(point(joints, d.numerator[0])[k] - point(joints, d.numerator[1])[k])
        den = np.linalg.norm(point(joints, d.denominator[0])[k] - point(joints, d.denominator[1])[k])
        return float(num / den)
    if d.type == "peak_speed":
        p = point(joints, d.point)[kf[d.from_keyframe] : kf[d.to_keyframe] + 1]
        return float(np.linalg.norm(np.diff(p, axis=0), axis=-1).max() * fps)
    if d.type == "event_offset":
        k0, k1 = kf[d.from_keyframe], kf[d.to_keyframe]
        y = point(joints, d.point)[k0 : k1 + 1, 1]
        assert d.extremum == "max_height", "only max_height is read here"
        return (k0 + int(np.argmax(y)) - kf[d.relative_to]) / fps
    raise AssertionError(f"metric type {d.type} is not read by this test")


def _sim(action, seed, faults=()):
    return simulate(action, seed, faults=list(faults), idle=IDLE)


# --- plausibility ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def clean():
    return {(a, s): _sim(a, s) for a in ACTIONS for s in SEEDS}


@pytest.mark.parametrize("action", ACTIONS)
def test_bone_lengths_are_constant(clean, action):
    for seed in SEEDS:
        bl = bone_lengths(clean[(action, seed)].clean_joints, RIGID_BONES)
        assert np.ptp(bl, axis=0).max() < 1e-3


@pytest.mark.parametrize("action", ACTIONS)
def test_nothing_goes_below_the_floor(clean, action):
    for seed in SEEDS:
        s = clean[(action, seed)]
        assert s.clean_joints[..., 1].min() > -0.005
        assert s.motion.feet[..., 1].min() > -0.005


def _planted_runs(contact: np.ndarray):
    """(start, stop) frame runs where a foot is planted."""
    runs, start = [], None
    for k, c in enumerate(list(contact) + [False]):
        if c and start is None:
            start = k
        elif not c and start is not None:
            runs.append((start, k))
            start = None
    return runs


@pytest.mark.parametrize("action", ACTIONS)
def test_planted_feet_do_not_slide(clean, action):
    """While a foot is planted, its heel and ball do not move along the floor while they touch it
    (a rising heel pivots the foot about the ball, which stays put)."""
    for seed in SEEDS:
        s = clean[(action, seed)]
        feet = s.motion.feet  # (T, 2, 3, 3): heel, ball, toe of each foot
        for foot in (0, 1):
            runs = _planted_runs(s.contacts[:, foot])
            assert runs, "a foot is never planted"
            for k0, k1 in runs:
                touching = 0
                for pt, name in ((0, "heel"), (1, "ball")):
                    track = feet[k0:k1, foot, pt]
                    on = track[:, 1] < 0.005
                    if not on.any():
                        continue
                    touching += 1
                    xz = track[on][:, [0, 2]]
                    drift = np.linalg.norm(xz - xz[0], axis=-1).max()
                    assert drift < 0.02, f"{action} seed {seed}: planted {name} slides {drift:.3f} m"
                assert touching, f"{action} seed {seed}: a planted foot does not touch the floor"


def test_sit_up_lies_on_the_floor_with_fixed_hips(clean):
    for seed in SEEDS:
        s = clean[("sit_up", seed)]
        j = s.clean_joints
        k0 = s.keyframes["start"]
        hip, sh = point(j, "mid_hip"), point(j, "mid_shoulder")
        assert 0.05 < hip[k0, 1] < 0.15 and 0.05 < sh[k0, 1] < 0.15, "not lying on the back"
        assert np.linalg.norm(hip[:, [0, 2]] - hip[0, [0, 2]], axis=-1).max() < 0.02, "hips slide"
        top = s.keyframes["top"]
        assert sh[top, 1] > hip[top, 1] + 0.3, "the trunk does not come up"
        assert s.contacts.all(), "feet must stay planted in a clean sit-up"


def test_free_throw_releases_above_the_head(clean):
    for seed in SEEDS:
        s = clean[("basketball_free_throw", seed)]
        j, kf = s.clean_joints, s.keyframes
        wrist, nose = point(j, "right_wrist"), point(j, "nose")
        assert wrist[kf["release"], 1] > nose[kf["release"], 1] + 0.1
        hip_y = point(j, "mid_hip")[:, 1]
        assert hip_y[kf["dip"]] < hip_y[kf["set_stance"]] - 0.02, "no knee dip"
        assert s.contacts.all()


def test_volleyball_pass_plays_the_ball_above_the_forehead(clean):
    for seed in SEEDS:
        s = clean[("volleyball_overhead_pass", seed)]
        j, kf = s.clean_joints, s.keyframes
        wrist, eye = point(j, "mid_wrist"), point(j, "mid_eye")
        assert wrist[kf["contact"], 1] > eye[kf["contact"], 1]
        assert wrist[kf["full_extension"], 1] > wrist[kf["contact"], 1] + 0.15


def test_volleyball_recovery_ends_with_the_movement_not_the_idle_sway():
    """Seed 19: the idle sway fading in after the recovery moves the lowered hands at about
    0.14 m/s for five frames; the recovery keyframe is the frame the recovery movement stops (the
    sway-free rendering's), not the end of the sway's fade-in nine frames later."""
    s = simulate("volleyball_overhead_pass", seed=19)
    k = s.keyframes["recovery"]
    fps = s.sequence.fps
    assert k <= int(np.ceil(s.motion.events["recovered"] * fps - 1e-9))
    v = speed(point(s.clean_joints, "mid_wrist"), fps)
    assert v[k - 6:k].max() > 0.1  # still moving just before: the keyframe is not early
    assert v[k + 3:k + 10].max() > 0.1  # the sway's fade-in comes after it


@pytest.mark.parametrize("action", ACTIONS)
def test_keyframes_in_order_and_sequence_valid(clean, action):
    spec = load_action(action)
    for seed in SEEDS:
        s = clean[(action, seed)]
        assert list(s.keyframes) == spec.keyframe_names
        frames = list(s.keyframes.values())
        assert all(b > a for a, b in zip(frames, frames[1:])), s.keyframes
        assert frames[0] > 0 and frames[-1] < s.sequence.n_frames
        s.sequence.validate()
        assert s.sequence.joints.shape == s.clean_joints.shape


@pytest.mark.parametrize("action", ACTIONS)
def test_clean_students_are_mostly_in_range(clean, action):
    spec = load_action(action)
    inside = total = 0
    for seed in SEEDS:
        s = clean[(action, seed)]
        for m in spec.metrics:
            v = metric_value(spec, m.id, s.clean_joints, s.keyframes, s.sequence.fps, s.body.height)
            inside += m.range[0] <= v <= m.range[1]
            total += 1
    assert inside / total >= 0.9, f"only {inside}/{total} clean metric values in range"


# --- faults ----------------------------------------------------------------------------------------


def _fault_cases():
    return [(a, p.id) for a in ACTIONS for p in load_action(a).problems]


@pytest.mark.parametrize("action,problem", _fault_cases())
def test_fault_moves_its_indicators(clean, action, problem):
    """At severity 1.0 the fault moves every indicator metric in the named direction compared with
    the same student without it, and pushes the first one out of its normal range."""
    spec = load_action(action)
    seed = SEEDS[len(problem) % len(SEEDS)]  # spread the faults over the seeds, deterministically
    base = clean[(action, seed)]
    bad = _sim(action, seed, [problem])
    assert bad.faults == {problem: 1.0}
    # The faulty attempt is still a plausible body: rigid limbs, nothing under the floor, keyframes in order.
    assert np.ptp(bone_lengths(bad.clean_joints, RIGID_BONES), axis=0).max() < 1e-3
    assert bad.clean_joints[..., 1].min() > -0.005 and bad.motion.feet[..., 1].min() > -0.005
    frames = list(bad.keyframes.values())
    assert all(b > a for a, b in zip(frames, frames[1:])), bad.keyframes
    fps = base.sequence.fps
    for i, ind in enumerate(spec.problem(problem).indicators):
        v0 = metric_value(spec, ind.metric, base.clean_joints, base.keyframes, fps, base.body.height)
        v1 = metric_value(spec, ind.metric, bad.clean_joints, bad.keyframes, fps, bad.body.height)
        moved = v1 > v0 if ind.side == "high" else v1 < v0
        assert moved, f"{problem}: {ind.metric} {v0:.3f} -> {v1:.3f}, expected {ind.side}er"
        if i == 0:
            lo, hi = spec.metric(ind.metric).range
            out = v1 > hi if ind.side == "high" else v1 < lo
            assert out, f"{problem}: {ind.metric} {v1:.3f} does not leave the range {lo}..{hi} ({ind.side})"
