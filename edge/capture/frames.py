"""The one frame type every capture source returns, and the source protocol.

A live camera, a recording (.mkv) and the simulator all hand out :class:`Capture` objects, so
everything downstream runs and is tested without hardware.

Clocks and units (DESIGN.md "Timestamps name their clock and unit"):

- ``*_device_ts_usec``: the camera's own device clock, integer microseconds. Image timestamps are
  the centre of exposure as the camera reports it; IMU timestamps are the sample times. Nothing
  here invents a timestamp: a field the source did not provide is ``None`` (or NaN for the IMU
  temperature, which k4arecorder does not store).
- Depth: uint16 millimetres, 0 = no measurement. IR: uint16 raw intensity.
- Color: uint8 RGB (not BGR), shape (H, W, 3).
- IMU: acceleration in m/s^2 (gravity included), angular rate in rad/s, each in its own sensor
  frame as the device reports it (see ``calibration.kinect`` for the sensor->depth extrinsics).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterator, Protocol, runtime_checkable

import numpy as np

if TYPE_CHECKING:  # pragma: no cover - typing only
    from calibration.kinect import KinectCalibration


class CaptureError(Exception):
    """Base class of every error a frame source raises; the message is one sentence."""


class EndOfStream(CaptureError):
    """The source has no more captures (end of a recording, simulator finished)."""


class SourceTimeout(CaptureError):
    """A live source did not deliver a capture within the allowed time."""


class SourceDisconnected(CaptureError):
    """A live source went away (cable pulled, device reset)."""


class CorruptRecording(CaptureError):
    """A recording is truncated, corrupted or not a recording at all; names the byte offset."""


IMU_DTYPE = np.dtype(
    [
        ("device_ts_usec", np.int64),
        ("acc", np.float32, (3,)),
        ("gyro_device_ts_usec", np.int64),
        ("gyro", np.float32, (3,)),
        ("temperature_c", np.float32),
    ]
)
"""One IMU sample as a numpy structured record.

