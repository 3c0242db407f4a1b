"""Physical plausibility of the simulated athlete's clean motion (world frame, floor y = 0).

The checks recompute what they need from the clean joints themselves (centre of mass from
Winter's segment table, joint angles, spec metrics), so they do not trust the generator's own
bookkeeping.
"""

from __future__ import annotations

import numpy as np
import pytest

from edge.actions import load_action
from edge.sim.physics import SEGMENTS
from edge.sim.simulate import simulate
from edge.skeleton.joints import JOINT_NAMES, RIGID_BONES, Joint
from edge.skeleton.sequence import bone_lengths

G = 9.81
FPS = 30.0
N_JUMPS = 50  # population sample (with faults)
N_CLEAN = 30

# Winter (2009) Table 4.1 as the simulator states it; the CoM below is computed segment by segment,
# independently of the simulator's per-joint weights.
J = Joint


def com(joints: np.ndarray) -> np.ndarray:
    out = np.zeros(joints.shape[:-2] + (3,))
    for m, prox, dist, f in SEGMENTS:
        p = joints[..., list(prox), :].mean(axis=-2)
        d = joints[..., list(dist), :].mean(axis=-2)
        out += m * (p + f * (d - p))
    return out


@pytest.fixture(scope="module")
def jumps():
    """Clean long jumps (no injected fault) of 30 students."""
    return [simulate("standing_long_jump", s, faults=[]) for s in range(N_CLEAN)]


@pytest.fixture(scope="module")
def jump_population():
    """Long jumps of 50 students with the population's fault mix."""
    return [simulate("standing_long_jump", 1000 + s) for s in range(N_JUMPS)]


@pytest.fixture(scope="module")
def squats():
    return [simulate("deep_squat", s, faults=[]) for s in range(15)]


def _runs(mask: np.ndarray):
    """(start, stop) of the runs of True."""
    m = np.concatenate([[False], mask, [False]]).astype(int)
    d = np.diff(m)
    return list(zip(np.nonzero(d == 1)[0], np.nonzero(d == -1)[0]))


def _all(jumps, squats, jump_population):
    return list(jumps) + list(squats) + list(jump_population)


# ------------------------------------------------------------------------------------------


def test_flat_stance_feet_do_not_slide(jumps, squats, jump_population):
    worst = 0.0
    for s in _all(jumps, squats, jump_population):
        flat = s.motion.flat
        for k, ankle in enumerate((J.LEFT_ANKLE, J.RIGHT_ANKLE)):
            for a, b in _runs(flat[:, k]):
                xz = s.clean_joints[a:b, ankle][:, [0, 2]]
                worst = max(worst, float(np.linalg.norm(xz - xz[0], axis=1).max()))
    assert worst < 0.02, f"a flat planted foot slid {worst * 100:.2f} cm"


def test_feet_planted_most_of_the_time(jumps, squats):
    # Sanity of the previous test: it must have looked at real stance.
    for s in list(jumps[:5]) + list(squats[:5]):
        assert s.motion.flat.mean() > 0.5


def test_bone_lengths_constant(jumps, squats, jump_population):
    for s in _all(jumps, squats, jump_population):
        bl = bone_lengths(s.clean_joints, RIGID_BONES)
        assert (np.ptp(bl, axis=0) < 1e-3).all(), f"seed {s.seed}: bone length spread {np.ptp(bl, axis=0).max():.4f} m"
        hips = np.linalg.norm(s.clean_joints[:, J.LEFT_HIP] - s.clean_joints[:, J.RIGHT_HIP], axis=1)
        assert np.ptp(hips) < 1e-3


def test_feet_never_below_the_floor(jumps, squats, jump_population):
    for s in _all(jumps, squats, jump_population):
        lowest = float(s.motion.feet[..., 1].min())
        assert lowest > -0.005, f"{s.action} seed {s.seed}: a foot point {lowest * 1000:.1f} mm below the floor"
        assert s.clean_joints[:, [J.LEFT_ANKLE, J.RIGHT_ANKLE], 1].min() > 0.0


