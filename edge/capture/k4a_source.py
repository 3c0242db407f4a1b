"""A live Azure Kinect through pyk4a: NFOV unbinned depth at 30 fps, 720p color, synchronized, IMU on.

``K4aSource(device_id=0)`` is a context manager and a frame source like the others. pyk4a (and
the Azure Kinect SDK under it) is imported when the source opens, not when this module is
imported; without it the source raises ImportError naming the missing piece.

Errors are distinct (``edge.capture.frames``):

- ``SourceTimeout``: no capture within ``timeout_ms`` (pyk4a's K4ATimeoutException);
- ``SourceDisconnected``: the device failed or went away (K4AException while streaming) and
  did not come back within ``reconnect_s``;
- ``EndOfStream``: only after ``close()``.

Reconnection: when a capture fails with K4AException the device is stopped and reopened with
exponential back-off (``backoff_s`` doubling up to ``backoff_max_s``) until ``reconnect_s`` has
passed; every attempt is logged. After a successful reconnect ``read`` carries on (the device
clock restarts: the fusion's clock check sees a jump back and resets its state) and
``reconnects`` counts it. No process restart is needed.

IMU samples are drained after each capture (``get_imu_sample(timeout=0)`` until it times out),
and delivered with that capture; acceleration m/s^2 and angular rate rad/s as the SDK gives them,
timestamps in device microseconds.
"""

from __future__ import annotations

import logging
import time

import numpy as np

from calibration.kinect import KinectCalibration, parse_calibration_json
from edge.capture.frames import (
    IMU_DTYPE,
    Capture,
    EndOfStream,
    FrameSourceBase,
    ImuSamples,
    SourceDisconnected,
    SourceTimeout,
)

log = logging.getLogger(__name__)
MAX_IMU_PER_CAPTURE = 400


def _import_pyk4a():
    try:
        import pyk4a  # noqa: F401  (optional hardware library)
    except ImportError as exc:
        raise ImportError(
            f"the live camera needs pyk4a and the Azure Kinect SDK ({exc}); install them or use --source sim/mkv/npz."
        ) from exc
    return pyk4a


