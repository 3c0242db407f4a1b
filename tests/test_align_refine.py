"""Event-keyframe refinement after the DTW transfer (edge.align.refine)."""

from __future__ import annotations

import numpy as np
import pytest

from edge.actions.spec import load_action
from edge.align import MotionDTWConfig, RefineConfig, align_multi, keyframe_events, prepare_template
from edge.align.refine import RefineError, calibrate, first_still, reference_events, refine_keyframes, savgol
from edge.skeleton.joints import Joint

SQUAT = load_action("deep_squat")
FPS = 30.0


def test_events_come_from_the_spec_descriptions():
    ev = keyframe_events(SQUAT)
    assert {k: e.kind for k, e in ev.items()} == {"start": "descent_onset", "bottom": "hip_min", "end": "still"}
    assert ev["end"].threshold == pytest.approx(0.1)
    jump = keyframe_events(load_action("standing_long_jump"))
    assert {k: e.kind for k, e in jump.items()} == {"countermovement_bottom": "hip_min", "stabilized": "still"}
    assert keyframe_events(load_action("sit_up")) == {}


def test_first_still_matches_a_plain_loop():
    rng = np.random.default_rng(3)
    for _ in range(50):
        sp = rng.uniform(0, 0.2, 40)
        lo, hi, hold = int(rng.integers(0, 20)), int(rng.integers(20, 40)), int(rng.integers(1, 7))
        want = hi
        for k in range(lo, hi + 1):
            if (sp[k : k + hold] < 0.1).all():
                want = k
                break
        assert first_still(sp, lo, hi, 0.1, hold) == want


def test_savgol_keeps_a_parabola_and_differentiates_it():
    t = np.arange(60, dtype=float)
    x = 0.01 * (t - 30) ** 2
    assert np.allclose(savgol(x, 9)[5:-5], x[5:-5])
    assert np.allclose(savgol(x, 9, deriv=1)[5:-5], 0.02 * (t[5:-5] - 30))


def _min_jerk(s):
    s = np.clip(s, 0.0, 1.0)
    return 10 * s**3 - 15 * s**4 + 6 * s**5


def squat_joints(onset: int, descent: int, pause: int, ascent: int, n: int, depth=0.4, noise=0.0, seed=0):
    """(n, 17, 3) skeleton whose hips stand, descend (min-jerk), pause, rise, stand; other joints fixed.
    Returns joints and the true keyframes (as the simulator defines them)."""
    k = np.arange(n, dtype=float)
    down = _min_jerk((k - onset) / descent)
    up = _min_jerk((k - onset - descent - pause) / ascent)
    y = 0.9 - depth * (down - up)
    j = np.zeros((n, 17, 3))
    j[:, :, 1] = 1.0
    j[:, Joint.LEFT_HIP, 1] = y
    j[:, Joint.RIGHT_HIP, 1] = y
    j[:, Joint.LEFT_HIP, 2] = -0.1
    j[:, Joint.RIGHT_HIP, 2] = 0.1
    if noise:
        j = j + np.random.default_rng(seed).normal(0, noise, j.shape)
    bottom = onset + descent
    mid_d = onset + int(np.argmax(y[onset:] <= 0.9 - depth / 2))
    top = bottom + pause + ascent
    mid_a = bottom + int(np.argmax(y[bottom:] >= 0.9 - depth / 2))
    kf = {"start": onset, "mid_descent": mid_d, "bottom": bottom, "mid_ascent": mid_a, "end": top}
    return j, kf


def test_refinement_moves_displaced_events_back_to_the_input_s_own_events():
    cfg = RefineConfig()
    ref_j, ref_kf = squat_joints(20, 30, 0, 30, 120)
    cal = calibrate([reference_events(ref_j, FPS, ref_kf, SQUAT, cfg)])
    assert set(cal) == {"start", "bottom", "end"}
    j, kf = squat_joints(35, 40, 0, 36, 170, noise=0.002, seed=1)
    displaced = dict(kf, start=kf["start"] + 6, bottom=kf["bottom"] - 2, end=kf["end"] - 7)
    out = refine_keyframes(j, FPS, displaced, SQUAT, cal, cfg)
    for name in ("start", "bottom", "end"):
        assert abs(out[name] - kf[name]) <= 2, (name, out[name], kf[name])
    for name in ("mid_descent", "mid_ascent"):  # keyframes without an event keep their frame
        assert out[name] == displaced[name]
    off = refine_keyframes(j, FPS, displaced, SQUAT, cal, cfg.model_copy(update={"enabled": False}))
    assert off == displaced


def test_refinement_refuses_an_input_without_hips_and_incomplete_keyframes():
    j, kf = squat_joints(20, 30, 0, 30, 120)
    cfg = RefineConfig()
    cal = calibrate([reference_events(j, FPS, kf, SQUAT, cfg)])
    blind = j.copy()
    blind[:, Joint.LEFT_HIP] = np.nan
    with pytest.raises(RefineError, match="hips"):
        refine_keyframes(blind, FPS, kf, SQUAT, cal, cfg)
    with pytest.raises(RefineError, match="missing"):
        refine_keyframes(j, FPS, {"start": 3}, SQUAT, cal, cfg)


def test_on_simulated_attempts_refinement_beats_the_transfer_at_boundary_keyframes():
    from calibration.reference import load_reference
    from edge.sim import simulate

    err = {}
    for action, names in (("deep_squat", ("start",)), ("standing_long_jump", ("stabilized",))):
        spec = load_action(action)
        ref = load_reference(action)
        prepared = [prepare_template(t, spec, ref.config) for t in ref.templates]
        for seed in range(900, 912):  # neither calibration nor the reported evaluation seeds
            s = simulate(action, seed)
            r = align_multi(prepared, s.sequence, spec, ref.config)
            assert r.transferred and set(r.transferred) == set(r.keyframes)
            for k in names:
                e = (abs(r.transferred[k] - s.keyframes[k]), abs(r.keyframes[k] - s.keyframes[k]))
                err.setdefault(k, []).append(e)
    for k, pairs in err.items():
        before, after = np.mean(pairs, axis=0)
        assert after <= 0.6 * before, (k, before, after)


def test_templates_prepared_with_other_refinement_settings_are_refused():
    from calibration.reference import load_reference
    from edge.align import AlignmentError
    from edge.sim import simulate

    ref = load_reference("deep_squat")
    p = [prepare_template(t, SQUAT, ref.config) for t in ref.templates[:2]]
    other = ref.config.model_copy(update={"refine": RefineConfig(enabled=False)})
    with pytest.raises(AlignmentError, match="refinement"):
        align_multi(p, simulate("deep_squat", 901).sequence, SQUAT, other)
    assert MotionDTWConfig().refine.enabled