def test_flight_is_ballistic(jumps):
    for s in jumps:
        kf = s.keyframes
        frames = np.arange(kf["takeoff"] + 1, kf["landing"])
        assert frames.size >= 6, f"seed {s.seed}: flight of {frames.size} frames"
        c = com(s.clean_joints[frames])
        t = frames / FPS
        ay = 2.0 * np.polyfit(t, c[:, 1], 2)[0]
        assert abs(ay + G) < 0.02 * G, f"seed {s.seed}: vertical CoM acceleration {ay:.3f} m/s^2 in flight"
        ax = 2.0 * np.polyfit(t, c[:, 0], 2)[0]
        assert abs(ax) < 0.05, f"seed {s.seed}: horizontal CoM acceleration {ax:.3f} m/s^2 in flight"


def test_flight_time_matches_takeoff_velocity(jumps):
    for s in jumps:
        kf, ev = s.keyframes, s.motion.events
        frames = np.arange(kf["takeoff"] + 1, kf["landing"])
        c = com(s.clean_joints[frames])
        t = frames / FPS
        py = np.polyfit(t, c[:, 1], 2)
        t0, t1 = ev["takeoff"], ev["landing"]
        vy = np.polyval(np.polyder(py), t0)
        y0, y1 = np.polyval(py, t0), np.polyval(py, t1)
        predicted = (vy + np.sqrt(vy * vy + 2 * G * (y0 - y1))) / G
        assert abs(predicted - (t1 - t0)) < 0.003, f"seed {s.seed}: {predicted:.4f} s vs {t1 - t0:.4f} s"
        # takeoff = last frame <= t0, landing = first frame >= t1
        assert 0.0 <= (kf["landing"] - kf["takeoff"]) - (t1 - t0) * FPS < 2.0
        assert kf["takeoff"] <= t0 * FPS < kf["takeoff"] + 1 and kf["landing"] - 1 < t1 * FPS <= kf["landing"]
        assert 0.25 < t1 - t0 < 0.65


def test_takeoff_velocity_and_ground_force(jumps):
    for s in jumps:
        v = np.array(s.motion.info["takeoff_velocity"])
        speed = np.hypot(v[0], v[1])
        angle = np.degrees(np.arctan2(v[1], v[0]))
        assert speed == pytest.approx(s.technique["takeoff_speed"], rel=0.02)
        assert angle == pytest.approx(s.technique["takeoff_angle"], abs=0.5)
        # The ground force has fallen to zero at toe-off: the CoM accelerates at -g.
        a = np.array(s.motion.info["takeoff_com_acceleration"])
        assert abs(a[1] + G) < 0.3 and abs(a[0]) < 0.3


def test_no_pull_on_the_ground(jumps, squats):
    """In stance the ground can push but not pull: CoM vertical acceleration >= -g."""
    for s in list(jumps) + list(squats):
        c = com(s.clean_joints)
        a = np.diff(c[:, 1], 2) * FPS * FPS  # at frames 1 .. T-2
        stance = s.motion.contacts.any(axis=1)
        ok = stance[:-2] & stance[1:-1] & stance[2:]
        assert a[ok].min() > -1.1 * G, f"{s.action} seed {s.seed}: {a[ok].min():.2f} m/s^2"


def test_long_jump_distances(jump_population, jumps):
    # 12-18-year-olds jump about 1.3-2.6 m; the tallest 18-year-old boys at the top of the speed
    # range reach about 2.7 m (the excellent band of the national standard for that age).
    for group, lo, hi in ((jump_population, 1.3, 2.75), (jumps, 1.6, 2.75)):
        d = []
        for s in group:
            ank = 0.5 * (s.clean_joints[:, J.LEFT_ANKLE] + s.clean_joints[:, J.RIGHT_ANKLE])
            d.append(ank[s.keyframes["landing"], 0] - ank[s.keyframes["start"], 0])
        d = np.array(d)
        assert d.min() > lo and d.max() < hi, f"distances {d.min():.2f}-{d.max():.2f} m"
        assert 1.8 < np.median(d) < 2.4


