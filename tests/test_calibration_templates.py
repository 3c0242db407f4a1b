"""Reference templates and normal ranges (calibration/): medoids, robust ranges, seeds, the shipped bundle."""

from __future__ import annotations

import itertools
import json
import shutil

import numpy as np
import pytest

from calibration.build import KISMAM, MOTIONDTW, build_reference
from calibration.ranges import RangeBuildConfig, load_ranges, ranges_from_values, ranges_seeds, robust_range
from calibration.reference import DEFAULT_REFERENCE_DIR, MANIFEST_FILE, load_reference, read_manifest
from edge.checksum import file_sha256 as sha256_file
from calibration.templates import (
    CALIBRATION_SEED_BASE,
    ReferenceFileError,
    TemplateBuildConfig,
    build_templates,
    calibration_seed,
    dtw_distance_matrix,
    elite_seeds,
    is_calibration_seed,
    k_medoids,
    load_templates,
    template_from_sample,
)
from edge.actions.spec import ACTION_IDS, load_action
from edge.evaluate.heldout import DEVELOPMENT_SEEDS, heldout_seeds
from edge.sim import draw_labels, simulate


def total_cost(d, medoids):
    return d[:, list(medoids)].min(axis=1).sum()


def test_k_medoids_is_swap_optimal_and_mostly_globally_optimal():
    rng = np.random.default_rng(3)
    hits = 0
    for _ in range(8):
        pts = rng.normal(size=(9, 2))
        d = np.linalg.norm(pts[:, None] - pts[None], axis=-1)
        for k in (1, 2, 3):
            got = k_medoids(d, k)
            assert len(set(got)) == k
            cost = total_cost(d, got)
            # PAM's guarantee: no swap of one medoid for one other point lowers the cost
            for i in range(k):
                for c in set(range(9)) - set(got):
                    assert total_cost(d, got[:i] + [c] + got[i + 1 :]) >= cost - 1e-12
            best = min(total_cost(d, c) for c in itertools.combinations(range(9), k))
            hits += cost == pytest.approx(best)
            if k == 1:
                assert cost == pytest.approx(best)
    assert hits >= 20  # of 24


def test_k_medoids_takes_one_medoid_per_style():
    # two tight clusters far apart (e.g. arm pre-swing or not): k=2 must take one from each
    rng = np.random.default_rng(0)
    pts = np.vstack([rng.normal(0, 0.1, (6, 2)), rng.normal(10, 0.1, (3, 2))])
    d = np.linalg.norm(pts[:, None] - pts[None], axis=-1)
    got = k_medoids(d, 2)
    assert sorted(i >= 6 for i in got) == [False, True]
    with pytest.raises(ValueError):
        k_medoids(d, 0)
    with pytest.raises(ValueError):
        k_medoids(d[:3], 1)


def test_robust_range_is_widened_percentiles():
    v = np.arange(0.0, 101.0)  # P5 = 5, P50 = 50, P95 = 95
    r = robust_range(list(v) + [None, float("nan")], 5, 95, 0.6)
    assert r["p5"] == pytest.approx(5) and r["p50"] == pytest.approx(50) and r["p95"] == pytest.approx(95)
    assert r["range"] == pytest.approx((5 - 0.6 * 45, 95 + 0.6 * 45))
    assert r["n"] == 101
    skewed = robust_range(np.r_[np.zeros(90), np.linspace(0, 10, 10)], 5, 95, 0.5)
    assert skewed["range"][1] - skewed["p95"] > skewed["p5"] - skewed["range"][0]  # follows the skew
    with pytest.raises(ValueError):
        robust_range([None, float("nan")])


def test_ranges_keep_the_spec_range_for_rarely_measured_metrics():
    spec = load_action("deep_squat")
    vals = {m.id: list(np.linspace(1.0, 2.0, 20)) for m in spec.metrics}
    vals["head_pitch"] = [None] * 15 + [70.0] * 5  # measured in 25 % of attempts
    block = ranges_from_values(spec, vals, RangeBuildConfig(min_coverage=0.8))
    assert "head_pitch" in block["kept_spec_ranges"] and "head_pitch" not in block["metrics"]
    knee = next(m for m in spec.metrics if m.id == "bottom_knee_angle")
    assert block["metrics"]["bottom_knee_angle"]["spec_range"] == list(knee.range)
    lo, hi = block["metrics"]["bottom_knee_angle"]["range"]
    assert lo < 1.05 and hi > 1.95


def test_seed_schemes_never_meet():
    cal = [calibration_seed(i) for i in range(5)] + ranges_seeds(5)
    assert all(is_calibration_seed(s) and s >= CALIBRATION_SEED_BASE for s in cal)
    for action in ACTION_IDS:
        ev = heldout_seeds(7, action, 200)
        assert all(0 <= s < CALIBRATION_SEED_BASE for s in ev)
        assert not set(ev) & set(DEVELOPMENT_SEEDS)
        assert len(set(ev)) == len(ev)
    assert heldout_seeds(7, "sit_up", 5) != heldout_seeds(8, "sit_up", 5)


