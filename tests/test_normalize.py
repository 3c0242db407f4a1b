"""Paper Eq. 2: trunk-centred, trunk-length-scaled coordinates."""

from __future__ import annotations

import numpy as np
import pytest

from edge.skeleton.joints import TORSO_JOINTS
from edge.skeleton.normalize import normalize, trunk_scale
from tests.conftest import make_sequence, standing_pose


def _trunk_length(p):
    ls, rs, lh, rh = (p[i] for i in TORSO_JOINTS)
    d = np.linalg.norm
    return (d(ls - rs) + d(lh - rh) + d(ls - lh) + d(rs - rh)) / 4


def test_eq2_by_hand():
    p = standing_pose()
    out = normalize(p[None])[0]
    c = p[list(TORSO_JOINTS)].mean(axis=0)
    s = _trunk_length(p)
    np.testing.assert_allclose(out, (p - c) / s, atol=1e-6)
    assert np.allclose(out[list(TORSO_JOINTS)].mean(axis=0), 0, atol=1e-6)


def test_invariant_to_translation_scale_and_rotation_about_y():
    seq = make_sequence(20)
    j = seq.joints.astype(np.float64)
    a = np.deg2rad(25)
    r = np.array([[np.cos(a), 0, np.sin(a)], [0, 1, 0], [-np.sin(a), 0, np.cos(a)]])
    moved = (1.3 * j) @ r.T + np.array([2.0, -0.5, 4.0])
    n1, n2 = normalize(j), normalize(moved)
    np.testing.assert_allclose(n2, n1 @ r.T.astype(np.float32), atol=1e-5)
    np.testing.assert_allclose(trunk_scale(moved), 1.3 * trunk_scale(j), rtol=1e-6)


def test_per_sequence_mode_keeps_travel():
    seq = make_sequence(30)
    per_frame = normalize(seq.joints)
    per_seq = normalize(seq.joints, per_frame=False)
    # per-frame centring removes the forward walk; per-sequence keeps it
    assert abs(per_frame[-1, 11, 0] - per_frame[0, 11, 0]) < 0.05
    assert per_seq[-1, 11, 0] - per_seq[0, 11, 0] > 0.5


def test_missing_joints_and_frames():
    seq = make_sequence(10)
    j = seq.joints.copy()
    j[3, 5] = np.nan  # one trunk joint missing: centre from the other three, scale from the rest
    j[4, list(TORSO_JOINTS)] = np.nan  # whole trunk missing: borrows the nearest frame
    out = normalize(j)
    assert np.isnan(out[3, 5]).all() and np.isfinite(out[3, 6]).all()
    assert np.isfinite(out[4, 0]).all()
    with pytest.raises(ValueError, match="no frame has a visible trunk"):
        normalize(np.full((5, 17, 3), np.nan, dtype=np.float32))
