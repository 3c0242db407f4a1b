"""Training recipe pieces (curriculum, schedules, mining, augmentations, seeds, split), a tiny
training run, structured pruning and the FP16 export; everything small enough for a shared CPU."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from edge.score.preprocess import InputSpec, active_window, heading_rotation, prepare_input
from models.config import LossConfig
from models.curriculum import Curriculum, difficulty, loss_weights, motion_intensity, scaled_curriculum
from models.data import (
    ScoreData,
    augment_batch,
    eval_sample_seed,
    fresh_eval_seeds,
    joint_jitter,
    load_training_set,
    rotate_y,
    split_indices,
    temporal_distortion,
    train_sample_seed,
    training_seed_set,
)
from models.mining import EasyMemory, hardness, rho_at, select_hard
from models.train import TrainSettings, predict, train_scorer, variant_config

torch.set_num_threads(1)


def test_motion_intensity_is_eq25():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3, 4, 10, 17))
    d = np.diff(x[:, :3], axis=2)
    expected = np.sqrt(np.array([np.sum(d[i] ** 2) / (17 * 9) for i in range(3)]))
    assert np.allclose(motion_intensity(x), expected)
    dn = difficulty(x)
    assert dn.min() == 0.0 and dn.max() == 1.0


def test_curriculum_follows_the_paper_schedule():
    d = np.array([0.1, 0.2, 0.4, 0.5, 0.7, 0.9])
    c = Curriculum(d)
    rng = np.random.default_rng(0)
    for epoch in (1, 10):
        assert c.sample_mask(epoch, rng).tolist() == [True, True, False, False, False, False]
    assert c.medium_probability(11) == pytest.approx(1 / 15)
    assert c.medium_probability(25) == 1.0
    assert c.sample_mask(26, rng).all()
    hard_seen = any(c.sample_mask(e, rng)[4:].any() for e in range(1, 26))
    assert not hard_seen
    short = scaled_curriculum(d, 8)
    assert short.low_until == 2 and short.ramp_until == 5


def test_loss_weight_schedules():
    base = LossConfig()
    assert loss_weights(base, 1).lambda_rank == pytest.approx(0.1)
    assert loss_weights(base, 5).lambda_rank == pytest.approx(0.5)
    assert loss_weights(base, 9).lambda_local == pytest.approx(0.2)
    assert loss_weights(base, 10).lambda_local == pytest.approx(0.18)
    assert loss_weights(base, 25).lambda_local == pytest.approx(0.2 * 0.81)
    assert loss_weights(base, 30).lambda_contrast == base.lambda_contrast
    assert loss_weights(base.model_copy(update={"lambda_rank": 0.0}), 7).lambda_rank == 0.0


def test_hard_sample_mining_eq24():
    err = np.array([4.0, 4.0, 1.0, 10.0])
    y = np.array([50.0, 100.0, 0.0, 50.0])
    h = hardness(err, y)
    assert h[0] == pytest.approx(4.0) and h[1] == pytest.approx(4.0 * math.exp(-0.5))
    assert select_hard(h, 0.5).tolist() == [True, False, False, True]
    assert select_hard(h, 0.6).sum() == math.ceil(4 * 0.6)
    assert rho_at(1, 30) == pytest.approx(0.6) and rho_at(30, 30) == pytest.approx(0.3)
    assert rho_at(15, 29) == pytest.approx(0.45)


def test_easy_memory_keeps_ten_epochs_and_replays_a_fifth():
    mem = EasyMemory()
    mem.add(np.arange(10), epoch=1)
    mem.add(np.arange(10, 20), epoch=5)
    mem.forget_before(12)  # epoch 1 is more than 10 epochs back
    assert len(mem) == 10
    picked = mem.replay(np.random.default_rng(0))
    assert len(picked) == 2 and set(picked) <= set(range(10, 20))


def test_augmentations():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(4, 20, 17)).astype(np.float32)
    r = rotate_y(x, rng)
    assert np.allclose(r[1], x[1]) and np.allclose(r[3], x[3])
    assert np.allclose(r[0] ** 2 + r[2] ** 2, x[0] ** 2 + x[2] ** 2, atol=1e-5)
    j = joint_jitter(np.zeros((4, 200, 17), np.float32), rng)
    assert 0.018 < j[:3].std() < 0.022 and np.all(j[3] == 0)
    ramp = np.broadcast_to(np.arange(20, dtype=np.float32)[None, :, None], (4, 20, 17)).copy()
    w = temporal_distortion(ramp, rng)
    assert w.shape == ramp.shape and np.all(np.diff(w[0, :, 0]) > -2.5)
    assert np.abs(w - ramp).max() <= 0.1 * 20 + 1e-4
    batch = np.stack([x] * 16)
    out = augment_batch(batch, np.random.default_rng(2))
    changed = [not np.allclose(out[i], batch[i]) for i in range(16)]
    assert 8 <= sum(changed) < 16  # each of three augmentations with p = 0.5: 1/8 of samples untouched


def test_seed_scheme_keeps_evaluation_fresh():
    train = training_seed_set(7, "sit_up", 600)
    ev = {eval_sample_seed(7, "sit_up", i) for i in range(600)}
    assert len(train) == 600 and not (train & ev)
    assert train_sample_seed(7, "sit_up", 3) != train_sample_seed(8, "sit_up", 3)
    pairs = fresh_eval_seeds(3, "sit_up", 5, exclude={eval_sample_seed(3, "sit_up", 0)})
    assert len(pairs) == 5 and pairs[0][0] == eval_sample_seed(3, "sit_up", 1)
    a, b, c = split_indices(600, 7)
    assert (len(a), len(b), len(c)) == (360, 120, 120)
    assert len(set(a) | set(b) | set(c)) == 600


def test_a_larger_training_set_extends_a_cached_smaller_one(tmp_path, monkeypatch):
    """Sample i depends only on (master, action, i): a 6-sample set built on the cached 4-sample
    set simulates 2 samples and equals the 6-sample set simulated from scratch."""
    import models.data as data

    spec = InputSpec()
    small = load_training_set("deep_squat", 5, 4, spec, cache_dir=tmp_path)
    simulated = []
    real = data.simulate_samples
    monkeypatch.setattr(data, "simulate_samples", lambda a, pairs, *r, **k: simulated.append(len(pairs)) or real(a, pairs, *r, **k))
    big = load_training_set("deep_squat", 5, 6, spec, cache_dir=tmp_path)
    assert simulated == [2]
    fresh = load_training_set("deep_squat", 5, 6, spec, cache_dir=None)
    np.testing.assert_array_equal(big.x[:4], small.x)
    np.testing.assert_array_equal(big.x, fresh.x)
    np.testing.assert_array_equal(big.seed, fresh.seed)
    assert list(big.condition) == list(fresh.condition)


def test_prepare_input_faces_plus_x_and_finds_the_action(seq):
    from dataclasses import replace

    x = prepare_input(seq, InputSpec(frames=32))
    assert x.shape == (4, 32, 17) and np.isfinite(x).all()
    hips = x[:3, :, 12] - x[:3, :, 11]  # right minus left hip
    assert np.all(hips[2] > 0) and abs(hips[0].mean()) < 0.01  # hip line along +z: facing +x
    # A camera turned by 25 degrees and moved sees the same input.
    a = np.radians(25.0)
    rot = np.array([[np.cos(a), 0, np.sin(a)], [0, 1, 0], [-np.sin(a), 0, np.cos(a)]])
    turned = replace(seq, joints=(seq.joints @ rot.T.astype(np.float32) + np.float32([1.0, 0.2, -3.0])))
    assert np.allclose(prepare_input(turned, InputSpec(frames=32)), x, atol=1e-4)
    # A still recording with one burst of motion: the window is centred on the burst.
    j = np.repeat(seq.joints[:1], 300, axis=0).astype(np.float64)
    j[140:160, 9, 1] += np.sin(np.linspace(0, np.pi, 20)) * 0.5
    first, last = active_window(j, 30.0, 3.0)
    assert first < 140 and last > 159 and last - first == pytest.approx(89)
    rot = heading_rotation(np.repeat(np.array([[[0, 0, 0]] * 11 + [[0, 0, 0], [1.0, 0, 0]] + [[0, 0, 0]] * 4]), 2, 0))
    assert np.allclose(rot @ np.array([1.0, 0, 0]), [0, 0, 1], atol=1e-9)


def test_fixed_window_keeps_one_time_scale(seq):
    """The fixed window is centred on the motion and never compressed: a slow and a fast version of
    the same move span input frames in proportion to their durations."""
    from dataclasses import replace

    from edge.score.preprocess import fixed_window

    still = np.repeat(seq.joints[:1], 300, axis=0).astype(np.float32)

    def burst(n_frames: int):
        j = still.copy()
        j[150 - n_frames // 2 : 150 - n_frames // 2 + n_frames, 9, 1] += np.sin(np.linspace(0, np.pi, n_frames)) * 0.5
        return replace(seq, joints=j, confidence=np.ones(j.shape[:2], np.float32), t=np.arange(300) / 30.0)

    first, last = fixed_window(burst(90).joints.astype(np.float64), 30.0, 4.5)
    assert last - first == pytest.approx(134) and abs((first + last) / 2 - 149.5) < 1.0
    spec = InputSpec(window_mode="fixed", window_s=4.5, frames=90)
    moved = []
    for n_frames in (30, 90):  # 1 s and 3 s of motion
        x = prepare_input(burst(n_frames), spec)
        wrist = x[1, :, 9] - x[1, 0, 9]
        moved.append(int((np.abs(wrist) > 0.05 * np.abs(wrist).max()).sum()))
    assert moved[1] / moved[0] == pytest.approx(3.0, rel=0.2)  # 20 input frames per second for both
    # The default (span) window's cache key is the one it had before window_mode existed.
    import hashlib

    from models.data import spec_hash

    old = InputSpec().model_dump_json(exclude={"window_mode"})
    assert spec_hash(InputSpec()) == hashlib.sha256(old.encode()).hexdigest()[:10]
    assert spec_hash(spec) != spec_hash(InputSpec(window_s=4.5, frames=90))


def _synthetic(n: int, seed: int, frames: int = 16) -> ScoreData:
    """Sinusoidal motion whose amplitude sets the score (points)."""
    rng = np.random.default_rng(seed)
    amp = rng.uniform(0.2, 1.0, n)
    t = np.linspace(0, 2 * np.pi, frames)
    x = rng.normal(0, 0.02, (n, 4, frames, 17)).astype(np.float32)
    x[:, 1] += (amp[:, None] * np.sin(t)[None])[:, :, None]
    x[:, 3] = 1.0
    y = (50 + 50 * amp).astype(np.float32)
    return ScoreData("sit_up", x, y, np.array(["normal"] * n), np.arange(n, dtype=np.uint32))


def test_tiny_training_runs_the_recipe_and_fits():
    data = _synthetic(40, 0)
    train, val = data.subset(np.arange(28)), data.subset(np.arange(28, 40))
    cfg = variant_config("full", 0.1, 4, float(train.y.mean()))
    settings = TrainSettings(epochs=6, batch_size=14, lr=3e-3, progress=False)
    res = train_scorer(cfg, train, val, settings)
    h = res.history
    assert len(h) == 6 and 1 <= res.best_epoch <= 6
    assert h[0]["samples"] < len(train) and h[-1]["samples"] == len(train)  # curriculum opens up
    assert h[0]["rho"] == pytest.approx(0.6) and h[-1]["rho"] == pytest.approx(0.3)
    assert h[0]["lambda_rank"] == pytest.approx(0.1) and h[-1]["lambda_rank"] == pytest.approx(0.5)
    assert sum(r["replayed"] for r in h) > 0  # the easy-sample memory was used
    pred = predict(res.model, val.x)
    mae = np.abs(pred - val.y).mean()
    assert mae == pytest.approx(min(r["val_mae"] for r in h), abs=1e-3)  # the best epoch's weights are kept
    assert h[-1]["train_loss"]["mse"] < 0.8 * h[0]["train_loss"]["mse"]  # it fits the training scores


def test_training_on_both_views_draws_the_cut_one_and_validates_on_both():
    """views "both": each sample of a batch in its cut view with p = view_p; the validation MAE that
    picks the weights is the mean over the two views."""
    from dataclasses import replace

    from models.data import batch_views

    data = _synthetic(40, 2)
    data = replace(data, x_cut=data.x[:, :, ::-1].copy())  # another view of the same samples
    idx = np.arange(40)
    rng = np.random.default_rng(0)
    np.testing.assert_array_equal(batch_views(data, idx, rng, 0.0), data.x)
    np.testing.assert_array_equal(batch_views(data, idx, rng, 1.0), data.x_cut)
    mixed = batch_views(data, idx, rng, 0.5)
    from_cut = np.array([np.array_equal(mixed[i], data.x_cut[i]) for i in idx])
    assert all(from_cut[i] or np.array_equal(mixed[i], data.x[i]) for i in idx) and 8 <= from_cut.sum() <= 32
    train, val = data.subset(np.arange(28)), data.subset(np.arange(28, 40))
    assert train.x_cut is not None and val.x_cut.shape == val.x.shape
    cfg = variant_config("full", 0.1, 4, float(train.y.mean()))
    res = train_scorer(cfg, train, val, TrainSettings(epochs=3, batch_size=14, progress=False))
    cut_mae = np.abs(predict(res.model, val.x_cut) - val.y).mean()
    whole_mae = np.abs(predict(res.model, val.x) - val.y).mean()
    assert (cut_mae + whole_mae) / 2 == pytest.approx(min(r["val_mae"] for r in res.history), abs=1e-3)


@pytest.mark.parametrize("variant", ["A", "D", "E", "baseline"])
def test_ablation_variants_train(variant):
    data = _synthetic(12, 1)
    cfg = variant_config(variant, 0.1, 4, 75.0)
    res = train_scorer(cfg, data.subset(np.arange(8)), data.subset(np.arange(8, 12)), TrainSettings(epochs=1, batch_size=8, progress=False))
    assert np.isfinite(res.history[0]["val_mae"])


def test_pruning_removes_kernels_and_exports(tmp_path):
    import onnxruntime as ort

    from export.fp16 import fp16_parity, to_fp16
    from export.onnx_export import export_onnx
    from export.prune import kernel_contribution, prune_scorer, remaining_params
    from models.agcn import AdaptiveGCNScorer

    torch.manual_seed(0)
    cfg = variant_config("full", 0.25, 4, 75.0)
    model = AdaptiveGCNScorer(cfg.network).eval()
    weakest = [int(torch.argmin(kernel_contribution(b))) for b in model.backbone.blocks]
    before = remaining_params(model)
    removed = prune_scorer(model, 0.15)
    widths = [b.gcn.weight.out_channels for b in model.backbone.blocks]
    assert removed == [2, 2, 5, 5, 10, 10] and widths == [14, 14, 27, 27, 54, 54]
    assert remaining_params(model) < before
    assert all(b.gcn.weight.out_channels == b.tcn[0].in_channels for b in model.backbone.blocks)
    assert weakest  # the lowest-contribution kernel existed in every block
    x = np.random.default_rng(0).normal(size=(2, 4, 24, 17)).astype(np.float32)
    res = export_onnx(model, tmp_path / "p.onnx", example_frames=24)
    got = ort.InferenceSession(str(res.path), providers=["CPUExecutionProvider"]).run(["score"], {"skeleton": x})[0]
    assert np.allclose(got, predict(model, x), atol=1e-3)
    to_fp16(res.path, tmp_path / "h.onnx")
    assert (tmp_path / "h.onnx").stat().st_size < 0.7 * res.path.stat().st_size
    assert fp16_parity(res.path, tmp_path / "h.onnx", x) < 1.0


def test_a_cut_training_set_is_cached_apart_and_jittered_reproducibly(tmp_path):
    """Training on attempts as the segmenter cuts them: its own cache file, bounds moved by at most
    CUT_JITTER frames from the segmenter's truth, the same jitter each time it is built."""
    from edge.sim import simulate
    from models.data import CUT_JITTER, attempt_cut, train_sample_seed

    spec = InputSpec(frames=16)
    whole = load_training_set("sit_up", 5, 3, spec, cache_dir=tmp_path)
    cut = load_training_set("sit_up", 5, 3, spec, cache_dir=tmp_path, views="cut")
    names = sorted(p.name for p in tmp_path.iterdir())
    assert len(names) == 2 and names[0] == names[1][:-4] + "-cut.npz"
    assert not np.allclose(whole.x, cut.x)
    np.testing.assert_array_equal(whole.y, cut.y)
    again = load_training_set("sit_up", 5, 3, spec, cache_dir=None, views="cut")
    np.testing.assert_array_equal(cut.x, again.x)
    both = load_training_set("sit_up", 5, 3, spec, cache_dir=tmp_path, views="both")  # the two caches, paired
    np.testing.assert_array_equal(both.x, whole.x)
    np.testing.assert_array_equal(both.x_cut, cut.x)
    assert both.subset(np.array([2, 0])).x_cut.shape == (2, *cut.x.shape[1:])
    with pytest.raises(ValueError, match="views must be one of"):
        load_training_set("sit_up", 5, 3, spec, cache_dir=tmp_path, views="attempt")
    from models.data import card_views

    assert [card_views(d) for d in ({}, {"cut": False}, {"cut": True}, {"views": "both"})] == ["whole", "whole", "cut", "both"]
    with pytest.raises(ValueError, match="unknown training views"):
        card_views({"views": "half"})
    sample = simulate("sit_up", train_sample_seed(5, "sit_up", 0))
    truth = attempt_cut(sample)
    for seed in range(20):
        moved = attempt_cut(sample, np.random.default_rng(seed))
        assert abs(moved.t[0] - truth.t[0]) <= CUT_JITTER / 30 + 1e-9 and abs(moved.t[-1] - truth.t[-1]) <= CUT_JITTER / 30 + 1e-9


