"""The simulated athlete as a data source: observed files, labels, raters, grades, datasets."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from edge.actions import load_action
from edge.sim import GRADE_THRESHOLDS, generate_dataset, grade, plot_sample, rubric_text, simulate
from edge.sim.actions import action_module, available_actions
from edge.sim.labels import RATER_NOISE_SD, icc, label_score
from edge.sim.observe import Camera
from edge.sim.simulate import draw_labels
from edge.sim.technique import TechniqueParam, check_tables
from edge.skeleton.io import read_npz, write_npz

ACTIONS = ("standing_long_jump", "deep_squat")


# ------------------------------------------------------------------------------------------
# Plugins and specs


def test_registry_has_our_actions():
    assert set(ACTIONS) <= set(available_actions())


@pytest.mark.parametrize("action", available_actions())
def test_every_spec_problem_has_a_fault_and_back(action):
    mod = action_module(action)
    spec = load_action(action)
    assert set(mod.FAULTS) == {p.id for p in spec.problems}
    assert sum(p.weight for p in mod.TECHNIQUE.values()) == pytest.approx(100.0)
    for shifts in mod.FAULTS.values():
        assert shifts and set(shifts) <= set(mod.TECHNIQUE)


def test_check_tables_rejects_mismatches():
    t = {"a": TechniqueParam(1, 0.1, 0, 2, 1, 0.5, 100, "m", "a thing")}
    check_tables("x", t, {"p": {"a": 0.5}}, ["p"])
    with pytest.raises(ValueError, match="without a fault"):
        check_tables("x", t, {"p": {"a": 0.5}}, ["p", "q"])
    with pytest.raises(ValueError, match="not spec problems"):
        check_tables("x", t, {"p": {"a": 0.5}, "z": {"a": 1.0}}, ["p"])
    with pytest.raises(ValueError, match="unknown technique parameter"):
        check_tables("x", t, {"p": {"b": 0.5}}, ["p"])
    with pytest.raises(ValueError, match="sum to 100"):
        check_tables("x", {"a": TechniqueParam(1, 0.1, 0, 2, 1, 0.5, 60, "m", "a thing")}, {"p": {"a": 1}}, ["p"])


def test_bad_fault_arguments_are_refused():
    with pytest.raises(ValueError, match="unknown problem"):
        simulate("deep_squat", 0, faults=["no_such_problem"])
    with pytest.raises(ValueError, match="severity"):
        simulate("deep_squat", 0, faults={"shallow_squat": 1.5})
    with pytest.raises(ValueError, match="severity"):
        simulate("deep_squat", 0, faults={"shallow_squat": 0.0})
    with pytest.raises(ValueError, match="not a string"):
        simulate("deep_squat", 0, faults="shallow_squat")
    with pytest.raises(ValueError, match="condition"):
        simulate("deep_squat", 0, condition="fog")
    with pytest.raises(ValueError, match="seed"):
        simulate("deep_squat", -1)


# ------------------------------------------------------------------------------------------
# One sample


@pytest.mark.parametrize("action", ACTIONS)
@pytest.mark.parametrize("condition", ["normal", "low_light", "occlusion"])
def test_observed_sequence_keeps_the_contract(action, condition):
    s = simulate(action, 11, condition=condition)
    seq = s.sequence.validate()
    assert seq.action == action and seq.fps == 30.0
    assert seq.joints.dtype == np.float32 and seq.joints.shape == s.clean_joints.shape
    nan = np.isnan(seq.joints).any(axis=-1)
    assert (seq.confidence[nan] == 0).all()
    assert np.isfinite(seq.joints[~nan]).all()
    truth = json.loads(seq.meta["truth"])
    assert truth["keyframes"] == s.keyframes and truth["condition"] == condition
    assert list(truth["keyframes"]) == load_action(action).keyframe_names
    assert truth["faults"] == s.faults and truth["grade"] == grade(truth["score"])
    assert truth["score"] == pytest.approx(np.mean(truth["rater_scores"]), abs=0.051)
    assert set(truth["technique"]) == set(action_module(action).TECHNIQUE)
    assert abs(truth["camera"]["yaw_deg"]) <= 30.0 and truth["camera"]["tilt_deg"] <= 2.0


def _residual(s) -> np.ndarray:
    """Observed minus the clean motion seen through the recorded camera, (T, 17, 3)."""
    cam = s.camera
    c = Camera(cam["yaw_deg"], cam["tilt_deg"], cam["tilt_axis_deg"], tuple(cam["offset"]))
    return s.sequence.joints.astype(np.float64) - c.apply(s.clean_joints)


def test_observation_noise_by_condition():
    normal = [simulate("deep_squat", s, condition="normal") for s in range(3)]
    dark = [simulate("deep_squat", s, condition="low_light") for s in range(3)]
    occl = [simulate("deep_squat", s, condition="occlusion") for s in range(3)]

    def sd(samples):
        r = np.concatenate([_residual(s)[s.sequence.confidence >= 0.5] for s in samples])
        return float(np.sqrt(np.nanmean(r**2)))

    sd_normal, sd_dark = sd(normal), sd(dark)
    assert 0.007 < sd_normal < 0.016, sd_normal  # about 1 cm per axis
    assert 2.0 < sd_dark / sd_normal < 3.2
    low = lambda ss: np.mean([(s.sequence.confidence < 0.5).mean() for s in ss])  # noqa: E731
    assert low(occl) > 3 * low(normal) and low(dark) > low(normal)
    # Jitter is correlated a little frame to frame (AR(1), not white, not frozen).
    r = _residual(normal[0])[:, :, 0]
    r = r - np.nanmean(r, axis=0)
    rho = np.nanmean(r[1:] * r[:-1]) / np.nanmean(r * r)
    assert 0.3 < rho < 0.7


def test_camera_yaw_spread():
    yaws = [simulate("deep_squat", s).camera["yaw_deg"] for s in range(12)]
    assert max(yaws) - min(yaws) > 20 and max(abs(y) for y in yaws) <= 30


def test_same_seed_same_bytes(tmp_path):
    for action in ACTIONS:
        a, b = tmp_path / f"{action}_a.npz", tmp_path / f"{action}_b.npz"
        write_npz(a, simulate(action, 5, condition="occlusion").sequence)
        write_npz(b, simulate(action, 5, condition="occlusion").sequence)
        assert a.read_bytes() == b.read_bytes()
        c = tmp_path / f"{action}_c.npz"
        write_npz(c, simulate(action, 6, condition="occlusion").sequence)
        assert c.read_bytes() != a.read_bytes()


def test_faults_do_not_change_the_student():
    a = simulate("standing_long_jump", 9, faults=[])
    b = simulate("standing_long_jump", 9, faults={"stiff_landing": 0.7})
    assert a.body == b.body
    assert a.technique["cm_knee_angle"] == b.technique["cm_knee_angle"]
    assert b.technique["landing_knee_flexion"] < a.technique["landing_knee_flexion"]
    assert b.true_score < a.true_score


def test_idle_frames_before_and_after():
    for seed in range(4):
        s = simulate("deep_squat", seed)
        idle = json.loads(s.sequence.meta["truth"])["idle_s"]
        assert all(0.0 <= v <= 3.0 for v in idle)
        assert s.keyframes["start"] >= int(idle[0] * 30) and s.keyframes["end"] < s.sequence.n_frames - int(idle[1] * 30)


def test_plot_sample(tmp_path):
    s = simulate("standing_long_jump", 2, faults=["weak_arm_drive"])
    out = plot_sample(s, load_action("standing_long_jump"), tmp_path / "jump.png")
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000


# ------------------------------------------------------------------------------------------
# Labels


def test_grade_thresholds():
    assert [g for g, _ in GRADE_THRESHOLDS] == ["excellent", "good", "medium", "pass"]
    assert [lo for _, lo in GRADE_THRESHOLDS] == [90.0, 80.0, 70.0, 60.0]
    for score, expected in ((100, "excellent"), (90, "excellent"), (89.99, "good"), (80, "good"),
                            (79.9, "medium"), (70, "medium"), (69.9, "pass"), (60, "pass"),
                            (59.9, "fail"), (0, "fail")):
        assert grade(score) == expected, score
    with pytest.raises(ValueError):
        grade(float("nan"))


def test_icc_matches_shrout_and_fleiss():
    # Shrout & Fleiss (1979) Psychol Bull 86:420, Table 2: 6 targets, 4 judges.
    x = np.array([[9, 2, 5, 8], [6, 1, 3, 2], [8, 4, 6, 8], [7, 1, 2, 6], [10, 5, 6, 9], [6, 2, 4, 7]], float)
    assert icc(x, "1") == pytest.approx(0.17, abs=0.005)
    assert icc(x, "2,1") == pytest.approx(0.29, abs=0.005)
    with pytest.raises(ValueError):
        icc(x, "3,k")


@pytest.fixture(scope="module")
def label_batches():
    return {a: [draw_labels(a, s) for s in range(200 if a == "deep_squat" else 120)] for a in ACTIONS}


@pytest.mark.parametrize("action", ACTIONS)
def test_rater_agreement(label_batches, action):
    ratings = np.array([d["rater_scores"] for d in label_batches[action]])
    assert 0.88 <= icc(ratings, "2,1") <= 0.96
    assert 0.88 <= icc(ratings, "1") <= 0.96
    spread = ratings.std(axis=1, ddof=1).mean()
    assert 0.5 * RATER_NOISE_SD < spread < 1.5 * RATER_NOISE_SD


@pytest.mark.parametrize("action", ACTIONS)
def test_population_covers_the_score_range(label_batches, action):
    ds = label_batches[action]
    grades = [d["grade"] for d in ds]
    share = {g: grades.count(g) / len(grades) for g in ("excellent", "good", "medium", "pass", "fail")}
    assert share["excellent"] >= 0.05 and share["fail"] >= 0.01
    assert share["good"] + share["medium"] >= 0.35
    assert share["good"] >= share["fail"]
    # Faults cost points: samples with injected faults score lower on average.
    clean = [d["score"] for d in ds if not d["faults"]]
    faulty = [d["score"] for d in ds if len(d["faults"]) >= 2]
    assert np.mean(faulty) < np.mean(clean) - 5


def test_label_is_mean_of_raters():
    d = draw_labels("deep_squat", 3)
    assert d["score"] == label_score(d["rater_scores"]) == pytest.approx(np.mean(d["rater_scores"]), abs=0.05)


def test_draw_labels_matches_simulate():
    for action in ACTIONS:
        d = draw_labels(action, 17)
        s = simulate(action, 17)
        assert d["score"] == s.score and d["faults"] == s.faults and d["technique"] == s.technique


@pytest.mark.parametrize("action", ACTIONS)
def test_rubric_text(action):
    text = rubric_text(action)
    for name in action_module(action).TECHNIQUE:
        assert name in text
    assert "excellent >= 90" in text and "fail" in text


# ------------------------------------------------------------------------------------------
# Datasets


def test_dataset_files_index_and_reproducibility(tmp_path):
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    rows = generate_dataset(ACTIONS, 3, 42, a, low_light=0.4, occlusion=0.3)
    generate_dataset(ACTIONS, 3, 42, b, low_light=0.4, occlusion=0.3)
    generate_dataset(ACTIONS, 2, 42, c, low_light=0.4, occlusion=0.3)
    assert len(rows) == 6
    for r in rows:
        seq = read_npz(a / r["file"])
        assert seq.action == r["action"]
        assert json.loads(str(seq.meta["truth"]))["keyframes"] == r["keyframes"]
        assert (a / r["file"]).read_bytes() == (b / r["file"]).read_bytes()
        if r["index"] < 2:  # sample i does not depend on n
            assert (a / r["file"]).read_bytes() == (c / r["file"]).read_bytes()
    for name in ("labels.csv", "labels.json"):
        assert (a / name).read_bytes() == (b / name).read_bytes()
    with open(a / "labels.csv", newline="") as f:
        table = list(csv.DictReader(f))
    assert [t["file"] for t in table] == [r["file"] for r in rows]
    assert json.loads((a / "labels.json").read_text()) == json.loads(json.dumps(rows))
    assert not list(a.glob(".*.tmp")), "no temporary files left behind"


def test_dataset_condition_shares(tmp_path):
    from edge.sim.dataset import sample_condition

    conds = [sample_condition(1, "deep_squat", i, 0.2, 0.15) for i in range(2000)]
    assert 0.17 < conds.count("low_light") / 2000 < 0.23
    assert 0.12 < conds.count("occlusion") / 2000 < 0.18
    with pytest.raises(ValueError):
        generate_dataset(ACTIONS, 1, 0, tmp_path, low_light=0.8, occlusion=0.4)
    with pytest.raises(ValueError):
        generate_dataset(ACTIONS, 0, 0, tmp_path)
