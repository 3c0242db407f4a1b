"""What an Azure Kinect would see of the simulated athlete: depth and color images.

The body is a set of capsules (a segment between two points, a radius) between COCO joints and
foot points; radii are typical half-thicknesses of each body part for a 1.70 m student of
average build (Winter, *Biomechanics and Motor Control of Human Movement*, 4th ed., Table 4.1
circumferences; thigh ~0.45 m round -> r 0.065 m, calf 0.34 m -> 0.05 m, upper arm 0.27 m ->
0.045 m, forearm 0.24 m -> 0.035 m), scaled by height and by sqrt(BMI / 21) for girth. The scene
is a floor (y = 0 in the simulator's world) plus optional static boxes and a moving occluder.

Depth (NFOV unbinned, 640x576, uint16 mm; Azure Kinect DK hardware specification and depth-camera
documentation): operating range 0.5-3.86 m, outside it 0 (no measurement); random error grows with
distance, here sd = 1 mm + 0.6 mm/m^2 * z^2 (7 mm at 3.2 m, inside the documented <= 17 mm) and
x 1/max(cos(incidence), 0.3) at grazing angles, invalid below cos 0.08; a fixed per-pixel
systematic offset of sd 1.5 mm (the documented systematic error is < 11 mm + 0.1 % of distance);
"flying" (mixed) pixels at depth edges: of the pixels on a > 0.1 m step, 40 % are invalidated
(the depth engine's edge filter) and 30 % report a depth between the two surfaces; 0.2 % random
dropouts everywhere.

Color (1280x720 RGB): a flat-shaded drawing of the same scene (OpenCV thick lines for capsules,
far to near) — enough for a color frame, a crop and a timestamp; the pose stand-in does not look
at it. Low light darkens it and adds sensor noise.

Frames: the simulator's world (y up, floor 0) -> depth camera (OpenCV, metres) by ``SimRig``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit

from calibration.kinect import CameraIntrinsics, KinectCalibration, RigidTransform, pixel_rays, project
from edge.skeleton.joints import Joint

J = Joint
DEPTH_RANGE_M = (0.5, 3.86)
FLYING_INVALID = 0.40
FLYING_MIXED = 0.30
DROPOUT = 0.002
EDGE_STEP_M = 0.10

# Extended point set: 17 joints, then derived points.
P_MID_HIP, P_MID_SHOULDER, P_HEAD, P_NECK_TOP = 17, 18, 19, 20
P_FEET = 21  # left heel, ball, toe, right heel, ball, toe: 21..26
P_HAND_L, P_HAND_R, P_CHEST = 27, 28, 29
N_POINTS = 30

#: (point a, point b, radius at H = 1.70 m, colour group). Groups: 0 skin, 1 shirt, 2 shorts, 3 legs, 4 shoes.
CAPSULES: tuple[tuple[int, int, float, int], ...] = (
    (P_HEAD, P_HEAD, 0.078, 0),
    (P_MID_SHOULDER, P_NECK_TOP, 0.050, 0),
    (P_MID_HIP, P_CHEST, 0.105, 1),
    (J.LEFT_HIP, J.LEFT_SHOULDER, 0.060, 1),
    (J.RIGHT_HIP, J.RIGHT_SHOULDER, 0.060, 1),
    (J.LEFT_SHOULDER, J.RIGHT_SHOULDER, 0.055, 1),
    (J.LEFT_HIP, J.RIGHT_HIP, 0.085, 2),
    (J.LEFT_SHOULDER, J.LEFT_ELBOW, 0.045, 1),
    (J.RIGHT_SHOULDER, J.RIGHT_ELBOW, 0.045, 1),
    (J.LEFT_ELBOW, J.LEFT_WRIST, 0.035, 0),
    (J.RIGHT_ELBOW, J.RIGHT_WRIST, 0.035, 0),
    (J.LEFT_WRIST, P_HAND_L, 0.032, 0),
    (J.RIGHT_WRIST, P_HAND_R, 0.032, 0),
    (J.LEFT_HIP, J.LEFT_KNEE, 0.065, 2),
    (J.RIGHT_HIP, J.RIGHT_KNEE, 0.065, 2),
    (J.LEFT_KNEE, J.LEFT_ANKLE, 0.050, 3),
    (J.RIGHT_KNEE, J.RIGHT_ANKLE, 0.050, 3),
    (J.LEFT_ANKLE, P_FEET + 0, 0.038, 4),
    (J.LEFT_ANKLE, P_FEET + 1, 0.036, 4),
    (P_FEET + 1, P_FEET + 2, 0.030, 4),
    (J.RIGHT_ANKLE, P_FEET + 3, 0.038, 4),
    (J.RIGHT_ANKLE, P_FEET + 4, 0.036, 4),
    (P_FEET + 4, P_FEET + 5, 0.030, 4),
)
CAPSULE_A = np.array([c[0] for c in CAPSULES])
CAPSULE_B = np.array([c[1] for c in CAPSULES])
CAPSULE_R = np.array([c[2] for c in CAPSULES])
CAPSULE_GROUP = np.array([c[3] for c in CAPSULES])
_GROUP_RGB = np.array([[224, 172, 140], [200, 40, 40], [30, 40, 120], [210, 165, 135], [240, 240, 240]], np.uint8)


def body_scale(height_m: float, mass_kg: float) -> float:
    """Radius scale of a student: height / 1.70 m times sqrt(BMI / 21)."""
    bmi = mass_kg / height_m**2
    return float(height_m / 1.70 * np.sqrt(bmi / 21.0))


def extended_points(joints: np.ndarray, feet: np.ndarray) -> np.ndarray:
    """Joints (..., 17, 3) and feet (..., 2, 3, 3) -> the capsule points (..., N_POINTS, 3)."""
    joints = np.asarray(joints, dtype=np.float64)
    out = np.empty(joints.shape[:-2] + (N_POINTS, 3))
    out[..., :17, :] = joints
    mid_hip = 0.5 * (joints[..., J.LEFT_HIP, :] + joints[..., J.RIGHT_HIP, :])
    mid_sh = 0.5 * (joints[..., J.LEFT_SHOULDER, :] + joints[..., J.RIGHT_SHOULDER, :])
    mid_ear = 0.5 * (joints[..., J.LEFT_EAR, :] + joints[..., J.RIGHT_EAR, :])
    nose = joints[..., J.NOSE, :]
    out[..., P_MID_HIP, :] = mid_hip
    out[..., P_MID_SHOULDER, :] = mid_sh
    out[..., P_HEAD, :] = mid_ear + 0.3 * (nose - mid_ear)
    out[..., P_NECK_TOP, :] = mid_sh + 0.6 * (mid_ear - mid_sh)
    out[..., P_CHEST, :] = mid_hip + 0.72 * (mid_sh - mid_hip)
    out[..., P_FEET : P_FEET + 6, :] = np.asarray(feet, dtype=np.float64).reshape(joints.shape[:-2] + (6, 3))
    for wrist, elbow, hand in ((J.LEFT_WRIST, J.LEFT_ELBOW, P_HAND_L), (J.RIGHT_WRIST, J.RIGHT_ELBOW, P_HAND_R)):
        d = joints[..., wrist, :] - joints[..., elbow, :]
        n = np.linalg.norm(d, axis=-1, keepdims=True)
        out[..., hand, :] = joints[..., wrist, :] + 0.08 * d / np.maximum(n, 1e-9)
    return out


@dataclass(frozen=True)
class SimRig:
    """Where the camera stands in the simulator's world.

    world_to_depth: world (y up, floor 0) -> depth-camera frame. ``describe`` gives the numbers.
    """

    world_to_depth: RigidTransform
    height_m: float
    distance_m: float
    pitch_deg: float
    roll_deg: float
    heading_deg: float

    @property
    def up_in_depth(self) -> np.ndarray:
        """World up (0, 1, 0) expressed in the depth frame (unit)."""
        return self.world_to_depth.rotation @ np.array([0.0, 1.0, 0.0])

    def describe(self) -> dict:
        return {
            "height_m": round(self.height_m, 4),
            "distance_m": round(self.distance_m, 4),
            "pitch_deg": round(self.pitch_deg, 3),
            "roll_deg": round(self.roll_deg, 3),
            "heading_deg": round(self.heading_deg, 3),
        }


def make_rig(
    target: np.ndarray, *, height_m: float, distance_m: float, heading_deg: float, roll_deg: float,
    pitch_offset_deg: float = 0.0,
) -> SimRig:
    """A camera at ``height_m`` looking at ``target`` (world) from ``distance_m`` on the athlete's
    right (+z), turned by ``heading_deg`` about the vertical through the target; pitched to aim at
    the target (plus ``pitch_offset_deg``), rolled by ``roll_deg``."""
    target = np.asarray(target, dtype=np.float64)
    h = np.radians(heading_deg)
    horiz = np.array([np.sin(h), 0.0, np.cos(h)])  # from target towards the camera
    centre = target + distance_m * horiz
    centre[1] = height_m
    pitch = np.degrees(np.arctan2(height_m - target[1], distance_m)) + pitch_offset_deg
    p, r = np.radians(pitch), np.radians(roll_deg)
    fwd_h = -horiz
    fwd = np.cos(p) * fwd_h + np.array([0.0, -np.sin(p), 0.0])
    right0 = np.cross(fwd, np.array([0.0, 1.0, 0.0]))
    right0 /= np.linalg.norm(right0)
    down0 = np.cross(fwd, right0)
    right = np.cos(r) * right0 + np.sin(r) * down0
    down = np.cross(fwd, right)
    rot = np.stack([right, down, fwd])  # rows: camera axes in world coordinates
    w2d = RigidTransform(rot, -rot @ centre)
    return SimRig(w2d, float(height_m), float(distance_m), float(pitch), float(roll_deg), float(heading_deg))


# --- ray casting ------------------------------------------------------------------------------
def ray_capsule_depth(rays: np.ndarray, a: np.ndarray, b: np.ndarray, r: float) -> np.ndarray:
    """Depth z of the first hit of rays (N, 2) (points (x, y, 1) on the z = 1 plane, camera at the
    origin) with the capsule a-b (camera frame, metres) of radius r; inf where missed."""
    n = rays.shape[0]
    d = np.empty((n, 3))
    d[:, :2] = rays
    d[:, 2] = 1.0
    ba = b - a
    oa = -a
    baba = float(ba @ ba)
    dd = np.einsum("ij,ij->i", d, d)
    z = np.full(n, np.inf)
    if baba > 1e-12:
        bard = d @ ba
        baoa = float(ba @ oa)
        rdoa = d @ oa
        oaoa = float(oa @ oa)
        qa = baba * dd - bard * bard
        qb = baba * rdoa - baoa * bard
        qc = baba * oaoa - baoa * baoa - r * r * baba
        h = qb * qb - qa * qc
        ok = (h >= 0) & (qa > 1e-12)
        t = np.full(n, np.inf)
        t[ok] = (-qb[ok] - np.sqrt(h[ok])) / qa[ok]
        y = baoa + t * bard
        side = ok & (y > 0) & (y < baba) & (t > 0)
        z[side] = t[side]
    # end caps (spheres); for a zero-length capsule this is the sphere
    for c in (a, b):
        oc = -c
        bq = d @ oc
        cq = float(oc @ oc) - r * r
        h = bq * bq - dd * cq
        ok = h >= 0
        t = np.full(n, np.inf)
        t[ok] = (-bq[ok] - np.sqrt(h[ok])) / dd[ok]
        t[t <= 0] = np.inf
        z = np.minimum(z, t)
    return z


def capsule_pixel_boxes(intr: CameraIntrinsics, a: np.ndarray, b: np.ndarray, r: np.ndarray) -> np.ndarray:
    """Integer pixel boxes (K, 4) x0, y0, x1, y1 (exclusive) that contain each capsule's image."""
    pts = np.concatenate([a, b])
    uv, valid = project(intr, pts)
    k = a.shape[0]
    boxes = np.zeros((k, 4), dtype=np.int64)
    for i in range(k):
        ends = [uv[i], uv[i + k]]
        ok = [valid[i], valid[i + k]]
        if not all(ok):
            boxes[i] = (0, 0, intr.width, intr.height)  # partly behind / outside the model: test all
            continue
        zmin = max(min(a[i, 2], b[i, 2]) - r[i], 0.05)
        pad = 1.6 * r[i] * max(intr.fx, intr.fy) / zmin + 3
        lo = np.minimum(ends[0], ends[1]) - pad
        hi = np.maximum(ends[0], ends[1]) + pad
        boxes[i] = (int(np.floor(lo[0])), int(np.floor(lo[1])), int(np.ceil(hi[0])) + 1, int(np.ceil(hi[1])) + 1)
    boxes[:, [0, 2]] = np.clip(boxes[:, [0, 2]], 0, intr.width)
    boxes[:, [1, 3]] = np.clip(boxes[:, [1, 3]], 0, intr.height)
    return boxes


