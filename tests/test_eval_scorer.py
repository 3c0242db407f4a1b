"""Scorer evaluation: metrics (Eq. 26-29), per-condition breakdown, the PoseQuality baseline,
``fieldcoach eval scorer`` on fresh samples and ``fieldcoach bench scorer``."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy.stats import spearmanr

from edge.cli import main
from models.baselines import PoseQuality
from models.evaluate import metrics_by_condition, score_metrics
from tests.test_scorer_runtime import build_tiny_bundle


def test_metrics_match_hand_computation():
    y = np.array([90.0, 80.0, 70.0, 60.0, 85.0])
    p = np.array([84.0, 82.0, 70.0, 75.0, 85.0])
    m = score_metrics(y, p)
    err = np.array([6.0, 2.0, 0.0, 15.0, 0.0])
    assert m["mae"] == pytest.approx(err.mean())
    assert m["rmse"] == pytest.approx(np.sqrt((err**2).mean()))
    assert m["acc5"] == pytest.approx(3 / 5) and m["acc10"] == pytest.approx(4 / 5)
    assert m["srcc"] == pytest.approx(spearmanr(y, p).statistic)
    # grades: excellent/good, good/good, medium/medium, pass/medium, good/good
    assert m["grade_accuracy"] == pytest.approx(3 / 5)
    tied = score_metrics([1, 2, 2, 3, 4], [2, 1, 3, 3, 5])
    assert tied["srcc"] == pytest.approx(spearmanr([1, 2, 2, 3, 4], [2, 1, 3, 3, 5]).statistic)
    assert score_metrics([1, 2, 3], [5, 5, 5])["srcc"] is None
    with pytest.raises(ValueError):
        score_metrics([1, 2], [1, np.nan])


def test_metrics_by_condition_lists_all_three():
    y = np.array([80.0, 70.0, 90.0, 60.0])
    p = np.array([81.0, 72.0, 85.0, 60.0])
    m = metrics_by_condition(y, p, ["normal", "normal", "low_light", "low_light"])
    assert set(m["by_condition"]) == {"normal", "low_light", "occlusion"}
    assert m["by_condition"]["normal"]["mae"] == pytest.approx(1.5)
    assert m["by_condition"]["low_light"]["mae"] == pytest.approx(2.5)
    assert m["by_condition"]["occlusion"]["n"] == 0 and m["by_condition"]["occlusion"]["mae"] is None


def test_posequality_learns_a_coordinate_signal():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(120, 4, 8, 17)).astype(np.float32)
    y = 70 + 10 * x[:, 1, 4, 9]  # one wrist height drives the score
    model = PoseQuality(components=16, trees=50).fit(x[:90], y[:90])
    pred = model.predict(x[90:])
    assert np.abs(pred - y[90:]).mean() < np.abs(y[90:] - y[:90].mean()).mean()
    assert model.parameters > 0
    with pytest.raises(RuntimeError):
        PoseQuality().predict(x)


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory):
    return build_tiny_bundle(tmp_path_factory.mktemp("eval_models"))


def test_eval_scorer_cli_reports_fresh_samples(models_dir, capsys):
    args = ["eval", "scorer", "--action", "sit_up", "--n", "8", "--seed", "3", "--models", str(models_dir), "--json"]
    assert main(args) == 0
    rep = json.loads(capsys.readouterr().out)
    for key in ("mae", "rmse", "srcc", "acc5", "acc10", "grade_accuracy"):
        assert key in rep and all(key in m for m in rep["by_condition"].values())
    assert rep["n"] == 8 and sum(m["n"] for m in rep["by_condition"].values()) == 8
    assert rep["model"]["backend"] == "ort-cpu" and rep["seed"] == 3
    assert main(args) == 0
    assert json.loads(capsys.readouterr().out)["mae"] == rep["mae"]  # same seed, same samples
    assert main(args[:7] + ["4"] + args[8:]) == 0
    assert json.loads(capsys.readouterr().out)["mae"] != rep["mae"]


def test_eval_scorer_cli_rejects_a_corrupt_model(models_dir, tmp_path, capsys):
    import shutil

    shutil.copytree(models_dir, tmp_path / "m")
    (tmp_path / "m" / "sit_up" / "scorer.onnx").write_bytes(b"\x00" * 10)
    code = main(["eval", "scorer", "--action", "sit_up", "--n", "4", "--models", str(tmp_path / "m")])
    err = capsys.readouterr().err
    assert code == 2 and "sha256" in err and len(err.strip().splitlines()) == 1


def test_bench_scorer_times_each_length(models_dir, capsys):
    from edge.score.bench import bench_scorer, format_bench

    rep = bench_scorer(models_dir, "sit_up", runs=3, warmup=1, threads=1)
    cells = rep["rows"]["ort-fp32"]
    assert set(cells) == {"T30xB1", "T60xB1", "T90xB1", "T120xB1", "T90xB4"}
    assert all(0 < c["median_ms"] <= c["p99_ms"] for c in cells.values())
    assert "unavailable" in rep["rows"]["tensorrt-fp16"] and "unavailable" in rep["rows"]["ort-pruned"]
    text = format_bench(rep)
    assert "paper prune+TRT" in text and "28.6" in text


def test_attempt_cut_is_the_segmenter_truth_and_eval_can_score_it(models_dir, tmp_path, capsys):
    from edge.actions.spec import load_action
    from edge.fusion.segment import movement_bounds
    from edge.sim import simulate
    from models.data import attempt_cut

    sample = simulate("sit_up", 11)
    cut = attempt_cut(sample)
    kf = list(sample.keyframes.values())
    start, end = movement_bounds(sample.clean_joints, sample.sequence.fps, load_action("sit_up"), min(kf), max(kf))
    assert 0 < start < max(kf) <= end < sample.sequence.n_frames - 1  # idle cut off on both sides
    np.testing.assert_array_equal(cut.joints, sample.sequence.joints[start : end + 1])
    np.testing.assert_array_equal(cut.t, sample.sequence.t[start : end + 1])
    args = ["eval", "scorer", "--action", "sit_up", "--n", "6", "--seed", "3", "--models", str(models_dir), "--json"]
    assert main(args) == 0
    whole = json.loads(capsys.readouterr().out)
    assert main(args + ["--cut"]) == 0
    cut_rep = json.loads(capsys.readouterr().out)
    assert whole["input"] == "whole recording" and cut_rep["input"].startswith("attempt cut")
    assert cut_rep["n"] == whole["n"] == 6 and cut_rep["mae"] != whole["mae"]  # other inputs, same samples
    # a model trained on cut attempts (its card's data.cut) is evaluated on them unless told otherwise
    import shutil

    shutil.copytree(models_dir, tmp_path / "m")
    card_path = tmp_path / "m" / "sit_up" / "card.json"
    card = json.loads(card_path.read_text())
    card["data"]["cut"] = True
    card_path.write_text(json.dumps(card))
    args[args.index(str(models_dir))] = str(tmp_path / "m")
    assert main(args) == 0
    assert json.loads(capsys.readouterr().out)["mae"] == cut_rep["mae"]
    assert main(args + ["--whole"]) == 0
    assert json.loads(capsys.readouterr().out)["mae"] == whole["mae"]
