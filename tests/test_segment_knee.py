"""The knees' signed reading: a straight knee's noise does not fold, so a squat's last degrees show."""

from __future__ import annotations

import numpy as np

import edge.fusion.segment as segment
from edge.actions.spec import load_action
from edge.fusion.segment import AttemptSegmenter, angle_series, hinge_angles, knee_triplets, primary_angles
from tests.test_segment import _feed, _knee_joints


def test_hinge_angles_equal_the_interior_angle_of_a_bent_knee_and_pass_through_straight():
    spec = load_action("deep_squat")
    idx, _ = primary_angles(spec)
    knee = knee_triplets(spec)
    assert knee.sum() == 2  # the deep squat's two knee angles; its hips are no hinge about the hip axis
    ang = np.radians(np.array([-0.1, 0.0, 0.3, 1.2]) * 57.2958)  # a little hyperextended, straight, bent
    j = _knee_joints(ang)
    signed, interior = hinge_angles(j, idx)[:, knee], angle_series(j, idx)[:, knee]
    np.testing.assert_allclose(signed[1:], interior[1:], atol=1e-6)  # flexed (or straight): the same
    assert np.all(signed[0] > 180.0) and np.all(interior[0] < 180.0)  # hyperextended: no fold
    j[0, segment.HIP_R] = j[0, segment.HIP_L]  # no hip axis: no reading
    assert np.isnan(hinge_angles(j[:1], idx)).all()


def _knee_through_straight() -> np.ndarray:
    # the thighs still and upright, the shanks swinging at a steady 40 deg/s from 30 deg of flexion
    # to 12 deg of hyperextension (a fused straight knee often reads a few degrees past straight)
    n = 90
    phi = np.clip((np.arange(n) - 20) / 30.0, 0, 1) * 0.73 - 0.52  # rad, + = hyperextended
    j = _knee_joints(np.zeros(n))
    for k in (13, 14):
        j[:, k + 2] = j[:, k] + np.stack([0.45 * np.sin(phi), -0.45 * np.cos(phi), np.zeros(n)], axis=1)
    return j


def _activity_seen(j: np.ndarray) -> np.ndarray:
    spec = load_action("deep_squat")
    seg = AttemptSegmenter(spec)
    _feed(seg, j)
    return np.asarray(seg._act, dtype=np.float64)


def test_the_segmenter_sees_a_knee_move_through_straight_without_a_pause(monkeypatch):
    j = _knee_through_straight()
    act = _activity_seen(j)
    # the knee crosses straight near frame 41: the activity stays at the move's level through it
    assert act[28:44].min() > 0.8 * np.median(act[28:44]) > 5.0, act[24:48]
    # read with the interior angle, the fold at straight shows as a pause in the middle of the move
    monkeypatch.setattr(segment, "knee_triplets", lambda s: np.zeros(len(primary_angles(s)[1]), dtype=bool))
    old = _activity_seen(j)
    assert old[28:44].min() < 0.5 * np.median(old[28:44]), old[24:48]
