"""Streaming segmenter, session 18's rules: a move from the last attempt's end pose into a new ready
stance, held, is a setup and is dropped (``setup_drops``); each action's boundaries are moved by
its measured mean error on the development sets (``boundary_bias``, ``BOUNDARY_BIAS``)."""

from __future__ import annotations

import numpy as np
import pytest

from edge.actions.spec import ACTION_IDS, load_action
from edge.fusion.bench import segment_fused
from edge.fusion.evaluate import fuse_simulated
from edge.fusion.replay import boundary_offsets, mean_offsets
from edge.fusion.segment import BOUNDARY_BIAS, AttemptSegmenter, _Candidate
from tests.test_segment_recovery import _errors


def test_setup_drops_are_for_on_the_spot_actions_only():
    for action in ACTION_IDS:
        seg = AttemptSegmenter(load_action(action))
        assert seg.setup_drops == (load_action(action).direction_of_travel == "none"), action
    assert not AttemptSegmenter(load_action("sit_up"), setup_drops=False).setup_drops


def test_a_setup_into_a_new_ready_stance_does_not_start_the_next_attempt():
    # development seed 801, second pass: between the first pass and the second the student moves
    # from the end pose (hands lowered) into a new, deeper ready stance and holds it 1-2 s before
    # passing. The new stance is not the last attempt's ready pose (this rep draws another
    # fault), so the pause did not read as a reset, and the candidate ran on into the pass, which
    # then started 68 frames early.
    fs = fuse_simulated("volleyball_overhead_pass", 801, n_attempts=3)
    now, before = _errors(fs), _errors(fs, setup_drops=False, boundary_bias=False)
    assert before[1][0] <= -60, before
    assert all(abs(s) <= 3 and abs(e) <= 3 for s, e in now), now


def test_a_whole_attempt_from_the_last_end_pose_is_not_a_setup():
    # development seed 2078, third sit-up: it starts about 10 deg from where the last one ended and
    # pauses at the top far from its start pose. Only the path tells it from a setup: 103 deg, an
    # attempt's, where the setups measured 5-18 deg.
    fs = fuse_simulated("sit_up", 2078, n_attempts=3)
    now = _errors(fs)
    assert all(abs(s) <= 3 and abs(e) <= 3 for s, e in now), now


def _judge_setup(seg: AttemptSegmenter, start_pose, pause_pose, path: float, strong: bool = False):
    """The verdict on a candidate that started at ``start_pose`` and pauses at ``pause_pose`` (the
    segmenter's history replaced by a still stream at the pause pose)."""
    n = seg.idx.shape[0]
    seg._angles = [np.asarray(pause_pose, float)] * 20
    seg._hip = [np.zeros(3)] * 20
    seg._frames = [None] * 20
    seg._offset = 0
    cand = _Candidate(0, np.asarray(start_pose, float), 0.0, far=float(np.abs(np.subtract(pause_pose, start_pose)).max()),
                      path=path, strong=strong)
    assert len(start_pose) == n
    return seg._judge(cand, 10, 19, final=False)


def test_the_setup_verdict_needs_the_end_pose_a_new_stance_and_a_short_path():
    seg = AttemptSegmenter(load_action("volleyball_overhead_pass"))
    n = seg.idx.shape[0]
    ready, end = np.full(n, 100.0), np.full(n, 125.0)  # the last attempt's start and end poses
    seg._prev = (ready, end)
    new_stance = np.full(n, 70.0)  # neither of them (the reset tolerance here: 12.5 deg)
    assert _judge_setup(seg, end, new_stance, path=12.0) == "reset"
    assert _judge_setup(seg, end, new_stance, path=12.0, strong=True) == "reset"  # fast setups exist (1513)
    assert _judge_setup(seg, end, new_stance, path=80.0) is None  # an attempt-sized path: it goes on
    assert _judge_setup(seg, np.full(n, 160.0), new_stance, path=12.0) is None  # not from the end pose
    assert _judge_setup(seg, end, ready, path=12.0) == "reset"  # back to the ready pose: the old reset rule
    seg.setup_drops = False
    assert _judge_setup(seg, end, new_stance, path=12.0) is None


def test_boundary_bias_moves_each_boundary_by_the_table():
    assert set(BOUNDARY_BIAS) <= set(ACTION_IDS)
    assert all(abs(b) <= 1 for v in BOUNDARY_BIAS.values() for b in v)  # a rounding of a mean, not a rule
    fs = fuse_simulated("sit_up", 2001, n_attempts=2)
    _, with_bias, _ = segment_fused(fs, AttemptSegmenter(load_action("sit_up")))
    _, without, _ = segment_fused(fs, AttemptSegmenter(load_action("sit_up"), boundary_bias=False))
    assert len(with_bias) == len(without) == 2
    b = BOUNDARY_BIAS["sit_up"]
    assert [(s - b[0], e - b[1]) for s, e in with_bias] == without
    assert AttemptSegmenter(load_action("deep_squat")).bias == (0, 0)
    assert AttemptSegmenter(load_action("sit_up"), boundary_bias=False).bias == (0, 0)


def test_boundary_offsets_and_their_means():
    truth = [(10, 50), (100, 150), (200, 260)]
    found = [(11, 52), (99, 150), (150, 260)]  # the third: a merge, 50 frames early: left out
    assert boundary_offsets(truth, found) == [(1, 2), (-1, 0)]
    assert boundary_offsets(truth, found, tol=1) == [(-1, 0)]
    assert boundary_offsets(truth, []) == []
    m = mean_offsets({"sit_up": boundary_offsets(truth, found), "pass": []})
    assert list(m) == ["sit_up"]
    assert m["sit_up"] == (2, pytest.approx(0.0), pytest.approx(1.0))