def test_long_jump_keyframes_at_events(jumps, jump_population):
    for s in list(jumps) + list(jump_population):
        kf, c = s.keyframes, s.contacts
        j = s.clean_joints
        hip = 0.5 * (j[:, J.LEFT_HIP] + j[:, J.RIGHT_HIP])
        f = list(kf.values())
        assert f == sorted(f) and len(set(f)) == len(f), kf
        to, ld = kf["takeoff"], kf["landing"]
        assert c[to].any() and not c[to + 1 : ld].any(), "takeoff is the last frame with a foot on the ground"
        assert c[: to + 1].all(), "both feet on the ground until take-off"
        assert c[ld:].all(), "both feet down from the landing frame on"
        low = hip[kf["start"] : to + 1, 1]
        assert kf["countermovement_bottom"] == kf["start"] + int(np.argmax(low <= low.min() + 0.005))
        assert kf["countermovement_bottom"] < to - 2
        assert kf["peak"] == to + 1 + int(np.argmax(hip[to + 1 : ld, 1]))
        sp = np.linalg.norm(np.gradient(hip, axis=0), axis=1) * FPS
        st = kf["stabilized"]
        assert sp[st : st + 6].max() < 0.1 and sp[ld:st].max() >= 0.1
        # Still before the movement begins (only postural sway), moving after it.
        body_speed = np.linalg.norm(np.gradient(j, axis=0), axis=2).max(axis=1) * FPS
        assert body_speed[max(0, kf["start"] - 5) : kf["start"] + 1].max() < 0.25
        assert body_speed[kf["start"] : kf["countermovement_bottom"]].max() > 0.5


def test_squat_keyframes_at_events(squats):
    for s in squats:
        kf = s.keyframes
        f = list(kf.values())
        assert f == sorted(f) and len(set(f)) == len(f), kf
        hip = 0.5 * (s.clean_joints[:, J.LEFT_HIP] + s.clean_joints[:, J.RIGHT_HIP])
        y = hip[:, 1]
        assert kf["bottom"] == kf["start"] + int(np.argmin(y[kf["start"] : kf["end"] + 1]))
        assert y[kf["mid_descent"]] <= 0.5 * (y[kf["start"]] + y[kf["bottom"]]) < y[kf["mid_descent"] - 1]
        assert y[kf["mid_ascent"]] >= 0.5 * (y[kf["bottom"]] + y[kf["end"]]) - 0.005
        sp = np.linalg.norm(np.gradient(hip, axis=0), axis=1) * FPS
        assert sp[kf["end"] : kf["end"] + 6].max() < 0.1
        assert s.contacts.all(), "the feet stay planted through a squat"


# ------------------------------------------------------------------------------------------
# Spec metrics, computed simply from the clean joints (enough of the spec's metric types).


def _pt(j, name):
    if name.startswith("mid_"):
        b = name[4:]
        return 0.5 * (j[:, JOINT_NAMES.index(f"left_{b}")] + j[:, JOINT_NAMES.index(f"right_{b}")])
    return j[:, JOINT_NAMES.index(name)]


def _angle(j, tri):
    a, b, c = (_pt(j, p) for p in tri)
    u, v = a - b, c - b
    cos = (u * v).sum(-1) / (np.linalg.norm(u, axis=-1) * np.linalg.norm(v, axis=-1))
    return np.degrees(np.arccos(np.clip(cos, -1, 1)))


def _sided(tri, fn, mode):
    if not any("{side}" in p for p in tri):
        return fn(tri)
    left = fn(tuple(p.replace("{side}", "left") for p in tri))
    right = fn(tuple(p.replace("{side}", "right") for p in tri))
    return {"mean": (left + right) / 2, "abs_diff": abs(left - right)}[mode]


