"""Streaming segmenter refinements: a wobble before the move, a travelling attempt's hips settling."""

from __future__ import annotations

import numpy as np

import edge.fusion.segment as segment
from edge.actions.spec import load_action
from edge.fusion.segment import STILL_M_S, AttemptSegmenter, activity, movement_bounds
from tests.test_segment import F, _feed, _knee_joints

N = 300
T = np.arange(N, dtype=np.float64)


def _mj(f0: float, f1: float) -> np.ndarray:
    """Minimum-jerk 0 -> 1 between frames f0 and f1 (N,)."""
    u = np.clip((T - f0) / (f1 - f0), 0, 1)
    return 10 * u**3 - 15 * u**4 + 6 * u**5


def _creep_then_squat() -> np.ndarray:
    # the fused stream's wobble: the knees creep 4 deg at 25 deg/s (5 frames, enough to start a
    # candidate, not a move: the pose stays near the rest pose), 0.1 s still, then a squat from frame 80
    r = np.radians(25.0 / 30.0)
    ang = np.zeros(N)
    ang[72:77] = r * np.arange(1, 6)
    ang[77:] = 5 * r
    return _knee_joints(ang + 1.4 * _mj(80, 102) - (1.4 + 5 * r) * _mj(140, 170))


def test_a_wobble_just_before_the_move_is_not_its_start(monkeypatch):
    spec = load_action("deep_squat")
    j = _creep_then_squat()
    a = activity(j, 30.0, spec)
    assert 20.0 < a[72:78].max() < segment.STRONG_SHARE * 20.0  # over the start threshold, under a strong move
    ts, te = movement_bounds(j, 30.0, spec, 80, 150)
    assert abs(ts - 80) <= 1
    found = _feed(AttemptSegmenter(spec), j, noise=0.002, seed=5)
    assert [(abs(x.start - ts) <= 3, abs(x.end - te) <= 3) for x in found] == [(True, True)], ((ts, te), found)
    # without the rule the creep's run is taken for the start (the onset fit, which reads the frames
    # around the run, switched off too: it alone brings this start back to 3 frames early)
    monkeypatch.setattr(segment, "STRONG_SHARE", np.inf)
    early = _feed(AttemptSegmenter(spec, fit_start=False), j, noise=0.002, seed=5)
    assert len(early) == 1 and early[0].start < ts - 3, ((ts, te), early)


def test_a_travelling_attempt_ends_when_the_hips_have_settled():
    # a jump-like move: the knees and hips bend and extend (frames 60-100) while the body travels
    # 1 m forward (70-130): the joints pause at ~100, the hips glide on until ~125
    spec = load_action("standing_long_jump")
    x = 1.0 * _mj(70, 130)
    j = _knee_joints(1.2 * _mj(60, 80) - 1.2 * _mj(80, 100))
    j[..., 0] += x[:, None]
    angles_end = movement_bounds(j, 30.0, spec, 60, 95)[1]
    speed = np.abs(np.gradient(x)) * 30.0
    settled = int(np.nonzero((T > 100) & (speed < STILL_M_S))[0][0])
    assert settled - angles_end >= 15
    seg = AttemptSegmenter(spec)
    rng = np.random.default_rng(1)
    out, emitted = [], []
    for k in range(N):
        jk = j[k] + rng.normal(0, 0.002, (17, 3))
        got = seg.push(F(k / 30.0, 1_000_000 + int(round(k * 33_333.3)), jk, np.full(17, 0.9)))
        out += got
        emitted += [k] * len(got)
    assert seg.flush() == []
    assert len(out) == 1 and abs(out[0].start - 60) <= 3 and abs(out[0].end - settled) <= 2, (settled, out)
    assert emitted[0] - out[0].end <= 15  # emitted as soon as the hips are seen below the threshold
