"""Skeletons as 2D pictures for the screen: a side view (metres) or points over the camera picture.

Side view: the horizontal axis ``u`` is the athlete's facing direction (so a jump goes left to
right), the vertical axis ``v`` is height ``y`` (metres, y up, floor at 0 where known). The facing
direction comes from the hips and shoulders: with +z the athlete's right when facing +x (the
repository's convention), facing = (d_z, -d_x) for d = right - left, in the horizontal x-z plane.

Points are rounded to millimetres; a joint that was not seen (NaN or confidence below
``MIN_CONFIDENCE``) is ``None`` and is not drawn.
"""

from __future__ import annotations

import numpy as np

from edge.skeleton.joints import JOINT_NAMES, N_JOINTS

MIN_CONFIDENCE = 0.3
_L_HIP, _R_HIP = JOINT_NAMES.index("left_hip"), JOINT_NAMES.index("right_hip")
_L_SH, _R_SH = JOINT_NAMES.index("left_shoulder"), JOINT_NAMES.index("right_shoulder")


def facing_direction(joints: np.ndarray) -> np.ndarray:
    """(2,) unit facing direction in the (x, z) plane from (T, 17, 3) or (17, 3) joints; +x if unknown."""
    j = np.asarray(joints, dtype=float).reshape(-1, N_JOINTS, 3)
    d = np.concatenate([j[:, _R_HIP] - j[:, _L_HIP], j[:, _R_SH] - j[:, _L_SH]])
    d = d[np.isfinite(d).all(axis=1)]
    if len(d) == 0:
        return np.array([1.0, 0.0])
    dx, dz = d[:, 0].mean(), d[:, 2].mean()
    f = np.array([dz, -dx])
    n = np.hypot(*f)
    return f / n if n > 1e-6 else np.array([1.0, 0.0])


def _points(uv: np.ndarray, ok: np.ndarray) -> list:
    return [[round(float(a), 3), round(float(b), 3)] if good else None for (a, b), good in zip(uv, ok)]


def side_view(joints: np.ndarray, facing: np.ndarray) -> np.ndarray:
    """(..., 17, 2) side-view coordinates (u along ``facing``, v = height) of (..., 17, 3) joints."""
    j = np.asarray(joints, dtype=float)
    u = j[..., 0] * facing[0] + j[..., 2] * facing[1]
    return np.stack([u, j[..., 1]], axis=-1)


def live_view(joints: np.ndarray, confidence: np.ndarray, image_points=None) -> dict:
    """One live frame for the screen: {view: 'side'|'image', points: 17 x [a, b] or None, conf}."""
    if joints.shape != (N_JOINTS, 3):
        raise ValueError(f"a live frame needs joints of shape (17, 3), got {joints.shape}.")
    if confidence.shape != (N_JOINTS,):
        raise ValueError(f"a live frame needs confidence of shape (17,), got {confidence.shape}.")
    if np.isinf(joints).any():
        raise ValueError("live joints contain inf; a joint that was not seen must be NaN.")
    ok = np.isfinite(joints).all(axis=1) & (np.nan_to_num(confidence) >= MIN_CONFIDENCE)
    conf = [round(float(c), 2) if np.isfinite(c) else 0.0 for c in confidence]
    if image_points is not None:
        ip = np.asarray(image_points, dtype=float)
        if ip.shape != (N_JOINTS, 2):
            raise ValueError(f"image points must have shape (17, 2), got {ip.shape}.")
        ok_img = ok & np.isfinite(ip).all(axis=1) & (ip >= 0).all(axis=1) & (ip <= 1).all(axis=1)
        return {"view": "image", "points": _points(ip, ok_img), "conf": conf}
    uv = side_view(joints, facing_direction(joints))
    return {"view": "side", "points": _points(uv, ok), "conf": conf}


def poses_at(joints: np.ndarray, confidence: np.ndarray, frames: list[int]) -> list[list]:
    """Side-view poses at ``frames`` of a (T, 17, 3) attempt, one facing for the whole attempt; each pose
    is shifted so its mid-hip sits at u = 0 (v keeps the height, so flight shows)."""
    facing = facing_direction(joints)
    out = []
    for f in frames:
        uv = side_view(joints[f], facing)
        ok = np.isfinite(uv).all(axis=1) & (confidence[f] >= MIN_CONFIDENCE)
        hips = uv[[_L_HIP, _R_HIP]]
        hips = hips[np.isfinite(hips).all(axis=1)]
        centre = hips[:, 0].mean() if len(hips) else np.nanmean(uv[:, 0]) if ok.any() else 0.0
        uv = uv - np.array([centre, 0.0])
        out.append(_points(uv, ok))
    return out
