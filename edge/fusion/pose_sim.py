"""The pose-model stand-in: the simulator's 2D detections served through the PoseModel interface.

This is **not** a pose network. ``SimSource`` derives, from its ground truth, the keypoints a
17-keypoint model would report on each color frame (noise, confidence, occlusion: see
``edge.capture.sim_source``); ``SimulatedPoseModel`` hands them out per capture exactly as an
``OnnxPoseModel`` would, so that everything downstream runs without pose weights. Like a real
top-down model it only sees its crop: keypoints outside the box get 0.2 x their confidence.
"""

from __future__ import annotations

import numpy as np

from edge.capture.frames import Capture
from edge.fusion.pose2d import Keypoints2D


class SimulatedPoseModel:
    """Stand-in for a pose network on a SimSource's captures (see the module docstring)."""

    name = "sim-stand-in"

    def __init__(self, source):
        if not hasattr(source, "detections"):
            raise TypeError("the simulated pose model needs a SimSource (something with .detections(ts)).")
        self.source = source

    def estimate(self, capture: Capture, box) -> Keypoints2D | None:
        if capture.color_device_ts_usec is None or box is None:
            return None
        try:
            det = self.source.detections(capture.color_device_ts_usec)
        except KeyError:
            return None  # nobody in view in the simulation
        uv = det.uv.copy()
        conf = det.confidence.copy()
        x0, y0, x1, y1 = box
        outside = ~((uv[:, 0] >= x0) & (uv[:, 0] < x1) & (uv[:, 1] >= y0) & (uv[:, 1] < y1))
        conf[outside] *= 0.2
        return Keypoints2D(uv, conf.astype(np.float32), int(capture.color_device_ts_usec))