def test_a_saved_run_continues_from_its_weights_and_its_card_counts_both_stages(tmp_path, monkeypatch):
    """--init: a second stage starts from the kept weights of a saved run (a new cosine cycle, no
    curriculum, the loss schedules carried on, mining at its final share); the run records the
    stage it continued and the card counts the epochs of both."""
    import models.train as mt
    from models.card import training_stages

    data = _synthetic(40, 3)
    monkeypatch.setattr(mt, "load_training_set", lambda *a, **k: data)
    args = dict(action="sit_up", variant="full", width=0.1, seed=7, n=40, spec=InputSpec(), cache_dir=None)
    r1, meta1, _ = mt.run_training(epochs=6, settings=TrainSettings(epochs=6, batch_size=14, lr=3e-3, progress=False), **args)
    meta1["command"] = "stage one"
    run1 = mt.save_run(r1, tmp_path / "stage1" / "sit_up-full", meta1)

    def gap(a, b):  # largest difference of the learnable weights of two models
        pb = dict(b.named_parameters())
        return max(float((p - pb[k]).detach().abs().max()) for k, p in a.named_parameters())

    # With a vanishing learning rate the continued weights stay stage one's; a fresh network's do not.
    tiny = TrainSettings(epochs=2, batch_size=14, lr=1e-9, progress=False)
    fresh = mt.run_training(epochs=2, settings=tiny, **args)[0]
    r2, meta2, _ = mt.run_training(epochs=2, settings=tiny, init=run1, **args)
    assert gap(r2.model, r1.model) < 1e-6 < gap(fresh.model, r1.model)
    first = r2.history[0]
    assert meta2["settings"]["curriculum"] is False and meta2["settings"]["epoch_offset"] == 6
    n_train = len(split_indices(40, 7)[0])
    assert first["samples"] == n_train  # no curriculum: every training sample from the first epoch
    assert first["rho"] == pytest.approx(0.3)
    assert first["lambda_local"] == pytest.approx(loss_weights(LossConfig(), 7).lambda_local)
    assert meta2["init"]["run"] == str(run1) and meta2["init"]["best_epoch"] == r1.best_epoch
    meta2["command"] = "stage two"
    stages = training_stages(meta2)
    assert [(s["epochs"], s["command"], s["curriculum"]) for s in stages] == [(6, "stage one", True), (2, "stage two", False)]
    assert stages[0]["seconds"] == round(r1.seconds, 1) and stages[0]["best_epoch"] == r1.best_epoch
    from models.card import build_card

    card = build_card("sit_up", "0" * 64, r2.config, InputSpec(), meta2 | {"seconds": 2.0, "best_epoch": 1}, {}, "1.test")
    assert card["training"]["epochs"] == 8 and card["training"]["seconds"] == pytest.approx(round(r1.seconds, 1) + 2.0)
    assert card["training"]["stages"][-1]["lr"] == 1e-9
    # Fewer samples, another width or input than the saved run's is refused before any training.
    with pytest.raises(ValueError, match="on 40 samples; continue it on those or more, not 20"):
        mt.run_training(epochs=1, settings=TrainSettings(epochs=1, progress=False), init=run1, **(args | {"n": 20}))
    with pytest.raises(ValueError, match="width"):
        mt.run_training(epochs=1, settings=TrainSettings(epochs=1, progress=False), init=run1, **(args | {"width": 0.25}))


