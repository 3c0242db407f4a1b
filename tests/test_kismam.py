"""KISMAM (SportsGPT Eq. 4-6): deviations by hand, scores with a hand-made W, probabilities, the
top-6 cap, evidence and strengths, and whole diagnoses of hand-built long jumps (a good one, a
stiff landing) in any camera yaw."""

from __future__ import annotations

import json
import math
from dataclasses import replace

import numpy as np
import pytest

from edge.actions.spec import load_action
from edge.diagnose import (
    MetricValue,
    assess,
    deviation,
    diagnose,
    lowhigh_vector,
    problem_iou,
    problem_probabilities,
    problem_scores,
)
from edge.report import empty_report, to_json
from tests.test_diagnose_metrics import FPS, L_SHANK, L_THIGH, OFFSET, Pose, build, interpolate

G = 9.81
KF = {"start": 5, "countermovement_bottom": 25, "takeoff": 37, "peak": 42, "landing": 49, "stabilized": 64}


@pytest.fixture(scope="module")
def spec():
    return load_action("standing_long_jump")


def _hermite(p0, v0, p1, v1, dur, u):
    return (
        (2 * u**3 - 3 * u**2 + 1) * p0 + (u**3 - 2 * u**2 + u) * dur * v0
        + (-2 * u**3 + 3 * u**2) * p1 + (u**3 - u**2) * dur * v1
    )


def long_jump(n: int = 80, landing_end=(30.0, -40.0), cm_trunk: float = 55.0) -> list[Pose]:
    """A standing long jump in the athlete's frame, keyframes at ``KF``.

    Dip to a knee angle of 100 deg (trunk ``cm_trunk``, arms 60 deg back), take-off with the hips
    at 2.9 m/s and 32 deg (knees 175 deg, arms 120 deg forward), 0.4 s of ballistic flight, landing
    with the knees at 170 deg, then the knees bend to 180 - |thigh - shank| of ``landing_end``
    (shank, thigh) by ``stabilized``: (30, -40) bends to 110 deg, a 60 deg range.
    """
    k = KF
    y_stand = L_SHANK + L_THIGH + 0.07
    p_st, p_cm = np.array([0.0, y_stand]), np.array([-0.10, 0.66])
    p_to, v0 = np.array([0.55, 0.95]), np.array([2.46, 1.54])
    fl = (k["landing"] - k["takeoff"]) / FPS
    p_land, v_land = p_to + v0 * fl + [0.0, -0.5 * G * fl * fl], v0 + [0.0, -G * fl]
    p_stab = p_land + [0.30, -0.15]

    def pelvis(f):
        def u(a, b):
            return (f - k[a]) / (k[b] - k[a])

        if f <= k["start"]:
            return p_st
        if f <= k["countermovement_bottom"]:
            e = u("start", "countermovement_bottom")
            return p_st + e * e * (3 - 2 * e) * (p_cm - p_st)
        if f <= k["takeoff"]:
            return _hermite(p_cm, np.zeros(2), p_to, v0, (k["takeoff"] - k["countermovement_bottom"]) / FPS,
                            u("countermovement_bottom", "takeoff"))
        if f <= k["landing"]:
            tau = (f - k["takeoff"]) / FPS
            return p_to + v0 * tau + [0.0, -0.5 * G * tau * tau]
        if f <= k["stabilized"]:
            dur = (k["stabilized"] - k["landing"]) / FPS
            return _hermite(p_land, v_land, p_stab, np.zeros(2), dur, u("landing", "stabilized"))
        return p_stab

    keys = [
        (0, Pose()),
        (k["start"], Pose()),
        (k["countermovement_bottom"], Pose(shank=30, thigh=-50, trunk=cm_trunk, arm=-60)),
        (k["takeoff"], Pose(shank=45, thigh=40, trunk=45, arm=120)),
        (k["peak"], Pose(shank=0, thigh=-10, trunk=20, arm=150)),
        (k["landing"], Pose(shank=-15, thigh=-25, trunk=35, arm=60)),
        (k["stabilized"], Pose(shank=landing_end[0], thigh=landing_end[1], trunk=40, arm=40)),
    ]
    return [replace(p, pelvis=(*pelvis(f), 0.0)) for f, p in enumerate(interpolate(keys, n))]


STIFF = (-10.0, -30.0)  # knees 170 -> 160 after landing: a 10 deg range instead of 35-90