``device_ts_usec`` is the accelerometer sample time (the time the SDK files a sample under),
``acc`` m/s^2 (3,), ``gyro_device_ts_usec`` the gyroscope sample time, ``gyro`` rad/s (3,),
``temperature_c`` degrees Celsius or NaN when the source does not record it."""


@dataclass(frozen=True, eq=False)
class ImuSamples:
    """A block of IMU samples, in time order.

    device_ts_usec: int64 (N,) accelerometer sample times, device clock, microseconds.
    acc: float32 (N, 3) m/s^2, gravity included.
    gyro_device_ts_usec: int64 (N,) gyroscope sample times, device clock, microseconds.
    gyro: float32 (N, 3) rad/s.
    temperature_c: float32 (N,) degrees Celsius, NaN where not recorded.
    """

    device_ts_usec: np.ndarray
    acc: np.ndarray
    gyro_device_ts_usec: np.ndarray
    gyro: np.ndarray
    temperature_c: np.ndarray

    def __post_init__(self) -> None:
        n = self.device_ts_usec.shape[0] if self.device_ts_usec.ndim == 1 else -1
        checks = (
            (self.device_ts_usec, np.int64, (n,)),
            (self.acc, np.float32, (n, 3)),
            (self.gyro_device_ts_usec, np.int64, (n,)),
            (self.gyro, np.float32, (n, 3)),
            (self.temperature_c, np.float32, (n,)),
        )
        for array, dtype, shape in checks:
            if not isinstance(array, np.ndarray) or array.dtype != dtype or array.shape != shape:
                raise ValueError(
                    f"IMU arrays must be device_ts_usec int64 (N,), acc float32 (N, 3), "
                    f"gyro_device_ts_usec int64 (N,), gyro float32 (N, 3), temperature_c float32 (N,); "
                    f"got {getattr(array, 'dtype', type(array))} {getattr(array, 'shape', None)}."
                )

    def __len__(self) -> int:
        return int(self.device_ts_usec.shape[0])

    @staticmethod
    def empty() -> "ImuSamples":
        return ImuSamples.from_records(np.zeros(0, dtype=IMU_DTYPE))

    @staticmethod
    def from_records(records: np.ndarray) -> "ImuSamples":
        """Build from a structured array of :data:`IMU_DTYPE` records (copies)."""
        if records.dtype != IMU_DTYPE:
            raise ValueError(f"IMU records must have dtype IMU_DTYPE, got {records.dtype}.")
        return ImuSamples(
            device_ts_usec=np.ascontiguousarray(records["device_ts_usec"]),
            acc=np.ascontiguousarray(records["acc"]),
            gyro_device_ts_usec=np.ascontiguousarray(records["gyro_device_ts_usec"]),
            gyro=np.ascontiguousarray(records["gyro"]),
            temperature_c=np.ascontiguousarray(records["temperature_c"]),
        )

    def to_records(self) -> np.ndarray:
        """The samples as a structured array of :data:`IMU_DTYPE`."""
        out = np.zeros(len(self), dtype=IMU_DTYPE)
        out["device_ts_usec"] = self.device_ts_usec
        out["acc"] = self.acc
        out["gyro_device_ts_usec"] = self.gyro_device_ts_usec
        out["gyro"] = self.gyro
        out["temperature_c"] = self.temperature_c
        return out

    @staticmethod
    def concatenate(blocks: "list[ImuSamples]") -> "ImuSamples":
        if not blocks:
            return ImuSamples.empty()
        return ImuSamples.from_records(np.concatenate([b.to_records() for b in blocks]))


@dataclass(frozen=True, eq=False)
class Capture:
    """One capture: the images taken together plus the IMU samples since the previous capture.

    depth: uint16 (H, W) millimetres (0 = invalid) or None.
    color: uint8 (H, W, 3) RGB or None.
    ir: uint16 (H, W) or None.
    *_device_ts_usec: device-clock timestamp (microseconds) of each image, None when absent.
    imu: the IMU samples the source delivered with this capture (possibly empty).
    calibration: the device calibration for the recording's modes, or None when the source has none.
    index: 0-based position of the capture in its stream.
    source: short description of where it came from ("mkv:<path>", "pyk4a:<path>", "sim").
    """

    depth: np.ndarray | None
    color: np.ndarray | None
    ir: np.ndarray | None
    depth_device_ts_usec: int | None
    color_device_ts_usec: int | None
    ir_device_ts_usec: int | None
    imu: ImuSamples
    calibration: "KinectCalibration | None"
    index: int
    source: str

    def __post_init__(self) -> None:
        _check_image("depth", self.depth, np.uint16, 2, self.depth_device_ts_usec)
        _check_image("ir", self.ir, np.uint16, 2, self.ir_device_ts_usec)
        _check_image("color", self.color, np.uint8, 3, self.color_device_ts_usec)
        if not isinstance(self.imu, ImuSamples):
            raise ValueError(f"a capture's imu must be ImuSamples, got {type(self.imu).__name__}.")

    @property
    def device_ts_usec(self) -> int | None:
        """The capture's reference time: depth, else IR, else color timestamp (device clock, us)."""
        for ts in (self.depth_device_ts_usec, self.ir_device_ts_usec, self.color_device_ts_usec):
            if ts is not None:
                return ts
        return None

    @property
    def has_images(self) -> bool:
        return self.depth is not None or self.color is not None or self.ir is not None


def _check_image(name: str, image, dtype, ndim: int, ts) -> None:
    if image is None:
        if ts is not None:
            raise ValueError(f"capture has a {name} timestamp but no {name} image.")
        return
    if not isinstance(image, np.ndarray) or image.dtype != dtype or image.ndim != ndim:
        raise ValueError(
            f"capture {name} must be a {np.dtype(dtype).name} array with {ndim} dimensions, "
            f"got {getattr(image, 'dtype', type(image))} with shape {getattr(image, 'shape', None)}."
        )
    if ndim == 3 and image.shape[2] != 3:
        raise ValueError(f"capture {name} must have 3 channels (RGB), got shape {image.shape}.")
    if ts is None:
        raise ValueError(f"capture has a {name} image but no {name} device timestamp.")


@runtime_checkable
class FrameSource(Protocol):
    """What every capture source offers: a context manager and an iterator of captures.

    ``read()`` returns the next capture or raises EndOfStream, SourceTimeout, SourceDisconnected
    or CorruptRecording; iterating stops quietly at EndOfStream and lets the others through.
    """

    @property
    def calibration(self) -> "KinectCalibration | None": ...

    def read(self) -> Capture: ...

    def close(self) -> None: ...

    def __enter__(self): ...

    def __exit__(self, exc_type, exc, tb) -> None: ...

    def __iter__(self) -> Iterator[Capture]: ...


class FrameSourceBase:
    """Context-manager and iterator plumbing for sources that implement ``read`` and ``close``."""

    def read(self) -> Capture:  # pragma: no cover - abstract
        raise NotImplementedError

    def close(self) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.close()

    def __iter__(self) -> Iterator[Capture]:
        while True:
            try:
                capture = self.read()
            except EndOfStream:
                return
            yield capture