@njit(cache=True)
def _zbuffer_capsules(rays, boxes, a, b, r, zbuf):  # pragma: no cover - compiled
    """Numba kernel of :func:`render_capsules`: the same algebra as ray_capsule_depth, per pixel."""
    for i in range(a.shape[0]):
        x0, y0, x1, y1 = boxes[i, 0], boxes[i, 1], boxes[i, 2], boxes[i, 3]
        bax, bay, baz = b[i, 0] - a[i, 0], b[i, 1] - a[i, 1], b[i, 2] - a[i, 2]
        oax, oay, oaz = -a[i, 0], -a[i, 1], -a[i, 2]
        baba = bax * bax + bay * bay + baz * baz
        baoa = bax * oax + bay * oay + baz * oaz
        oaoa = oax * oax + oay * oay + oaz * oaz
        rr = r[i] * r[i]
        for y in range(y0, y1):
            for x in range(x0, x1):
                dx, dy = rays[y, x, 0], rays[y, x, 1]
                if dx != dx or dy != dy:
                    continue
                dd = dx * dx + dy * dy + 1.0
                best = np.inf
                if baba > 1e-12:
                    bard = dx * bax + dy * bay + baz
                    rdoa = dx * oax + dy * oay + oaz
                    qa = baba * dd - bard * bard
                    qb = baba * rdoa - baoa * bard
                    qc = baba * oaoa - baoa * baoa - rr * baba
                    h = qb * qb - qa * qc
                    if h >= 0 and qa > 1e-12:
                        t = (-qb - np.sqrt(h)) / qa
                        yy = baoa + t * bard
                        if yy > 0 and yy < baba and t > 0:
                            best = t
                for e in range(2):
                    if e == 0:
                        cx, cy, cz = a[i, 0], a[i, 1], a[i, 2]
                    else:
                        cx, cy, cz = b[i, 0], b[i, 1], b[i, 2]
                    bq = -(dx * cx + dy * cy + cz)
                    cq = cx * cx + cy * cy + cz * cz - rr
                    h = bq * bq - dd * cq
                    if h >= 0:
                        t = (-bq - np.sqrt(h)) / dd
                        if t > 0 and t < best:
                            best = t
                if best < zbuf[y, x]:
                    zbuf[y, x] = best


