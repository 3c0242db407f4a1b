"""Gravity and the floor: the level output frame (y up, floor y = 0) from the IMU and the depth image.

- IMU (paper Sec. 2): the accelerometer is low-passed with the 20 Hz Butterworth
  (``calibration.imu.AccelLowPass``), turned into the depth frame and resampled linearly onto each
  depth timestamp (``up_at``). The camera stands on a tripod, so the tilt used for the output is
  a running mean of that per-frame gravity (time constant ``tau_s``) that ignores frames reading
  more than ``max_dev_g`` away from 1 g (a jumper landing next to the tripod shakes it).
- Floor: a RANSAC plane (``calibration.floor.fit_floor``) through the background's depth points
  within 15 deg of the IMU's horizontal, fitted once the background is learnt and again when the
  IMU says the camera has tilted by more than ``refit_deg`` since.
- Cross-check and fusion: the angle between the floor normal and the IMU's up is reported
  (``cross_check_deg``); when it exceeds ``agree_deg`` the floor is not trusted for the tilt
  (a slope, a ramp, a table) and a warning is logged; otherwise the up direction minimises the
  gravity-alignment term of Eq. 1 (``calibration.floor.fuse_up``, lambda2 = 0.4).
"""

from __future__ import annotations

import logging

import numpy as np
from numba import njit

from calibration.floor import FloorError, FloorPlane, fit_floor, fuse_up, level_transform
from calibration.imu import GRAVITY, AccelLowPass, angle_between_deg, tilt_angles
from calibration.kinect import KinectCalibration, RigidTransform, depth_image_to_points
from edge.capture.frames import ImuSamples

log = logging.getLogger(__name__)
LAMBDA2 = 0.4