class K4aSource(FrameSourceBase):
    """A live Azure Kinect (see the module docstring)."""

    def __init__(
        self,
        device_id: int = 0,
        *,
        timeout_ms: int = 1000,
        reconnect_s: float = 30.0,
        backoff_s: float = 0.5,
        backoff_max_s: float = 5.0,
        sleep=time.sleep,
        clock=time.monotonic,
    ):
        self.device_id = int(device_id)
        self.timeout_ms = int(timeout_ms)
        self.reconnect_s = float(reconnect_s)
        self.backoff_s = float(backoff_s)
        self.backoff_max_s = float(backoff_max_s)
        self._sleep = sleep
        self._clock = clock
        self._pyk4a = None
        self._device = None
        self._calibration: KinectCalibration | None = None
        self._index = 0
        self._closed = False
        self.reconnects = 0

    # -- lifecycle ----------------------------------------------------------------------------
    def open(self) -> "K4aSource":
        if self._pyk4a is None:
            self._pyk4a = _import_pyk4a()
        self._start()
        return self

    def __enter__(self):
        return self.open()

    def close(self) -> None:
        self._closed = True
        self._stop()

    @property
    def calibration(self) -> KinectCalibration | None:
        return self._calibration

    def _config(self):
        k = self._pyk4a
        fmt = getattr(k, "ImageFormat", None)
        color_format = fmt.COLOR_BGRA32 if fmt is not None else k.ColorFormat.BGRA32
        return k.Config(
            color_resolution=k.ColorResolution.RES_720P,
            color_format=color_format,
            depth_mode=k.DepthMode.NFOV_UNBINNED,
            camera_fps=k.FPS.FPS_30,
            synchronized_images_only=True,
        )

    def _start(self) -> None:
        k = self._pyk4a
        device = k.PyK4A(config=self._config(), device_id=self.device_id)
        device.start()
        self._device = device
        try:
            raw = device.calibration_raw
            self._calibration = parse_calibration_json(raw, "NFOV_UNBINNED", "720P")
        except Exception as exc:  # a device that cannot report its calibration is unusable here
            self._stop()
            raise SourceDisconnected(f"the Azure Kinect did not report a usable calibration ({exc}).") from None

    def _stop(self) -> None:
        device, self._device = self._device, None
        if device is None:
            return
        try:
            device.stop()
        except Exception as exc:  # it may already be gone
            log.info("stopping the Azure Kinect failed (%s); continuing.", exc)

    def reconnect(self) -> None:
        """Stop and reopen the device with back-off until ``reconnect_s``; SourceDisconnected if it stays away."""
        self._stop()
        deadline = self._clock() + self.reconnect_s
        wait = self.backoff_s
        attempt = 0
        while True:
            attempt += 1
            try:
                self._start()
                self.reconnects += 1
                log.warning("Azure Kinect reconnected after %d attempt(s).", attempt)
                return
            except Exception as exc:
                now = self._clock()
                if now + wait > deadline:
                    raise SourceDisconnected(
                        f"the Azure Kinect is gone and did not come back within {self.reconnect_s:g} s "
                        f"({attempt} attempts; last error: {exc})."
                    ) from None
                log.warning("Azure Kinect reconnect attempt %d failed (%s); retrying in %.1f s.", attempt, exc, wait)
                self._sleep(wait)
                wait = min(wait * 2.0, self.backoff_max_s)

    # -- reading ------------------------------------------------------------------------------
    def read(self) -> Capture:
        if self._closed:
            raise EndOfStream("the Azure Kinect source is closed.")
        if self._device is None:
            raise ValueError("open the Azure Kinect source first (use it as a context manager).")
        k = self._pyk4a
        try:
            cap = self._device.get_capture(timeout=self.timeout_ms)
        except k.K4ATimeoutException:
            raise SourceTimeout(f"the Azure Kinect delivered no capture within {self.timeout_ms} ms.") from None
        except k.K4AException as exc:
            log.warning("the Azure Kinect failed while streaming (%s); reconnecting.", exc or "device error")
            self.reconnect()
            return self.read()
        return self._to_capture(cap)

    def _drain_imu(self) -> ImuSamples:
        k = self._pyk4a
        rows = []
        for _ in range(MAX_IMU_PER_CAPTURE):
            try:
                s = self._device.get_imu_sample(timeout=0)
            except k.K4ATimeoutException:
                break
            except k.K4AException:
                break  # the next get_capture reports the failure
            if not s:
                break
            rows.append(s)
        rec = np.zeros(len(rows), dtype=IMU_DTYPE)
        for i, s in enumerate(rows):
            rec[i]["device_ts_usec"] = int(s["acc_timestamp"])
            rec[i]["acc"] = s["acc_sample"]
            rec[i]["gyro_device_ts_usec"] = int(s["gyro_timestamp"])
            rec[i]["gyro"] = s["gyro_sample"]
            rec[i]["temperature_c"] = s.get("temperature", np.nan)
        return ImuSamples.from_records(rec)

    def _to_capture(self, cap) -> Capture:
        depth = getattr(cap, "depth", None)
        color = getattr(cap, "color", None)
        d_ts = getattr(cap, "depth_timestamp_usec", None) if depth is not None else None
        c_ts = getattr(cap, "color_timestamp_usec", None) if color is not None else None
        if color is not None:
            color = np.ascontiguousarray(np.asarray(color)[:, :, 2::-1])  # BGRA -> RGB
        capture = Capture(
            depth=None if depth is None else np.ascontiguousarray(depth, dtype=np.uint16),
            color=color,
            ir=None,
            depth_device_ts_usec=None if d_ts is None else int(d_ts),
            color_device_ts_usec=None if c_ts is None else int(c_ts),
            ir_device_ts_usec=None,
            imu=self._drain_imu(),
            calibration=self._calibration,
            index=self._index,
            source=f"k4a:{self.device_id}",
        )
        self._index += 1
        return capture
