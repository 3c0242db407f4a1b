"""Fusion against the simulator's ground truth: run a simulated session, compare joints and attempts.

``fuse_simulated(action, seed, condition, n_attempts)`` renders a session with ``SimSource``, runs
it through ``FusionPipeline`` with the pose-model stand-in and returns the fused stream with the
truth aligned to it (same depth frames). ``mpjpe_mm`` is the mean per-joint position error over
joints both fused (finite) and truly in view, in the output frame (the truth expressed with the
*true* camera tilt and height, so tilt and floor errors count). ``coverage`` is the share of such
joints the fusion reports at all.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edge.capture.sim_source import SimSource, SimTruth
from edge.fusion.pipeline import FusionConfig, FusionPipeline, FusionStats, frames_to_arrays, run_source
from edge.fusion.pose_sim import SimulatedPoseModel


@dataclass
class FusedSession:
    """A fused simulated session: arrays from ``frames_to_arrays``, the session frame index of every
    output frame, the truth (output frame, NaN where nobody is in view), the pipeline's stats."""

    action: str
    seed: int
    condition: str
    arrays: dict
    frame_index: np.ndarray
    truth_joints: np.ndarray
    truth: SimTruth
    stats: FusionStats

    def errors_m(self) -> np.ndarray:
        """Per-joint errors (T, 17) in metres, NaN where either side is missing."""
        return np.linalg.norm(self.arrays["joints"].astype(np.float64) - self.truth_joints, axis=-1)

    def mpjpe_mm(self) -> float:
        e = self.errors_m()
        return float(np.nanmean(e) * 1000.0) if np.isfinite(e).any() else float("nan")

    def coverage(self) -> float:
        seen = np.isfinite(self.truth_joints).all(axis=-1)
        got = np.isfinite(self.arrays["joints"]).all(axis=-1)
        return float((got & seen).sum() / max(seen.sum(), 1))


def fuse_simulated(
    action: str, seed: int, condition: str = "normal", *, n_attempts: int = 1, config: FusionConfig | None = None,
) -> FusedSession:
    """Simulate, fuse and align (see the module docstring)."""
    src = SimSource(action, seed, condition=condition, n_attempts=n_attempts)
    pipe = FusionPipeline(src.calibration, SimulatedPoseModel(src), config)
    frames = run_source(src, pipe)
    arrays = frames_to_arrays(frames)
    truth = src.truth
    k = truth.frame_of(arrays["device_ts_usec"])
    gt = truth.joints_output()[k]
    return FusedSession(action, seed, condition, arrays, k, gt, truth, pipe.stats)
