"""Device calibration: the Azure Kinect's calibration.json, projection and unprojection (metres)."""

from calibration.kinect import (
    COLOR_RESOLUTIONS,
    DEPTH_MODES,
    SENSORS,
    CalibrationError,
    CameraIntrinsics,
    KinectCalibration,
    RigidTransform,
    brown_conrady_distort,
    depth_image_to_points,
    mode_intrinsics,
    parse_calibration_json,
    pixel_rays,
    project,
    undistort_pixels,
    unproject,
)

__all__ = [
    "COLOR_RESOLUTIONS",
    "DEPTH_MODES",
    "SENSORS",
    "CalibrationError",
    "CameraIntrinsics",
    "KinectCalibration",
    "RigidTransform",
    "brown_conrady_distort",
    "depth_image_to_points",
    "mode_intrinsics",
    "parse_calibration_json",
    "pixel_rays",
    "project",
    "undistort_pixels",
    "unproject",
]
