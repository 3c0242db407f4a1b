"""`fieldcoach analyze` fills keyframes, metrics, problems and strengths from the shipped references."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest

from edge.analyze import AnalysisError, analyze_sequence
from edge.config import FieldCoachConfig
from edge.evaluate.heldout import heldout_seed
from edge.report import REPORT_KEYS, to_json
from edge.sim import simulate
from edge.skeleton.io import write_npz
from tests.conftest import REPO

CASES = [("deep_squat", "shallow_squat"), ("standing_long_jump", "no_arm_backswing"), ("sit_up", "pulling_on_neck")]


def run_cli(*args):
    return subprocess.run(
        [sys.executable, "-m", "edge.cli", *map(str, args)], cwd=REPO, capture_output=True, text=True, timeout=300
    )


@pytest.mark.parametrize("action,fault", CASES)
def test_injected_fault_is_among_the_top_problems(action, fault):
    sample = simulate(action, heldout_seed(5, action, 0), faults={fault: 1.0}, idle=(2.0, 2.5))
    rep = analyze_sequence(sample.sequence, None, FieldCoachConfig())
    ids = [p["id"] for p in rep["problems"]]
    assert fault in ids, (ids, [m for m in rep["metrics"] if m["side"]])
    assert len(ids) <= 6
    kf = {k["name"]: k["frame"] for k in rep["keyframes"]}
    assert list(kf) == list(sample.keyframes)
    # the attempt sits in the middle of a long input (2 s and 2.5 s of idle standing); a faulty
    # attempt differs from every (good) reference, so allow a few frames
    err = [abs(kf[k] - sample.keyframes[k]) for k in kf]
    assert sum(err) / len(err) <= 5 and max(err) <= 10, (kf, sample.keyframes)
    assert rep["timings_ms"]["align"] > 0 and rep["timings_ms"]["diagnose"] > 0
    assert not any(s.startswith("keyframes") for s in rep["not_computed"])
    assert rep["reference"]["files"] and rep["alignment"]["references_voting"] >= 1


def test_clean_attempt_report_is_filled_and_valid_json():
    sample = simulate("volleyball_overhead_pass", heldout_seed(5, "volleyball_overhead_pass", 1), faults=[])
    rep = analyze_sequence(sample.sequence, None, FieldCoachConfig())
    doc = json.loads(to_json(rep))
    for key in REPORT_KEYS:
        assert key in doc
    assert doc["keyframes"] and doc["metrics"] and doc["strengths"]
    for m in doc["metrics"]:
        assert set(m) >= {"name", "value", "unit", "range", "deviation"}
    for p in doc["problems"]:
        assert set(p) >= {"id", "title", "probability", "evidence"} and p["evidence"].endswith(".")
    # ranges are the calibrated ones, not the spec's (both exist and differ for some metric)
    from calibration.reference import load_reference

    ref = load_reference("volleyball_overhead_pass")
    ranges = {m["name"]: tuple(m["range"]) for m in doc["metrics"]}
    assert all(ranges[k] == pytest.approx(v) for k, v in ref.ranges.items())


def test_cli_analyze_fills_the_report(tmp_path):
    sample = simulate("deep_squat", heldout_seed(5, "deep_squat", 2), faults={"arms_drop": 1.0})
    f = tmp_path / "squat.npz"
    write_npz(f, sample.sequence)
    p = run_cli("analyze", f, "--json")
    assert p.returncode == 0, p.stderr
    rep = json.loads(p.stdout)
    assert rep["keyframes"] and rep["metrics"] and rep["problems"] and rep["strengths"]
    assert "arms_drop" in [x["id"] for x in rep["problems"]]
    text = run_cli("analyze", f).stdout
    assert "keyframes: start@" in text and "Arms dropping" in text


def test_missing_template_file_is_one_sentence_exit_2(tmp_path):
    sample = simulate("sit_up", heldout_seed(5, "sit_up", 3), faults=[])
    f = tmp_path / "a.npz"
    write_npz(f, sample.sequence)
    ref = tmp_path / "ref"
    shutil.copytree(REPO / "models" / "reference", ref)
    (ref / "sit_up_ref0.npz").unlink()
    p = run_cli("analyze", f, "--reference", ref)
    assert p.returncode == 2 and p.stdout == ""
    err = p.stderr.strip()
    assert len(err.splitlines()) == 1 and err.startswith("fieldcoach: error: ") and "sit_up_ref0.npz" in err
    empty = tmp_path / "empty"
    empty.mkdir()
    p = run_cli("analyze", f, "--reference", empty, "--json")
    assert p.returncode == 2 and len(p.stderr.strip().splitlines()) == 1 and "Traceback" not in p.stderr
    with pytest.raises(AnalysisError):
        analyze_sequence(sample.sequence, None, FieldCoachConfig(), reference_dir=empty)


def test_input_without_the_action_reports_why():
    # 20 frames of standing are shorter than half of any reference: no keyframes, and a reason
    sample = simulate("deep_squat", heldout_seed(5, "deep_squat", 4), faults=[], idle=(1.0, 0.0))
    short = sample.sequence.slice(0, 20)
    rep = analyze_sequence(short, None, FieldCoachConfig())
    assert rep["keyframes"] == [] and rep["problems"] == []
    assert any(s.startswith("keyframes, metrics, problems, strengths (MotionDTW found no deep_squat") for s in rep["not_computed"])


def test_kismam_evidence_floors_keep_noise_out_of_the_top_problems():
    from edge.actions.spec import load_action
    from edge.diagnose import assess

    spec = load_action("deep_squat")
    lo, hi = next(m.range for m in spec.metrics if m.id == "bottom_knee_angle")
    values = {"bottom_knee_angle": hi + 0.05 * (hi - lo)}  # 5 % of a range width too shallow: noise
    plain = assess(spec, values)
    floored = assess(spec, values, min_score=0.1)
    assert [p.id for p in plain.problems] == ["shallow_squat"]
    assert floored.problems == () and [p.id for p in floored.ranking] == ["shallow_squat"]
    # a clear fault plus a lightly weighted co-indicator: the co-firing problem has a small share
    lo_h, hi_h = next(m.range for m in spec.metrics if m.id == "heel_lift")
    values = {"heel_lift": hi_h + 1.0 * (hi_h - lo_h)}
    both = assess(spec, values, min_score=0.1)
    assert [p.id for p in both.problems] == ["heels_lift", "knees_too_far_forward"]
    main = assess(spec, values, min_probability=0.3, min_score=0.1)
    assert [p.id for p in main.problems] == ["heels_lift"]
    with pytest.raises(ValueError):
        assess(spec, values, min_probability=1.0)
    with pytest.raises(ValueError):
        assess(spec, values, min_score=-1.0)


def test_align_multi_votes_with_the_references_that_match():
    from calibration.reference import load_reference
    from edge.actions.spec import load_action
    from edge.align import AlignmentError, Template, align_multi

    ref = load_reference("sit_up")
    spec = load_action("sit_up")
    sample = simulate("sit_up", heldout_seed(5, "sit_up", 4), faults=[], idle=(0.5, 0.5))
    good = ref.templates[0]
    # a reference slowed down 3x cannot match within max_scale 2.0 of the input's length
    slow = np.repeat(good.joints, 3, axis=0)
    too_long = Template(good.action, slow, good.fps, {k: 3 * v for k, v in good.keyframes.items()}, "slow")
    alone = align_multi([good], sample.sequence, spec, ref.config)
    both = align_multi([too_long, good], sample.sequence, spec, ref.config)
    assert both.keyframes == alone.keyframes and [r.reference for r in both.references] == [good.name]
    with pytest.raises(AlignmentError):
        align_multi([too_long], sample.sequence, spec, ref.config)