def _mid(spec) -> dict[str, float]:
    return {m.id: 0.5 * (m.range[0] + m.range[1]) for m in spec.metrics}


# Eq. 4 -----------------------------------------------------------------------------------------
def test_eq4_deviation_by_hand():
    assert deviation(80.0, 85.0, 120.0) == 5.0
    assert deviation(131.5, 85.0, 120.0) == 11.5
    assert deviation(100.0, 85.0, 120.0) == 0.0
    assert deviation(85.0, 85.0, 120.0) == 0.0 and deviation(120.0, 85.0, 120.0) == 0.0
    assert deviation(-100.0, -95.0, -35.0) == 5.0


def test_deviations_are_normalised_by_range_width_in_w_row_layout(spec):
    ids = [m.id for m in spec.metrics]
    ranges = {m.id: m.range for m in spec.metrics}
    values = _mid(spec)
    values["cm_knee_angle"] = 127.0  # 7 above [85, 120]: 7 / 35 = 0.2 on row (cm_knee_angle, high)
    values["flight_time"] = 0.24  # 0.06 below [0.30, 0.60]: 0.2 on row (flight_time, low)
    values["jump_distance"] = None
    d = lowhigh_vector(values, ranges, ids)
    k_knee, k_flight = ids.index("cm_knee_angle"), ids.index("flight_time")
    assert d[2 * k_knee + 1] == pytest.approx(0.2) and d[2 * k_knee] == 0.0
    assert d[2 * k_flight] == pytest.approx(0.2) and d[2 * k_flight + 1] == 0.0
    assert np.count_nonzero(d) == 2
    # the same rows in W carry the weights the spec gives those indicators
    w = spec.w_matrix()
    j_shallow = [p.id for p in spec.problems].index("shallow_countermovement")
    j_flat = [p.id for p in spec.problems].index("takeoff_too_flat")
    assert w[2 * k_knee + 1, j_shallow] == 0.9 and w[2 * k_flight, j_flat] == 0.5


# Eq. 5 and probabilities -----------------------------------------------------------------------
def test_eq5_scores_with_a_tiny_hand_made_w():
    # two metrics (rows: m1 low, m1 high, m2 low, m2 high), three problems
    w = np.array([
        [1.0, 0.0, 0.0],
        [0.0, 0.5, 0.0],
        [0.3, 0.0, 0.0],
        [0.0, 1.0, 0.0],
    ])
    d = np.array([0.0, 0.4, 0.0, 0.2])  # m1 above its range by 0.4 widths, m2 above by 0.2
    s = problem_scores(d, w)
    np.testing.assert_allclose(s, [0.0, 0.4 * 0.5 + 0.2 * 1.0, 0.0])
    d = np.array([0.5, 0.0, 0.1, 0.0])
    np.testing.assert_allclose(problem_scores(d, w), [0.5 * 1.0 + 0.1 * 0.3, 0.0, 0.0])
    with pytest.raises(ValueError, match="do not match"):
        problem_scores(np.zeros(3), w)


def test_probabilities_normalise_over_positive_scores():
    p = problem_probabilities(np.array([0.0, 0.3, 0.1, 0.0, 0.6]))
    np.testing.assert_allclose(p, [0.0, 0.3, 0.1, 0.0, 0.6])
    p = problem_probabilities(np.array([0.2, 0.0, 0.6]))
    np.testing.assert_allclose(p, [0.25, 0.0, 0.75])
    assert p.sum() == pytest.approx(1.0)
    np.testing.assert_array_equal(problem_probabilities(np.zeros(4)), np.zeros(4))


def test_problem_scores_match_the_spec_indicators_by_hand(spec):
    values = _mid(spec)
    values.update(takeoff_angle=50.0, takeoff_body_lean=25.0, peak_hip_rise=0.47, flight_time=0.66)
    a = assess(spec, values)
    steep = next(p for p in a.ranking if p.id == "takeoff_too_steep")
    # weights from the spec: takeoff_angle high 1.0, takeoff_body_lean low 0.6, peak_hip_rise high
    # 0.4, flight_time high 0.2; deviations 8/20, 5/25, 0.07/0.35, 0.06/0.30 range widths
    expect = 1.0 * 8 / 20 + 0.6 * 5 / 25 + 0.4 * 0.07 / 0.35 + 0.2 * 0.06 / 0.30
    assert steep.score == pytest.approx(expect)
    order = ["takeoff_angle", "takeoff_body_lean", "peak_hip_rise", "flight_time"]
    assert [i.metric for i in steep.indicators] == order
    assert all(a_.contribution >= b.contribution for a_, b in zip(steep.indicators, steep.indicators[1:]))
    assert a.ranking[0].id == "takeoff_too_steep"
    assert sum(p.probability for p in a.ranking) == pytest.approx(1.0)
    # the opposite fault has no evidence: a value cannot be both below and above its range
    assert "takeoff_too_flat" not in [p.id for p in a.ranking]


