"""Attempt segmentation: the definition on clean motion, the streaming segmenter, sliding windows."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from edge.actions.spec import load_action
from edge.capture.sim_session import build_timeline
from edge.fusion.segment import (
    ON_DEG_S,
    STILL_DEG_S,
    AttemptSegmenter,
    SlidingWindower,
    activity,
    angle_groups,
    angle_series,
    movement_bounds,
    primary_angles,
    sliding_windows,
    weighted_median,
)


@dataclass
class F:
    t: float
    device_ts_usec: int
    joints: np.ndarray
    confidence: np.ndarray


def _feed(seg, joints, noise=0.0, seed=0, emitted=None):
    rng = np.random.default_rng(seed)
    out = []
    for k in range(joints.shape[0]):
        j = joints[k] + (rng.normal(0, noise, (17, 3)) if noise else 0.0)
        conf = np.where(np.isfinite(j).all(axis=1), 0.9, 0.0)
        got = seg.push(F(k / 30.0, 1_000_000 + int(round(k * 33_333.3)), j, conf))
        out += got
        if emitted is not None:
            emitted += [k] * len(got)
    return out + seg.flush()


def test_primary_angles_come_from_the_spec():
    idx, w = primary_angles(load_action("deep_squat"))
    assert idx.shape == (4, 3, 2) and np.all(w >= 0.8)  # knees and hips, not the arms
    idx, w = primary_angles(load_action("sit_up"))
    assert idx.shape[0] == 2  # the hips only
    # a right angle and a straight line
    j = np.zeros((1, 17, 3))
    j[0, 12] = [0, 1, 0]
    j[0, 14] = [0, 0, 0]
    j[0, 16] = [1, 0, 0]
    a = angle_series(j, np.array([[[12, 12], [14, 14], [16, 16]]]))
    assert a[0, 0] == pytest.approx(90.0)
    assert weighted_median(np.array([1.0, 5.0, 9.0]), np.array([1.0, 1.0, 5.0])) == 9.0


def test_angle_groups_come_from_the_spec():
    # the free throw: shooting elbow and shoulder | both knees; a squat: knees | hips; a sit-up: one group
    spec = load_action("basketball_free_throw")
    g = angle_groups(spec)
    names = [s.triplet[1] for s in spec.salient_joints if s.weight >= 0.8]
    assert g.shape == (len(names),) and g.max() == 1
    assert {n.split("_")[-1] for n, x in zip(names, g) if x == g[names.index("right_knee")]} == {"knee"}
    assert {n.split("_")[-1] for n, x in zip(names, g) if x != g[names.index("right_knee")]} == {"elbow", "shoulder"}
    assert angle_groups(load_action("sit_up")).max() == 0
    g = angle_groups(load_action("deep_squat"))
    assert sorted(np.bincount(g).tolist()) == [2, 2]
    # a group moving alone (the knees of a free throw, the arms held): the overall activity is the
    # group's over its scale, so the group threshold on_deg_s x scale is where the truth's overall
    # activity reaches on_deg_s
    spec = load_action("basketball_free_throw")
    seg = AttemptSegmenter(spec)
    legs = angle_groups(spec)[names.index("right_knee")]
    j = _knee_path(120, [(30, 0.0), (70, 1.0)])
    j[:, :11] = j[:1, :11]  # head, shoulders and arms held
    a = activity(j, 30.0, spec)
    idx, w = primary_angles(spec)
    knee = angle_series(j, idx)[:, names.index("right_knee")]
    knee_speed = np.abs(np.gradient(knee)) * 30.0  # both knees move alike
    moving = knee_speed > 1.0
    assert moving.sum() > 20
    np.testing.assert_allclose(a[moving], knee_speed[moving] / seg._group_scale[legs], rtol=1e-6)
    np.testing.assert_allclose(seg._group_scale[legs], (1.0 + 1.0 + 0.8 + 0.9) / (1.0 + 0.8))
    assert seg._group_threshold()[legs] == pytest.approx(ON_DEG_S * seg._group_scale[legs])  # nothing seen yet


def test_a_clear_attempt_is_emitted_after_judge_s_and_cut_the_same():
    # the same squats cut with the early judgement (0.15 s of pause) and without (0.3 s): the same
    # frames, emitted rest_s - judge_s sooner; the hold at the bottom (1.1 s) still does not split it
    spec = load_action("deep_squat")
    j = _knee_path(420, [(60, 0.0), (105, 1.4), (138, 1.4), (183, 0.0), (250, 0.0), (295, 1.3), (340, 0.0)])
    runs, segs = {}, {}
    for judge_s in (0.15, 0.3):
        emitted = []
        segs[judge_s] = AttemptSegmenter(spec, judge_s=judge_s, rest_s=0.3)
        # the squat's end is the body still (ends_still): read here as an on-the-spot move whose end
        # is not, the case the early judgement is for (a still end waits, below)
        segs[judge_s]._still_end = False
        found = _feed(segs[judge_s], j, noise=0.002, seed=5, emitted=emitted)
        runs[judge_s] = ([(x.start, x.end) for x in found], emitted)
    still = []
    _feed(AttemptSegmenter(spec, judge_s=0.15, rest_s=0.3), j, noise=0.002, seed=5, emitted=still)
    (cut_early, at_early), (cut_late, at_late) = runs[0.15], runs[0.3]
    early, late = segs[0.15], segs[0.3]
    assert early.judge < early.rest == late.rest == late.judge
    assert len(cut_early) == len(cut_late) == 2, runs
    # the same starts; the end's fit sees fewer frames after it: within a frame
    assert all(a[0] == b[0] and abs(a[1] - b[1]) <= 1 for a, b in zip(cut_early, cut_late)), runs
    assert [b - a for a, b in zip(at_early, at_late)] == [early.rest - early.judge] * 2, runs
    assert still == at_late  # an attempt whose end is the body still waits for the whole pause
    # emitted judge_s + the derivative's half window (4 frames) + a few frames of the fitted end after it
    assert all(0 < at - end <= early.judge + 4 + 3 for (_, end), at in zip(cut_early, at_early)), runs
    with pytest.raises(ValueError):
        AttemptSegmenter(spec, judge_s=0.0)
    with pytest.raises(ValueError, match="resume_s"):
        AttemptSegmenter(spec, resume_s=-0.1)


def test_movement_bounds_on_a_synthetic_knee_bend():
    spec = load_action("deep_squat")
    n = 150
    t0, t1 = 40, 100
    s = np.clip((np.arange(n) - t0) / (t1 - t0), 0, 1)
    bend = 10 * s**3 - 15 * s**4 + 6 * s**5  # minimum jerk 0 -> 1
    ang = np.radians(80.0) * np.sin(np.pi * bend)  # down and back up
    j = np.zeros((n, 17, 3))
    for side, z in ((11, -0.1), (12, 0.1)):
        j[:, side] = [0, 0.9, z]
        j[:, side - 6] = [0, 1.4, z]  # shoulders above the hips
        j[:, side + 2] = np.stack([0.45 * np.sin(ang), 0.9 - 0.45 * np.cos(ang), np.full(n, z)], axis=1)  # knee
        j[:, side + 4] = j[:, side + 2] - [0, 0.45, 0]  # shank straight down
    start, end = movement_bounds(j, 30.0, spec, 30, 95)
    a = activity(j, 30.0, spec)
    # the start is the last frame below still_deg_s (5 deg/s) before the move: in the onset's slow tail
    assert t0 <= start <= t0 + 3 and a[start] < STILL_DEG_S <= a[start + 1]
    # the end is where the knees slow below on_deg_s for good: just before the move's geometric end
    assert t1 - 6 <= end <= t1 and a[end - 1] >= 20.0 > a[end:].max()
    assert a[:t0].max() < 1e-6 and a[(3 * t0 + t1) // 4] > 20


def test_the_end_does_not_hinge_on_a_settling_move_crossing_the_threshold():
    # a squat back up to a slightly bent stance, then at once a small straightening of the knees
    # (0.3 s): a move of 2.5 deg peaks under on_deg_s, one of 3.4 deg over it. The end must not
    # jump between the two (with a 0.3 s end pause it moved by 12 frames); the bigger the settling
    # move, the more clearly it is a separate move after the attempt's first pause
    spec = load_action("deep_squat")
    ends, peaks = [], []
    for amp_deg in (2.5, 3.4, 6.0):
        j = _knee_path(260, [(40, 0.3), (85, 1.4), (130, 0.3), (139, 0.3 - np.radians(amp_deg))])
        peaks.append(activity(j, 30.0, spec)[131:145].max())
        ends.append(movement_bounds(j, 30.0, spec, 35, 120)[1])
        assert movement_bounds(j, 30.0, spec, 35, 120, on_deg_s=15.0)[1] - ends[-1] in (0, 1)
    assert peaks[0] < 20.0 < peaks[1] < peaks[2]
    assert max(ends) - min(ends) <= 1 and ends[0] < 130, ends
    # the long-pause definition it replaces was knife-edged here
    old = [movement_bounds(_knee_path(260, [(40, 0.3), (85, 1.4), (130, 0.3), (139, 0.3 - np.radians(d))]),
                           30.0, spec, 35, 120, rest_s=0.3)[1] for d in (2.5, 3.4)]
    assert old[1] - old[0] >= 9, old


@pytest.fixture(scope="module")
def sessions():
    acts = ("sit_up", "deep_squat", "standing_long_jump", "volleyball_overhead_pass", "basketball_free_throw")
    return {a: build_timeline(a, 21, n_attempts=3) for a in acts}


@pytest.mark.parametrize(
    "action", ["sit_up", "deep_squat", "standing_long_jump", "volleyball_overhead_pass", "basketball_free_throw"]
)
def test_segmenter_finds_every_attempt_on_clean_motion(sessions, action):
    # between the attempts: the ball put back at the chest, the hands back to the ready stance,
    # the long jumper standing up after the landing (and the next one stepping in); inside them:
    # the held follow-through, the pause at the bottom, the crouch before the take-off
    tl = sessions[action]
    found = _feed(AttemptSegmenter(load_action(action)), tl.joints)
    truth = [(a.start_frame, a.end_frame) for a in tl.attempts]
    det = [(x.start, x.end) for x in found]
    assert len(det) == len(truth), (truth, det)  # resets and stand-ups are not attempts
    both = sum(any(abs(ds - ts) <= 3 and abs(de - te) <= 3 for ds, de in det) for ts, te in truth)
    assert both == len(truth), (truth, det)
    for x in found:
        x.sequence.validate()
        assert x.sequence.action == action and x.n_frames == x.end - x.start + 1
        assert x.start_ts_usec < x.end_ts_usec


def _knee_path(n, waypoints):
    """Synthetic squat-like joints (n, 17, 3): the knee flexion (rad) moves by minimum jerk between
    consecutive ``waypoints`` [(frame, flexion)] and holds in between; the hips flex 0.6 x as much."""
    t = np.arange(n, dtype=np.float64)
    ang = np.full(n, float(waypoints[0][1]))
    for (f0, a0), (f1, a1) in zip(waypoints, waypoints[1:]):
        if f1 > f0 and a1 != a0:
            u = np.clip((t - f0) / (f1 - f0), 0, 1)
            ang = np.where(t >= f0, a0 + (a1 - a0) * (10 * u**3 - 15 * u**4 + 6 * u**5), ang)
    return _knee_joints(ang)


def _knee_joints(ang):
    """Synthetic squat-like joints (n, 17, 3) with knee flexion ``ang`` (n,) (rad); hips 0.6 x as much."""
    n = ang.shape[0]
    j = np.zeros((n, 17, 3))
    for side, z in ((11, -0.1), (12, 0.1)):
        j[:, side] = [0, 0.9, z]
        j[:, side - 6] = np.stack([0.5 * np.sin(0.6 * ang), 0.9 + 0.5 * np.cos(0.6 * ang), np.full(n, z)], axis=1)
        j[:, side + 2] = np.stack([0.45 * np.sin(ang), 0.9 - 0.45 * np.cos(ang), np.full(n, z)], axis=1)
        j[:, side + 4] = j[:, side + 2] - [0, 0.45, 0]
    for k in (0, 1, 2, 3, 4):  # head above the shoulders
        j[:, k] = 0.5 * (j[:, 5] + j[:, 6]) + [0, 0.2, 0]
    for k in (7, 8, 9, 10):  # arms hanging
        j[:, k] = j[:, k - 2] - [0, 0.3 if k < 9 else 0.6, 0]
    return j


def test_a_pause_inside_an_attempt_does_not_split_it():
    spec = load_action("deep_squat")
    # a squat with a 1.1 s hold at the bottom, then a small knee dip that comes back (a fidget)
    j = _knee_path(420, [(60, 0.0), (105, 1.4), (138, 1.4), (183, 0.0), (300, 0.0), (315, 0.15), (330, 0.0)])
    found = _feed(AttemptSegmenter(spec), j, noise=0.002, seed=5)
    s, e = movement_bounds(j, 30.0, spec, 55, 160)
    assert abs(s - 60) <= 2 and abs(e - 183) <= 6
    # (a slow minimum-jerk onset is found up to 4 frames late: the start tolerance here is 5)
    assert [(abs(x.start - s) <= 5, abs(x.end - e) <= 3) for x in found] == [(True, True)], ((s, e), found)


def test_a_move_from_the_end_pose_back_to_the_start_pose_is_a_reset():
    spec = load_action("deep_squat")
    # start slightly bent, squat, finish straight; 1.5 s later bend slightly again (the reset,
    # finished 1 s before the next squat starts): two attempts, the reset belongs to neither
    ready, reset_at = 0.35, 260
    j = _knee_path(560, [(60, ready), (105, 1.4), (150, 0.0), (reset_at, 0.0), (reset_at + 30, ready),
                         (320, ready), (365, 1.4), (410, 0.0)])
    found = _feed(AttemptSegmenter(spec), j, noise=0.002, seed=6)
    truth = [movement_bounds(j, 30.0, spec, 55, 130), movement_bounds(j, 30.0, spec, 315, 390)]
    det = [(x.start, x.end) for x in found]
    assert len(det) == 2, (truth, det)
    assert all(abs(ds - ts) <= 5 and abs(de - te) <= 3 for (ds, de), (ts, te) in zip(det, truth)), (truth, det)


def test_segmenter_survives_noise(sessions):
    tl = sessions["deep_squat"]
    found = _feed(AttemptSegmenter(load_action("deep_squat")), tl.joints, noise=0.008, seed=3)
    truth = [(a.start_frame, a.end_frame) for a in tl.attempts]
    det = [(x.start, x.end) for x in found]
    hits = sum(any(abs(ds - ts) <= 10 and abs(de - te) <= 10 for ds, de in det) for ts, te in truth)
    assert hits == len(truth), (truth, det)


def test_no_attempt_in_a_still_stream():
    tl = build_timeline("deep_squat", 1, n_attempts=1)
    a = tl.attempts[0]
    still = np.repeat(tl.joints[a.start_frame][None], 200, axis=0)
    assert _feed(AttemptSegmenter(load_action("deep_squat")), still, noise=0.003) == []


def test_sliding_windows():
    assert sliding_windows(89) == []
    w = sliding_windows(200, 90, 30)
    assert w[0] == (0, 90) and w[-1] == (110, 200) and all(b - a == 90 for a, b in w)
    assert [a for a, _ in w] == [0, 30, 60, 90, 110]
    sw = SlidingWindower("deep_squat", 90, 30)
    out = []
    for k in range(200):
        out += sw.push(F(k / 30.0, k, np.zeros((17, 3)), np.ones(17)))
    assert [(x.start, x.end) for x in out] == [(0, 89), (30, 119), (60, 149), (90, 179)]
    assert all(x.sequence.n_frames == 90 for x in out)
    with pytest.raises(ValueError):
        sliding_windows(10, 0, 1)


def test_a_dropped_move_that_runs_straight_into_the_attempt_is_its_start():
    """Fused free-throw session 500: the knee dip comes back before the arm rises (fused activity
    20-39 deg/s in between, a 'pause' for the 40 deg/s quiet threshold), so the dip alone is judged
    back at its start pose and dropped; the arm's move starts 2 frames later. Resumed as the same
    move (``resume_s``), the attempt starts at the dip, as the truth does; without it 12 frames late."""
    from edge.fusion.bench import segment_fused
    from edge.fusion.evaluate import fuse_simulated

    spec = load_action("basketball_free_throw")
    fs = fuse_simulated("basketball_free_throw", 500, n_attempts=3)
    starts = {}
    for resume in (0.1, 0.0):
        truth, det, _ = segment_fused(fs, AttemptSegmenter(spec, resume_s=resume))
        assert len(det) == 3, det
        starts[resume] = det[0][0] - truth[0][0]
    assert abs(starts[0.1]) <= 3 and starts[0.0] >= 8, starts
