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
  keypoints (compiled: ``_solve``);
- attitude term: the IMU is mounted on the camera, not on the student, so it measures the
  camera's attitude. The term becomes gravity alignment of the output frame: the up direction
  minimising |u - n_floor|^2 + lambda2 |u - g_imu|^2 (``calibration.floor.fuse_up``,
  lambda2 = 0.4), applied when the refined points are expressed in the level frame.
"""

from __future__ import annotations

import numpy as np
from numba import njit

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
    p = np.ascontiguousarray(p_depth, dtype=np.float64)
    q = np.ascontiguousarray(q_undistorted, dtype=np.float64)
    c = np.ascontiguousarray(confidence, dtype=np.float64)
    k = p.shape[0]
    wd = np.ones(k) if depth_weight is None else np.ascontiguousarray(depth_weight, dtype=np.float64)
    r = np.ascontiguousarray(depth_to_color.rotation, dtype=np.float64)
    t = np.ascontiguousarray(depth_to_color.translation_m, dtype=np.float64)
    return _solve(p, q, c, wd, float(lambda1), r, t)


@njit(cache=True)
def _solve(p, q, c, wd, lambda1, r, t):
    """The normal equations of the module docstring, one 3 x 3 system per keypoint (compiled:
    17 tiny solves cost more in numpy's call overhead than in arithmetic)."""
    k = p.shape[0]
    out = np.full((k, 3), np.nan)
    a = np.zeros((2, 3))
    eye = np.eye(3)
    for i in range(k):
        if not (np.isfinite(p[i, 0]) and np.isfinite(p[i, 1]) and np.isfinite(p[i, 2])):
            continue
        ci = c[i] if np.isfinite(c[i]) else 0.0
        ci = min(max(ci, 0.0), 1.0)
        has_q = np.isfinite(q[i, 0]) and np.isfinite(q[i, 1])
        lam = lambda1 * ci if has_q else 0.0
        a[0, 0], a[0, 1], a[0, 2] = 1.0, 0.0, -q[i, 0] if has_q else 0.0
        a[1, 0], a[1, 1], a[1, 2] = 0.0, 1.0, -q[i, 1] if has_q else 0.0
        m = a @ r
        at = a @ t
        lhs = wd[i] * eye + lam * (m.T @ m)
        rhs = wd[i] * p[i] - lam * (m.T @ at)
        out[i] = _solve3(lhs, rhs)
    return out


@njit(cache=True)
def _solve3(a, b):
    """x with a x = b for a symmetric positive definite 3 x 3 a (Cramer's rule: here a = w I + a
    positive semi-definite term, well conditioned; no LAPACK binding to compile)."""
    c00 = a[1, 1] * a[2, 2] - a[1, 2] * a[2, 1]
    c01 = a[1, 2] * a[2, 0] - a[1, 0] * a[2, 2]
    c02 = a[1, 0] * a[2, 1] - a[1, 1] * a[2, 0]
    det = a[0, 0] * c00 + a[0, 1] * c01 + a[0, 2] * c02
    x = np.empty(3)
    x[0] = (b[0] * c00 + a[0, 1] * (b[2] * a[1, 2] - b[1] * a[2, 2]) + a[0, 2] * (b[1] * a[2, 1] - b[2] * a[1, 1])) / det
    x[1] = (a[0, 0] * (b[1] * a[2, 2] - b[2] * a[1, 2]) + b[0] * c01 + a[0, 2] * (b[2] * a[1, 0] - b[1] * a[2, 0])) / det
    x[2] = (a[0, 0] * (b[2] * a[1, 1] - b[1] * a[2, 1]) + a[0, 1] * (b[1] * a[2, 0] - b[2] * a[1, 0]) + b[0] * c02) / det
    return x


def reprojection_residual_m(points: np.ndarray, q_undistorted: np.ndarray, depth_to_color: RigidTransform) -> np.ndarray:
    """Metric reprojection residuals (K, 2) of depth-frame points against undistorted color keypoints."""
    pc = depth_to_color.apply(points)
    q = np.asarray(q_undistorted, dtype=np.float64)
    return np.stack([pc[:, 0] - q[:, 0] * pc[:, 2], pc[:, 1] - q[:, 1] * pc[:, 2]], axis=1)