class GravityEstimator:
    """IMU gravity on the depth clock, the floor, and the level frame they define."""

    def __init__(self, calibration: KinectCalibration, *, sample_rate_hz: float = 1600.0, tau_s: float = 2.0,
                 max_dev_g: float = 0.02, refit_deg: float = 1.0, agree_deg: float = 3.0, buffer_s: float = 0.5):
        self.cal = calibration
        self._a2d = calibration.extrinsics("accel", "depth").rotation
        self._lp = AccelLowPass(sample_rate_hz)
        self.tau_s = float(tau_s)
        self.max_dev_g = float(max_dev_g)
        self.refit_deg = float(refit_deg)
        self.agree_deg = float(agree_deg)
        n = int(buffer_s * sample_rate_hz) + 1
        self._ts = np.zeros(0, dtype=np.int64)
        self._acc = np.zeros((0, 3))
        self._maxbuf = n
        self._mean: np.ndarray | None = None
        self._mean_ts: int | None = None
        self.floor: FloorPlane | None = None
        self._floor_fit_up: np.ndarray | None = None
        self.cross_check_deg: float | None = None
        self.floor_trusted = False
        self._warned = False

    def reset(self) -> None:
        """Forget the IMU history (after a device restart); the floor is kept."""
        self._lp.reset()
        self._ts = np.zeros(0, dtype=np.int64)
        self._acc = np.zeros((0, 3))
        self._mean_ts = None

    # -- IMU -------------------------------------------------------------------------------
    def push(self, imu: ImuSamples) -> None:
        """Filter new accelerometer samples (device-clock order; out-of-order ones are dropped)."""
        if len(imu) == 0:
            return
        ts = imu.device_ts_usec
        keep = np.ones(len(ts), dtype=bool)
        last = self._ts[-1] if self._ts.size else None
        prev = -np.inf if last is None else last
        if ts[0] <= prev or not (np.diff(ts) > 0).all():  # out of order (rare): the monotonic filter
            for i, t in enumerate(ts):
                if t <= prev:
                    keep[i] = False
                else:
                    prev = t
        if not keep.all():
            log.warning("dropped %d IMU samples whose timestamps did not increase.", int((~keep).sum()))
        if not keep.any():
            return
        filt = self._lp(imu.acc[keep])
        self._ts = np.concatenate([self._ts, ts[keep]])[-self._maxbuf :]
        self._acc = np.concatenate([self._acc, filt])[-self._maxbuf :]

    def up_at(self, ts_usec: int) -> np.ndarray | None:
        """Low-passed gravity 'up' (unit, depth frame) linearly interpolated at a depth timestamp."""
        if self._ts.size == 0:
            return None
        a = _interp_rows(float(ts_usec), self._ts, self._acc)
        norm = np.linalg.norm(a)
        if not np.isfinite(norm) or norm == 0:
            return None
        self._last_dev_g = abs(norm - GRAVITY) / GRAVITY
        return (self._a2d @ a) / norm

    def update(self, ts_usec: int) -> np.ndarray | None:
        """Advance the running mean of up with the value at this depth timestamp; returns the mean."""
        up = self.up_at(ts_usec)
        if up is None:
            return self._mean
        if self._last_dev_g > self.max_dev_g and self._mean is not None:
            return self._mean
        if self._mean is None or self._mean_ts is None:
            self._mean = up
        else:
            dt = max((ts_usec - self._mean_ts) / 1e6, 0.0)
            w = 1.0 - np.exp(-dt / self.tau_s) if self._mean is not None else 1.0
            m = (1 - w) * self._mean + w * up
            self._mean = m / np.linalg.norm(m)
        self._mean_ts = int(ts_usec)
        return self._mean

    @property
    def imu_up(self) -> np.ndarray | None:
        return self._mean

    def tilt(self) -> tuple[float, float] | None:
        """(pitch_deg, roll_deg) of the camera from the IMU."""
        return None if self._mean is None else tilt_angles(self._mean)

    # -- floor ------------------------------------------------------------------------------
    def needs_floor(self) -> bool:
        if self._mean is None:
            return False
        if self.floor is None or self._floor_fit_up is None:
            return True
        return angle_between_deg(self._mean, self._floor_fit_up) > self.refit_deg

    def fit_floor(self, depth_mm: np.ndarray, stride: int = 6) -> FloorPlane | None:
        """Fit the floor to a depth image (nobody in front ideally) with the IMU's up as the hint."""
        if self._mean is None or self.cal.depth is None:
            return None
        pts = depth_image_to_points(self.cal.depth, depth_mm)[::stride, ::stride].reshape(-1, 3)
        try:
            floor = fit_floor(pts, self._mean)
        except FloorError as exc:
            log.warning("no floor found in the depth image (%s); the output frame uses the IMU only.", exc)
            self.floor, self._floor_fit_up, self.floor_trusted = None, self._mean.copy(), False
            return None
        self.floor = floor
        self._floor_fit_up = self._mean.copy()
        self.cross_check_deg = angle_between_deg(floor.up, self._mean)
        self.floor_trusted = self.cross_check_deg <= self.agree_deg
        if not self.floor_trusted and not self._warned:
            log.warning("the floor plane and the IMU disagree by %.1f deg; using the IMU for the tilt.",
                        self.cross_check_deg)
            self._warned = True
        return floor

    def level(self) -> RigidTransform | None:
        """Depth frame -> output frame (y up, floor 0); None until the IMU has spoken."""
        if self._mean is None:
            return None
        if self.floor is None:
            return level_transform(self._mean, 0.0)
        up = fuse_up(self.floor.up if self.floor_trusted else None, self._mean, LAMBDA2)
        # camera height measured along the fused up: the floor plane's distance, corrected for the angle
        height = self.floor.camera_height_m / max(float(up @ self.floor.up), 0.5)
        return level_transform(up, height)


@njit(cache=True)
def _interp_rows(t, ts, values):  # pragma: no cover - compiled
    """``np.interp(t, ts, values[:, i])`` for every column i at once (the same rule and the same
    arithmetic: the end values outside ``ts``, a sample's own value at its timestamp, else
    slope * (t - ts[j]) + values[j]); ts int64 increasing (N,), values (N, C) -> (C,) float64."""
    n, c = values.shape
    if t <= float(ts[0]):
        return values[0].copy()
    if t >= float(ts[n - 1]):
        return values[n - 1].copy()
    j = np.searchsorted(ts, t, side="right") - 1  # on the int64 stamps: exact below 2**53 us, no per-frame copy
    x0, x1 = float(ts[j]), float(ts[j + 1])
    out = np.empty(c)
    for i in range(c):
        if x0 == t:
            out[i] = values[j, i]
        else:
            slope = (values[j + 1, i] - values[j, i]) / (x1 - x0)
            out[i] = slope * (t - x0) + values[j, i]
    return out
