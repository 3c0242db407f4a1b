"""Refinement of each lifted keypoint: the paper's Eq. 1.

    p_hat = argmin_p  |p - p_d|^2 + lambda1 |Pi(p) - q|^2 + lambda2 |R(p) - theta_m|^2,   lambda1 = 0.6

- depth term: p_d is the depth sensor's own estimate (``LiftResult.p_depth``: the 3D median of
  the keypoint's surface pixels pushed back to the joint centre), or, for a keypoint the depth
  camera cannot see (``complete``), the body-model position on its line of sight;
- reprojection term: q is the color keypoint (undistorted: q~ = (qx, qy) on the color camera's
  z = 1 plane). We measure its residual in metres at the point's depth, r = (x_c - qx z_c,
  y_c - qy z_c) for p_c = R p + t (depth -> color), so both terms have one unit and lambda1 is
  the dimensionless weight the paper gives; it is further scaled by the keypoint's confidence.
  In these units the problem is linear least squares: (I + l1 c M^T M) p = p_d - l1 c M^T A t with
  A = [[1, 0, -qx], [0, 1, -qy]], M = A R - one exact Gauss-Newton step, batched over the 17
  keypoints (np.linalg.solve on (17, 3, 3));
- attitude term: the IMU is mounted on the camera, not on the student, so it measures the
  camera's attitude. The term becomes gravity alignment of the output frame: the up direction
  minimising |u - n_floor|^2 + lambda2 |u - g_imu|^2 (``calibration.floor.fuse_up``,
  lambda2 = 0.4), applied when the refined points are expressed in the level frame.
"""

from __future__ import annotations

import numpy as np

from calibration.kinect import RigidTransform

LAMBDA1 = 0.6


def refine(
    p_depth: np.ndarray,
    q_undistorted: np.ndarray,
    confidence: np.ndarray,
    depth_to_color: RigidTransform,
    *,
    lambda1: float = LAMBDA1,
    depth_weight: np.ndarray | None = None,
) -> np.ndarray:
    """Minimise Eq. 1's depth + reprojection terms per keypoint. Shapes: (K, 3), (K, 2), (K,) -> (K, 3).

    Keypoints with a NaN p_depth stay NaN; a NaN q (no color keypoint) leaves p_depth unchanged.
    depth_weight (K,): optional weight of the depth term (default 1).
    """
    p = np.asarray(p_depth, dtype=np.float64)
    q = np.asarray(q_undistorted, dtype=np.float64)
    c = np.clip(np.nan_to_num(np.asarray(confidence, dtype=np.float64)), 0.0, 1.0)
    k = p.shape[0]
    wd = np.ones(k) if depth_weight is None else np.asarray(depth_weight, dtype=np.float64)
    lam = lambda1 * c * np.isfinite(q).all(axis=1)
    qq = np.nan_to_num(q)
    a = np.zeros((k, 2, 3))
    a[:, 0, 0] = 1.0
    a[:, 1, 1] = 1.0
    a[:, 0, 2] = -qq[:, 0]
    a[:, 1, 2] = -qq[:, 1]
    r, t = depth_to_color.rotation, depth_to_color.translation_m
    m = a @ r  # (K, 2, 3)
    mtm = np.einsum("kij,kil->kjl", m, m)
    lhs = wd[:, None, None] * np.eye(3)[None] + lam[:, None, None] * mtm
    at = a @ t  # (K, 2)
    rhs = wd[:, None] * np.nan_to_num(p) - lam[:, None] * np.einsum("kij,ki->kj", m, at)
    out = np.linalg.solve(lhs, rhs[..., None])[..., 0]
    out[~np.isfinite(p).all(axis=1)] = np.nan
    return out


def reprojection_residual_m(points: np.ndarray, q_undistorted: np.ndarray, depth_to_color: RigidTransform) -> np.ndarray:
    """Metric reprojection residuals (K, 2) of depth-frame points against undistorted color keypoints."""
    pc = depth_to_color.apply(points)
    q = np.asarray(q_undistorted, dtype=np.float64)
    return np.stack([pc[:, 0] - q[:, 0] * pc[:, 2], pc[:, 1] - q[:, 1] * pc[:, 2]], axis=1)
