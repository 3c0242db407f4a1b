"""Record a session for replay: the skeleton stream (a DESIGN.md ``.npz``), optionally raw depth.

``SessionRecorder(path, depth=False)`` collects skeleton frames (``add_frame``) and, with
``depth=True``, the raw depth images of the captures (``add_capture``). ``close()`` writes,
atomically:

- ``path`` (``.npz``): joints (T, 17, 3), confidence (T, 17), t (s since the first frame), fps,
  action, and ``meta_device_ts_usec`` int64 (T,) (the depth clock of each frame); replay it with
  ``fieldcoach capture --source npz --file path``;
- ``<path stem>.depth.npz`` (with ``depth=True``): ``depth`` uint16 (N, H, W) mm,
  ``depth_device_ts_usec`` int64 (N,), ``calibration_json`` (the device calibration text, when
  the source has one), ``depth_mode``; read it back with :func:`read_depth_recording`.

Raw depth stays in memory until ``close`` (0.74 MB per NFOV frame before compression), so it is
capped at ``max_depth_frames`` (default 1800: one minute); beyond that the recorder raises
RecordingFull rather than silently dropping frames.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np

from edge.skeleton.io import atomic_write_bytes, write_npz
from edge.skeleton.sequence import SkeletonSequence


class RecordingFull(RuntimeError):
    """The raw-depth recording reached its frame cap; the message says how to record more."""


class SessionRecorder:
    """Collects a session and writes it on ``close`` (see the module docstring)."""

    def __init__(self, path: str | os.PathLike, *, depth: bool = False, action: str | None = None,
                 fps: float = 30.0, max_depth_frames: int = 1800):
        self.path = Path(path)
        if self.path.suffix != ".npz":
            raise ValueError(f"the session file must end in .npz, got {self.path.name}.")
        if not self.path.parent.is_dir():
            raise ValueError(f"the folder {self.path.parent} does not exist.")
        self.depth_path = self.path.with_name(self.path.stem + ".depth.npz") if depth else None
        self.action = action
        self.fps = float(fps)
        self.max_depth_frames = int(max_depth_frames)
        self._frames: list = []
        self._depth: list[np.ndarray] = []
        self._depth_ts: list[int] = []
        self._calibration = None
        self.closed = False

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.close()

    def add_frame(self, frame) -> None:
        """A skeleton frame (``t``, ``joints``, ``confidence``, ``device_ts_usec``)."""
        if self._frames and frame.t <= self._frames[-1].t:
            raise ValueError(f"skeleton frame times must increase; got {frame.t:.4f} s after {self._frames[-1].t:.4f} s.")
        self._frames.append(frame)

    def add_capture(self, capture) -> None:
        """Keep the capture's raw depth image (only with depth=True)."""
        if self.depth_path is None or capture.depth is None:
            return
        if len(self._depth) >= self.max_depth_frames:
            raise RecordingFull(
                f"raw depth is capped at {self.max_depth_frames} frames; record a shorter session or raise max_depth_frames."
            )
        self._depth.append(capture.depth.copy())
        self._depth_ts.append(int(capture.depth_device_ts_usec))
        if self._calibration is None and capture.calibration is not None:
            self._calibration = capture.calibration

    @property
    def n_frames(self) -> int:
        return len(self._frames)

    def close(self) -> None:
        """Write the files (nothing when no skeleton frame was recorded)."""
        if self.closed:
            return
        self.closed = True
        if len(self._frames) >= 2:
            f = self._frames
            t0 = f[0].t
            ts = [fr.device_ts_usec for fr in f]
            meta = {"device_ts_usec": np.array(ts, dtype=np.int64)} if all(v is not None for v in ts) else {}
            seq = SkeletonSequence(
                joints=np.stack([np.asarray(fr.joints, dtype=np.float32) for fr in f]),
                confidence=np.stack([np.asarray(fr.confidence, dtype=np.float32) for fr in f]),
                t=np.array([fr.t - t0 for fr in f], dtype=np.float64),
                fps=self.fps,
                action=self.action,
                meta=meta,
            )
            missing = ~np.isfinite(seq.joints).all(axis=-1)
            seq.confidence[missing] = 0.0
            if missing.all():
                raise ValueError("nobody was seen in the whole session; there is no skeleton to write.")
            write_npz(self.path, seq)
        if self.depth_path is not None and self._depth:
            cal = self._calibration
            arrays = {
                "depth": np.stack(self._depth),
                "depth_device_ts_usec": np.array(self._depth_ts, dtype=np.int64),
                "calibration_json": np.str_(cal.raw_json if cal is not None else ""),
                "depth_mode": np.str_((cal.depth_mode or "") if cal is not None else ""),
            }
            buf = io.BytesIO()
            np.savez_compressed(buf, **arrays)
            atomic_write_bytes(self.depth_path, buf.getvalue())
        self._depth.clear()


def read_depth_recording(path: str | os.PathLike) -> dict:
    """A ``.depth.npz`` written by SessionRecorder -> dict of its arrays (depth, timestamps, calibration).

    ``calibration`` is parsed (``calibration.kinect.KinectCalibration``) when the file carries one.
    Raises ValueError (one sentence) for a file that is not such a recording.
    """
    from calibration.kinect import parse_calibration_json

    try:
        with np.load(path, allow_pickle=False) as z:
            data = {k: z[k] for k in z.files}
    except (OSError, ValueError) as exc:
        raise ValueError(f"{path} is not a readable depth recording ({exc}).") from None
    need = {"depth", "depth_device_ts_usec", "calibration_json", "depth_mode"}
    if not need <= set(data):
        raise ValueError(f"{path} lacks {', '.join(sorted(need - set(data)))}; it is not a depth recording.")
    depth = data["depth"]
    if depth.dtype != np.uint16 or depth.ndim != 3 or data["depth_device_ts_usec"].shape != (depth.shape[0],):
        raise ValueError(f"{path} holds depth {depth.dtype} {depth.shape}; expected uint16 (N, H, W) with N timestamps.")
    text = str(data["calibration_json"])
    data["calibration"] = parse_calibration_json(text, str(data["depth_mode"]) or None, None) if text else None
    return data