def test_split_of_a_grown_set_keeps_the_split_of_the_set_it_grew_from():
    """A set grown from 600 to 1000 samples (then 1500): the first 600 keep the 600-sample split,
    the new samples are split 6:2:2 on their own, and every sample is in exactly one part."""
    base = split_indices(600, 7)
    grown = split_indices(1000, 7, [600])
    for old, new in zip(base, grown):
        np.testing.assert_array_equal(new[new < 600], old)
    assert [int((p >= 600).sum()) for p in grown] == [240, 80, 80]
    assert sorted(np.concatenate(grown).tolist()) == list(range(1000))
    again = split_indices(1500, 7, [1000, 600])  # bases in any order
    for old, new in zip(grown, again):
        np.testing.assert_array_equal(new[new < 1000], old)
    assert [int((p >= 1000).sum()) for p in again] == [300, 100, 100]
    assert not np.array_equal(split_indices(1000, 7)[2], grown[2])  # without bases: a new permutation
    from models.data import card_split

    np.testing.assert_array_equal(card_split({"seed": 7, "split_bases": [600]}, 1000)[1], grown[1])
    np.testing.assert_array_equal(card_split({"seed": 7}, 600)[0], base[0])
    with pytest.raises(ValueError, match="strictly between 0 and the set's 600 samples"):
        split_indices(600, 7, [600])


