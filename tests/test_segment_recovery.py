"""Streaming segmenter, session 15's rules: a lead-in that one body part makes (the free throw's
knee dip) is not a pause; an event-ended attempt ends at its first qualifying pause when only a
recovery follows; a pause at the last attempt's ready pose before an attempt-sized path drops the
candidate; a travelling attempt's hips settle where their clean speed falls under 0.1 m/s."""

from __future__ import annotations

import numpy as np
import pytest

from edge.actions.spec import load_action
from edge.fusion.bench import segment_fused
from edge.fusion.evaluate import fuse_simulated
from edge.fusion.segment import HIP_L, HIP_R, STILL_M_S, AttemptSegmenter, _Candidate
from tests.test_segment import F, _knee_joints

FREE_THROW = "basketball_free_throw"


def _errors(fs, **kw) -> list[tuple[int, int]]:
    """(start, end) error (frames) of the detection nearest each true attempt."""
    truth, det, _ = segment_fused(fs, AttemptSegmenter(load_action(fs.action), **kw))
    out = []
    for t in truth:
        d = min(det, key=lambda x: abs(x[0] - t[0]) + abs(x[1] - t[1]))
        out.append((d[0] - t[0], d[1] - t[1]))
    return out


def _with_and_without(seed: int, rule: str) -> tuple[list, list]:
    """Errors on fused free-throw session ``seed`` (3 attempts) with the rule (as the appliance runs)
    and with it switched off."""
    fs = fuse_simulated(FREE_THROW, seed, n_attempts=3)
    return _errors(fs), _errors(fs, **{rule: False})


def test_a_knee_dip_moving_the_legs_alone_is_not_a_pause():
    # development seed 810: the first attempt's knee dip is 40 deg deep and slow (legs 60-100
    # deg/s, overall 24-27 deg/s: under the 40 deg/s quiet threshold). Judged by the overall
    # activity, the dip 'paused' and was dropped mid-dip as back at its start pose, and the attempt
    # started at the arm; with the legs' own quiet threshold it starts at the dip
    now, before = _with_and_without(810, "lead_in_groups")
    assert before[0][0] >= 10, before
    assert abs(now[0][0]) <= 3 and abs(now[0][1]) <= 3, now
    assert now[1:] == before[1:]  # the other two attempts did not depend on it


def test_a_recovery_after_an_event_ended_attempt_is_not_part_of_it():
    # development seed 901: 0.13 s after the first attempt's arm is down the legs straighten to a
    # relaxed stance (the truth's end pause is 4 frames; fused, the pause is 3-4); the segmenter's
    # 0.3 s pause came after the legs' move
    now, before = _with_and_without(901, "recovery_ends")
    assert before[0][1] >= 6, before
    assert abs(now[0][0]) <= 3 and abs(now[0][1]) <= 3, now
    assert now[0][0] == before[0][0]


def test_recovery_ends_only_where_the_end_is_an_event():
    # a still end (squat, pass) needs the points at rest, which a later move delays; a travelling
    # one (long jump) ends when the hips settle: neither takes the first pause
    assert AttemptSegmenter(load_action(FREE_THROW)).recovery_ends
    assert AttemptSegmenter(load_action("sit_up")).recovery_ends
    for action in ("deep_squat", "volleyball_overhead_pass", "standing_long_jump"):
        assert not AttemptSegmenter(load_action(action)).recovery_ends, action


def test_a_pause_at_the_ready_pose_before_any_attempt_drops_the_candidate():
    # development seed 2065: after the second attempt the ball comes back to the chest while the
    # fused elbow glitches (30-70 deg off for a few frames); a candidate starts on that tail, its
    # start pose measured in motion, so its pause at the ready pose did not read as back, and it
    # ran on into the third attempt
    now, before = _with_and_without(2065, "ready_drops")
    assert before[2][0] <= -20, before
    assert all(abs(s) <= 3 and abs(e) <= 3 for s, e in now), now
    assert now[:2] == before[:2]
    assert not AttemptSegmenter(load_action("standing_long_jump")).ready_drops  # the stand-up: a reset


@pytest.mark.parametrize("duration_s", [0.6, 0.8, 1.0])
def test_the_hips_settle_where_their_speed_falls_under_still_m_s(duration_s):
    # a clean minimum-jerk glide of the whole body, 0.4 m forward: the first frame after the peak
    # speed at which the exact speed is under 0.1 m/s (the 9-frame derivative alone reads it 1 frame
    # late here, 1-2 on the fused landings)
    n, fps, f0 = 120, 30.0, 15
    u = np.clip((np.arange(n) - f0) / (duration_s * fps), 0, 1)
    x = 0.4 * (10 * u**3 - 15 * u**4 + 6 * u**5)
    j = _knee_joints(np.full(n, 0.3))
    j[..., 0] += x[:, None]
    speed = np.abs(np.gradient(x)) * fps
    peak = int(np.argmax(speed))
    truth = peak + int(np.argmax(speed[peak:] < STILL_M_S))
    seg = AttemptSegmenter(load_action("standing_long_jump"))
    for k in range(n):
        seg.push(F(k / fps, 1_000_000 + int(round(k * 33_333.3)), j[k], np.full(17, 0.9)))
    hips = 0.5 * (j[:, HIP_L, 0] + j[:, HIP_R, 0])
    assert np.allclose(np.diff(hips), np.diff(x))  # the hips carry the glide
    cand = _Candidate(0, np.zeros(len(seg.w)), 0.0, quiet_at=peak)
    assert seg._hips_settled(cand, peak) == truth  # no sideways sway: the stop along travel
    assert cand.settled_along is None
