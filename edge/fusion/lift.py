"""Each 2D keypoint lifted to 3D with a robust depth sample (depth-camera frame, metres).

A keypoint's line of sight is the color camera's ray through it, ``p(lam) = o + lam d`` in the
depth frame (o: the color camera's centre, d: the undistorted ray rotated into the depth frame,
with unit z in the color frame, so lam is the color-frame depth). Lifting, for all 17 at once:

1. start at the athlete's median depth; project the ray's point into the depth image;
2. take a ``window`` x ``window`` patch there, keep the valid pixels that belong to the athlete
   (foreground blob: not the floor, not an occluder, no flying pixels cut at depth steps), and
   keep the *nearest surface* among them: pixels within ``cluster_m`` of the patch's 10th
   percentile depth (a wrist in front of the trunk must not take the trunk's depth);
3. the surface depth s is their median; move along the ray to depth s (twice: the depth pixel
   the ray hits depends on the depth);
4. the joint centre lies behind the skin: ``SURFACE_OFFSET_M`` (typical half-thickness of the
   body at that keypoint, adult anatomy) further along the ray -> ``lam_raw``.

Also returned: ``p_depth``, the depth sensor's own estimate of the point (paper Eq. 1's p^(d)):
the 3D median of the same surface pixels, unprojected through the depth camera, pushed back by
the same offset along the depth camera's ray. Keypoints with confidence below ``min_conf`` or
without athlete pixels in their patch get NaN.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit

from calibration.kinect import KinectCalibration, pixel_rays, project_kernel, undistort_pixels
from edge.fusion.person import PersonDetection

#: Joint centre behind the visible skin (m): nose, eyes, ears, shoulders, elbows, wrists, hips, knees, ankles.
SURFACE_OFFSET_M = np.array(
    [0.02, 0.01, 0.01, 0.0, 0.0, 0.055, 0.055, 0.04, 0.04, 0.03, 0.03, 0.08, 0.08, 0.055, 0.055, 0.04, 0.04]
)


@dataclass
class LiftResult:
    """Per keypoint (17): origin (3,) and rays (17, 3) of the lines of sight (depth frame), lam_surface
    and lam_raw (17,) (NaN = no depth), p_depth (17, 3), n_pixels (17,) surface pixels used."""

    origin: np.ndarray
    rays: np.ndarray
    lam_surface: np.ndarray
    lam_raw: np.ndarray
    p_depth: np.ndarray
    n_pixels: np.ndarray

    def point(self, lam: np.ndarray) -> np.ndarray:
        """Points (17, 3) on the lines of sight at parameters lam (17,)."""
        return self.origin[None, :] + np.asarray(lam)[:, None] * self.rays


class Lifter:
    """Lift keypoints with depth for one calibration (see the module docstring)."""

    def __init__(self, calibration: KinectCalibration, *, window: int = 7, cluster_m: float = 0.08,
                 min_conf: float = 0.05, iterations: int = 2):
        if calibration.depth is None or calibration.color is None:
            raise ValueError("lifting needs a calibration with depth and color intrinsics.")
        self.cal = calibration
        self.window = int(window)
        self.cluster_m = float(cluster_m)
        self.min_conf = float(min_conf)
        self.iterations = int(iterations)
        c2d = calibration.color_to_depth
        self._rot = c2d.rotation
        self._origin = c2d.translation_m.copy()
        r = self.window // 2
        oy, ox = np.mgrid[-r : r + 1, -r : r + 1]
        self._off = np.stack([ox.ravel(), oy.ravel()], axis=1)  # (w*w, 2)
        self._depth_rays = pixel_rays(calibration.depth)

    def rays(self, uv_color: np.ndarray, undistorted: np.ndarray | None = None) -> np.ndarray:
        """Lines of sight (17, 3) in the depth frame for color pixels (17, 2); NaN rows where invalid.

        undistorted: the same keypoints already undistorted (z = 1 plane of the color camera), if known.
        """
        xy = undistort_pixels(self.cal.color, uv_color)[0] if undistorted is None else np.asarray(undistorted)
        d = np.concatenate([xy, np.ones((xy.shape[0], 1))], axis=1) @ self._rot.T
        d[~np.isfinite(xy).all(axis=1)] = np.nan
        return d

    def __call__(self, uv_color: np.ndarray, confidence: np.ndarray, depth_mm: np.ndarray,
                 person: PersonDetection, undistorted: np.ndarray | None = None) -> LiftResult:
        intr = self.cal.depth
        n = uv_color.shape[0]
        rays = self.rays(uv_color, undistorted)
        use = np.isfinite(rays).all(axis=1) & (np.asarray(confidence) >= self.min_conf)
        lam = np.full(n, np.nan)
        lam[use] = (person.median_depth_m - self._origin[2]) / rays[use, 2]
        fg, dm = person.foreground, person.depth_m
        band = fg is not None and dm is not None
        if not band:  # the compiled kernel takes arrays: empty ones say "blob only"
            fg, dm = np.zeros((0, 0), dtype=bool), np.zeros((0, 0), dtype=np.float32)
        lam_s, npix, surf_pts = _lift_iterations(
            self._origin, rays, use, lam, self.iterations, intr.lens, np.ascontiguousarray(depth_mm), self._off,
            self._depth_rays, person.mask, int(person.step), fg, dm.astype(np.float32, copy=False), band,
            float(person.median_depth_m), float(person.depth_band_m), self.cluster_m,
        )
        norm = np.linalg.norm(rays, axis=1)
        lam_raw = lam_s + SURFACE_OFFSET_M / norm
        dn = np.linalg.norm(surf_pts, axis=1, keepdims=True)
        p_depth = surf_pts + SURFACE_OFFSET_M[:, None] * surf_pts / dn
        return LiftResult(self._origin.copy(), rays, lam_s, lam_raw, p_depth, npix)


@njit(cache=True)
def _median_sorted(buf: np.ndarray, n: int) -> float:
    """Median of the first n values of buf (sorts them in place)."""
    b = np.sort(buf[:n])
    return 0.5 * (b[(n - 1) // 2] + b[n // 2])


@njit(cache=True)
def _sample_patches(uv, valid, depth_mm, off, depth_rays, mask, step, fg, dm, band, median_depth, depth_band, cluster):
    """The compiled body of ``Lifter._sample`` (step 2 of the module docstring) for m keypoints:
    per keypoint, the patch's valid athlete pixels (``PersonDetection``'s rule), their 10th
    percentile depth, the pixels within ``cluster`` of it, and the medians of their depth and of
    their unprojected x and y. Returns s (m,), cnt (m,) int64, p3 (m, 3); NaN / 0 where none."""
    h, w = depth_mm.shape
    mh, mw = mask.shape
    m = uv.shape[0]
    k = off.shape[0]
    s = np.full(m, np.nan)
    cnt = np.zeros(m, dtype=np.int64)
    p3 = np.full((m, 3), np.nan)
    zs = np.empty(k)
    xs = np.empty(k)
    ys = np.empty(k)
    srt = np.empty(k)
    for i in range(m):
        if valid[i]:
            cu, cv = np.rint(uv[i, 0]), np.rint(uv[i, 1])
        else:
            cu, cv = -1000.0, -1000.0
        n_good = 0
        for o in range(k):
            u = int(cu) + off[o, 0]
            v = int(cv) + off[o, 1]
            zs[o] = np.inf
            if u < 0 or u >= w or v < 0 or v >= h:
                continue
            z = depth_mm[v, u] * 0.001
            if z <= 0:
                continue
            y = v // step
            x = u // step
            if y >= mh or x >= mw:
                continue
            member = mask[y, x]
            if not member and band:
                member = fg[y, x] and abs(dm[y, x] - median_depth) < depth_band
            if not member:
                continue
            zs[o] = z
            n_good += 1
        if n_good == 0:
            continue
        srt[:] = np.sort(zs)
        zmin = srt[min(int(0.1 * n_good), k - 1)]
        n = 0
        for o in range(k):
            z = zs[o]
            if z < zmin + cluster:  # inf (not an athlete pixel) never is
                u = int(cu) + off[o, 0]
                v = int(cv) + off[o, 1]
                srt[n] = z
                xs[n] = depth_rays[v, u, 0] * z
                ys[n] = depth_rays[v, u, 1] * z
                n += 1
        cnt[i] = n
        if n == 0:
            continue
        s[i] = _median_sorted(srt, n)
        p3[i, 0] = _median_sorted(xs, n)
        p3[i, 1] = _median_sorted(ys, n)
        p3[i, 2] = s[i]
    return s, cnt, p3


@njit(cache=True)
def _lift_iterations(origin, rays, use, lam, iterations, lens, depth_mm, off, depth_rays, mask, step, fg, dm, band,
                     median_depth, depth_band, cluster):  # pragma: no cover - compiled
    """Steps 1-3 of the module docstring, compiled: ``iterations`` times, the usable keypoints
    (``use`` and a finite ``lam``) at ray parameters lam are projected into the depth image
    (``project_kernel``), sampled (``_sample_patches``) and moved to their surface depth.
    Returns lam_surface (n,), the surface pixel counts (n,) int64 and the surface points (n, 3)
    of the last iteration (NaN / 0 where none); ``lam`` is updated in place."""
    n = rays.shape[0]
    lam_s = np.full(n, np.nan)
    npix = np.zeros(n, dtype=np.int64)
    surf = np.full((n, 3), np.nan)
    for _ in range(iterations):
        idx = np.array([i for i in range(n) if use[i] and np.isfinite(lam[i])], dtype=np.int64)
        if idx.size == 0:
            break
        pts = np.empty((idx.size, 3))
        for m in range(idx.size):
            for c in range(3):
                pts[m, c] = origin[c] + lam[idx[m]] * rays[idx[m], c]
        uv, valid = project_kernel(pts, lens)
        s, cnt, p3 = _sample_patches(uv, valid, depth_mm, off, depth_rays, mask, step, fg, dm, band, median_depth,
                                     depth_band, cluster)
        lam_s[:] = np.nan
        npix[:] = 0
        surf[:] = np.nan
        for m in range(idx.size):
            i = idx[m]
            if np.isfinite(s[m]):
                lam_s[i] = (s[m] - origin[2]) / rays[i, 2]
            npix[i] = cnt[m]
            surf[i] = p3[m]
        for i in range(n):
            if np.isfinite(lam_s[i]):
                lam[i] = lam_s[i]
    return lam_s, npix, surf
