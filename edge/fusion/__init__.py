"""Fusion: depth + color keypoints + IMU -> a COCO-17 skeleton stream in the level frame (y up).

Modules, in the order a frame meets them: ``sync`` (depth clock), ``gravity`` (IMU tilt, floor,
level frame), ``person`` (background, athlete blob, crop), ``pose2d`` (ONNX pose model contract,
heatmap/SimCC decoding; ``pose_sim`` is the simulator's stand-in), ``lift`` (robust depth per
keypoint), ``body`` + ``complete`` (self-occluded keypoints), ``refine`` (paper Eq. 1), ``gaps``
(cubic spline below confidence 0.5), ``smooth`` (zero-lag Savitzky-Golay); ``pipeline`` runs them
per capture; ``segment`` cuts attempts; ``loop`` is the capture command; ``evaluate`` and
``bench`` measure it all against the simulator.
"""

from edge.fusion.pipeline import FusionConfig, FusionPipeline, SkeletonFrame, frames_to_arrays, run_source
from edge.fusion.pose2d import Keypoints2D, OnnxPoseModel, PoseModel, PoseModelError
from edge.fusion.segment import Attempt, AttemptSegmenter, SlidingWindower, movement_bounds, sliding_windows
from edge.fusion.sync import ClockCheck, LinearTrack, TimestampError

__all__ = [
    "Attempt",
    "AttemptSegmenter",
    "ClockCheck",
    "FusionConfig",
    "FusionPipeline",
    "Keypoints2D",
    "LinearTrack",
    "OnnxPoseModel",
    "PoseModel",
    "PoseModelError",
    "SkeletonFrame",
    "SlidingWindower",
    "TimestampError",
    "frames_to_arrays",
    "movement_bounds",
    "run_source",
    "sliding_windows",
]