def test_a_run_continued_on_more_samples_keeps_its_held_out_samples_held_out(tmp_path, monkeypatch):
    """--init with a larger --n: the stage trains on the grown set, the continued run's validation
    and test samples stay out of training, and the run and its card record the growth."""
    import models.train as mt
    from models.card import training_stages

    monkeypatch.setattr(mt, "load_training_set", lambda action, seed, n, *a, **k: _synthetic(n, 3))
    args = dict(action="sit_up", variant="full", width=0.1, seed=7, spec=InputSpec(), cache_dir=None)
    quick = TrainSettings(epochs=1, batch_size=14, lr=3e-3, progress=False)
    r1, meta1, _ = mt.run_training(epochs=1, settings=quick, n=40, **args)
    meta1["command"] = "stage one"
    run1 = mt.save_run(r1, tmp_path / "sit_up-full", meta1)
    r2, meta2, test2 = mt.run_training(epochs=1, settings=quick, n=60, init=run1, **args)
    assert meta2["data"]["samples"] == 60 and meta2["data"]["split_bases"] == [40]
    tr1, va1, te1 = split_indices(40, 7)
    tr2, va2, te2 = split_indices(60, 7, [40])
    assert r2.history[0]["samples"] == len(tr2) == 24 + 12
    assert set(te1) <= set(te2) and set(va1) <= set(va2) and not (set(tr2) & (set(va1) | set(te1)))
    np.testing.assert_array_equal(test2.seed, _synthetic(60, 3).seed[te2])
    meta2["command"] = "stage two"
    assert [s["samples"] for s in training_stages(meta2)] == [40, 60]
    older = {"command": "python -m models.train --action sit_up --n 6000 --epochs 40", "settings": {"epochs": 40}}
    assert training_stages({"command": "stage two", "data": {"samples": 12000}, "init": older})[0]["samples"] == 6000
    run2 = mt.save_run(r2, tmp_path / "grown" / "sit_up-full", meta2)
    meta3 = mt.run_training(epochs=1, settings=quick, n=60, init=run2, **args)[1]  # the same grown set again
    assert meta3["data"]["split_bases"] == [40]


def test_init_that_is_not_a_saved_run_is_refused_in_one_sentence(tmp_path):
    from models.train import main

    (tmp_path / "state.pt").write_bytes(b"")
    with pytest.raises(SystemExit, match="not a saved training run .*config.json, history.json"):
        main(["--action", "sit_up", "--init", str(tmp_path), "--epochs", "1", "--quiet"])
    with pytest.raises(SystemExit, match="one saved run"):
        main(["--action", "all", "--init", str(tmp_path), "--epochs", "1", "--quiet"])