def spec_metric(m, s) -> float:
    d, j, kf = m.definition, s.clean_joints, s.keyframes
    if d.type == "joint_angle":
        return float(_sided(d.joints, lambda tri: _angle(j, tri)[kf[d.keyframe]], d.bilateral))
    if d.type == "range_of_motion":
        a, b = kf[d.from_keyframe], kf[d.to_keyframe]
        return float(_sided(d.joints, lambda tri: np.ptp(_angle(j, tri)[a : b + 1]), d.bilateral))
    if d.type == "inclination":
        v = _pt(j, d.to_point)[kf[d.keyframe]] - _pt(j, d.from_point)[kf[d.keyframe]]
        if d.signed:  # sagittal plane, positive towards +x
            return float(np.degrees(np.arctan2(v[0], v[1] if d.reference == "vertical" else -v[1])))
        ref = np.array([0.0, 1.0 if d.reference == "vertical" else -1.0, 0.0])
        return float(np.degrees(np.arccos(v @ ref / np.linalg.norm(v))))
    if d.type == "velocity_angle":
        p, k = _pt(j, d.point), kf[d.keyframe]
        v = (p[k + 1] - p[k - 1]) / 2.0
        return float(np.degrees(np.arctan2(v[1], np.hypot(v[0], v[2]))))
    if d.type == "interval":
        return (kf[d.to_keyframe] - kf[d.from_keyframe]) / FPS
    if d.type == "displacement":
        assert d.axis == "forward"
        p = _pt(j, d.point)
        return float(p[kf[d.to_keyframe], 0] - p[kf[d.from_keyframe], 0])
    if d.type == "height":
        p = _pt(j, d.point)[:, 1]
        base = {"floor": 0.0, "start": p[kf["start"]]}[d.relative_to]
        return float(p[kf[d.keyframe]] - base)
    if d.type == "sway":
        assert d.axis == "lateral"
        return float(np.ptp(_pt(j, d.point)[kf[d.from_keyframe] : kf[d.to_keyframe] + 1, 2]))
    if d.type == "distance_ratio":
        k = kf[d.keyframe]
        num = np.linalg.norm(_pt(j, d.numerator[0])[k] - _pt(j, d.numerator[1])[k])
        den = np.linalg.norm(_pt(j, d.denominator[0])[k] - _pt(j, d.denominator[1])[k])
        return float(num / den)
    raise NotImplementedError(d.type)


@pytest.mark.parametrize("action", ["standing_long_jump", "deep_squat"])
def test_faults_move_their_indicators(action):
    spec = load_action(action)
    outside = []
    for seed in (0, 1):
        clean = simulate(action, seed, faults=[])
        base = {m.id: spec_metric(m, clean) for m in spec.metrics}
        for problem in spec.problems:
            faulty = simulate(action, seed, faults={problem.id: 1.0})
            assert faulty.faults == {problem.id: 1.0}
            for ind in problem.indicators:
                value = spec_metric(spec.metric(ind.metric), faulty)
                moved = value - base[ind.metric]
                ok = moved > 0 if ind.side == "high" else moved < 0
                assert ok, f"{problem.id} (seed {seed}) moved {ind.metric} {base[ind.metric]:.3f} -> {value:.3f}"
            # The main indicator leaves the normal range on the named side.
            main = max(problem.indicators, key=lambda i: i.weight)
            lo, hi = spec.metric(main.metric).range
            value = spec_metric(spec.metric(main.metric), faulty)
            outside.append((value > hi) if main.side == "high" else (value < lo))
    assert np.mean(outside) >= 0.85, f"only {np.mean(outside):.0%} of faults push their main metric out of range"


def test_fault_severity_is_graded():
    spec = load_action("deep_squat")
    m = spec.metric("bottom_knee_angle")
    values = [spec_metric(m, simulate("deep_squat", 3, faults={"shallow_squat": sev})) for sev in (0.25, 0.5, 1.0)]
    assert values[0] < values[1] < values[2]