def test_top_six_cap_and_probabilities_over_all_problems_with_evidence(spec):
    values = _mid(spec)
    values.update(
        cm_knee_angle=140.0, arm_backswing=-10.0, arm_drive_takeoff=60.0, takeoff_knee_angle=140.0,
        takeoff_angle=10.0, cm_trunk_lean=20.0, landing_knee_flexion=10.0, landing_trunk_lean=0.0,
        landing_sway=0.1, takeoff_knee_asymmetry=20.0, landing_knee_asymmetry=25.0,
    )
    a = assess(spec, values)
    assert len(a.ranking) > 6 and len(a.problems) == 6
    assert a.problems == a.ranking[:6]
    scores = [p.score for p in a.ranking]
    assert scores == sorted(scores, reverse=True)
    assert sum(p.probability for p in a.ranking) == pytest.approx(1.0)
    assert sum(p.probability for p in a.problems) < 1.0
    for p in a.ranking:
        assert p.score > 0 and p.probability == pytest.approx(p.score / sum(scores))
    assert len(assess(spec, values, top_n=3).problems) == 3


def test_all_metrics_in_range_give_no_problems_and_a_strength_per_dimension(spec):
    a = assess(spec, _mid(spec))
    assert a.problems == () and a.ranking == () and a.unassessed_problems == ()
    dims = {m.dimension for m in spec.metrics}
    assert {s.dimension for s in a.strengths} == dims
    for s in a.strengths:
        assert {m.id for m in s.metrics} == {m.id for m in spec.metrics if m.dimension == s.dimension}
        assert s.text.startswith(f"Done well ({s.title.lower()})")


def test_unmeasured_metrics_are_neither_evidence_nor_strengths(spec):
    values = _mid(spec)
    reason = "left_knee not seen at landing (frame 3)."
    values["landing_knee_flexion"] = MetricValue("landing_knee_flexion", None, reason=reason)
    values["stabilization_time"] = None
    a = assess(spec, values)
    assert a.ranking == () and "stiff_landing" in a.unassessed_problems
    m = next(m for m in a.metrics if m.id == "landing_knee_flexion")
    assert m.value is None and m.deviation is None and "left_knee" in m.reason
    assert all("landing_knee_flexion" not in [x.id for x in s.metrics] for s in a.strengths)


def test_evidence_sentence_names_values_ranges_and_deviations(spec):
    values = _mid(spec)
    values.update(landing_knee_flexion=12.0, stabilization_time=1.1)
    p = assess(spec, values).problems[0]
    assert p.id == "stiff_landing"
    assert p.evidence == (
        "Knee flexion used to absorb the landing was 12°, 23° below the normal range of 35 to 90°; "
        "time to stabilize after landing was 1.10 s, 0.20 s above the normal range of 0.25 to 0.90 s."
    )


def test_range_overrides_replace_the_spec_ranges_and_are_checked(spec):
    values = _mid(spec)
    values["flight_time"] = 0.62
    assert [p.id for p in assess(spec, values).problems] == ["takeoff_too_steep"]
    assert assess(spec, values, {"flight_time": [0.3, 0.7]}).problems == ()
    with pytest.raises(ValueError, match="not a metric"):
        assess(spec, values, {"hang_time": (0, 1)})
    with pytest.raises(ValueError, match="Tmin < Tmax"):
        assess(spec, values, {"flight_time": (0.7, 0.3)})
    with pytest.raises(ValueError, match="two numbers"):
        assess(spec, values, {"flight_time": (0.3,)})


