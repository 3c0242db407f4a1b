"""`fieldcoach eval align`: MotionDTW keyframes on held-out simulated attempts, ablations, baselines.

Small n so the file runs in seconds; the full figures (n >= 50 per action) come from the CLI.
Thresholds are looser than the targets (mean keyframe error <= 1.0 frame) to stay stable at n = 5.
"""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from edge.actions.spec import ACTION_IDS
from edge.evaluate.align_eval import METHODS, evaluate_align, evaluate_align_actions, keyframe_errors
from edge.evaluate.heldout import heldout_seeds
from tests.conftest import REPO

SEED = 11


@pytest.fixture(scope="module")
def main_figures():
    return evaluate_align_actions(ACTION_IDS, n=5, seed=SEED, methods=("motiondtw", "one_stage"))


def test_motiondtw_keyframes_on_long_held_out_inputs(main_figures):
    res = main_figures
    per = {a: r["methods"]["motiondtw"] for a, r in res["actions"].items()}
    for a, m in per.items():
        assert m["failures"] == 0, a
        assert m["n"] == 5
        assert m["mean_keyframe_error_frames"] <= 3.0, (a, m["per_keyframe"])
    mean = res["methods_mean_keyframe_error_frames"]["motiondtw"]
    assert mean == res["mean_keyframe_error_frames"]
    assert mean <= 1.5, per
    # most keyframes land within two frames
    assert np.mean([m["share_within_2_frames"] for m in per.values()]) >= 0.8


def test_one_stage_fails_as_in_the_paper(main_figures):
    means = main_figures["methods_mean_keyframe_error_frames"]
    assert means["one_stage"] >= 4 * means["motiondtw"], means


def test_every_ablation_and_baseline_runs_and_reports():
    res = evaluate_align("basketball_free_throw", n=2, seed=SEED, methods=METHODS)
    assert set(res["methods"]) == set(METHODS)
    for m, r in res["methods"].items():
        assert r["n"] + r["failures"] == 2, m
        if r["n"]:
            assert r["mean_keyframe_error_frames"] >= 0 and set(r["per_keyframe"]) == {
                "set_stance", "dip", "set_point", "release", "follow_through"
            }, m
    # raw coordinates under camera yaw and offset do much worse than the angle features
    raw = [res["methods"][m]["mean_keyframe_error_frames"] for m in ("dtw_raw", "fastdtw")]
    assert min(raw) > res["methods"]["motiondtw"]["mean_keyframe_error_frames"]


def test_keyframe_error_and_seed_bookkeeping():
    e = keyframe_errors({"a": 3, "b": 10}, {"a": 5, "b": 10}, ["a", "b"])
    assert e.tolist() == [2.0, 0.0]
    assert heldout_seeds(SEED, "sit_up", 3) == heldout_seeds(SEED, "sit_up", 5)[:3]  # prefix-stable
    with pytest.raises(ValueError):
        evaluate_align("sit_up", 1, SEED, methods=("nonsense",))


def test_cli_eval_align_json():
    proc = subprocess.run(
        [sys.executable, "-m", "edge.cli", "eval", "align", "--action", "sit_up", "--n", "2", "--seed", str(SEED),
         "--methods", "motiondtw", "--json"],
        cwd=REPO, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    res = json.loads(proc.stdout)
    assert res["action"] == "sit_up" and res["n"] == 2
    assert res["mean_keyframe_error_frames"] == res["methods"]["motiondtw"]["mean_keyframe_error_frames"]
    bad = subprocess.run(
        [sys.executable, "-m", "edge.cli", "eval", "align", "--methods", "bogus"],
        cwd=REPO, capture_output=True, text=True, timeout=300,
    )
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1
