"""Camera tilt from the Azure Kinect's accelerometer: 20 Hz Butterworth low-pass, gravity direction.

Paper (adaptive GCN, Sec. 2): "The IMU data is filtered with a low-pass Butterworth filter (cutoff
frequency 20 Hz) to remove high-frequency vibration interference." We do exactly that to the
accelerometer, streaming (the filter state carries over from one block of samples to the next),
and read the camera's tilt from the result.

Physics and frames: a resting accelerometer measures the specific force f = a - g, i.e. +9.81 m/s^2
pointing *up*. The reading is in the accelerometer's own frame; the calibration's extrinsics turn
it into the depth-camera frame (OpenCV: x right, y down, z forward), where "up" for a level camera
is (0, -1, 0). :func:`up_in_depth_frame` returns that unit vector; :func:`tilt_angles` expresses it
as pitch (camera looking down is positive) and roll.
"""

from __future__ import annotations

import numpy as np
from numba import njit

#: The paper's cutoff (Hz) and the filter order we use (2nd-order sections, one pass, causal).
CUTOFF_HZ = 20.0
ORDER = 2
GRAVITY = 9.80665


class ImuError(ValueError):
    """IMU samples cannot be used (wrong shapes, a non-positive sample rate); one sentence."""


def butterworth_sos(sample_rate_hz: float, cutoff_hz: float = CUTOFF_HZ, order: int = ORDER) -> np.ndarray:
    """Second-order sections (n, 6) of a digital Butterworth low-pass (scipy.signal.butter)."""
    from scipy.signal import butter

    if not np.isfinite(sample_rate_hz) or sample_rate_hz <= 2 * cutoff_hz:
        raise ImuError(
            f"the IMU sample rate must exceed twice the {cutoff_hz:g} Hz cutoff, got {sample_rate_hz:g} Hz."
        )
    return butter(order, cutoff_hz, btype="low", fs=sample_rate_hz, output="sos")


class AccelLowPass:
    """Streaming 20 Hz Butterworth low-pass of 3-axis accelerometer samples.

    ``sample_rate_hz`` defaults to the Azure Kinect's 1.6 kHz. The first sample initialises the
    filter at steady state (no start-up transient: a resting camera reads gravity from sample one).
    """

    def __init__(self, sample_rate_hz: float = 1600.0, cutoff_hz: float = CUTOFF_HZ, order: int = ORDER):
        from scipy.signal import sosfilt_zi

        self.sample_rate_hz = float(sample_rate_hz)
        self.cutoff_hz = float(cutoff_hz)
        self._sos = butterworth_sos(self.sample_rate_hz, self.cutoff_hz, order)
        self._zi_unit = sosfilt_zi(self._sos)  # (n_sections, 2) for a unit step
        self._zi: np.ndarray | None = None  # (n_sections, 2, 3)

    def reset(self) -> None:
        self._zi = None

    def __call__(self, acc: np.ndarray) -> np.ndarray:
        """Filter a block of samples (N, 3) m/s^2 -> (N, 3) float64, continuing from the last block."""
        acc = np.asarray(acc, dtype=np.float64)
        if acc.ndim != 2 or acc.shape[1] != 3:
            raise ImuError(f"accelerometer samples must have shape (N, 3), got {acc.shape}.")
        if acc.shape[0] == 0:
            return acc.copy()
        if self._zi is None:
            self._zi = self._zi_unit[:, :, None] * acc[0][None, None, :]
        out = acc.copy()
        _sosfilt_columns(self._sos, out, self._zi)
        return out


@njit(cache=True)
def _sosfilt_columns(sos, x, zi):  # pragma: no cover - compiled
    """Second-order sections along axis 0 of x (N, C), in place, state zi (n_sections, 2, C) in
    place: the transposed direct form II recursion of ``scipy.signal.sosfilt`` in the same order of
    operations (the same numbers), without its per-call overhead (a block of ~53 samples arrives
    with every depth frame; scipy's checks cost ten times the filtering)."""
    n, c = x.shape
    for i in range(c):
        for k in range(n):
            cur = x[k, i]
            for s in range(sos.shape[0]):
                new = sos[s, 0] * cur + zi[s, 0, i]
                zi[s, 0, i] = sos[s, 1] * cur - sos[s, 4] * new + zi[s, 1, i]
                zi[s, 1, i] = sos[s, 2] * cur - sos[s, 5] * new
                cur = new
            x[k, i] = cur


def up_in_depth_frame(acc_filtered: np.ndarray, accel_to_depth_rotation: np.ndarray) -> np.ndarray:
    """Unit 'up' vector(s) in the depth-camera frame from low-passed accelerometer readings.

    acc_filtered: (..., 3) m/s^2 in the accelerometer frame. accel_to_depth_rotation: (3, 3), the
    rotation of ``calibration.extrinsics("accel", "depth")``. Returns float64 (..., 3); raises
    ImuError when a reading is far from 1 g (the camera is being moved, or the data is garbage).
    """
    a = np.asarray(acc_filtered, dtype=np.float64)
    up = a @ np.asarray(accel_to_depth_rotation, dtype=np.float64).T
    norm = np.linalg.norm(up, axis=-1, keepdims=True)
    if not np.all(np.isfinite(norm)) or np.any(np.abs(norm - GRAVITY) > 0.3 * GRAVITY):
        raise ImuError("the low-passed accelerometer does not read about 1 g; the camera is not at rest.")
    return up / norm


def tilt_angles(up_depth: np.ndarray) -> tuple[float, float]:
    """(pitch_deg, roll_deg) of the depth camera from its 'up' vector (depth frame, unit).

    pitch > 0: the camera looks down; roll > 0: the image is turned clockwise (the camera's x axis
    tips downward). A level camera has up = (0, -1, 0) and both angles 0.
    """
    u = np.asarray(up_depth, dtype=np.float64)
    u = u / np.linalg.norm(u)
    pitch = float(np.degrees(np.arcsin(np.clip(-u[2], -1.0, 1.0))))
    roll = float(np.degrees(np.arctan2(-u[0], -u[1])))
    return pitch, roll


def angle_between_deg(a: np.ndarray, b: np.ndarray) -> float:
    """Angle (degrees) between two 3-vectors."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    c = float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))
    return float(np.degrees(np.arccos(np.clip(c, -1.0, 1.0))))
