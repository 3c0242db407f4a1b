"""MotionDTW features (Eq. 1): angles, central differences, temporal window, weights, gaps, ablations."""

from __future__ import annotations

import numpy as np
import pytest

from edge.actions.spec import load_action
from edge.align import FeatureConfig, FeatureError, ablation_config, motion_features
from edge.align import synthetic as syn
from edge.align.features import derivatives, fill_gaps, joint_angles, resolve_point, temporal_window
from edge.skeleton.joints import Joint

SPEC = load_action("standing_long_jump")
K = len(SPEC.salient_joints)


def test_joint_angle_geometry():
    j = np.zeros((3, 17, 3))
    j[:, Joint.LEFT_HIP] = [0.0, 1.0, 0.0]
    j[:, Joint.LEFT_KNEE] = [0.0, 0.5, 0.0]
    j[0, Joint.LEFT_ANKLE] = [0.0, 0.0, 0.0]  # straight
    j[1, Joint.LEFT_ANKLE] = [0.5, 0.5, 0.0]  # right angle
    j[2, Joint.LEFT_ANKLE] = [0.0, 1.0, 0.0] + np.array([1e-3, 0, 0])  # folded almost flat
    ang = joint_angles(j, [("left_hip", "left_knee", "left_ankle")])[:, 0]
    np.testing.assert_allclose(ang[:2], [180.0, 90.0], atol=1e-9)
    assert ang[2] < 1.0


def test_mid_points_are_midpoints():
    j = np.random.default_rng(0).normal(size=(4, 17, 3))
    np.testing.assert_allclose(resolve_point(j, "mid_hip"), 0.5 * (j[:, Joint.LEFT_HIP] + j[:, Joint.RIGHT_HIP]))
    with pytest.raises(FeatureError, match="unknown point"):
        resolve_point(j, "mid_nose")
    with pytest.raises(FeatureError, match="side"):
        joint_angles(j, [("{side}_hip", "{side}_knee", "{side}_ankle")])


def test_angles_of_the_synthetic_figure_follow_its_profiles():
    tau = np.linspace(0, 89, 120)
    joints = syn.pose_at(tau, lag=0.0)
    ang = joint_angles(joints, [s.triplet for s in SPEC.salient_joints])
    names = [s.name for s in SPEC.salient_joints]
    for name, prof in (("left_knee", "knee"), ("right_hip", "hip"), ("left_shoulder", "shoulder"), ("right_elbow", "elbow")):
        np.testing.assert_allclose(ang[:, names.index(name)], syn._profile(prof, tau), atol=1e-6)


def test_central_differences():
    t = np.arange(10, dtype=np.float64)
    theta = (0.5 * t**2 - 3 * t + 7)[:, None]
    d1, d2 = derivatives(theta)
    np.testing.assert_allclose(d1[1:-1, 0], t[1:-1] - 3)  # exact for a quadratic
    np.testing.assert_allclose(d2[:, 0], 1.0)
    assert d1[0, 0] == d1[1, 0] and d1[-1, 0] == d1[-2, 0]
    z1, z2 = derivatives(np.array([[5.0]]))
    assert z1[0, 0] == 0 and z2[0, 0] == 0


def test_layout_window_and_weights():
    joints = syn.template_joints()
    cfg = FeatureConfig()
    f = motion_features(joints, SPEC, cfg)
    w = cfg.window
    assert f.features.shape == (90, (2 * w + 1) * 3 * K)
    theta = joint_angles(joints, [s.triplet for s in SPEC.salient_joints])
    d1, d2 = derivatives(theta)
    frame = np.concatenate([theta, 0.39 * d1, 0.25 * d2], axis=1)
    blocks = f.features.reshape(90, 2 * w + 1, 3 * K)
    np.testing.assert_allclose(blocks[:, w], frame)  # the centre block is the frame itself
    np.testing.assert_allclose(blocks[20, 0], frame[20 - w])  # offset -w
    np.testing.assert_allclose(blocks[20, -1], frame[20 + w])
    np.testing.assert_allclose(blocks[0, 0], frame[0])  # edge padding
    np.testing.assert_allclose(blocks[-1, -1], frame[-1])
    jw = np.array([s.weight for s in SPEC.salient_joints])
    np.testing.assert_allclose(f.weights.reshape(2 * w + 1, 3, K), np.broadcast_to(jw, (2 * w + 1, 3, K)))
    assert f.joints == tuple(s.name for s in SPEC.salient_joints)
    np.testing.assert_allclose(temporal_window(frame, 0), frame)