def test_elite_seeds_are_the_best_fault_free_scores():
    cfg = TemplateBuildConfig(n_candidates=4, pool_factor=3, n_references=2)
    seeds = elite_seeds("sit_up", cfg)
    assert len(seeds) == 4 and all(is_calibration_seed(s) for s in seeds)
    pool = [calibration_seed(i) for i in range(12)]
    scores = {s: draw_labels("sit_up", s, faults=[])["true_score"] for s in pool}
    assert min(scores[s] for s in seeds) >= sorted(scores.values())[-4]


def test_template_from_sample_trims_around_the_keyframes():
    s = simulate("deep_squat", calibration_seed(3), faults=[])
    t = template_from_sample(s, margin=15)
    first, last = min(s.keyframes.values()), max(s.keyframes.values())
    a = max(0, first - 15)
    assert t.n_frames == min(s.sequence.n_frames - 1, last + 15) - a + 1
    assert t.keyframes == {k: v - a for k, v in s.keyframes.items()}
    assert np.abs(t.joints - s.clean_joints[a : a + t.n_frames]).max() <= 0.0005 + 1e-6  # 1 mm rounding
    assert np.isfinite(t.joints).all() and t.action == "deep_squat" and t.fps == 30.0


def test_build_templates_small():
    cfg = TemplateBuildConfig(n_candidates=4, n_references=2, pool_factor=1)
    ts = build_templates("volleyball_overhead_pass", cfg, MOTIONDTW)
    assert len(ts.templates) == 2 and len(set(ts.seeds)) == 2 and set(ts.seeds) <= set(ts.candidate_seeds)
    d = ts.distances
    assert d.shape == (4, 4) and np.allclose(d, d.T) and np.all(np.diag(d) == 0) and (d[~np.eye(4, dtype=bool)] > 0).all()
    spec = load_action("volleyball_overhead_pass")
    for t in ts.templates:
        assert list(t.keyframes) == spec.keyframe_names
    # a template is nearer to itself than to the others under the same distance
    again = dtw_distance_matrix(list(ts.templates), spec, MOTIONDTW)
    assert again[0, 1] > 0


def test_build_is_byte_reproducible(tmp_path):
    tcfg = TemplateBuildConfig(n_candidates=3, n_references=2, pool_factor=1)
    rcfg = RangeBuildConfig(n_attempts=6)
    m1 = build_reference(tmp_path / "a", ("sit_up",), tcfg, rcfg, command="test")
    m2 = build_reference(tmp_path / "b", ("sit_up",), tcfg, rcfg, command="test")
    assert m1 == m2
    for name, sha in m1["files"].items():
        assert sha256_file(tmp_path / "a" / name) == sha == sha256_file(tmp_path / "b" / name)
    assert (tmp_path / "a" / MANIFEST_FILE).read_bytes() == (tmp_path / "b" / MANIFEST_FILE).read_bytes()
    ref = load_reference("sit_up", tmp_path / "a")
    assert len(ref.templates) == 2 and ref.config == MOTIONDTW and ref.min_probability == KISMAM["min_probability"]
    with pytest.raises(ReferenceFileError):
        load_reference("deep_squat", tmp_path / "a")  # not built there


def test_shipped_bundle_is_complete_small_and_hash_checked(tmp_path):
    manifest = read_manifest(DEFAULT_REFERENCE_DIR)
    assert manifest["command"].startswith("python -m calibration.build")
    assert manifest["version"] and manifest["motiondtw"] == MOTIONDTW.model_dump(mode="json")
    for name, sha in manifest["files"].items():
        path = DEFAULT_REFERENCE_DIR / name
        assert sha256_file(path) == sha, name
        if name.endswith(".npz"):
            assert path.stat().st_size < 16_000, name  # a few KB each
    for action in ACTION_IDS:
        ref = load_reference(action)
        spec = load_action(action)
        assert len(ref.templates) >= 3
        assert all(is_calibration_seed(s) for s in manifest["actions"][action]["template_seeds"])
        assert all(list(t.keyframes) == spec.keyframe_names for t in ref.templates)
        assert set(ref.ranges) <= {m.id for m in spec.metrics} and len(ref.ranges) >= len(spec.metrics) - 2
        doc = json.loads((DEFAULT_REFERENCE_DIR / "normal_ranges.json").read_text())
        for mid, e in doc["actions"][action]["metrics"].items():
            lo, hi = e["range"]
            assert lo <= e["p5"] <= e["p50"] <= e["p95"] <= hi, (action, mid)
    # a changed or missing file is refused with one sentence
    copy = tmp_path / "ref"
    shutil.copytree(DEFAULT_REFERENCE_DIR, copy)
    victim = copy / "deep_squat_ref1.npz"
    data = bytearray(victim.read_bytes())
    data[len(data) // 2] ^= 0xFF
    victim.write_bytes(bytes(data))
    with pytest.raises(ReferenceFileError, match="sha256"):
        load_reference("deep_squat", copy)
    victim.unlink()
    with pytest.raises(ReferenceFileError, match="missing"):
        load_reference("deep_squat", copy)
    (copy / "normal_ranges.json").unlink()
    with pytest.raises(ReferenceFileError):
        load_ranges(copy, "sit_up")
    assert len(load_templates(DEFAULT_REFERENCE_DIR, "sit_up")) == len(manifest["actions"]["sit_up"]["templates"])