def render_capsules(intr: CameraIntrinsics, a: np.ndarray, b: np.ndarray, r: np.ndarray, zbuf: np.ndarray) -> np.ndarray:
    """Z-buffer capsules (camera frame, (K, 3) ends, (K,) radii) into zbuf (H, W) float64 metres (in place).

    Numba kernel; :func:`ray_capsule_depth` is the numpy reference it is tested against.
    """
    if zbuf.shape != (intr.height, intr.width) or zbuf.dtype != np.float64:
        raise ValueError(f"zbuf must be float64 ({intr.height}, {intr.width}), got {zbuf.dtype} {zbuf.shape}.")
    a = np.ascontiguousarray(a, dtype=np.float64)
    b = np.ascontiguousarray(b, dtype=np.float64)
    r = np.ascontiguousarray(r, dtype=np.float64)
    boxes = capsule_pixel_boxes(intr, a, b, r)
    _zbuffer_capsules(pixel_rays(intr), boxes, a, b, r, zbuf)
    return zbuf


def floor_depth(intr: CameraIntrinsics, rig: SimRig) -> tuple[np.ndarray, np.ndarray]:
    """Depth z (H, W) of the floor (inf where the ray misses it) and cos(incidence) (H, W)."""
    rays = pixel_rays(intr).astype(np.float64)
    up = rig.up_in_depth
    # floor: up . p + h = 0 with p = z (x, y, 1)  ->  z = -h / (up . (x, y, 1))
    denom = rays[..., 0] * up[0] + rays[..., 1] * up[1] + up[2]
    with np.errstate(divide="ignore", invalid="ignore"):
        z = -rig.height_m / denom
        z[(denom >= 0) | ~np.isfinite(z)] = np.inf
        norm = np.sqrt(rays[..., 0] ** 2 + rays[..., 1] ** 2 + 1.0)
        cos_inc = np.abs(denom) / norm
    return z, cos_inc


