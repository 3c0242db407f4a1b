"""Streaming segmenter: an on-the-spot attempt whose last keyframe is the body still ends when the
points of the primary angles have stopped, not at the angles' pause."""

from __future__ import annotations

import numpy as np

import edge.fusion.segment as segment
from edge.actions.spec import load_action
from edge.fusion.segment import STILL_M_S, AttemptSegmenter, ends_still, movement_bounds, primary_points
from tests.test_segment import _feed, _knee_joints

N = 260
T = np.arange(N, dtype=np.float64)


def _mj(f0: float, f1: float) -> np.ndarray:
    u = np.clip((T - f0) / (f1 - f0), 0, 1)
    return 10 * u**3 - 15 * u**4 + 6 * u**5


def test_ends_still_reads_the_last_keyframe():
    assert ends_still(load_action("volleyball_overhead_pass"))  # "hands lowered, body balanced and still again"
    assert ends_still(load_action("deep_squat"))
    assert not ends_still(load_action("basketball_free_throw"))  # the arm starting down: an event of the move
    assert not ends_still(load_action("sit_up"))
    pts = primary_points(load_action("volleyball_overhead_pass"))
    assert pts.shape == (6, 2) and (pts[:, 0] != pts[:, 1]).all()  # left and right as one midpoint


def _bend_while_drifting() -> tuple[np.ndarray, int]:
    # knees bend and extend (frames 50-95) while the body drifts 0.25 m forward (65-105): the
    # angles pause at ~95, the points move faster than STILL_M_S for a few frames more
    x = 0.25 * _mj(65, 105)
    j = _knee_joints(1.2 * _mj(50, 72) - 1.2 * _mj(72, 95))
    j[..., 0] += x[:, None]
    speed = np.abs(np.gradient(x)) * 30.0
    return j, int(np.nonzero((T > 95) & (speed < STILL_M_S))[0][0])


def test_an_on_the_spot_attempt_ends_when_its_points_are_still(monkeypatch):
    spec = load_action("deep_squat")
    j, still = _bend_while_drifting()
    pause = movement_bounds(j, 30.0, spec, 50, 90)[1]  # the angles' pause
    truth = movement_bounds(j, 30.0, spec, 50, still)[1]  # the last keyframe: the body still
    assert truth == still and truth - pause >= 4
    # (the squat's own boundaries are read with a lower-order model and without this rule,
    # ``low_order``; the rule as the pass runs it is the minimum-jerk model's)
    found = _feed(AttemptSegmenter(spec, low_order=False), j, noise=0.002, seed=3)
    assert len(found) == 1 and abs(found[0].end - truth) <= 2, (pause, truth, found)
    # without the rule the end is placed at the angles' pause (the start read on the threshold run:
    # this 45-frame move, cut there, is at the squat's shortest attempt, and the fitted onset, a
    # frame later here, would make it too short to be one)
    monkeypatch.setattr(segment, "ends_still", lambda s: False)
    early = _feed(AttemptSegmenter(spec, fit_start=False, low_order=False), j, noise=0.002, seed=3)
    assert len(early) == 1 and early[0].end <= found[0].end - 3, (pause, truth, early)
