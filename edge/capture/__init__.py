"""Capture: one frame type for the live camera, recordings (.mkv) and the simulator.

``frames`` holds the Capture / ImuSamples types, the FrameSource protocol and the exceptions;
``ebml`` is our Matroska reader; ``mkv`` reads Azure Kinect recordings with it (or with pyk4a).
"""

from edge.capture.frames import (
    IMU_DTYPE,
    Capture,
    CaptureError,
    CorruptRecording,
    EndOfStream,
    FrameSource,
    FrameSourceBase,
    ImuSamples,
    SourceDisconnected,
    SourceTimeout,
)
from edge.capture.mkv import MkvSource, read_recording_summary

__all__ = [
    "IMU_DTYPE",
    "Capture",
    "CaptureError",
    "CorruptRecording",
    "EndOfStream",
    "FrameSource",
    "FrameSourceBase",
    "ImuSamples",
    "SourceDisconnected",
    "SourceTimeout",
    "MkvSource",
    "read_recording_summary",
]
