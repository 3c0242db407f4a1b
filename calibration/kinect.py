"""Azure Kinect calibration: parse the device's calibration.json, project and unproject with OpenCV.

The JSON (the ``calibration.json`` attachment of a k4arecorder file, or
``k4a_device_get_raw_calibration``) holds, per camera, 14 ``ModelParameters`` in this order (the
layout of the SDK's ``k4a_calibration_intrinsic_parameters_t``)::

    cx, cy, fx, fy, k1, k2, k3, k4, k5, k6, codx, cody, p2, p1      (note: p2 before p1)

normalized by the full sensor size with (0, 0) at the top-left *corner* of the top-left pixel.
For a depth mode or color resolution the SDK scales them to the binned sensor, subtracts the crop
offset and moves the origin to the *centre* of the top-left pixel (-0.5); :func:`mode_intrinsics`
does the same, with the SDK's mode tables below.

The lens model ("Brown-Conrady" in the SDK) is, for a point (x, y) on the z = 1 plane, r2 = x^2 + y^2::

    d  = (1 + k1 r2 + k2 r2^2 + k3 r2^3) / (1 + k4 r2 + k5 r2^2 + k6 r2^3)
    xd = x d + 2 p1 x y + p2 (r2 + 2 x^2)
    yd = y d + p1 (r2 + 2 y^2) + 2 p2 x y
    u  = fx xd + cx,  v = fy yd + cy

which is exactly OpenCV's rational model with ``distCoeffs = (k1, k2, p1, p2, k3, k4, k5, k6)``
(codx = cody = 0 for Brown-Conrady). The model is only valid for r2 <= metric_radius^2.

Frames and units: camera frames are OpenCV's (x right, y down, z forward); every point and
translation here is in **metres**. The JSON stores translations in metres (the SDK's
``k4a_calibration_extrinsics_t`` multiplies them by 1000 to millimetres; we do not). Each sensor's
``Rt`` maps a point from the depth-camera frame into that sensor's frame,
``p_sensor = R p_depth + t``; :meth:`KinectCalibration.extrinsics` composes them for any
source -> target pair ("depth", "color", "gyro", "accel"), as the SDK does. Rotations are snapped
to the nearest orthonormal matrix (the JSON's float32 values are off by ~1e-7).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cached_property, lru_cache

import numpy as np
from numba import njit

SENSORS = ("depth", "color", "gyro", "accel")

# SDK mode tables (src/transformation/mode_specific_calibration.c):
# name -> (binned calibration resolution (w, h), crop offset (x, y), output resolution (w, h)).
DEPTH_MODES: dict[str, tuple[tuple[int, int], tuple[int, int], tuple[int, int]]] = {
    "NFOV_2X2BINNED": ((512, 512), (96, 90), (320, 288)),
    "NFOV_UNBINNED": ((1024, 1024), (192, 180), (640, 576)),
    "WFOV_2X2BINNED": ((512, 512), (0, 0), (512, 512)),
    "WFOV_UNBINNED": ((1024, 1024), (0, 0), (1024, 1024)),
    "PASSIVE_IR": ((1024, 1024), (0, 0), (1024, 1024)),
}
COLOR_RESOLUTIONS: dict[str, tuple[tuple[int, int], tuple[int, int], tuple[int, int]]] = {
    "720P": ((1280, 960), (0, 120), (1280, 720)),
    "1080P": ((1920, 1440), (0, 180), (1920, 1080)),
    "1440P": ((2560, 1920), (0, 240), (2560, 1440)),
    "1536P": ((2048, 1536), (0, 0), (2048, 1536)),
    "2160P": ((3840, 2880), (0, 360), (3840, 2160)),
    "3072P": ((4096, 3072), (0, 0), (4096, 3072)),
}
#: The SDK's metric radius when the calibration stores 0 ("failed to estimate"): about 120 deg FoV.
DEFAULT_METRIC_RADIUS = 1.7

_CAMERA_LOCATIONS = {"depth": "CALIBRATION_CameraLocationD0", "color": "CALIBRATION_CameraLocationPV0"}
_IMU_TYPES = {"gyro": "CALIBRATION_InertialSensorType_Gyro", "accel": "CALIBRATION_InertialSensorType_Accelerometer"}
_MODEL_BROWN_CONRADY = "CALIBRATION_LensDistortionModelBrownConrady"


class CalibrationError(ValueError):
    """The calibration JSON is missing something or malformed; the message is one sentence."""


@dataclass(frozen=True)
class CameraIntrinsics:
    """Brown-Conrady intrinsics of one camera at one resolution.

    cx, cy, fx, fy: pixels, OpenCV convention ((0, 0) is the centre of the top-left pixel).
    k1..k6, p1, p2: distortion (dimensionless); codx, cody: centre of distortion (0 for Brown-Conrady).
    metric_radius: largest valid radius on the z = 1 plane.
    """

    width: int
    height: int
    cx: float
    cy: float
    fx: float
    fy: float
    k1: float
    k2: float
    k3: float
    k4: float
    k5: float
    k6: float
    p1: float
    p2: float
    codx: float = 0.0
    cody: float = 0.0
    metric_radius: float = DEFAULT_METRIC_RADIUS

    def camera_matrix(self) -> np.ndarray:
        """OpenCV camera matrix K, float64 (3, 3)."""
        return np.array([[self.fx, 0.0, self.cx], [0.0, self.fy, self.cy], [0.0, 0.0, 1.0]], dtype=np.float64)

    def dist_coeffs(self) -> np.ndarray:
        """OpenCV rational-model coefficients (k1, k2, p1, p2, k3, k4, k5, k6), float64 (8,)."""
        return np.array([self.k1, self.k2, self.p1, self.p2, self.k3, self.k4, self.k5, self.k6], dtype=np.float64)

    @cached_property
    def _opencv(self) -> tuple[np.ndarray, np.ndarray]:
        """(camera_matrix(), dist_coeffs()) made once, read-only: the fusion projects every frame."""
        k, d = self.camera_matrix(), self.dist_coeffs()
        k.setflags(write=False)
        d.setflags(write=False)
        return k, d

    @cached_property
    def lens(self) -> np.ndarray:
        """The numbers ``project_kernel`` takes: (fx, fy, cx, cy, k1, k2, p1, p2, k3, k4, k5, k6,
        metric_radius ** 2), float64, read-only."""
        out = np.array([self.fx, self.fy, self.cx, self.cy, self.k1, self.k2, self.p1, self.p2, self.k3, self.k4,
                        self.k5, self.k6, self.metric_radius ** 2], dtype=np.float64)
        out.setflags(write=False)
        return out


@dataclass(frozen=True, eq=False)
class RigidTransform:
    """p_target = rotation @ p_source + translation_m. rotation float64 (3, 3), translation_m (3,) metres."""

    rotation: np.ndarray
    translation_m: np.ndarray

    def __post_init__(self) -> None:
        r = np.asarray(self.rotation, dtype=np.float64)
        t = np.asarray(self.translation_m, dtype=np.float64)
        if r.shape != (3, 3) or t.shape != (3,) or not (np.isfinite(r).all() and np.isfinite(t).all()):
            raise CalibrationError(
                f"a rigid transform needs a finite 3x3 rotation and 3-vector, got {r.shape} and {t.shape}."
            )
        object.__setattr__(self, "rotation", r)
        object.__setattr__(self, "translation_m", t)

    @staticmethod
    def identity() -> "RigidTransform":
        return RigidTransform(np.eye(3), np.zeros(3))

    def apply(self, points_m: np.ndarray) -> np.ndarray:
        """Transform points (..., 3) metres; returns float64 of the same shape."""
        p = np.asarray(points_m, dtype=np.float64)
        if p.shape[-1] != 3:
            raise ValueError(f"points must have shape (..., 3), got {p.shape}.")
        return p @ self.rotation.T + self.translation_m

    def inverse(self) -> "RigidTransform":
        rt = self.rotation.T
        return RigidTransform(rt, -rt @ self.translation_m)

    def then(self, other: "RigidTransform") -> "RigidTransform":
        """The transform that applies ``self`` first and ``other`` second."""
        return RigidTransform(other.rotation @ self.rotation, other.rotation @ self.translation_m + other.translation_m)

    def as_matrix(self) -> np.ndarray:
        """Homogeneous 4x4 float64."""
        m = np.eye(4)
        m[:3, :3] = self.rotation
        m[:3, 3] = self.translation_m
        return m


@dataclass(frozen=True, eq=False)
class KinectCalibration:
    """The device calibration for one depth mode and color resolution.

    depth, color: mode-specific intrinsics, None when that camera's mode is off / unknown.
    depth_to_sensor: for each of "depth", "color", "gyro", "accel", the JSON ``Rt`` (depth frame ->
    sensor frame, metres). raw_json: the calibration text as stored on the device.
    """

    depth: CameraIntrinsics | None
    color: CameraIntrinsics | None
    depth_mode: str | None
    color_resolution: str | None
    depth_to_sensor: dict = field(repr=False)
    serial_number: str | None = None
    raw_json: str = field(default="", repr=False)

    def extrinsics(self, source: str, target: str) -> RigidTransform:
        """Rigid transform from ``source`` to ``target`` frame (each one of SENSORS), metres."""
        for name in (source, target):
            if name not in self.depth_to_sensor:
                raise KeyError(f"unknown sensor '{name}'; expected one of {', '.join(SENSORS)}.")
        return self.depth_to_sensor[source].inverse().then(self.depth_to_sensor[target])

    @cached_property  # read every frame by the fusion; the calibration never changes
    def depth_to_color(self) -> RigidTransform:
        return self.extrinsics("depth", "color")

    @cached_property
    def color_to_depth(self) -> RigidTransform:
        return self.extrinsics("color", "depth")


# --- parsing ----------------------------------------------------------------------------------
def _numbers(obj, key: str, n: int, where: str) -> np.ndarray:
    values = obj.get(key) if isinstance(obj, dict) else None
    if not isinstance(values, list) or len(values) < n or not all(isinstance(v, (int, float)) for v in values[:n]):
        raise CalibrationError(f"the calibration's {where} needs '{key}' with at least {n} numbers.")
    out = np.asarray(values[:n], dtype=np.float64)
    if not np.isfinite(out).all():
        raise CalibrationError(f"the calibration's {where} '{key}' holds a non-finite number.")
    return out


def _rt(obj, where: str) -> RigidTransform:
    rt = obj.get("Rt") if isinstance(obj, dict) else None
    if not isinstance(rt, dict):
        raise CalibrationError(f"the calibration's {where} has no 'Rt' extrinsics.")
    rotation = _numbers(rt, "Rotation", 9, where).reshape(3, 3)
    translation = _numbers(rt, "Translation", 3, where)  # metres in the JSON
    if abs(np.linalg.det(rotation) - 1.0) > 1e-3 or not np.allclose(rotation @ rotation.T, np.eye(3), atol=1e-3):
        raise CalibrationError(f"the calibration's {where} rotation is not a proper rotation matrix.")
    # The JSON holds float32-rounded matrices (orthonormal to ~1e-7); snap to the nearest rotation so
    # that inverses are exact transposes and there-and-back transforms return the same point.
    u, _, vt = np.linalg.svd(rotation)
    return RigidTransform(u @ vt, translation)


def _find(items, key: str, value: str, where: str) -> dict:
    if not isinstance(items, list):
        raise CalibrationError(f"the calibration has no '{where}' list.")
    for item in items:
        if isinstance(item, dict) and item.get(key) == value:
            return item
    raise CalibrationError(f"the calibration has no entry with {key} = {value} in '{where}'.")


def _sensor_intrinsics(camera: dict, where: str) -> tuple[np.ndarray, int, int, float]:
    intr = camera.get("Intrinsics")
    if not isinstance(intr, dict):
        raise CalibrationError(f"the calibration's {where} has no 'Intrinsics'.")
    if intr.get("ModelType") != _MODEL_BROWN_CONRADY:
        raise CalibrationError(
            f"the calibration's {where} uses lens model {intr.get('ModelType')!r}; only Brown-Conrady is supported."
        )
    params = _numbers(intr, "ModelParameters", 14, where)
    width, height = camera.get("SensorWidth"), camera.get("SensorHeight")
    if not isinstance(width, int) or not isinstance(height, int) or width <= 0 or height <= 0:
        raise CalibrationError(f"the calibration's {where} needs positive integer SensorWidth and SensorHeight.")
    radius = camera.get("MetricRadius", 0.0)
    if not isinstance(radius, (int, float)):
        raise CalibrationError(f"the calibration's {where} MetricRadius is not a number.")
    return params, width, height, float(radius)


def mode_intrinsics(
    params: np.ndarray,
    mode: tuple[tuple[int, int], tuple[int, int], tuple[int, int]],
    metric_radius: float,
) -> CameraIntrinsics:
    """Scale the 14 normalized JSON parameters to one mode (the SDK's mode-specific calibration).

    params: (14,) cx, cy, fx, fy, k1..k6, codx, cody, p2, p1, normalized, 0-cornered.
    mode: (binned calibration resolution, crop offset, output resolution), pixels.
    """
    (bw, bh), (ox, oy), (w, h) = mode
    cx, cy, fx, fy, k1, k2, k3, k4, k5, k6, codx, cody, p2, p1 = (float(v) for v in params[:14])
    if fx <= 0 or fy <= 0:
        raise CalibrationError(f"the calibration's focal lengths must be positive, got fx={fx}, fy={fy}.")
    return CameraIntrinsics(
        width=w, height=h,
        cx=cx * bw - ox - 0.5, cy=cy * bh - oy - 0.5, fx=fx * bw, fy=fy * bh,
        k1=k1, k2=k2, k3=k3, k4=k4, k5=k5, k6=k6, p1=p1, p2=p2, codx=codx, cody=cody,
        metric_radius=metric_radius if metric_radius > 1e-4 else DEFAULT_METRIC_RADIUS,
    )


def _normalize_mode(name: str | None, table: dict, kind: str) -> str | None:
    if name is None or name.upper() == "OFF":
        return None
    key = name.upper()
    if key not in table:
        raise CalibrationError(f"unknown {kind} '{name}'; expected one of {', '.join(table)}.")
    return key


def parse_calibration_json(
    text: str | bytes, depth_mode: str | None, color_resolution: str | None
) -> KinectCalibration:
    """Parse calibration.json for one depth mode (e.g. "NFOV_UNBINNED") and color resolution ("720P").

    Either mode may be None (or "OFF"); that camera's intrinsics are then None. Raises
    CalibrationError with one sentence when the JSON is malformed.
    """
    if isinstance(text, (bytes, bytearray)):
        try:
            text = bytes(text).rstrip(b"\x00").decode("utf-8")
        except UnicodeDecodeError:
            raise CalibrationError("the calibration is not UTF-8 text.") from None
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CalibrationError(f"the calibration is not valid JSON ({exc.msg} at character {exc.pos}).") from None
    except RecursionError:
        raise CalibrationError("the calibration JSON is nested too deeply to be a device calibration.") from None
    info = doc.get("CalibrationInformation") if isinstance(doc, dict) else None
    if not isinstance(info, dict):
        raise CalibrationError("the calibration JSON has no 'CalibrationInformation' object.")
    depth_key = _normalize_mode(depth_mode, DEPTH_MODES, "depth mode")
    color_key = _normalize_mode(color_resolution, COLOR_RESOLUTIONS, "color resolution")

    depth_to_sensor: dict[str, RigidTransform] = {}
    intrinsics: dict[str, CameraIntrinsics | None] = {}
    for sensor, location in _CAMERA_LOCATIONS.items():
        camera = _find(info.get("Cameras"), "Location", location, "Cameras")
        depth_to_sensor[sensor] = _rt(camera, f"{sensor} camera")
        params, width, height, radius = _sensor_intrinsics(camera, f"{sensor} camera")
        if sensor == "depth":
            if depth_key is None:
                intrinsics[sensor] = None
                continue
            if (width, height) != (1024, 1024):
                raise CalibrationError(f"the depth camera calibration is for {width}x{height}, expected 1024x1024.")
            intrinsics[sensor] = mode_intrinsics(params, DEPTH_MODES[depth_key], radius)
        else:
            if color_key is None:
                intrinsics[sensor] = None
                continue
            if width * 9 // 16 == height:
                # Legacy 16:9 calibration: re-express on the 4:3 sensor (SDK: 4096x2304 -> 4096x3072).
                params = params.copy()
                params[1] = (params[1] * 2304 + 384) / 3072
                params[3] = params[3] * 2304 / 3072
            elif width * 3 // 4 != height:
                raise CalibrationError(f"the color camera calibration is for {width}x{height}, neither 4:3 nor 16:9.")
            intrinsics[sensor] = mode_intrinsics(params, COLOR_RESOLUTIONS[color_key], radius)
    for sensor, sensor_type in _IMU_TYPES.items():
        imu = _find(info.get("InertialSensors"), "SensorType", sensor_type, "InertialSensors")
        depth_to_sensor[sensor] = _rt(imu, f"{sensor} sensor")

    metadata = info.get("Metadata")
    serial = metadata.get("SerialId") if isinstance(metadata, dict) else None
    return KinectCalibration(
        depth=intrinsics["depth"],
        color=intrinsics["color"],
        depth_mode=depth_key,
        color_resolution=color_key,
        depth_to_sensor=depth_to_sensor,
        serial_number=serial if isinstance(serial, str) else None,
        raw_json=text,
    )


# --- projection -------------------------------------------------------------------------------
_ZERO3 = np.zeros(3)
_ZERO3.setflags(write=False)


def brown_conrady_distort(intr: CameraIntrinsics, xy: np.ndarray) -> np.ndarray:
    """Reference (numpy) lens model: undistorted z = 1 plane points (N, 2) -> pixels (N, 2).

    Written from the SDK's formula (see the module docstring), independent of OpenCV, so the
    OpenCV path can be checked against it.
    """
    xy = np.asarray(xy, dtype=np.float64)
    x = xy[:, 0] - intr.codx
    y = xy[:, 1] - intr.cody
    rs = x * x + y * y
    a = 1 + rs * (intr.k1 + rs * (intr.k2 + rs * intr.k3))
    b = 1 + rs * (intr.k4 + rs * (intr.k5 + rs * intr.k6))
    d = a / np.where(b != 0, b, 1.0)
    xd = x * d + (rs + 2 * x * x) * intr.p2 + 2 * x * y * intr.p1 + intr.codx
    yd = y * d + (rs + 2 * y * y) * intr.p1 + 2 * x * y * intr.p2 + intr.cody
    return np.stack([xd * intr.fx + intr.cx, yd * intr.fy + intr.cy], axis=1)


def project(intr: CameraIntrinsics, points_m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Camera-frame points (N, 3) metres -> pixels (N, 2) float64 and valid (N,) bool (cv2.projectPoints).

    Invalid: z <= 0, or outside the model's metric radius (pixel set to NaN).
    """
    import cv2

    p = np.asarray(points_m, dtype=np.float64).reshape(-1, 3)
    z = p[:, 2]
    front = z > 0
    xy = np.full((p.shape[0], 2), np.nan)
    xy[front] = p[front, :2] / z[front, None]
    valid = front & ((xy ** 2).sum(axis=1) <= intr.metric_radius ** 2)
    uv = np.full((p.shape[0], 2), np.nan)
    if valid.any():
        obj = np.concatenate([xy[valid], np.ones((int(valid.sum()), 1))], axis=1)
        k, dist = intr._opencv
        out, _ = cv2.projectPoints(obj.reshape(-1, 1, 3), _ZERO3, _ZERO3, k, dist)
        uv[valid] = out.reshape(-1, 2)
    return uv, valid


@njit(cache=True)
def project_kernel(points, lens):  # pragma: no cover - compiled
    """``project`` compiled, for the per-frame loops: points (N, 3) float64, ``CameraIntrinsics.lens``
    -> pixels (N, 2) float64 (NaN where invalid) and valid (N,) bool. The same rule and the same
    arithmetic, in the same order, as ``project`` (cv2.projectPoints with the rational model and
    an identity pose: the same pixels to the last bit, which a test checks)."""
    fx, fy, cx, cy = lens[0], lens[1], lens[2], lens[3]
    k1, k2, p1, p2, k3, k4, k5, k6, r2max = lens[4], lens[5], lens[6], lens[7], lens[8], lens[9], lens[10], lens[11], lens[12]
    n = points.shape[0]
    uv = np.full((n, 2), np.nan)
    valid = np.zeros(n, dtype=np.bool_)
    for i in range(n):
        z = points[i, 2]
        if not z > 0:
            continue
        x = points[i, 0] / z
        y = points[i, 1] / z
        r2 = x * x + y * y
        if not r2 <= r2max:
            continue
        valid[i] = True
        r4 = r2 * r2
        r6 = r4 * r2
        cdist = 1 + k1 * r2 + k2 * r4 + k3 * r6
        icdist2 = 1.0 / (1 + k4 * r2 + k5 * r4 + k6 * r6)
        a1 = 2 * x * y
        a2 = r2 + 2 * x * x
        a3 = r2 + 2 * y * y
        xd = x * cdist * icdist2 + p1 * a1 + p2 * a2
        yd = y * cdist * icdist2 + p1 * a3 + p2 * a1
        uv[i, 0] = xd * fx + cx
        uv[i, 1] = yd * fy + cy
    return uv, valid


def undistort_pixels(intr: CameraIntrinsics, uv: np.ndarray, tol_px: float = 1e-3) -> tuple[np.ndarray, np.ndarray]:
    """Pixels (N, 2) -> undistorted z = 1 plane points (N, 2) float64, valid (N,) bool.

    Uses cv2.undistortPoints (iterative, 100 iterations) and marks a point invalid when the result
    lies outside the metric radius or does not reproject to within ``tol_px`` pixels.
    """
    import cv2

    uv = np.asarray(uv, dtype=np.float64).reshape(-1, 2)
    finite = np.isfinite(uv).all(axis=1)
    xy = np.full(uv.shape, np.nan)
    if finite.any():
        src = uv[finite].reshape(-1, 1, 2)
        criteria = (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 100, 1e-14)
        k, dist = intr._opencv
        if hasattr(cv2, "undistortPointsIter"):  # OpenCV 4.x
            out = cv2.undistortPointsIter(src, k, dist, None, None, criteria)
        else:  # OpenCV 5.x: criteria is a parameter of undistortPoints
            out = cv2.undistortPoints(src, k, dist, criteria=criteria)
        xy[finite] = out.reshape(-1, 2)
    inside = finite & ((xy ** 2).sum(axis=1) <= intr.metric_radius ** 2)
    valid = inside.copy()
    if inside.any():
        back = brown_conrady_distort(intr, xy[inside])
        valid[inside] = np.linalg.norm(back - uv[inside], axis=1) <= tol_px
    xy[~valid] = np.nan
    return xy, valid


def unproject(intr: CameraIntrinsics, uv: np.ndarray, depth_m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pixels (N, 2) with depth along z (N,) metres -> camera-frame points (N, 3) metres, valid (N,).

    Depth is the z coordinate (as the Azure Kinect depth image stores it), not the ray length.
    Invalid (NaN point): depth <= 0 or not finite, or the pixel cannot be undistorted.
    """
    uv = np.asarray(uv, dtype=np.float64).reshape(-1, 2)
    z = np.asarray(depth_m, dtype=np.float64).reshape(-1)
    if z.shape[0] != uv.shape[0]:
        raise ValueError(f"need one depth per pixel, got {z.shape[0]} depths for {uv.shape[0]} pixels.")
    xy, valid = undistort_pixels(intr, uv)
    valid &= np.isfinite(z) & (z > 0)
    points = np.full((uv.shape[0], 3), np.nan)
    points[valid, :2] = xy[valid] * z[valid, None]
    points[valid, 2] = z[valid]
    return points, valid


@lru_cache(maxsize=8)
def pixel_rays(intr: CameraIntrinsics) -> np.ndarray:
    """Undistorted z = 1 plane coordinates of every pixel centre: float32 (H, W, 2), NaN where invalid."""
    v, u = np.mgrid[0 : intr.height, 0 : intr.width]
    uv = np.stack([u.ravel(), v.ravel()], axis=1).astype(np.float64)
    xy, _ = undistort_pixels(intr, uv)
    rays = xy.reshape(intr.height, intr.width, 2).astype(np.float32)
    rays.setflags(write=False)
    return rays


def depth_image_to_points(intr: CameraIntrinsics, depth_mm: np.ndarray) -> np.ndarray:
    """Depth image uint16 (H, W) millimetres -> points float32 (H, W, 3) metres in the depth-camera frame.

    Pixels with depth 0 or an invalid ray are NaN.
    """
    depth_mm = np.asarray(depth_mm)
    if depth_mm.shape != (intr.height, intr.width):
        raise ValueError(f"depth image must be {intr.height}x{intr.width} for these intrinsics, got {depth_mm.shape}.")
    z = depth_mm.astype(np.float32) * np.float32(0.001)
    z[depth_mm == 0] = np.nan
    rays = pixel_rays(intr)
    return np.concatenate([rays * z[..., None], z[..., None]], axis=-1)
