"""Streaming segmenter: the squat's boundaries read with a lower-order model (``low_order``: u^2
alone, LOW_ORDER_POWERS) instead of the minimum-jerk leading terms, on fused sessions."""

from __future__ import annotations

import numpy as np
import pytest

from edge.actions.spec import load_action
from edge.fusion.evaluate import fuse_simulated
from edge.fusion.segment import (
    LOW_ORDER_ACTIONS, LOW_ORDER_POWERS, AttemptSegmenter, fit_boundary, model_activity,
)
from tests.test_segment_recovery import _errors


def test_only_the_squat_reads_its_boundaries_with_the_lower_order_model():
    assert LOW_ORDER_ACTIONS == {"deep_squat"}
    for action in ("deep_squat", "standing_long_jump", "sit_up", "basketball_free_throw", "volleyball_overhead_pass"):
        seg = AttemptSegmenter(load_action(action))
        assert seg.low_order == (action == "deep_squat"), action
    assert not AttemptSegmenter(load_action("deep_squat"), low_order=False).low_order


@pytest.mark.parametrize("powers", [(3, 4), LOW_ORDER_POWERS])
def test_model_activity_is_the_fitted_models_speed(powers):
    # a move reaching rest at frame 20 (direction -1): the fitted model's activity is the
    # derivative of the fitted curve, for either set of powers
    t = np.arange(40, dtype=np.float64)
    u = np.maximum(20.0 - t, 0.0)
    x = np.stack([90.0 + 0.05 * u**3, 150.0 - 0.3 * u**2], axis=1)
    t0, coef = fit_boundary(x, np.ones(2), np.arange(10.0, 30.0, 0.25), -1, powers=powers)
    act = model_activity(coef, np.ones(2), t0, t, -1, 30.0, powers)
    uu = np.maximum(t0 - t, 0.0)
    curve = coef[:, 0][None, :] + sum(coef[:, i + 1][None, :] * uu[:, None] ** q for i, q in enumerate(powers))
    numeric = np.abs(np.gradient(curve, axis=0)).mean(axis=1) * 30.0
    inner = (t > 1) & (np.abs(t - t0) > 1.5) & (t < 38)  # away from the kink and the array's ends
    assert np.allclose(act[inner], numeric[inner], rtol=0.05, atol=0.5)
    assert act[t > t0 + 1].max() == 0.0  # at rest after the change point


@pytest.mark.parametrize("seed, attempt, before", [
    # development seed 2028, first attempt: the minimum-jerk fit ends it 6 frames late
    (2028, 0, (0, 6)),
    # development seed 2052, first attempt: start 4 late, end 5 early
    (2052, 0, (4, -5)),
])
def test_the_lower_order_fit_places_squat_boundaries_the_wobble_had_moved(seed, attempt, before):
    fs = fuse_simulated("deep_squat", seed, n_attempts=3)
    now, old = _errors(fs), _errors(fs, low_order=False)
    assert old[attempt] == before, old
    assert abs(now[attempt][0]) <= 3 and abs(now[attempt][1]) <= 3, now
