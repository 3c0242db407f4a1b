"""The floor plane from depth points (RANSAC), the IMU cross-check, and the level output frame.

Frames: points are in the depth-camera frame (OpenCV: x right, y down, z forward), metres. A
plane is ``up . p + camera_height_m = 0``: ``up`` is its unit normal pointing away from the floor
(towards the camera side) and ``camera_height_m`` the camera's distance above it.

The output frame (DESIGN.md: metres, right-handed, y up, floor at y = 0) is :func:`level_transform`:
y along ``up``; x along the camera's image-right direction projected onto the floor (the camera
stands at the side of the field, so the athlete's direction of travel is to the right in the
image, i.e. +x; +z then points from the athlete towards the camera); origin on the floor below
the camera's optical centre.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from calibration.kinect import RigidTransform


class FloorError(ValueError):
    """No floor could be found, or the inputs are unusable; one sentence."""


@dataclass(frozen=True)
class FloorPlane:
    """up: float64 (3,) unit normal (depth frame), camera_height_m: camera above the floor (m),
    n_inliers, inlier_share (of the points offered), rmse_m: inlier distance RMS (m)."""

    up: np.ndarray
    camera_height_m: float
    n_inliers: int
    inlier_share: float
    rmse_m: float

    def height(self, points: np.ndarray) -> np.ndarray:
        """Signed height (m) of points (..., 3) above the plane."""
        return np.asarray(points, dtype=np.float64) @ self.up + self.camera_height_m


def _plane_from(points: np.ndarray, up_hint: np.ndarray) -> tuple[np.ndarray, float]:
    """Least-squares plane (SVD) through points (N, 3); normal oriented along up_hint."""
    c = points.mean(axis=0)
    _, _, vt = np.linalg.svd(points - c, full_matrices=False)
    n = vt[-1]
    if n @ up_hint < 0:
        n = -n
    return n, float(-(n @ c))


def fit_floor(
    points: np.ndarray,
    up_hint: np.ndarray,
    *,
    max_angle_deg: float = 15.0,
    inlier_m: float = 0.02,
    iterations: int = 200,
    min_inliers: int = 200,
    rng: np.random.Generator | None = None,
) -> FloorPlane:
    """RANSAC plane whose normal is within ``max_angle_deg`` of ``up_hint``; the lowest large one.

    points: (N, 3) depth-frame points (NaN rows ignored). Among hypotheses with at least half the
    best inlier count, the one farthest below the camera wins (a table top or a bench is not the
    floor). The winner is refitted by least squares on its inliers. FloorError when nothing fits.
    """
    p = np.asarray(points, dtype=np.float64).reshape(-1, 3)
    p = p[np.isfinite(p).all(axis=1)]
    up_hint = np.asarray(up_hint, dtype=np.float64)
    up_hint = up_hint / np.linalg.norm(up_hint)
    if p.shape[0] < max(3, min_inliers):
        raise FloorError(f"a floor fit needs at least {max(3, min_inliers)} valid points, got {p.shape[0]}.")
    rng = rng if rng is not None else np.random.default_rng(0)
    idx = rng.integers(0, p.shape[0], size=(iterations, 3))
    a, b, c = p[idx[:, 0]], p[idx[:, 1]], p[idx[:, 2]]
    n = np.cross(b - a, c - a)
    norm = np.linalg.norm(n, axis=1)
    ok = norm > 1e-9
    n[ok] /= norm[ok, None]
    n[n @ up_hint < 0] *= -1
    cos_max = np.cos(np.radians(max_angle_deg))
    ok &= (n @ up_hint) >= cos_max
    if not ok.any():
        raise FloorError(f"no plane within {max_angle_deg:g} degrees of the IMU's horizontal was found.")
    n, a = n[ok], a[ok]
    h = -np.einsum("ij,ij->i", n, a)  # camera height above each hypothesis
    dist = np.abs(p @ n.T + h[None, :])  # (N, hypotheses)
    counts = (dist < inlier_m).sum(axis=0)
    best = counts.max()
    if best < min_inliers:
        raise FloorError(f"the best floor candidate has {best} inlier points, fewer than {min_inliers}.")
    strong = np.nonzero(counts >= 0.5 * best)[0]
    k = int(strong[np.argmax(h[strong])])
    inl = dist[:, k] < inlier_m
    up, height = _plane_from(p[inl], up_hint)
    # One re-selection of inliers with the refined plane, then the final fit.
    inl = np.abs(p @ up + height) < inlier_m
    up, height = _plane_from(p[inl], up_hint)
    resid = p[inl] @ up + height
    return FloorPlane(
        up=up,
        camera_height_m=float(height),
        n_inliers=int(inl.sum()),
        inlier_share=float(inl.mean()),
        rmse_m=float(np.sqrt(np.mean(resid**2))),
    )


def fuse_up(floor_up: np.ndarray | None, imu_up: np.ndarray, imu_weight: float = 0.4) -> np.ndarray:
    """The up direction minimising |u - floor_up|^2 + imu_weight |u - imu_up|^2 over unit vectors.

    This is the gravity-alignment term of the paper's Eq. 1 (lambda2 = 0.4) for a camera-mounted
    IMU: the depth floor plane plays the depth term, the IMU's gravity the attitude term. Without
    a floor the IMU alone decides.
    """
    g = np.asarray(imu_up, dtype=np.float64)
    g = g / np.linalg.norm(g)
    if floor_up is None:
        return g
    f = np.asarray(floor_up, dtype=np.float64)
    u = f / np.linalg.norm(f) + imu_weight * g
    return u / np.linalg.norm(u)


def level_transform(up: np.ndarray, camera_height_m: float) -> RigidTransform:
    """Depth-camera frame -> output frame (y up, floor y = 0, x = image right on the floor)."""
    u = np.asarray(up, dtype=np.float64)
    u = u / np.linalg.norm(u)
    x = np.array([1.0, 0.0, 0.0]) - u[0] * u
    nx = np.linalg.norm(x)
    if nx < 1e-6:
        raise FloorError("the camera's x axis is vertical; the level frame is undefined.")
    x /= nx
    z = np.cross(x, u)
    rot = np.stack([x, u, z])
    return RigidTransform(rot, np.array([0.0, float(camera_height_m), 0.0]))
