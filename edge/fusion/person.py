"""The person in the depth image: a learned background, the foreground, the athlete's blob and box.

Works on every fourth pixel (144x160 for NFOV unbinned) to stay well inside the frame budget.

- Background: for the first ``learn_frames`` frames the per-pixel *farthest* valid depth is
  learnt (start the session with nobody in front; someone who moves during learning is
  forgotten because the far surface behind them wins). Afterwards pixels that are background in
  a frame keep pushing the model to the farthest depth seen (an object that leaves is
  forgotten; one that arrives and stays is not absorbed - a documented limitation).
- Foreground: valid pixels nearer than the background by ``margin_m``, or valid where the
  background never had a measurement; optionally only those above the floor by ``floor_clear_m``.
- Blobs: pixels at a depth step (> ``split_m`` to the right or below neighbour: flying pixels,
  the silhouette against a nearer object) are cut, then 8-connected components. While the
  athlete is tracked, the athlete is all foreground within ``band_m`` (0.5 m) of the previous
  frame's median depth (a body cut in two by something in front stays whole; a classmate walking
  past in front, even touching it in the image, does not take over); when too little of the
  athlete is left in view, nobody is reported for up to ``grace_frames`` (1.5 s) rather than the
  thing in front.
- Acquisition (nobody tracked): only someone who *stands still* is taken as the athlete. Every
  component of at least ``min_area_m2`` metric area (pixels x depth^2) is followed by its 3D
  centroid; one whose centroid has stayed within ``dwell_radius_m`` (0.15 m) of where it was first
  seen for ``dwell_frames`` (0.5 s) qualifies, and the largest qualifying one is acquired. A
  candidate missing from up to ``dwell_miss_frames`` (3) frames in a row keeps its count: a slim
  student in profile at the side of the picture is about 0.08-0.09 m^2 of valid depth and
  flickers under ``min_area_m2`` every few frames; before this, simulated long-jump session 501
  was never acquired for a whole attempt (5 s). A
  student gets ready at the station before every attempt (the attempt starts from stillness), so
  this costs nothing there, while a classmate walking through the picture (0.4 m/s or faster
  covers 0.2 m in 0.5 s) is never taken for the athlete - before this rule, whoever entered the
  empty scene first was tracked, and a classmate crossing before the athlete stepped in hid the
  whole attempt (3 of 5 simulated occlusion sessions of seed 7 lost > 90 % of the athlete).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit

from calibration.kinect import CameraIntrinsics, KinectCalibration, pixel_rays, project_kernel, unproject


@dataclass(frozen=True)
class PersonDetection:
    """box: (x0, y0, x1, y1) full-resolution depth pixels (exclusive end). mask: bool (H/step, W/step)
    of the athlete's pixels. median_depth_m: their median depth; area_m2: their metric area.
    A pixel can belong to the athlete (``edge.fusion.lift`` samples only those) when it is in the
    blob, or ``foreground`` at the athlete's depth (``depth_m`` within ``depth_band_m`` of the
    median: a body cut in two by something in front stays whole; the thing in front does not join it)."""

    box: tuple[int, int, int, int]
    mask: np.ndarray
    step: int
    median_depth_m: float
    area_m2: float
    foreground: np.ndarray | None = None
    depth_m: np.ndarray | None = None
    depth_band_m: float = 0.8


class PersonFinder:
    """Background model + athlete blob (see the module docstring). Feed every depth frame to ``__call__``."""

    def __init__(
        self,
        intrinsics: CameraIntrinsics,
        *,
        step: int = 4,
        learn_frames: int = 15,
        margin_m: float = 0.10,
        split_m: float = 0.20,
        min_area_m2: float = 0.08,
        floor_clear_m: float = 0.05,
        band_m: float = 0.5,
        grace_frames: int = 45,
        dwell_frames: int = 15,
        dwell_radius_m: float = 0.15,
        dwell_miss_frames: int = 3,
    ):
        self.intr = intrinsics
        self.step = int(step)
        self.learn_frames = int(learn_frames)
        self.margin_m = float(margin_m)
        self.split_m = float(split_m)
        self.min_area_m2 = float(min_area_m2)
        self.floor_clear_m = float(floor_clear_m)
        self.band_m = float(band_m)
        self.grace_frames = int(grace_frames)
        self.dwell_frames = int(dwell_frames)
        self.dwell_radius_m = float(dwell_radius_m)
        self.dwell_miss_frames = int(dwell_miss_frames)
        if self.dwell_frames < 1 or self.dwell_radius_m <= 0 or self.dwell_miss_frames < 0:
            raise ValueError("dwell_frames must be at least 1, dwell_radius_m positive and dwell_miss_frames >= 0.")
        #: Candidates while nobody is tracked: (first-seen centroid (3,) metres, frames seen there,
        #: frames in a row it has been missing).
        self._anchors: list[tuple[np.ndarray, int, int]] = []
        self._lost = 0
        self._bg: np.ndarray | None = None
        self._seen = 0
        self._prev_box: tuple[int, int, int, int] | None = None
        self._prev_depth: float | None = None
        rays = pixel_rays(intrinsics)[:: self.step, :: self.step].astype(np.float32)
        self._rays = rays
        self._pix_area = np.float32((self.step / intrinsics.fx) * (self.step / intrinsics.fy))
        self._height_coef: np.ndarray | None = None
        self._floor_h = 0.0

    @property
    def learning(self) -> bool:
        return self._seen < self.learn_frames

    @property
    def background(self) -> np.ndarray | None:
        """Learned background depth (metres) at the working resolution, 0 = never measured."""
        return self._bg

    def set_floor(self, up: np.ndarray | None, camera_height_m: float | None) -> None:
        """Use a floor (depth frame up vector, camera height) to ignore pixels on or under it."""
        if up is None or camera_height_m is None:
            self._height_coef = None
            return
        r = self._rays
        u = np.asarray(up, dtype=np.float32)
        self._height_coef = (r[..., 0] * u[0] + r[..., 1] * u[1] + u[2]).astype(np.float32)
        self._floor_h = float(camera_height_m)

    def reset(self) -> None:
        self._bg = None
        self._seen = 0
        self._prev_box = None
        self._prev_depth = None
        self._anchors = []

    def _candidates(self, mask: np.ndarray, z: np.ndarray, zsq: np.ndarray) -> tuple[np.ndarray, list[tuple]]:
        """The foreground's 8-connected component labels, and the components of at least
        ``min_area_m2``: (label, metric area, 3D centroid (3,) metres). Only needed while nobody is
        tracked (tracking takes every foreground piece at the athlete's depth), so the tracking
        path does not pay for the labelling."""
        import cv2

        n, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
        comps = []
        for i in range(1, n):
            if stats[i, cv2.CC_STAT_AREA] < 5:
                continue
            x, y, w, h = stats[i, :4]
            sel = labels[y : y + h, x : x + w] == i
            area = float(zsq[y : y + h, x : x + w][sel].sum())
            if area < self.min_area_m2:
                continue
            zc = float(np.median(z[y : y + h, x : x + w][sel]))
            ray = np.nanmean(self._rays[y : y + h, x : x + w][sel], axis=0)
            comps.append((i, area, np.array([ray[0] * zc, ray[1] * zc, zc])))
        return labels, comps

    def _dwelled(self, comps: list[tuple]) -> list[bool]:
        """Update the candidates' anchors with this frame's big components (``_candidates``);
        whether each has stood still for ``dwell_frames``."""
        anchors, out = [], []
        for c in comps:
            centroid = c[2]
            best = None
            for k, (pos, _, _) in enumerate(self._anchors):
                d = float(np.linalg.norm(centroid - pos))
                if d <= self.dwell_radius_m and (best is None or d < best[1]):
                    best = (k, d)
            if best is None:
                anchors.append((centroid, 1, 0))
            else:
                pos, count, _ = self._anchors.pop(best[0])
                anchors.append((pos, count + 1, 0))
            out.append(anchors[-1][1] >= self.dwell_frames)
        # not seen this frame: kept, count unchanged, for up to dwell_miss_frames frames in a row
        anchors += [(pos, count, miss + 1) for pos, count, miss in self._anchors if miss < self.dwell_miss_frames]
        self._anchors = anchors
        return out

    def __call__(self, depth_mm: np.ndarray) -> PersonDetection | None:
        """Update the background and return the athlete in this frame (None while learning / absent)."""
        if depth_mm.shape != (self.intr.height, self.intr.width):
            raise ValueError(
                f"depth image must be {self.intr.height}x{self.intr.width} for this calibration, got {depth_mm.shape}."
            )
        s = self.step
        if self.learning:
            z = depth_mm[::s, ::s].astype(np.float32) * np.float32(0.001)
            if self._bg is None:
                self._bg = np.zeros_like(z)
            np.maximum(self._bg, z, out=self._bg)
            self._seen += 1
            return None
        if self._bg is None:  # no learning frames: everything in view is foreground at first
            self._bg = np.zeros(((self.intr.height + s - 1) // s, (self.intr.width + s - 1) // s), dtype=np.float32)
        use_floor = self._height_coef is not None
        coef = self._height_coef if use_floor else self._bg  # any float32 array of the shape when unused
        # foreground, the background learning on, the cuts at depth steps: one compiled pass
        z, mask = _foreground(depth_mm, s, self._bg, self.margin_m, use_floor, coef, self._floor_h,
                              self.floor_clear_m, self.split_m)
        if not mask.any():
            self._prev_box = self._prev_depth = None  # nothing in front of the background at all: nobody
            self._anchors = []
            return None
        zsq = z * z * self._pix_area
        blob = None
        if self._prev_depth is not None:  # tracking: the foreground at the athlete's depth, in every piece
            band = _depth_band(mask, z, self._prev_depth, self.band_m)
            if float(zsq[band].sum()) >= 0.5 * self.min_area_m2:
                blob = band
                self._lost = 0
                self._anchors = []
            elif self._lost < self.grace_frames:  # hidden behind something: wait for the athlete to reappear
                self._lost += 1
                self._dwelled(self._candidates(mask, z, zsq)[1])
                return None
        if blob is None:  # nobody tracked (or lost for good): the largest blob that stands still
            labels, comps = self._candidates(mask, z, zsq)
            still = [c for c, ok in zip(comps, self._dwelled(comps)) if ok]
            if not still:
                self._prev_box = self._prev_depth = None
                return None
            blob = labels == max(still, key=lambda c: c[1])[0]
            self._anchors = []
            self._lost = 0
        x, y, x1, y1, median, area = _blob_stats(blob, z, zsq)
        box = (int(x * s), int(y * s), int(min(x1 * s, self.intr.width)), int(min(y1 * s, self.intr.height)))
        self._prev_box = box
        self._prev_depth = median
        fg = mask.view(np.bool_)  # 0 or 1: the same values, no copy
        return PersonDetection(box, blob, s, median, area, fg, z)


@njit(cache=True)
def _foreground(depth_mm, step, bg, margin, use_floor, height_coef, floor_h, floor_clear, split):
    """One pass of ``PersonFinder.__call__`` over the working-resolution image: z float32 (h, w)
    metres, and the blob mask uint8 (h, w): valid pixels nearer than the background by ``margin``
    (or where it never had a measurement), above the floor when ``use_floor``, not at a depth step
    of more than ``split`` to the right or below neighbour. Background pixels of this frame
    farther than the model push it back (``bg`` updated in place)."""
    h, w = bg.shape
    z = np.empty((h, w), dtype=np.float32)
    for y in range(h):
        for x in range(w):
            z[y, x] = np.float32(depth_mm[y * step, x * step]) * np.float32(0.001)
    mask = np.zeros((h, w), dtype=np.uint8)
    for y in range(h):
        for x in range(w):
            zz = z[y, x]
            if zz <= 0:
                continue
            b = bg[y, x]
            fg = b == 0 or zz < b - margin
            if fg and use_floor:
                fg = zz * height_coef[y, x] + floor_h > floor_clear
            if not fg:
                if zz > b:
                    bg[y, x] = zz
                continue
            if x + 1 < w and abs(z[y, x + 1] - zz) > split:
                continue
            if y + 1 < h and abs(z[y + 1, x] - zz) > split:
                continue
            mask[y, x] = 1
    return z, mask


@njit(cache=True)
def _depth_band(mask, z, depth, band):
    """Foreground pixels (mask > 0: every component) within ``band`` metres of ``depth``: bool (h, w)."""
    h, w = mask.shape
    out = np.zeros((h, w), dtype=np.bool_)
    for y in range(h):
        for x in range(w):
            out[y, x] = mask[y, x] > 0 and abs(z[y, x] - depth) < band
    return out


@njit(cache=True)
def _blob_stats(blob, z, zsq):
    """Box (x0, y0, x1, y1: exclusive ends, working pixels), median depth and metric area (sum of
    ``zsq``) of a non-empty blob."""
    h, w = blob.shape
    vals = np.empty(h * w, dtype=np.float32)
    n = 0
    x0, y0, x1, y1 = w, h, 0, 0
    area = 0.0
    for y in range(h):
        for x in range(w):
            if blob[y, x]:
                vals[n] = z[y, x]
                n += 1
                area += zsq[y, x]
                x0, x1 = min(x0, x), max(x1, x + 1)
                y0, y1 = min(y0, y), max(y1, y + 1)
    return x0, y0, x1, y1, float(np.median(vals[:n])), area


def box_in_color(det: PersonDetection, calibration: KinectCalibration, pad: float = 0.15) -> tuple[int, int, int, int] | None:
    """The athlete's box in the color image: the depth box's corners at the median depth, projected.

    ``pad`` enlarges the box by that share of its size on each side; None if it leaves the image.
    """
    if calibration.color is None or calibration.depth is None:
        return None
    x0, y0, x1, y1 = det.box
    corners = np.array([[x0, y0], [x1, y0], [x0, y1], [x1, y1]], dtype=np.int64)
    intr = calibration.depth
    if (corners >= 0).all() and (corners[:, 0] < intr.width).all() and (corners[:, 1] < intr.height).all():
        xy = pixel_rays(intr)[corners[:, 1], corners[:, 0]].astype(np.float64)  # the cached rays: no iteration
        ok = np.isfinite(xy).all(axis=1)
        pts = np.concatenate([xy, np.ones((4, 1))], axis=1) * det.median_depth_m
    else:  # a corner on the exclusive end of the image: undistort it
        pts, ok = unproject(intr, corners.astype(np.float64), np.full(4, det.median_depth_m))
    if not ok.any():
        return None
    uv, valid = project_kernel(calibration.depth_to_color.apply(pts[ok]), calibration.color.lens)
    if not valid.any():
        return None
    lo = np.nanmin(uv[valid], axis=0)
    hi = np.nanmax(uv[valid], axis=0)
    size = hi - lo
    lo = lo - pad * size
    hi = hi + pad * size
    w, h = calibration.color.width, calibration.color.height
    bx0, by0 = int(max(np.floor(lo[0]), 0)), int(max(np.floor(lo[1]), 0))
    bx1, by1 = int(min(np.ceil(hi[0]), w)), int(min(np.ceil(hi[1]), h))
    if bx1 - bx0 < 8 or by1 - by0 < 8:
        return None
    return bx0, by0, bx1, by1