def box_depth(intr: CameraIntrinsics, rig: SimRig, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Depth z (H, W) of an axis-aligned world box [lo, hi] (slab test), inf where missed."""
    rays = pixel_rays(intr).astype(np.float64).reshape(-1, 2)
    d_cam = np.concatenate([rays, np.ones((rays.shape[0], 1))], axis=1)
    inv = rig.world_to_depth.inverse()
    origin = inv.translation_m
    d_w = d_cam @ inv.rotation.T  # direction in world per unit depth z
    with np.errstate(divide="ignore", invalid="ignore"):
        t1 = (np.asarray(lo) - origin) / d_w
        t2 = (np.asarray(hi) - origin) / d_w
    tmin = np.nanmax(np.minimum(t1, t2), axis=1)
    tmax = np.nanmin(np.maximum(t1, t2), axis=1)
    hit = (tmax >= tmin) & (tmax > 0)
    z = np.where(hit, np.maximum(tmin, 0.0), np.inf)
    return z.reshape(intr.height, intr.width)


# --- sensor noise ------------------------------------------------------------------------------
def depth_sigma_m(z: np.ndarray) -> np.ndarray:
    """Random depth error sd (m) at depth z (m): 1 mm + 0.6 mm/m^2 z^2."""
    return 0.001 + 0.0006 * z * z


def _noisy_depth(z: np.ndarray, cos_inc: np.ndarray, fixed: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Ideal depth z (h, w) metres (inf = no surface) -> uint16 mm with the noise of the module docstring."""
    h, w = z.shape
    finite = np.isfinite(z)
    lo, hi = DEPTH_RANGE_M
    valid = finite & (z >= lo) & (z <= hi) & (cos_inc > 0.08)
    zz = np.where(finite, z, 0.0)
    noisy = zz + fixed + depth_sigma_m(zz) / np.maximum(cos_inc, 0.3) * rng.standard_normal((h, w))
    if h > 2 and w > 2:  # flying pixels at depth steps
        sub = np.where(valid, zz, 10.0)
        near = sub.copy()
        far = sub.copy()
        for dy, dx in ((0, 1), (0, -1), (1, 0), (-1, 0)):
            sh = np.roll(sub, (dy, dx), axis=(0, 1))
            np.minimum(near, sh, out=near)
            np.maximum(far, sh, out=far)
        edge = (far - near > EDGE_STEP_M) & valid
        edge[[0, -1], :] = False
        edge[:, [0, -1]] = False
        ey, ex = np.nonzero(edge)
        if ey.size:
            u = rng.random(ey.size)
            kill = u < FLYING_INVALID
            mix = (u >= FLYING_INVALID) & (u < FLYING_INVALID + FLYING_MIXED)
            valid[ey[kill], ex[kill]] = False
            f = np.minimum(far[ey[mix], ex[mix]], hi)
            n_ = near[ey[mix], ex[mix]]
            noisy[ey[mix], ex[mix]] = n_ + rng.random(int(mix.sum())) * (f - n_)
    valid &= rng.random((h, w)) >= DROPOUT
    out = np.zeros((h, w), dtype=np.uint16)
    out[valid] = np.clip(np.rint(noisy[valid] * 1000.0), 1, 65535).astype(np.uint16)
    return out


class DepthSensor:
    """Azure-Kinect-like depth noise for a static background plus a moving foreground.

    The background's noisy frames come from a bank of ``bank`` independent realisations made
    once (drawing 370 000 normals per frame would cost more than the fusion itself); every frame
    the region around the moving bodies is re-rendered with fresh noise.
    """

    def __init__(self, background_z: np.ndarray, background_cos: np.ndarray, rng: np.random.Generator, bank: int = 12):
        self.background_z = background_z
        self.background_cos = background_cos
        self.fixed = rng.normal(0.0, 0.0015, background_z.shape)
        self._bank = [_noisy_depth(background_z, background_cos, self.fixed, rng) for _ in range(bank)]

    def capture(self, zbuf: np.ndarray, rng: np.random.Generator, region: tuple[int, int, int, int] | None) -> np.ndarray:
        """uint16 (H, W) mm: a background realisation with ``region`` (x0, y0, x1, y1) of zbuf re-rendered."""
        out = self._bank[int(rng.integers(len(self._bank)))].copy()
        if region is None:
            return out
        h, w = zbuf.shape
        x0, y0, x1, y1 = region
        x0, y0, x1, y1 = max(x0 - 3, 0), max(y0 - 3, 0), min(x1 + 3, w), min(y1 + 3, h)
        if x1 <= x0 or y1 <= y0:
            return out
        z = zbuf[y0:y1, x0:x1]
        bz = self.background_z[y0:y1, x0:x1]
        cos = np.where(z < bz, 1.0, self.background_cos[y0:y1, x0:x1])
        out[y0:y1, x0:x1] = _noisy_depth(z, cos, self.fixed[y0:y1, x0:x1], rng)
        return out


# --- color -------------------------------------------------------------------------------------
def color_background(intr: CameraIntrinsics, floor_z: np.ndarray | None, rng: np.random.Generator) -> np.ndarray:
    """A static RGB background (H, W, 3): wall above the horizon, floor below (flat colours + texture)."""
    img = np.empty((intr.height, intr.width, 3), np.uint8)
    img[:] = (150, 160, 170)
    if floor_z is not None:
        img[np.isfinite(floor_z)] = (70, 120, 70)
    noise = rng.integers(-6, 7, size=img.shape, dtype=np.int16)
    return np.clip(img.astype(np.int16) + noise, 0, 255).astype(np.uint8)


def draw_capsules_color(
    img: np.ndarray, intr: CameraIntrinsics, a: np.ndarray, b: np.ndarray, r: np.ndarray, rgb: np.ndarray
) -> None:
    """Draw capsules (colour-camera frame ends (K, 3), radii (K,), colours (K, 3)) far to near, in place."""
    import cv2

    k = a.shape[0]
    uv, valid = project(intr, np.concatenate([a, b]))
    depth = 0.5 * (a[:, 2] + b[:, 2])
    for i in np.argsort(-depth):
        if not (valid[i] and valid[i + k]):
            continue
        z = max(depth[i], 0.1)
        th = max(int(round(2 * r[i] * intr.fx / z)), 1)
        p0 = tuple(int(round(v)) for v in uv[i])
        p1 = tuple(int(round(v)) for v in uv[i + k])
        color = tuple(int(c) for c in rgb[i])
        cv2.line(img, p0, p1, color, th, lineType=cv2.LINE_8)
        cv2.circle(img, p0, th // 2, color, -1)
        cv2.circle(img, p1, th // 2, color, -1)


def darken(img: np.ndarray, gain: float, noise_sd: float, rng: np.random.Generator) -> np.ndarray:
    """Low light: scale the image by ``gain`` and add Gaussian sensor noise (sd in 8-bit levels)."""
    out = img.astype(np.float32) * gain + rng.normal(0.0, noise_sd, img.shape).astype(np.float32)
    return np.clip(out, 0, 255).astype(np.uint8)


def default_rgb(scale_groups: np.ndarray = CAPSULE_GROUP) -> np.ndarray:
    return _GROUP_RGB[scale_groups]


def calibration_or_default(calibration: KinectCalibration | None) -> KinectCalibration:
    """The given calibration, or the default one (see ``edge.capture.sim_calibration``)."""
    if calibration is not None:
        if calibration.depth is None or calibration.color is None:
            raise ValueError("the simulator needs a calibration with both depth and color intrinsics.")
        return calibration
    from edge.capture.sim_calibration import default_calibration

    return default_calibration()