def test_features_ignore_rotation_and_translation():
    joints = syn.template_joints().astype(np.float64)
    a = np.radians(40)
    rot = np.array([[np.cos(a), 0, np.sin(a)], [0, 1, 0], [-np.sin(a), 0, np.cos(a)]])
    moved = joints @ rot.T + np.array([3.0, 0.2, -1.0])
    np.testing.assert_allclose(motion_features(moved, SPEC).features, motion_features(joints, SPEC).features, atol=1e-6)


def test_ablation_flags():
    joints = syn.template_joints()
    full = motion_features(joints, SPEC, ablation_config("full", SPEC))
    nodyn = motion_features(joints, SPEC, ablation_config("no_dynamic", SPEC))
    now = motion_features(joints, SPEC, ablation_config("no_joint_weights", SPEC))
    single = motion_features(joints, SPEC, ablation_config("single_joint", SPEC))
    assert nodyn.features.shape[1] == full.features.shape[1] // 3
    np.testing.assert_allclose(nodyn.features.reshape(90, 9, K), full.features.reshape(90, 9, 3, K)[:, :, 0])
    np.testing.assert_allclose(now.features, full.features)
    assert (now.weights == 1.0).all() and not (full.weights == 1.0).all()
    assert single.joints == ("left_knee",) and single.features.shape[1] == 9 * 3
    with pytest.raises(ValueError, match="unknown ablation"):
        ablation_config("no_such", SPEC)
    with pytest.raises(FeatureError, match="not a salient joint"):
        motion_features(joints, SPEC, FeatureConfig(single_joint="nose"))


def test_gaps_are_interpolated_linearly():
    joints = syn.template_joints().astype(np.float64)
    clean = joint_angles(joints, [s.triplet for s in SPEC.salient_joints])
    holed = joints.copy()
    holed[30:36, Joint.LEFT_ANKLE] = np.nan
    ang = joint_angles(holed, [s.triplet for s in SPEC.salient_joints])
    assert np.isnan(ang[30:36, 0]).all() and np.isfinite(ang[:, 1:]).all()
    filled = fill_gaps(ang, [s.name for s in SPEC.salient_joints])
    expected = np.interp(np.arange(30, 36), [29, 36], clean[[29, 36], 0])
    np.testing.assert_allclose(filled[30:36, 0], expected)
    np.testing.assert_allclose(filled[:, 1:], clean[:, 1:])
    assert np.isfinite(motion_features(holed, SPEC).features).all()
    # Missing at the start: held at the first seen value.
    holed[:5, Joint.RIGHT_WRIST] = np.nan
    ang = fill_gaps(joint_angles(holed, [s.triplet for s in SPEC.salient_joints]), [s.name for s in SPEC.salient_joints])
    right_elbow = [s.name for s in SPEC.salient_joints].index("right_elbow")
    np.testing.assert_allclose(ang[:5, right_elbow], clean[5, right_elbow])


def test_a_joint_missing_everywhere_is_refused():
    joints = syn.template_joints().astype(np.float64)
    joints[:, Joint.RIGHT_KNEE] = np.nan
    with pytest.raises(FeatureError, match="right_knee.*every frame"):
        motion_features(joints, SPEC)
    # A joint no salient angle uses may be missing.
    joints = syn.template_joints().astype(np.float64)
    joints[:, Joint.NOSE] = np.nan
    assert np.isfinite(motion_features(joints, SPEC).features).all()


def test_bad_shapes_and_single_frame():
    with pytest.raises(FeatureError, match=r"\(T, 17, 3\)"):
        motion_features(np.zeros((10, 17, 2)), SPEC)
    one = motion_features(syn.template_joints()[:1], SPEC)
    assert one.features.shape == (1, 9 * 3 * K) and np.isfinite(one.features).all()