# Eq. 6 ------------------------------------------------------------------------------------------
def test_eq6_iou_by_hand():
    assert problem_iou(["a", "b", "c"], ["b", "c", "d"]) == pytest.approx(2 / 4)
    assert problem_iou(["a"], ["b"]) == 0.0
    assert problem_iou(["a", "b"], ("b", "a")) == 1.0
    assert problem_iou([], []) == 1.0
    assert problem_iou(["a", "a", "b"], ["a"]) == pytest.approx(1 / 2)


# Whole diagnoses ------------------------------------------------------------------------------
@pytest.mark.parametrize("yaw", [0.0, 25.0])
def test_good_long_jump_has_no_problems(spec, yaw):
    d = diagnose(build(long_jump(), yaw, OFFSET), spec, KF)
    assert d.heading.source == "travel"
    rad = math.radians(yaw)
    np.testing.assert_allclose(d.forward_direction, [math.cos(rad), 0, -math.sin(rad)], atol=1e-4)
    assert all(m.value is not None for m in d.metrics), [(m.id, m.reason) for m in d.metrics if m.value is None]
    assert d.problems == (), [(p.id, p.evidence) for p in d.problems]
    assert {s.dimension for s in d.strengths} == {m.dimension for m in spec.metrics}


@pytest.mark.parametrize("yaw", [0.0, 25.0, -30.0])
def test_stiff_landing_is_ranked_first(spec, yaw):
    d = diagnose(build(long_jump(landing_end=STIFF), yaw, OFFSET), spec, KF)
    assert d.metric("landing_knee_flexion").value == pytest.approx(10.0, abs=0.01)
    assert [p.id for p in d.problems] == ["stiff_landing"]
    assert d.problems[0].probability == pytest.approx(1.0)
    assert "knee flexion used to absorb the landing was 10°" in d.problems[0].evidence.lower()
    # with a milder second fault (trunk too upright in the dip) the stiff landing still leads
    d2 = diagnose(build(long_jump(landing_end=STIFF, cm_trunk=30.0), yaw, OFFSET), spec, KF)
    ids = [p.id for p in d2.problems]
    assert ids[0] == "stiff_landing" and ids[1] == "upright_preparation"
    assert sum(p.probability for p in d2.problems) == pytest.approx(1.0)


def test_diagnosis_is_the_same_in_any_yaw(spec):
    a = diagnose(build(long_jump(landing_end=STIFF, cm_trunk=30.0)), spec, KF)
    b = diagnose(build(long_jump(landing_end=STIFF, cm_trunk=30.0), 25.0, OFFSET), spec, KF)
    for ma, mb in zip(a.metrics, b.metrics):
        assert mb.value == pytest.approx(ma.value, abs=2e-3), ma.id
    assert [p.id for p in a.problems] == [p.id for p in b.problems]
    for pa, pb in zip(a.problems, b.problems):
        assert pb.probability == pytest.approx(pa.probability, abs=1e-4)


def test_report_fields_follow_the_design_contract(spec):
    seq = build(long_jump(landing_end=STIFF), 25.0, OFFSET)
    d = diagnose(seq, spec, KF)
    r = d.to_report()
    assert set(r) == {"keyframes", "metrics", "problems", "strengths"}
    assert [k["name"] for k in r["keyframes"]] == spec.keyframe_names
    assert all(k["t"] == pytest.approx(seq.t[k["frame"]]) for k in r["keyframes"])
    assert [m["name"] for m in r["metrics"]] == [m.id for m in spec.metrics]
    for m in r["metrics"]:
        assert {"name", "value", "unit", "range", "deviation"} <= set(m)
    for p in r["problems"]:
        assert {"id", "title", "probability", "evidence"} <= set(p) and p["evidence"]
    assert r["strengths"] and all({"dimension", "title", "text"} <= set(s) for s in r["strengths"])
    report = empty_report(spec.id, seq.n_frames, seq.fps)
    report.update(r)
    back = json.loads(to_json(report))
    assert back["problems"][0]["id"] == "stiff_landing"


def test_missing_keyframes_leave_their_metrics_unmeasured(spec):
    kf = {k: f for k, f in KF.items() if k != "peak"}
    d = diagnose(build(long_jump()), spec, kf)
    m = d.metric("peak_hip_rise")
    assert m.value is None and "peak" in m.reason
    assert [k["name"] for k in d.to_report()["keyframes"]] == [k for k in spec.keyframe_names if k != "peak"]
    with pytest.raises(ValueError, match="comes before"):
        diagnose(build(long_jump()), spec, {**KF, "landing": 30})
